import json
from datetime import date

import pytest

from include.aws.manifests import DeliveryError, pending_deliveries
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import deliveries, local_export


def test_legacy_manifest_lists_exactly_the_current_assembly(write_sample):
    first = write_sample("cur", "cur1", JAN)
    restated = write_sample("cur", "cur1", JAN, revision=2)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    # CREATE_NEW_REPORT keeps the first assembly's folder; only the new one is listed.
    assert delivery.version == restated.version != first.version
    assert [f.listed_uri for f in delivery.data_files] == [f"{S3_URI}/{name}" for name in restated.files]
    assert delivery.columns[0] == ("identity/LineItemId", "String")
    assert all(f.read_uri.startswith(write_sample.root.as_uri()) for f in delivery.data_files)


def test_data_exports_manifest_ignores_stale_overwritten_chunks(write_sample):
    write_sample("cur2", "cur2", FEB, rows=900)  # 5 chunks
    restated = write_sample("cur2", "cur2", FEB, revision=2, rows=500)  # 3 chunks, 2 stale ones stay
    data_folder = write_sample.root / "cur2" / "data" / "BILLING_PERIOD=2025-02"
    assert len(list(data_folder.iterdir())) == 5
    [delivery] = deliveries(local_export("cur2", "cur2", write_sample.root, S3_URI))
    assert (delivery.billing_period, delivery.version) == (FEB, restated.version)
    assert len(delivery.data_files) == 3


def test_periods_are_found_per_month_and_partition_case_is_ignored(write_sample):
    write_sample("cur2", "cur2", JAN)
    write_sample("cur2", "cur2", FEB)
    metadata = write_sample.root / "cur2" / "metadata"
    (metadata / "BILLING_PERIOD=2025-02").rename(metadata / "billing_period=2025-02")
    found = deliveries(local_export("cur2", "cur2", write_sample.root, S3_URI))
    assert [d.billing_period for d in found] == [JAN, FEB]


def test_pending_skips_versions_already_loaded(write_sample):
    jan, feb = write_sample("cur", "cur1", JAN), write_sample("cur", "cur1", FEB)
    found = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    assert pending_deliveries(found, {JAN: jan.version, FEB: feb.version}) == []
    assert [d.billing_period for d in pending_deliveries(found, {JAN: jan.version, FEB: "older"})] == [FEB]


def _period_root_manifest(root, export="cur"):
    return root / export / "20250101-20250201" / f"{export}-Manifest.json"


def test_data_file_outside_the_export_is_refused(write_sample):
    write_sample("cur", "cur1", JAN)
    manifest = _period_root_manifest(write_sample.root)
    body = json.loads(manifest.read_text())
    body["reportKeys"][0] = "exports/other-report/20250101-20250201/x/other-00001.csv.gz"
    manifest.write_text(json.dumps(body))
    with pytest.raises(DeliveryError, match="other-00001.csv.gz is outside the export's billing-period folder"):
        deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))


def test_data_file_in_another_bucket_is_refused(write_sample):
    write_sample("cur2", "cur2", JAN)
    manifest = write_sample.root / "cur2" / "metadata" / "BILLING_PERIOD=2025-01" / "cur2-Manifest.json"
    body = json.loads(manifest.read_text())
    body["dataFiles"][0] = body["dataFiles"][0].replace("finops-billing", "someone-elses-bucket")
    manifest.write_text(json.dumps(body))
    with pytest.raises(DeliveryError, match="someone-elses-bucket.*outside"):
        deliveries(local_export("cur2", "cur2", write_sample.root, S3_URI))


def test_invalid_manifest_json_names_the_manifest(write_sample):
    write_sample("cur", "cur1", JAN)
    manifest = _period_root_manifest(write_sample.root)
    manifest.write_text('{"assemblyId": "x", "reportKeys": [')
    with pytest.raises(DeliveryError, match=r"cur-Manifest.json: invalid manifest JSON"):
        deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))


def test_manifest_without_an_id_is_versioned_by_key_and_modification_time(write_sample):
    write_sample("cur2", "cur2", JAN)
    manifest = write_sample.root / "cur2" / "metadata" / "BILLING_PERIOD=2025-01" / "cur2-Manifest.json"
    body = json.loads(manifest.read_text())
    del body["executionId"]
    manifest.write_text(json.dumps(body))
    [delivery] = deliveries(local_export("cur2", "cur2", write_sample.root, S3_URI))
    assert delivery.version.startswith(str(manifest)) and "@" in delivery.version


def test_delivery_survives_the_xcom_round_trip(write_sample):
    write_sample("cur", "cur1", JAN)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    from include.aws.manifests import Delivery

    assert Delivery.from_dict(json.loads(json.dumps(delivery.to_dict()))) == delivery
    assert delivery.billing_period == date(2025, 1, 1)
