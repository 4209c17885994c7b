"""`airflow backfill create` on a real Airflow, for an AWS and an Azure DAG at once: `airflow standalone` (API
server, scheduler, DAG processor, triggerer, LocalExecutor) started on 127.0.0.1 by this module and stopped
after it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import duckdb
import pytest

from include.aws.provider import AWS
from include.azure.provider import AZURE
from include.azure.sample_data import DEMO_EXPORTS, write_exports
from include.serving.publish import served_months
from scripts.standalone_airflow import api, running_standalone, standalone_environment, wait_until
from tests.conftest import FEB, JAN, MAR, S3_URI, export_config
from tests.dags.conftest import serving_path
from tests.helpers import ledger, load_every_delivery

STARTUP_SECONDS = 240
# Each run loads its month, then runs the dbt task group; the duckdb_writer pool (1 slot) runs the
# months' writing tasks one at a time, both DAGs' alike.
BACKFILL_SECONDS = 1500
# January to March are loaded before the backfills; AWS's covers February and March, Azure's February.
BACKFILLED = {"aws_billing": ["2025-02", "2025-03"], "azure_billing": ["2025-02"]}
AZURE_EXPORTS = tuple(spec for spec in DEMO_EXPORTS if spec.name in ("ea-actual", "ea-amortized"))


@pytest.fixture(scope="module")
def three_loaded_months(tmp_path_factory):
    """January to March of an AWS and an Azure export generated and already loaded once, so a backfill is
    a reload; one warehouse for both, as a deployment has."""
    from include.aws.sample_data import write_month

    root = tmp_path_factory.mktemp("backfill") / "mirror"
    warehouse = root.parent / "warehouse.duckdb"
    for month in (JAN, FEB, MAR):
        write_month(root, "cur2", "cur2", month, rows=400, s3_uri=S3_URI, first_month=JAN, chunk_rows=200)
    load_every_delivery(warehouse, AWS, [export_config("cur2", "cur2", root.as_uri())])
    azure = write_exports(root.parent / "container", [JAN, FEB, MAR], exports=AZURE_EXPORTS, rows=300)
    load_every_delivery(warehouse, AZURE, azure.settings)
    return root, azure, warehouse


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, three_loaded_months):
    root, azure, warehouse = three_loaded_months
    home = tmp_path_factory.mktemp("standalone-home")
    variables = {
        "finops_aws_exports": json.dumps([export_config("cur2", "cur2", root.as_uri())]),
        "finops_azure_exports": json.dumps(azure.settings),
        "finops_warehouse_path": str(warehouse),
        "finops_serving_path": str(serving_path(warehouse)),
    }
    # Unpaused, or the scheduler would not run the backfill's tasks; without the DAGs' own schedule, or unpausing
    # would also start a run of the current month in each DAG, competing with the backfill for the writer pool.
    env = standalone_environment(
        home,
        variables,
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    )
    log = home / "standalone.log"
    with running_standalone(env, log) as process:
        for dag_id in BACKFILLED:
            wait_until(lambda dag_id=dag_id: api(env, f"dags/{dag_id}"), STARTUP_SECONDS, dag_id, process, log)
        yield {"env": env, "process": process, "log": log, "warehouse": warehouse, "azure": azure}


def _finished_backfill_runs(env, dag_id: str) -> list[dict] | None:
    runs = (api(env, f"dags/{dag_id}/dagRuns?limit=100") or {}).get("dag_runs", [])
    backfill = [run for run in runs if run["run_type"] == "backfill"]
    done = len(backfill) == len(BACKFILLED[dag_id]) and all(run["state"] in ("success", "failed") for run in backfill)
    return backfill if done else None


def test_backfill_create_reloads_each_billing_month_in_range_exactly_once_and_no_other_for_each_cloud(standalone):
    env = standalone["env"]
    for dag_id, months in BACKFILLED.items():
        command = [sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", dag_id]
        command += ["--from-date", f"{months[0]}-01", "--to-date", f"{months[-1]}-28"]
        subprocess.run(command, env=env, check=True, capture_output=True)

    for dag_id, months in BACKFILLED.items():
        runs = wait_until(
            lambda dag_id=dag_id: _finished_backfill_runs(env, dag_id),
            BACKFILL_SECONDS,
            f"the finished backfill runs of {dag_id}",
            standalone["process"],
            standalone["log"],
        )
        assert sorted(run["partition_key"] for run in runs) == months
        assert [run["state"] for run in runs] == ["success"] * len(months)

    # Each month in range: each export's original load, superseded once by exactly one reload; the others:
    # their load alone.
    loads = ledger(standalone["warehouse"])
    history = Counter((export, period, status) for export, period, _, _, _, status, _ in loads)
    expected = Counter()
    for export, dag_id in (("cur2", "aws_billing"), ("ea-actual", "azure_billing"), ("ea-amortized", "azure_billing")):
        for month in ("2025-01", "2025-02", "2025-03"):
            reloaded = month in BACKFILLED[dag_id]
            expected.update({(export, month, "loaded"): 1} | ({(export, month, "superseded"): 1} if reloaded else {}))
    assert history == expected
    with duckdb.connect(str(standalone["warehouse"]), read_only=True) as con:
        focus_months = con.execute(
            "SELECT ProviderName, strftime(x_BillingPeriod, '%Y-%m'), sum(BilledCost), sum(EffectiveCost) "
            "FROM focus.cost_and_usage GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    # each run's dbt group rebuilt its months and caught up the months loaded but never modelled
    assert [row[:2] for row in focus_months] == [
        (provider, month) for provider in ("AWS", "Microsoft") for month in ("2025-01", "2025-02", "2025-03")
    ]
    generated = {f"{month:%Y-%m}": standalone["azure"].latest("ea-actual", month).totals for month in (JAN, FEB, MAR)}
    azure_months = {month: costs for provider, month, *costs in focus_months if provider == "Microsoft"}
    assert azure_months == {month: [totals.actual, totals.amortized] for month, totals in generated.items()}
    assert served_months(serving_path(standalone["warehouse"])) == {"2025-01", "2025-02", "2025-03"}
