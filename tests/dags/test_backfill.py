"""`airflow backfill create` on a real Airflow: `airflow standalone` (API server, scheduler, DAG
processor, triggerer, LocalExecutor) started on 127.0.0.1 by this module and stopped after it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import duckdb
import pytest

from include.serving.publish import served_months
from scripts.standalone_airflow import api, running_standalone, standalone_environment, wait_until
from tests.conftest import FEB, JAN, MAR, S3_URI, export_config
from tests.dags.conftest import serving_path
from tests.helpers import deliveries, ledger, load, local_export

STARTUP_SECONDS = 240
# Each run loads its month, then runs the dbt task group, every task its own process; the duckdb_writer
# pool (1 slot) runs the months' writing tasks one at a time.
BACKFILL_SECONDS = 1500
# January to March are loaded before the backfill; it covers February and March only.
BACKFILLED = ["2025-02", "2025-03"]


@pytest.fixture(scope="module")
def three_loaded_months(tmp_path_factory):
    """January to March generated and already loaded once, so a backfill is a reload."""
    from include.aws.sample_data import write_month

    root = tmp_path_factory.mktemp("backfill") / "mirror"
    warehouse = root.parent / "warehouse.duckdb"
    for month in (JAN, FEB, MAR):
        write_month(root, "cur2", "cur2", month, rows=400, s3_uri=S3_URI, first_month=JAN, chunk_rows=200)
    for delivery in deliveries(local_export("cur2", "cur2", root, S3_URI)):
        load(warehouse, delivery)
    return root, warehouse


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, three_loaded_months):
    root, warehouse = three_loaded_months
    home = tmp_path_factory.mktemp("standalone-home")
    variables = {
        "finops_aws_exports": json.dumps([export_config("cur2", "cur2", root.as_uri())]),
        "finops_warehouse_path": str(warehouse),
        "finops_serving_path": str(serving_path(warehouse)),
    }
    env = standalone_environment(home, variables, AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False")
    log = home / "standalone.log"
    with running_standalone(env, log) as process:
        wait_until(lambda: api(env, "dags/aws_billing"), STARTUP_SECONDS, "the DAG", process, log)
        yield {"env": env, "process": process, "log": log, "warehouse": warehouse}


def test_backfill_create_reloads_each_billing_month_in_range_exactly_once_and_no_other(standalone):
    command = [
        sys.executable,
        "-m",
        "airflow",
        "backfill",
        "create",
        "--dag-id",
        "aws_billing",
        "--from-date",
        f"{BACKFILLED[0]}-01",
        "--to-date",
        f"{BACKFILLED[-1]}-31",
    ]
    subprocess.run(command, env=standalone["env"], check=True, capture_output=True)

    def finished_backfill_runs():
        runs = (api(standalone["env"], "dags/aws_billing/dagRuns?limit=100") or {}).get("dag_runs", [])
        backfill = [run for run in runs if run["run_type"] == "backfill"]
        done = len(backfill) == len(BACKFILLED) and all(run["state"] in ("success", "failed") for run in backfill)
        return backfill if done else None

    runs = wait_until(
        finished_backfill_runs, BACKFILL_SECONDS, "the finished backfill runs", standalone["process"], standalone["log"]
    )
    assert sorted(run["partition_key"] for run in runs) == BACKFILLED
    assert [run["state"] for run in runs] == ["success"] * len(BACKFILLED)
    # Each month in range: the original load, superseded once by exactly one reload; January: its load alone.
    history = Counter((period, status) for _, period, _, _, _, status, _ in ledger(standalone["warehouse"]))
    assert history == {("2025-01", "loaded"): 1} | {
        (month, status): 1 for month in BACKFILLED for status in ("superseded", "loaded")
    }
    with duckdb.connect(str(standalone["warehouse"]), read_only=True) as con:
        focus_months = con.execute(
            "SELECT DISTINCT strftime(x_BillingPeriod, '%Y-%m') FROM focus.cost_and_usage ORDER BY 1"
        ).fetchall()
    # each run's dbt group rebuilt its month; the first also caught up January, loaded but never modelled
    assert focus_months == [("2025-01",), ("2025-02",), ("2025-03",)]
    assert served_months(serving_path(standalone["warehouse"])) == {"2025-01", "2025-02", "2025-03"}
