import json
import re
import shutil
from datetime import date

import pytest
from upath import UPath

from include.aws.manifests import ATHENA_LISTING, ATHENA_MANIFEST, PERIOD_MANIFEST, discover
from include.aws.settings import AwsExport
from include.providers.deliveries import Delivery, DeliveryError
from tests.aws_layouts import athena_month_folder, period_manifest, to_athena, to_overwrite, write_status
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import assert_same_money, deliveries, discovered, load, local_export, month_rows_and_cost


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


def _period_root_manifest(root, export="cur"):
    return root / export / "20250101-20250201" / f"{export}-Manifest.json"


def test_data_file_outside_the_export_is_refused(write_sample):
    write_sample("cur", "cur1", JAN)
    manifest = _period_root_manifest(write_sample.root)
    body = json.loads(manifest.read_text())
    body["reportKeys"][0] = "exports/other-report/20250101-20250201/x/other-00001.csv.gz"
    manifest.write_text(json.dumps(body))
    found = discovered(local_export("cur", "cur1", write_sample.root, S3_URI))
    [refusal] = found.refused
    assert found.deliveries == [] and refusal.billing_period == JAN
    assert "other-00001.csv.gz is outside the export's billing-period folders" in refusal.error
    assert refusal.error.startswith(manifest.as_uri())
    assert "s3_uri" not in refusal.error  # the configuration is right: nothing to blame it for


def test_data_file_in_another_bucket_is_refused(write_sample):
    write_sample("cur2", "cur2", JAN)
    manifest = write_sample.root / "cur2" / "metadata" / "BILLING_PERIOD=2025-01" / "cur2-Manifest.json"
    body = json.loads(manifest.read_text())
    body["dataFiles"][0] = body["dataFiles"][0].replace("finops-billing", "someone-elses-bucket")
    manifest.write_text(json.dumps(body))
    [refusal] = discovered(local_export("cur2", "cur2", write_sample.root, S3_URI)).refused
    assert re.search("someone-elses-bucket.*outside", refusal.error)


def test_invalid_manifest_json_names_the_manifest(write_sample):
    write_sample("cur", "cur1", JAN)
    manifest = _period_root_manifest(write_sample.root)
    manifest.write_text('{"assemblyId": "x", "reportKeys": [')
    [refusal] = discovered(local_export("cur", "cur1", write_sample.root, S3_URI)).refused
    assert re.search(r"cur-Manifest.json: invalid manifest JSON", refusal.error)


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
    assert Delivery.from_dict(json.loads(json.dumps(delivery.to_dict())), AwsExport) == delivery
    assert delivery.billing_period == date(2025, 1, 1)


# --- AWS's other legacy-CUR layouts ------------------------------------------------------------


def _discover(root, name="cur"):
    return discover(UPath(root.as_uri()), local_export(name, "cur1", root, S3_URI))


def _assert_loads_the_month(warehouse, delivery, totals):
    load(warehouse, delivery)
    rows, cost = month_rows_and_cost(warehouse, f"cur_{delivery.billing_period:%Y_%m}")
    assert rows == totals.rows
    assert_same_money(cost, totals.billed)


def test_overwrite_report_loads_the_listed_chunks_of_the_period_folder(write_sample, warehouse):
    write_sample("cur", "cur1", JAN, rows=900)  # 5 chunks; the restatement below needs 3
    to_overwrite(write_sample.root, "cur", JAN)
    restated = write_sample("cur", "cur1", JAN, revision=2)
    chunks = to_overwrite(write_sample.root, "cur", JAN)
    [delivery] = _discover(write_sample.root).deliveries
    assert (delivery.layout, delivery.version) == (PERIOD_MANIFEST, restated.version)
    assert sorted(UPath(f.read_uri).path for f in delivery.data_files) == sorted(str(c) for c in chunks)
    assert len(list(chunks[0].parent.glob("*.csv.gz"))) == 5  # two stale chunks stay, unlisted
    _assert_loads_the_month(warehouse, delivery, restated)


@pytest.mark.parametrize(
    ("manifest", "layout"), [("period", PERIOD_MANIFEST), ("month", ATHENA_MANIFEST), (None, ATHENA_LISTING)]
)
def test_athena_parquet_layout_loads_with_any_manifest_or_none(write_sample, warehouse, manifest, layout):
    totals = write_sample("cur", "cur1", JAN)
    files = to_athena(write_sample.root, "cur", JAN, manifest=manifest)
    found = _discover(write_sample.root)
    [delivery] = found.deliveries
    assert (delivery.billing_period, delivery.layout) == (JAN, layout)
    assert bool(delivery.columns) == (manifest is not None)  # without a manifest, Parquet's own columns
    assert [UPath(f.read_uri).path for f in delivery.data_files] == [str(f) for f in files]
    assert [f.listed_uri for f in delivery.data_files] == [
        f"{S3_URI}/cur/cur/year=2025/month=1/{f.name}" for f in files
    ]
    if manifest:
        assert delivery.version == totals.version  # the manifest's assemblyId
    else:
        assert delivery.version.startswith("listing-sha256:")
    assert "cost_and_usage_data_status: READY" in found.seen
    assert any("crawler-cfn.yml" in line for line in found.seen)  # seen, and said to be ignored
    _assert_loads_the_month(warehouse, delivery, totals)


def test_athena_month_without_manifest_is_versioned_by_its_files(write_sample, warehouse):
    write_sample("cur", "cur1", JAN)
    to_athena(write_sample.root, "cur", JAN, manifest=None)
    version = _discover(write_sample.root).deliveries[0].version
    assert _discover(write_sample.root).deliveries[0].version == version  # nothing changed, same version

    restated = write_sample("cur", "cur1", JAN, revision=2, rows=650)
    to_athena(write_sample.root, "cur", JAN, manifest=None)  # AWS overwrites the month folder
    [delivery] = _discover(write_sample.root).deliveries
    assert delivery.version != version
    _assert_loads_the_month(warehouse, delivery, restated)


def test_athena_month_is_skipped_with_its_reason_while_the_report_is_updating(write_sample):
    totals = write_sample("cur", "cur1", JAN)
    to_athena(write_sample.root, "cur", JAN, manifest="month", status="UPDATING")
    found = _discover(write_sample.root)
    assert found.deliveries == []
    [skip] = found.skipped
    assert skip.billing_period == JAN and "UPDATING" in skip.reason
    assert UPath(skip.where).path == str(athena_month_folder(write_sample.root, "cur", JAN))

    write_status(write_sample.root, "cur", "READY")
    [delivery] = _discover(write_sample.root).deliveries
    assert delivery.version == totals.version


def test_updating_status_also_holds_back_a_period_manifest_that_lists_the_athena_folder(write_sample):
    write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)
    to_athena(write_sample.root, "cur", JAN, manifest="period", status="UPDATING")
    found = _discover(write_sample.root)
    assert [d.billing_period for d in found.deliveries] == [FEB]  # February is a CSV period folder
    assert [(s.billing_period, "UPDATING" in s.reason) for s in found.skipped] == [(JAN, True)]


def test_period_folder_without_manifest_is_reported_not_loaded(write_sample):
    write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)
    period_manifest(write_sample.root, "cur", FEB).unlink()
    found = _discover(write_sample.root)
    assert [d.billing_period for d in found.deliveries] == [JAN]
    [skip] = found.skipped
    assert skip.billing_period == FEB and "no cur-Manifest.json" in skip.reason


def _listing(root, month, listed_key):
    """A period-root manifest whose first key is replaced by `listed_key`."""
    manifest = period_manifest(root, "cur", month)
    body = json.loads(manifest.read_text())
    body["reportKeys"][0] = listed_key
    manifest.write_text(json.dumps(body))
    return manifest


@pytest.mark.parametrize(
    "listed_key",
    [
        "exports/other-report/20250101-20250201/x/other-00001.csv.gz",  # another report
        "exports/cur/20250201-20250301/x/cur-00001.csv.gz",  # another month's folder
        "exports/cur/cur/year=2025/month=2/cur-00001.snappy.parquet",  # another month's Athena folder
        "exports/cur/20250101-20250201/../../secrets/cur-00001.csv.gz",  # traversal
        "exports/cur/20250101-20250201//cur-00001.csv.gz",  # an empty segment
    ],
)
def test_listed_file_outside_the_period_is_refused_naming_manifest_and_key(write_sample, listed_key):
    write_sample("cur", "cur1", JAN)
    manifest = _listing(write_sample.root, JAN, listed_key)
    found = _discover(write_sample.root)
    [refusal] = found.refused
    assert found.deliveries == [] and (refusal.billing_period, refusal.where) == (JAN, str(UPath(manifest.as_uri())))
    message = refusal.error
    assert message.startswith(str(UPath(manifest.as_uri()))) and f"s3://finops-billing/{listed_key}" in message
    assert "refusing to load it" in message and "s3_uri" not in message


def test_listed_file_under_another_prefix_suggests_the_s3_uri_it_uses(write_sample):
    write_sample("cur", "cur1", JAN)
    _listing(write_sample.root, JAN, "billing/cur/20250101-20250201/x/cur-00001.csv.gz")
    [refusal] = _discover(write_sample.root).refused
    assert "under s3://finops-billing/billing, not under the export's s3_uri" in refusal.error


def test_missing_export_folder_says_what_its_root_holds(write_sample):
    write_sample("cur2", "cur2", JAN)
    found = _discover(write_sample.root, name="cur")
    assert found.deliveries == [] and found.skipped == []
    assert "cur does not exist" in found.empty and "holds [cur2]" in found.empty


def test_empty_export_folder_is_reported_as_nothing_delivered(tmp_path):
    (tmp_path / "cur").mkdir()
    assert "is empty" in _discover(tmp_path).empty


@pytest.mark.parametrize(
    "before_the_first_month", [["cur/"], ["cur/year=2025/"], ["cur/year=2025/", "crawler-cfn.yml"]]
)
def test_athena_folder_before_the_first_month_is_nothing_delivered_yet(tmp_path, before_the_first_month):
    """AWS creates `<name>/<name>/` (and the Athena crawler's template) before it delivers a month."""
    for path in before_the_first_month:  # under the export folder; a trailing / makes a folder
        made = tmp_path / "cur" / path
        made.mkdir(parents=True) if path.endswith("/") else made.write_text("")
    found = _discover(tmp_path)
    assert found.deliveries == [] and found.skipped == []
    assert "holds the Athena folder cur/ but no month folder yet" in found.empty
    assert "check the export" not in found.empty and "name/uri" not in found.empty  # the configuration is right


def test_export_folder_without_any_known_layout_fails_naming_what_it_holds(write_sample):
    write_sample("cur", "cur2", JAN)  # a CUR 2.0 export, configured as legacy CUR
    with pytest.raises(
        DeliveryError, match=r"holds \[data, metadata\] but no legacy CUR layout.*format cur2, focus1.0 or focus1.2\?"
    ):
        _discover(write_sample.root)
    shutil.rmtree(write_sample.root / "cur")
    (write_sample.root / "cur" / "reports").mkdir(parents=True)
    (write_sample.root / "cur" / "reports" / "cur.csv").write_text("a,b\n")
    with pytest.raises(DeliveryError, match=r"holds \[reports\] but no legacy CUR layout \(expected .*year=YYYY"):
        _discover(write_sample.root)


def test_unreadable_report_status_fails_naming_the_file(write_sample):
    write_sample("cur", "cur1", JAN)
    to_athena(write_sample.root, "cur", JAN, manifest=None)
    status_file = write_sample.root / "cur" / "cost_and_usage_data_status" / "cost_and_usage_data_status.parquet"
    status_file.write_bytes(b"not parquet")
    with pytest.raises(DeliveryError, match=r"cost_and_usage_data_status\.parquet: cannot read the report status"):
        _discover(write_sample.root)
