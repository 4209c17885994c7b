"""Real runs of the aws_billing DAG: sensors, discovery and loads, against a local mirror and moto's S3."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.aws.provider import AWS
from include.orchestration.assets import billing_months
from include.serving.publish import connect_serving
from include.warehouse import compact
from tests.conftest import FEB, JAN, PROJECT_ROOT, S3_URI, export_config, sample_writer, upload_tree
from tests.dags.conftest import billing_runner, parse_dag, serving_path
from tests.helpers import (
    assert_layers_agree,
    assert_same_money,
    ledger,
    loaded_ledger,
    local_export,
    month_rows_and_cost,
    truncate_gzip,
)
from tests.helpers import deliveries as discover

SUCCESS, SKIPPED, FAILED = "success", "skipped", "failed"


def _assert_months_match(warehouse, table_stem: str, expected: dict[date, object]) -> None:
    for month, totals in expected.items():
        rows, cost = month_rows_and_cost(warehouse, f"{table_stem}_{month:%Y_%m}")
        assert rows == totals.rows
        assert_same_money(cost, totals.billed)


def _focus_months(warehouse) -> dict[tuple[str, date], tuple]:
    """(export, month) → (Σ BilledCost, Σ EffectiveCost) from the FOCUS mart."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT x_ExportName, x_BillingPeriod, sum(BilledCost), sum(EffectiveCost) "
            "FROM focus.cost_and_usage GROUP BY ALL"
        ).fetchall()
    return {(export, month): (billed, effective) for export, month, billed, effective in rows}


def _assert_served(warehouse, expected_months: dict[date, object]) -> None:
    """The serving layer holds each month once (CUR 2.0 preferred over the legacy CUR of the same account)."""
    with connect_serving(serving_path(warehouse)) as con:
        rows = con.execute(
            "SELECT billing_period, x_ExportName, sum(BilledCost), sum(EffectiveCost) FROM cost_and_usage GROUP BY ALL"
        ).fetchall()
        verdicts = con.execute("SELECT status FROM focus_validation ORDER BY validated_at").fetchall()
    assert sorted((period, export) for period, export, _, _ in rows) == [
        (f"{month:%Y-%m}", "cur2") for month in sorted(expected_months)
    ]
    for period, _, billed, effective in rows:
        totals = expected_months[date.fromisoformat(f"{period}-01")]
        assert_same_money(billed, totals.billed)
        assert_same_money(effective, totals.amortized)
    assert verdicts and verdicts[-1] == ("passed",)


def _assert_focus_matches(warehouse, expected: dict[str, dict[date, object]]) -> None:
    """The dbt task group ran inside the DAG run: the mart reconciles to the generator for every month."""
    built = _focus_months(warehouse)
    assert set(built) == {(name, month) for name, months in expected.items() for month in months}
    for name, months in expected.items():
        for month, totals in months.items():
            billed, effective = built[(name, month)]
            assert_same_money(billed, totals.billed)
            assert_same_money(effective, totals.amortized)


@pytest.fixture(params=["file", "s3"])
def source(request, write_sample):
    """Where the DAG reads: the generator's local mirror, or the same files uploaded to moto's S3."""
    if request.param == "file":
        return {"publish": lambda: None, "uri": write_sample.root.as_uri(), "extra": {}}
    client = request.getfixturevalue("s3_bucket")
    return {
        "publish": lambda: upload_tree(client, write_sample.root),
        "uri": S3_URI,
        "extra": {"conn_id": "finops_s3"},
    }


def test_deliveries_load_then_restatement_replaces_one_month_then_nothing_new_loads_nothing(
    source, write_sample, run_aws_billing, warehouse, monkeypatch
):
    expected = {
        "legacy": {JAN: write_sample("legacy", "cur1", JAN), FEB: write_sample("legacy", "cur1", FEB)},
        "cur2": {JAN: write_sample("cur2", "cur2", JAN), FEB: write_sample("cur2", "cur2", FEB)},
    }
    source["publish"]()
    exports = [
        export_config(name, fmt, source["uri"], **source["extra"])
        for name, fmt in [("legacy", "cur1"), ("cur2", "cur2")]
    ]

    dag_run, states = run_aws_billing(exports)
    assert dag_run.state == SUCCESS
    assert states["load_billing_month"] == [SUCCESS] * 4
    for name, months in expected.items():
        _assert_months_match(warehouse, name, months)
    assert states["plan_focus_build"] == [SUCCESS]
    assert states["focus_models.cost_and_usage_run"] == [SUCCESS] and states["focus_models.dbt_test"] == [SUCCESS]
    _assert_focus_matches(warehouse, expected)
    assert states["validate_focus"] == states["publish_serving_layer"] == [SUCCESS]
    assert states["refresh_dashboards"] == [SKIPPED]  # no `metabase_default` connection here
    _assert_served(warehouse, expected["cur2"])

    jan_before = month_rows_and_cost(warehouse, "cur2_2025_01")
    expected["cur2"][FEB] = write_sample("cur2", "cur2", FEB, revision=2, rows=700)
    source["publish"]()
    # Any free block is worth compacting: the restatement's swap leaves some, publish gives them back.
    monkeypatch.setattr(compact, "MIN_FREE_FRACTION", 0)
    monkeypatch.setattr(compact, "MIN_FREE_BYTES", 1)
    dag_run, states = run_aws_billing(exports)
    assert states["load_billing_month"] == [SUCCESS]  # exactly one month
    _assert_months_match(warehouse, "cur2", {FEB: expected["cur2"][FEB]})
    assert month_rows_and_cost(warehouse, "cur2_2025_01") == jan_before
    _assert_focus_matches(warehouse, expected)
    _assert_served(warehouse, expected["cur2"])  # the restated month replaced, the other untouched
    assert compact.usage(warehouse).free_bytes == 0
    assert_layers_agree(warehouse, serving_path(warehouse))
    assert [(row[0], row[1], row[2]) for row in loaded_ledger(warehouse) if row[0] == "cur2"] == [
        ("cur2", "2025-01", expected["cur2"][JAN].version),
        ("cur2", "2025-02", expected["cur2"][FEB].version),
    ]

    ledger_before = ledger(warehouse)
    dag_run, states = run_aws_billing(exports)
    assert dag_run.state == SUCCESS
    sensor = "wait_for_s3_delivery" if source["uri"].startswith("s3://") else "wait_for_local_delivery"
    assert states[sensor] == [SKIPPED, SKIPPED]  # timed out waiting: the manifests were all loaded
    assert states["load_billing_month"] == [SKIPPED]
    assert states["focus_models.cost_and_usage_run"] == [SKIPPED]  # nothing loaded, nothing rebuilt
    assert ledger(warehouse) == ledger_before
    assert_layers_agree(warehouse, serving_path(warehouse))


@pytest.fixture(scope="module")
def served_january_and_february(tmp_path_factory, airflow_db):
    """A legacy CUR's January and February loaded, modelled, validated and served by one DAG run.

    Built once; each test gets a copy laid out like its own `warehouse`, `write_sample` and serving folder.
    """
    root = tmp_path_factory.mktemp("served")
    write = sample_writer(root / "mirror")
    for month in (JAN, FEB):
        write("cur", "cur1", month)
    with pytest.MonkeyPatch.context() as patch:
        run = billing_runner("aws", root / "warehouse.duckdb", patch)
        dag_run, _ = run([export_config("cur", "cur1", write.root.as_uri())])
    assert dag_run.state == SUCCESS
    return root


@pytest.fixture
def served(served_january_and_february, tmp_path, warehouse, write_sample):
    shutil.copytree(served_january_and_february, tmp_path, dirs_exist_ok=True)
    assert warehouse.exists() and write_sample.root.exists()


def test_billing_periods_param_reloads_only_the_months_asked_for(served, run_aws_billing, warehouse, write_sample):
    exports = [export_config("cur", "cur1", write_sample.root.as_uri())]

    dag_run, states = run_aws_billing(exports, run_conf={"billing_periods": ["2025-01"]})

    assert dag_run.state == SUCCESS and states["load_billing_month"] == [SUCCESS]
    history = [(row[1], row[5]) for row in ledger(warehouse)]
    assert history.count(("2025-01", "superseded")) == 1 and history.count(("2025-01", "loaded")) == 1
    assert history.count(("2025-02", "loaded")) == 1 and ("2025-02", "superseded") not in history
    assert_layers_agree(warehouse, serving_path(warehouse))


# Each case breaks February's restatement after January and February were loaded and served.
def _invalid_manifest_json(delivery, root):
    _manifest_path(delivery).write_text('{"assemblyId": "broken", "reportKeys": [')


def _file_listed_twice(delivery, root):
    body = json.loads(_manifest_path(delivery).read_text())
    body["reportKeys"].append(body["reportKeys"][0])
    _manifest_path(delivery).write_text(json.dumps(body))


def _listed_file_missing(delivery, root):
    _data_path(delivery, root, 1).unlink()


def _truncated_gzip(delivery, root):
    truncate_gzip(_data_path(delivery, root, 1))


def _header_without_rows(delivery, root):
    for index in range(len(delivery.data_files)):
        _edit_csv(_data_path(delivery, root, index), lambda records: records[:1])


def _na_in_a_cost_cell(delivery, root):
    def cost_not_available(records):
        records[3][records[0].index("lineItem/UnblendedCost")] = "N/A"
        return records

    _edit_csv(_data_path(delivery, root, 1), cost_not_available)


def _data_file_outside_prefix(delivery, root):
    body = json.loads(_manifest_path(delivery).read_text())
    body["reportKeys"][0] = "exports/another-report/20250201-20250301/x/another-00001.csv.gz"
    _manifest_path(delivery).write_text(json.dumps(body))


def _csv_header_disagrees(delivery, root):
    body = json.loads(_manifest_path(delivery).read_text())
    body["columns"] = [c for c in body["columns"] if c["name"] != "UsageAmount"]
    _manifest_path(delivery).write_text(json.dumps(body))


def _manifest_path(delivery):
    return Path(delivery.delivery_uri.removeprefix("file://"))


def _data_path(delivery, root, index):
    return root / delivery.data_files[index].listed_uri.removeprefix(S3_URI + "/")


def _edit_csv(path, edit):
    records = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerows(edit(records))
    path.write_bytes(gzip.compress(written.getvalue().encode()))


# Refused at discovery: find_deliveries records it and goes on; the run's last check fails on it.
@pytest.mark.parametrize(
    ("break_delivery", "failing_task", "message"),
    [
        (_invalid_manifest_json, "report_refused_deliveries", r"cur-Manifest\.json: invalid manifest JSON"),
        (
            _file_listed_twice,
            "report_refused_deliveries",
            r"manifest lists the data file \S+cur-00001\.csv\.gz 2 times",
        ),
        (_listed_file_missing, "load_billing_month", r"cur-00002\.csv\.gz: listed in the manifest but missing"),
        (_truncated_gzip, "load_billing_month", r"cur-00002\.csv\.gz: IO Error: Unexpected end of GZIP stream"),
        (_header_without_rows, "load_billing_month", r"delivery holds no rows: refusing to empty 2025-02"),
        (_na_in_a_cost_cell, "load_billing_month", r"cur-00002\.csv\.gz: Conversion Error: CSV Error on Line: 4"),
        (
            _data_file_outside_prefix,
            "report_refused_deliveries",
            r"another-00001\.csv\.gz is outside the export's billing-period",
        ),
        (
            _csv_header_disagrees,
            "load_billing_month",
            r"cur-00001\.csv\.gz: CSV header disagrees.*lineItem/UsageAmount",
        ),
    ],
    ids=[
        "invalid-manifest-json",
        "file-listed-twice",
        "listed-file-missing",
        "truncated-gzip",
        "header-without-rows",
        "na-in-a-cost-cell",
        "file-outside-prefix",
        "header-mismatch",
    ],
)
def test_bad_delivery_fails_the_task_naming_file_and_problem_and_loses_nothing(
    served, write_sample, run_aws_billing, warehouse, capfd, break_delivery, failing_task, message
):
    export = local_export("cur", "cur1", write_sample.root, S3_URI)
    layers_before = assert_layers_agree(warehouse, serving_path(warehouse))
    loaded_before = loaded_ledger(warehouse)
    write_sample("cur", "cur1", FEB, revision=2)
    [restated] = [d for d in discover(export) if d.billing_period == FEB]
    break_delivery(restated, write_sample.root)
    capfd.readouterr()

    dag_run, states = run_aws_billing([export_config("cur", "cur1", write_sample.root.as_uri())])

    assert dag_run.state == FAILED
    assert states[failing_task] == [FAILED] and states["report_refused_deliveries"] == [FAILED]
    assert states["find_deliveries"] == [SUCCESS]
    # nothing loaded and the mart holds what the ledger loaded: the plan skips, so no FOCUS rebuild
    assert states["plan_focus_build"] == states["focus_models.cost_and_usage_run"] == [SKIPPED]
    output = "".join(capfd.readouterr())
    assert re.search(message, output), f"no {message!r} in the task log"
    assert "1 delivery refused or not loaded" in output
    assert loaded_ledger(warehouse) == loaded_before
    # warehouse, mart and serving hold what they held, and agree
    assert assert_layers_agree(warehouse, serving_path(warehouse)) == layers_before
    [failed] = [row for row in ledger(warehouse) if row[5] == FAILED]
    assert failed[:2] == ("cur", "2025-02") and re.search(message, failed[6])


def test_a_broken_export_holds_back_no_other_and_the_run_fails_naming_it(
    write_sample, run_aws_billing, warehouse, capfd, monkeypatch
):
    """Item 4: discovery refuses per export (and per month); the good export's new month is loaded,
    modelled and served, and the run fails at its end naming every refusal, each a failed ledger row,
    and the export on an S3 endpoint nothing answers, which is not refused (no ledger row)."""
    expected = {"cur2": {JAN: write_sample("cur2", "cur2", JAN)}, "legacy": {JAN: write_sample("legacy", "cur1", JAN)}}
    uri = write_sample.root.as_uri()
    exports = [export_config("legacy", "cur1", uri), export_config("cur2", "cur2", uri)]
    dag_run, _ = run_aws_billing(exports)
    assert dag_run.state == SUCCESS

    expected["cur2"][FEB] = write_sample("cur2", "cur2", FEB)
    legacy_feb = write_sample("legacy", "cur1", FEB)
    manifest = write_sample.root / "legacy" / "20250201-20250301" / "legacy-Manifest.json"
    body = json.loads(manifest.read_text())
    body["reportKeys"].append(body["reportKeys"][-1])  # a file listed twice
    manifest.write_text(json.dumps(body))
    write_sample("misnamed", "cur2", JAN)  # a Data Exports folder, configured below as legacy CUR
    exports.append(export_config("misnamed", "cur1", uri))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1", "config_kwargs": {"retries": {"max_attempts": 1}}}
    monkeypatch.setenv("AIRFLOW_CONN_UNREACHABLE_S3", json.dumps({"conn_type": "aws", "extra": extra}))
    exports.append(export_config("unreachable", "cur2", S3_URI, conn_id="unreachable_s3"))
    capfd.readouterr()

    dag_run, states = run_aws_billing(exports)

    assert dag_run.state == FAILED
    assert states["find_deliveries"] == states["load_billing_month"] == [SUCCESS]  # cur2's February
    assert states["focus_models.cost_and_usage_run"] == states["publish_serving_layer"] == [SUCCESS]
    assert states["report_refused_deliveries"] == [FAILED]
    assert states["wait_for_s3_delivery"] == [SUCCESS]  # its trigger failed: fired, so find_deliveries reports it
    _assert_months_match(warehouse, "cur2", expected["cur2"])
    _assert_focus_matches(warehouse, expected)  # legacy keeps January only
    _assert_served(warehouse, expected["cur2"])
    output = "".join(capfd.readouterr())
    assert "2 deliveries refused or not loaded, 1 export not surveyed" in output
    assert "export unreachable not surveyed (transient error): EndpointConnectionError: " in output
    assert f"export legacy 2025-02 refused: file://{manifest}: manifest lists the data file" in output
    assert "export misnamed (the export's folder) refused: " in output and "no legacy CUR layout" in output
    failed = [row for row in ledger(warehouse) if row[5] == FAILED]
    assert sorted(row[:3] for row in failed) == [("legacy", "2025-02", legacy_feb.version), ("misnamed", None, None)]
    assert all(row[6] in output for row in failed)  # the ledger says what the run said
    assert_layers_agree(warehouse, serving_path(warehouse))


def test_contract_installer_dag_then_a_billing_run_emits_an_asset_event_per_load_refreshes_metabase_and_logs_no_error(
    write_sample, warehouse, airflow_db, fake_metabase
):
    """The billing run is its own process, so the test reads exactly the log an operator would read. Metabase here
    is the contract-checking stand-in: every request is checked against its OpenAPI spec."""
    connection = json.dumps({"conn_type": "http", "host": fake_metabase.url, "password": fake_metabase.api_key})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_METABASE_DEFAULT", connection)
        installed = parse_dag("metabase_dashboards").test()
    assert installed.state == SUCCESS
    [database_id] = fake_metabase.databases
    assert fake_metabase.dashboards and fake_metabase.cards
    fake_metabase.requests.clear()

    jan = write_sample("cur2", "cur2", JAN)
    env = {
        **os.environ,
        "AIRFLOW_VAR_FINOPS_AWS_EXPORTS": json.dumps([export_config("cur2", "cur2", write_sample.root.as_uri())]),
        "AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH": str(warehouse),
        "AIRFLOW_VAR_FINOPS_SERVING_PATH": str(serving_path(warehouse)),
        "AIRFLOW_CONN_METABASE_DEFAULT": connection,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    run = (
        "from airflow.dag_processing.dagbag import DagBag; "
        f"print('RUN_ID', DagBag(dag_folder={str(PROJECT_ROOT / 'dags' / 'aws_billing.py')!r})"
        ".get_dag('aws_billing').test().run_id)"
    )
    finished = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True, check=False)
    log = finished.stdout + finished.stderr
    assert finished.returncode == 0, log[-3000:]

    assert "[DAG TEST] end task task_id=refresh_dashboards" in log  # the whole run's log was read
    errors = [line for line in log.splitlines() if "[error" in line or "[critical" in line]
    assert errors == []  # an operator reading a green run's log must not find error noise
    assert [(r.method, r.path, r.status) for r in fake_metabase.requests] == [
        ("GET", "/api/database/", 200),  # found by name: the connection names no database id
        ("POST", f"/api/database/{database_id}/sync_schema", 200),
        ("POST", f"/api/database/{database_id}/rescan_values", 200),
        ("POST", "/api/cache/invalidate", 402),  # the open-source edition: logged as skipped
    ]

    from airflow.models import TaskInstance
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    run_id = log.split("RUN_ID ", 1)[1].split()[0]
    with create_session() as session:
        [refresh] = session.query(TaskInstance).filter_by(run_id=run_id, task_id="refresh_dashboards").all()
        run_events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run_id).all()
        # (Cosmos adds events of its own for the dbt models it ran.)
        events = [e.extra for e in run_events if e.asset.name == billing_months(AWS.name).name]
    assert str(refresh.state) == SUCCESS
    assert billing_months(AWS.name).name == "aws_billing_months"  # what downstream DAGs schedule on
    assert [(e["export"], e["billing_period"], e["rows"], e["version"]) for e in events] == [
        ("cur2", "2025-01", jan.rows, jan.version)
    ]
