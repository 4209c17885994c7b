"""Fixtures for real runs of the billing DAGs with `dag.test()` (triggers run in-process)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def parse_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


@pytest.fixture
def run_aws_billing(airflow_db, warehouse, monkeypatch):
    """Run the DAG once over `exports`; returns {task_id: [states]} and the run."""

    def run(exports: list[dict], **test_kwargs):
        monkeypatch.setenv("AIRFLOW_VAR_FINOPS_AWS_EXPORTS", json.dumps(exports))
        monkeypatch.setenv("AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH", str(warehouse))
        monkeypatch.setenv("AIRFLOW_VAR_FINOPS_SERVING_PATH", str(serving_path(warehouse)))
        # Parsed afresh per run, as a worker would: dag.test(run_conf=...) leaves the conf on the params.
        dag_run = parse_dag("aws_billing").test(**test_kwargs)
        return dag_run, task_states(dag_run)

    return run


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
