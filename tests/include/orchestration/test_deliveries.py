"""What a run decides to load per export and billing period, and what it logs about everything it skips."""

import logging
from dataclasses import replace
from fnmatch import fnmatch

import duckdb
import pytest

from include.aws.manifests import ATHENA_LISTING, PERIOD_MANIFEST
from include.aws.provider import AWS
from include.aws.sensor import manifest_key_pattern
from include.dashboards.spec import load_dashboards, render_sql
from include.failures import Failure
from include.orchestration.deliveries import plan_deliveries, refusal_report, survey_exports
from include.orchestration.loading import load_delivery
from include.serving.publish import LEDGER_DIR, newest_version, publish
from include.sql import sql_literal
from include.warehouse.loader import LoadRefused
from tests.aws_layouts import to_athena
from tests.conftest import FEB, JAN, MAR, S3_PREFIX, S3_URI, export_config, upload_tree
from tests.helpers import assert_same_money, ledger, load, local_export, month_rows_and_cost, truncate_gzip


def _export(name, fmt, uri, **extra):
    import json

    return AWS.parse_exports(json.dumps([export_config(name, fmt, uri, **extra)]))[0]


def test_plan_loads_new_versions_and_logs_each_period_with_its_decision(write_sample, warehouse, caplog):
    jan = write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)
    to_athena(write_sample.root, "cur", FEB, manifest=None)
    export = local_export("cur", "cur1", write_sample.root, S3_URI)
    first = plan_deliveries(AWS, export, warehouse, [])
    load(warehouse, first.to_load[0])  # January only
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="include.orchestration.deliveries"):
        plan = plan_deliveries(AWS, export, warehouse, [])

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
        plan = plan_deliveries(AWS, export, warehouse, [FEB, MAR])
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
        plan = plan_deliveries(AWS, export, warehouse, [])
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

    [delivery] = plan_deliveries(AWS, export, warehouse, []).to_load
    assert delivery.layout == ATHENA_LISTING and delivery.version.startswith("listing-sha256:")
    assert [f.listed_uri for f in delivery.data_files] == [
        f"{S3_URI}/cur/cur/year=2025/month=1/{f.name}" for f in files
    ]
    assert plan_deliveries(AWS, export, warehouse, []).to_load[0].version == delivery.version
    load_delivery(warehouse, AWS, delivery)  # through the export's Airflow connection, as the DAG loads
    rows, cost = month_rows_and_cost(warehouse, "cur_2025_01")
    assert rows == totals.rows
    assert_same_money(cost, totals.billed)
    assert plan_deliveries(AWS, export, warehouse, []).to_load == []  # loaded: the next look skips it


def test_refusal_report_names_every_refused_or_unloaded_delivery_with_its_ledger_error(write_sample, warehouse):
    write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)
    export = local_export("cur", "cur1", write_sample.root, S3_URI)
    jan, feb = plan_deliveries(AWS, export, warehouse, []).to_load
    jan_loaded = {"export": "cur", "billing_period": "2025-01"}  # what load_billing_month returns, in part
    load(warehouse, jan)
    truncate_gzip(write_sample.root / feb.data_files[0].listed_uri.removeprefix(f"{S3_URI}/"))
    with pytest.raises(LoadRefused) as refused:
        load(warehouse, feb)
    never_tried = replace(feb, version="never-tried")
    discovery_refusal = "export other (the export's folder) refused: holds [x] but no legacy CUR layout"
    not_surveyed = "export far not surveyed (transient error): …; not refused: the next run looks at it again"

    report = refusal_report(AWS, warehouse, [discovery_refusal], [not_surveyed], [jan, feb, never_tried], [jan_loaded])

    assert report.splitlines() == [
        "3 deliveries refused or not loaded, 1 export not surveyed (earlier months keep their data):",
        f"  - {discovery_refusal}",
        f"  - export cur 2025-02 not loaded: {refused.value}",
        "  - export cur 2025-02 not loaded: no ledger row; the log of its load_billing_month task says why",
        f"  - {not_surveyed}",
    ]
    assert refusal_report(AWS, warehouse, [], [not_surveyed], [jan], [jan_loaded]).splitlines() == [
        "1 export not surveyed (earlier months keep their data):",
        f"  - {not_surveyed}",
    ]
    assert refusal_report(AWS, warehouse, [], [], [jan], [jan_loaded]) is None


@pytest.mark.parametrize(
    ("answer", "failure"),
    [((403, "AccessDenied"), None), (None, Failure.TRANSIENT), ((503, "SlowDown"), Failure.UNKNOWN)],
    ids=["access-denied", "endpoint-unreachable", "throttled"],
)
def test_an_export_that_cannot_be_surveyed_is_refused_only_when_access_is_denied(
    failing_s3_export, warehouse, answer, failure
):
    """Access denied is refused (recorded, reported) like a folder with no layout; what a later look may not
    meet again (the network, S3 throttling or failing) is only reported, and the next run looks again."""
    export = failing_s3_export("cur2", answer)

    plan = plan_deliveries(AWS, export, warehouse, [])

    assert plan.to_load == []
    if failure is None:
        [refusal] = plan.refused
        assert refusal.billing_period is None and plan.survey_error is None and plan.not_surveyed is None
        assert str(refusal) == "export cur2 (the export's folder) refused: cannot survey it: PermissionError: Forbidden"
        return
    assert plan.refused == [] and plan.survey_failure is failure
    assert plan.not_surveyed == (
        f"export cur2 not surveyed ({failure.value} error): {type(plan.survey_error).__name__}: "
        f"{plan.survey_error}; not refused: the next run looks at it again"
    )


def test_a_bug_while_surveying_an_export_is_reported_not_refused(write_sample, warehouse, monkeypatch):
    write_sample("cur2", "cur2", JAN)
    export = local_export("cur2", "cur2", write_sample.root, S3_URI)

    def buggy(root, surveyed):
        return None + 1

    monkeypatch.setattr(AWS, "discover", buggy)
    plan = plan_deliveries(AWS, export, warehouse, [])
    assert plan.refused == [] and plan.survey_failure is Failure.UNKNOWN
    assert plan.not_surveyed.startswith("export cur2 not surveyed (unknown error): TypeError: unsupported operand")


def test_an_export_that_cannot_be_surveyed_holds_back_no_other_and_a_refusal_is_recorded_once_per_error(
    write_sample, warehouse, failing_s3_export
):
    """Item 4: what the run does with each export. A refusal standing over several runs is one ledger row
    (a new row when its error changes); an export that could not be surveyed has none."""
    write_sample("good", "cur2", JAN)
    write_sample("misnamed", "cur2", JAN)  # a Data Exports folder, configured as legacy CUR
    good = local_export("good", "cur2", write_sample.root, S3_URI)
    misnamed = local_export("misnamed", "cur1", write_sample.root, S3_URI)
    denied = failing_s3_export("denied", (403, "AccessDenied"))
    unreachable = failing_s3_export("unreachable", None)
    exports = [denied, good, misnamed, unreachable]

    first = survey_exports(AWS, exports, warehouse, [])
    again = survey_exports(AWS, exports, warehouse, [])  # the next run, nothing fixed

    assert again == first
    assert first.to_load == plan_deliveries(AWS, good, warehouse, []).to_load and len(first.to_load) == 1
    assert [refusal.split(" refused: ")[0] for refusal in first.refused] == [
        "export denied (the export's folder)",
        "export misnamed (the export's folder)",
    ]
    [not_surveyed] = first.not_surveyed
    assert not_surveyed.startswith("export unreachable not surveyed (transient error): EndpointConnectionError: ")
    assert [(row[0], row[1], row[2], row[6]) for row in _failed(warehouse)] == [
        ("denied", None, None, first.refused[0]),
        ("misnamed", None, None, first.refused[1]),
    ]

    (write_sample.root / "misnamed" / "more").mkdir()  # the folder changed, and the error with it
    changed = survey_exports(AWS, exports, warehouse, [])
    survey_exports(AWS, exports, warehouse, [])
    assert changed.refused[1] != first.refused[1] and "holds [data, metadata, more]" in changed.refused[1]
    assert [row[6] for row in _failed(warehouse)] == [*first.refused, changed.refused[1]]


def _failed(warehouse) -> list[tuple]:
    return [row for row in ledger(warehouse) if row[5] == "failed"]


def test_the_refused_deliveries_card_counts_each_delivery_not_loaded_once(write_sample, warehouse, tmp_path):
    """The data-quality card over the served ledger: a refusal recorded under two errors is one delivery, a
    load that failed and then loaded the same version is none."""
    write_sample("cur", "cur1", JAN)
    write_sample("misnamed", "cur2", JAN)
    cur = local_export("cur", "cur1", write_sample.root, S3_URI)
    misnamed = local_export("misnamed", "cur1", write_sample.root, S3_URI)
    [january] = survey_exports(AWS, [cur, misnamed], warehouse, []).to_load
    listed = write_sample.root / january.data_files[0].listed_uri.removeprefix(f"{S3_URI}/")
    listed.rename(tmp_path / "away")
    with pytest.raises(LoadRefused):
        load(warehouse, january)  # a listed file missing: a failed row
    (tmp_path / "away").rename(listed)
    load(warehouse, january)  # the same version, loaded
    (write_sample.root / "misnamed" / "more").mkdir()
    survey_exports(AWS, [cur, misnamed], warehouse, [])  # misnamed's refusal again, under a new error
    serving = tmp_path / "serving"
    publish(warehouse, serving, [])
    served_ledger = newest_version(serving / LEDGER_DIR)
    [card] = [
        card for dashboard in load_dashboards() for card in dashboard.cards if card.key == "data_quality.failed_loads"
    ]

    rows = ledger(warehouse)
    loaded = {row[:3] for row in rows if row[5] in ("loaded", "superseded")}
    for month in (None, "2025-01"):
        failed = {row[:3] for row in rows if row[5] == "failed" and month in (None, row[1])}
        with duckdb.connect() as con:  # the served ledger, as Metabase's load_ledger view reads it
            con.execute(f"CREATE VIEW load_ledger AS FROM read_parquet({sql_literal(str(served_ledger))})").fetchall()
            [(count,)] = con.execute(render_sql(card.sql, {"billing_period": month})).fetchall()
        assert count == len(failed - loaded) == (1 if month is None else 0)
    assert len(_failed(warehouse)) == 3  # what the card does not count: three failed rows
