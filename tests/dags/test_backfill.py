"""`airflow backfill create` on a real Airflow: `airflow standalone` (API server, scheduler, DAG
processor, triggerer, LocalExecutor) started on 127.0.0.1 by this module and stopped after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import duckdb
import pytest

from include.serving.publish import served_months
from tests.conftest import FEB, JAN, MAR, PROJECT_ROOT, S3_URI, _free_port, export_config
from tests.dags.conftest import serving_path
from tests.helpers import deliveries, ledger, load, local_export

STARTUP_SECONDS = 240
# Each run loads its month, then runs the dbt task group, every task its own process; the duckdb_writer
# pool (1 slot) runs the months' writing tasks one at a time.
BACKFILL_SECONDS = 1500
POLL_SECONDS = 1
# January to March are loaded before the backfill; it covers February and March only.
BACKFILLED = ["2025-02", "2025-03"]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait_for(condition, seconds: float, what: str, log_path, process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            result = condition()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(POLL_SECONDS)
    tail = log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"timed out waiting for {what}; standalone log tail:\n{tail}")


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
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # Parse each DAG file once: re-parsing every 30 s would take a core from the tasks on this 2-core machine.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
        # standalone starts its components as `airflow ...` commands: this venv's must be found.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "AIRFLOW_VAR_FINOPS_AWS_EXPORTS": json.dumps([export_config("cur2", "cur2", root.as_uri())]),
        "AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH": str(warehouse),
        "AIRFLOW_VAR_FINOPS_SERVING_PATH": str(serving_path(warehouse)),
    }
    log_path = home / "standalone.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        _wait_for(
            lambda: _get_json(f"{api}/dags/aws_billing").get("dag_id"), STARTUP_SECONDS, "the DAG", log_path, process
        )
        # As README step 3 says: writers run only in the one-slot `duckdb_writer` pool.
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "pools", "set", "duckdb_writer", "1", "DuckDB writers"], env=env, check=True)
        yield {"env": env, "api": api, "log": log_path, "warehouse": warehouse}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


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
        runs = _get_json(f"{standalone['api']}/dags/aws_billing/dagRuns?limit=100")["dag_runs"]
        backfill = [run for run in runs if run["run_type"] == "backfill"]
        done = len(backfill) == len(BACKFILLED) and all(run["state"] in ("success", "failed") for run in backfill)
        return backfill if done else None

    runs = _wait_for(finished_backfill_runs, BACKFILL_SECONDS, "the finished backfill runs", standalone["log"])
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
