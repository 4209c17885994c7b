"""Every DAG file imports cleanly and carries the metadata operators rely on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))


def test_there_is_a_dag_file_per_cloud_built_so_far_and_the_dashboard_installer():
    assert [path.name for path in DAG_FILES] == ["aws_billing.py", "azure_billing.py", "metabase_dashboards.py"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_without_errors(dag_file: Path, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(dag_file))
    print(f"{dag_file.name} parsed in {time.perf_counter() - started:.2f}s")  # reported, never asserted
    assert bag.import_errors == {}
    assert bag.dag_ids


def test_dags_have_owner_retries_tags_and_loaders_and_dbt_tasks_in_the_duckdb_pool(dagbag):
    assert dagbag.import_errors == {}
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "finops" in dag.tags, dag_id
        for task in dag.tasks:
            assert task.owner == "finops", (dag_id, task.task_id)
            assert task.retries >= 0
        assert dag.default_args["retries"] >= 1
    billing = dagbag.dags["aws_billing"]
    runs = [task for task in billing.tasks if task.task_type != "EmptyOperator"]  # Empty ones never start
    warehouse_tasks = [
        task.task_id
        for task in runs
        if task.task_id.startswith(("find_", "load_", "focus_models.", "validate_focus", "publish_", "report_"))
    ]
    dbt_runs = {t for t in warehouse_tasks if t.startswith("focus_models.")}
    assert {"focus_models.cost_and_usage_run", "focus_models.dbt_test"} <= dbt_runs, "the dbt task group is missing"
    assert all(billing.get_task(t).pool == "duckdb_writer" for t in warehouse_tasks)
    assert {"find_deliveries", "validate_focus", "publish_serving_layer", "report_refused_deliveries"} <= set(
        warehouse_tasks
    )
    # A hung task must not hold the one writer slot forever; a sensor's wait ends by its own timeout first.
    assert all(task.execution_timeout for task in runs), [t.task_id for t in runs if not t.execution_timeout]
    for sensor in (billing.get_task("wait_for_s3_delivery"), billing.get_task("wait_for_local_delivery")):
        assert sensor.execution_timeout.total_seconds() > sensor.partial_kwargs["timeout"]


def test_the_dbt_group_runs_one_build_and_the_tests_and_its_model_task_starts_after_the_build(dagbag):
    """Cosmos watcher mode: one `dbt build` (the producer) and one `dbt test`; the mart's task reports the
    producer's outcome for it; seeds and the inlined staging and intermediate models are EmptyOperators."""
    group = {
        t.task_id.removeprefix("focus_models."): t
        for t in dagbag.dags["aws_billing"].tasks
        if t.task_id.startswith("focus_models.")
    }
    running = {task_id: t.task_type for task_id, t in group.items() if t.task_type != "EmptyOperator"}
    assert running == {
        "dbt_producer_watcher": "DbtProducerWatcherOperator",
        "cost_and_usage_run": "DbtRunWatcherOperator",
        "months_held_back_run": "DbtRunWatcherOperator",
        "dbt_test": "DbtTestLocalOperator",
    }
    assert all(group[task_id].retries == 0 for task_id in running)
    assert {t for t in group if t.startswith(("stg_", "int_")) or t.endswith("_seed")} == set(group) - set(running) - {
        "dbt_producer_watcher_done"
    }
    assert "focus_models.dbt_producer_watcher" in group["cost_and_usage_run"].get_flat_relative_ids(upstream=True)


def test_refreshing_metabase_is_the_billing_dags_last_task_after_publishing(dagbag):
    billing = dagbag.dags["aws_billing"]
    assert sorted(task.task_id for task in billing.leaves) == ["refresh_dashboards", "report_refused_deliveries"]
    assert billing.get_task("refresh_dashboards").upstream_task_ids == {"publish_serving_layer"}
    assert billing.get_task("publish_serving_layer").upstream_task_ids >= {"validate_focus"}
    assert "focus_models.dbt_test" in billing.get_task("validate_focus").upstream_task_ids


def test_refusals_are_reported_after_every_load_whatever_its_outcome_and_loaded_months_go_on(dagbag):
    """A refused month fails the run at its end (a leaf of its own), and holds back no other month's models; the
    report comes after the models and their validation, which decide what they hold back."""
    billing = dagbag.dags["aws_billing"]
    report = billing.get_task("report_refused_deliveries")
    assert report.upstream_task_ids == {"find_deliveries", "load_billing_month", "validate_focus"}
    assert (report.trigger_rule, report.retries, report.pool) == ("all_done", 0, "duckdb_writer")
    assert billing.get_task("plan_focus_build").trigger_rule == "all_done"


def test_airflow_settings_declare_the_pool_and_variables_the_dags_read():
    import yaml

    from include.azure.settings import parse_exports as parse_azure_exports

    settings = yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text())["airflow"]
    assert {k: v for k, v in settings["pools"][0].items() if k in ("pool_name", "pool_slot")} == {
        "pool_name": "duckdb_writer",
        "pool_slot": 1,
    }
    variables = {v["variable_name"] for v in settings["variables"]}
    assert {"finops_aws_exports", "finops_azure_exports", "finops_warehouse_path", "finops_serving_path"} <= variables
    azure = next(v["variable_value"] for v in settings["variables"] if v["variable_name"] == "finops_azure_exports")
    assert [export.format for export in parse_azure_exports(azure)] == ["actual", "amortized"]


def test_aws_implements_the_provider_contract_and_the_builder_makes_the_same_dag_for_another_cloud(dagbag):
    """Adding a cloud is a provider object and a DAG file: its DAG has AWS's tasks, pools, trigger rules,
    retries and timeouts, with its own sensor on its own scheme and its own asset."""
    from airflow.sdk import BaseSensorOperator

    from include.aws.provider import AWS
    from include.orchestration.billing_dag import billing_dag
    from include.providers.contract import Provider

    class GsDeliverySensor(BaseSensorOperator):
        def __init__(self, *, export: dict, **kwargs):
            super().__init__(**kwargs)
            self.export = export

    class Other:  # AWS's parts, but another name, scheme and sensor
        name, schema, remote_scheme = "other", "other_billing", "gs"
        datasets, exports_variable, export_type = {"v1": "other_v1"}, "finops_other_exports", AWS.export_type
        parse_exports, discover, open_path, month_load = AWS.parse_exports, AWS.discover, AWS.open_path, AWS.month_load

        def remote_sensor(self):
            return GsDeliverySensor

    assert isinstance(AWS, Provider) and isinstance(Other(), Provider)
    aws, other = dagbag.dags["aws_billing"], billing_dag(Other())

    def shape(dag, scheme: str) -> dict:
        return {
            task.task_id.replace(f"{scheme}_", "<remote>_"): (
                task.pool,
                task.trigger_rule,
                task.retries,
                task.execution_timeout,
                sorted(t.replace(f"{scheme}_", "<remote>_") for t in task.upstream_task_ids),
            )
            for task in dag.tasks
        }

    assert other.dag_id == "other_billing" and other.tags == {"finops", "other", "billing"}
    assert shape(other, "gs") == shape(aws, "s3")
    assert other.get_task("wait_for_gs_delivery").operator_class is GsDeliverySensor
    assert aws.get_task("wait_for_s3_delivery").operator_class is AWS.remote_sensor()
    assert [asset.name for asset in other.get_task("load_billing_month").outlets] == ["other_billing_months"]
    assert [asset.name for asset in aws.get_task("load_billing_month").outlets] == ["aws_billing_months"]
