"""What a run decides to load per export and billing period, and what it logs about everything it skips."""

import logging
from fnmatch import fnmatch
from functools import partial

import pytest

from include.aws.loading import load_delivery
from include.aws.manifests import ATHENA_LISTING, PERIOD_MANIFEST
from include.orchestration.deliveries import plan_deliveries, storage_path
from include.orchestration.sensors import manifest_key_pattern
from include.settings import parse_aws_exports
from tests.aws_layouts import to_athena
from tests.conftest import FEB, JAN, MAR, S3_PREFIX, S3_URI, export_config, upload_tree
from tests.helpers import assert_same_money, load, local_export, month_rows_and_cost


def _export(name, fmt, uri, **extra):
    import json

    return parse_aws_exports(json.dumps([export_config(name, fmt, uri, **extra)]))[0]


def test_plan_loads_new_versions_and_logs_each_period_with_its_decision(write_sample, warehouse, caplog):
    jan = write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)
    to_athena(write_sample.root, "cur", FEB, manifest=None)
    export = local_export("cur", "cur1", write_sample.root, S3_URI)
    first = plan_deliveries(export, warehouse, [])
    load(warehouse, first.to_load[0])  # January only
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="include.orchestration.deliveries"):
        plan = plan_deliveries(export, warehouse, [])

    assert [(d.billing_period, d.layout) for d in plan.to_load] == [(FEB, ATHENA_LISTING)]
    [skip] = plan.skipped
    assert (skip.billing_period, skip.reason) == (JAN, "this version is already loaded")
    [report] = [r.getMessage() for r in caplog.records if r.name == "include.orchestration.deliveries"]
    assert (
        f"2025-01 {PERIOD_MANIFEST}" in report
        and f"version {jan.version} → skip: this version is already loaded" in report
    )
    assert f"2025-02 {ATHENA_LISTING}" in report and "(loaded: none) → load" in report
    assert "cost_and_usage_data_status: READY" in report and "1 to load, 1 skipped" in report


def test_forced_reload_names_the_periods_it_skips_and_the_ones_it_cannot_find(write_sample, warehouse, caplog):
    write_sample("cur2", "cur2", JAN)
    write_sample("cur2", "cur2", FEB)
    export = local_export("cur2", "cur2", write_sample.root, S3_URI)
    with caplog.at_level(logging.INFO, logger="include.orchestration.deliveries"):
        plan = plan_deliveries(export, warehouse, [FEB, MAR])
    assert [d.billing_period for d in plan.to_load] == [FEB]
    assert [(s.billing_period, s.reason) for s in plan.skipped] == [
        (JAN, "not among the billing periods this run reloads")
    ]
    assert "2025-03 requested, but cur2 has no delivery of that month" in caplog.text
    assert "→ load (reload requested)" in caplog.text


def test_export_folder_with_nothing_delivered_is_a_warning_naming_the_folder(write_sample, warehouse, caplog):
    write_sample("cur2", "cur2", JAN)
    export = local_export("legacy", "cur1", write_sample.root, S3_URI)
    with caplog.at_level(logging.INFO, logger="include.orchestration.deliveries"):
        plan = plan_deliveries(export, warehouse, [])
    assert plan.to_load == [] and plan.skipped == []
    [record] = [r for r in caplog.records if r.name == "include.orchestration.deliveries"]
    assert record.levelno == logging.WARNING
    assert "legacy does not exist" in record.getMessage() and "holds [cur2]" in record.getMessage()


@pytest.mark.parametrize("manifest", ["period", "month", None])
def test_s3_sensor_pattern_matches_a_key_of_every_athena_layout(write_sample, manifest):
    write_sample("cur", "cur1", JAN)
    to_athena(write_sample.root, "cur", JAN, manifest=manifest, status=None)
    export = _export("cur", "cur1", S3_URI)
    keys = [f"{S3_PREFIX}/{p.relative_to(write_sample.root).as_posix()}" for p in write_sample.root.rglob("*.*")]
    pattern = manifest_key_pattern(export)
    # The trigger wakes on any matching key; without a manifest only the Parquet files can match.
    assert [k for k in keys if fnmatch(k, pattern) and k.endswith(".parquet")]
    assert not fnmatch(f"{S3_PREFIX}/cur-old/20250101-20250201/cur-old-Manifest.json", pattern)


def test_athena_month_without_manifest_on_s3_is_versioned_by_etags_and_loads(write_sample, warehouse, s3_bucket):
    totals = write_sample("cur", "cur1", JAN)
    files = to_athena(write_sample.root, "cur", JAN, manifest=None)
    upload_tree(s3_bucket, write_sample.root)
    export = _export("cur", "cur1", S3_URI, conn_id="finops_s3")

    [delivery] = plan_deliveries(export, warehouse, []).to_load
    assert delivery.layout == ATHENA_LISTING and delivery.version.startswith("listing-sha256:")
    assert [f.listed_uri for f in delivery.data_files] == [
        f"{S3_URI}/cur/cur/year=2025/month=1/{f.name}" for f in files
    ]
    assert plan_deliveries(export, warehouse, []).to_load[0].version == delivery.version
    load_delivery(warehouse, delivery, partial(storage_path, conn_id="finops_s3"))
    rows, cost = month_rows_and_cost(warehouse, "cur_2025_01")
    assert rows == totals.rows
    assert_same_money(cost, totals.billed)
    assert plan_deliveries(export, warehouse, []).to_load == []  # loaded: the next look skips it
