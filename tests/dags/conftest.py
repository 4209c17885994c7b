"""Fixtures for real runs of the billing DAGs with `dag.test()` (triggers run in-process)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FEB, JAN, PROJECT_ROOT, export_config, sample_writer

if TYPE_CHECKING:
    from include.aws.sample_data import MonthTotals


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def parse_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def billing_runner(provider: str, warehouse, monkeypatch):
    """Runs `<provider>_billing` once over `exports` (its Variable `finops_<provider>_exports`) on `warehouse`;
    each run returns the run and {task_id: [states]}."""

    def run(exports: list[dict], **test_kwargs):
        monkeypatch.setenv(f"AIRFLOW_VAR_FINOPS_{provider.upper()}_EXPORTS", json.dumps(exports))
        monkeypatch.setenv("AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH", str(warehouse))
        monkeypatch.setenv("AIRFLOW_VAR_FINOPS_SERVING_PATH", str(serving_path(warehouse)))
        # Parsed afresh per run, as a worker would: dag.test(run_conf=...) leaves the conf on the params.
        dag_run = parse_dag(f"{provider}_billing").test(**test_kwargs)
        return dag_run, task_states(dag_run)

    return run


@pytest.fixture
def run_aws_billing(airflow_db, warehouse, monkeypatch):
    """Run the aws_billing DAG once over `exports`; returns the run and {task_id: [states]}."""
    return billing_runner("aws", warehouse, monkeypatch)


def serving_path(warehouse):
    return warehouse.parent / "serving"


def task_states(dag_run) -> dict[str, list[str]]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = session.query(TaskInstance).filter(TaskInstance.run_id == dag_run.run_id).all()
        states: dict[str, list[str]] = {}
        for ti in sorted(instances, key=lambda t: (t.task_id, t.map_index)):
            states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


@dataclass(frozen=True)
class ServedRun:
    """A finished DAG run's folder (mirror, warehouse, serving), its state and task states, what was delivered."""

    root: Path
    state: str
    states: dict[str, list[str]]
    delivered: dict[date, MonthTotals]  # what the generator wrote, by month


@pytest.fixture(scope="session")
def served_closed_and_open_month(tmp_path_factory, airflow_db) -> ServedRun:
    """One aws_billing run over a CUR 2.0 export: January invoiced (closed), February not yet (open).

    Built once for the tests that start from a served warehouse; each gets a copy (`closed_and_open_month`).
    """
    root = tmp_path_factory.mktemp("closed-and-open")
    write = sample_writer(root / "mirror")
    delivered = {JAN: write("cur2", "cur2", JAN), FEB: write("cur2", "cur2", FEB, invoiced=False)}
    with pytest.MonkeyPatch.context() as patch:
        run = billing_runner("aws", root / "warehouse.duckdb", patch)
        dag_run, states = run([export_config("cur2", "cur2", write.root.as_uri())])
    return ServedRun(root, str(dag_run.state), states, delivered)


@pytest.fixture
def closed_and_open_month(served_closed_and_open_month, tmp_path, warehouse, write_sample) -> ServedRun:
    """A copy of `served_closed_and_open_month` laid out as this test's `warehouse`, `write_sample` and serving."""
    shutil.copytree(served_closed_and_open_month.root, tmp_path, dirs_exist_ok=True)
    assert warehouse.exists() and write_sample.root.exists()
    return served_closed_and_open_month
