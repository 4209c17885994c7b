"""AWS billing: sense a new CUR / Data Exports delivery → replace its billing month in DuckDB → FOCUS models
→ validate → publish the serving layer dashboards read → refresh Metabase.

Reloading past months: `airflow backfill create --dag-id aws_billing --from-date 2025-01-01
--to-date 2025-03-31` makes one run per billing month, or trigger with Param `billing_periods`.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from airflow.sdk import Param, PokeReturnValue, dag, get_current_context, task

from include.orchestration import config
from include.orchestration.assets import AWS_BILLING_MONTHS
from include.orchestration.focus_models import PLAN_TASK_ID, focus_models
from include.orchestration.sensors import AwsDeliverySensor, has_work
from include.orchestration.timetable import BillingMonthTimetable

# Every task re-parses this file: what only a task needs (DuckDB, the loader, Metabase, the validator)
# is imported inside it, so parsing stays under a second.

log = logging.getLogger(__name__)

# How long one run waits for a delivery, and how often it looks: the next run takes over after.
SENSOR_POKE_SECONDS = float(os.environ.get("FINOPS_SENSOR_POKE_SECONDS", 15 * 60))
SENSOR_TIMEOUT_SECONDS = float(os.environ.get("FINOPS_SENSOR_TIMEOUT_SECONDS", 5.5 * 3600))


@dag(
    schedule=BillingMonthTimetable(os.environ.get("FINOPS_AWS_SCHEDULE", "17 */6 * * *")),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "finops",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        # A hung task would hold the one duckdb_writer slot that every billing DAG waits for.
        "execution_timeout": timedelta(hours=2),
    },
    tags=["finops", "aws", "billing"],
    params={
        config.BILLING_PERIODS_PARAM: Param(
            [],
            type="array",
            items={"type": "string", "pattern": r"^\d{4}-\d{2}$"},
            description="Billing months (YYYY-MM) to reload even if already loaded; empty = load what is new.",
        )
    },
    doc_md=__doc__,
)
def aws_billing():
    @task(retries=0)
    def exports_on(scheme: str) -> list[dict]:
        return [export.to_dict() for export in config.aws_exports() if export.scheme == scheme]

    sensing = dict(
        poke_interval=SENSOR_POKE_SECONDS,
        timeout=SENSOR_TIMEOUT_SECONDS,
        soft_fail=True,
        # Waiting counts against execution_timeout too: let `timeout` (a skip) end the wait, never the default's fail.
        execution_timeout=timedelta(seconds=SENSOR_TIMEOUT_SECONDS + 600),
    )

    @task.sensor(mode="reschedule", **sensing)
    def wait_for_local_delivery(export: dict) -> PokeReturnValue:
        from include.settings import ExportConfig

        return PokeReturnValue(is_done=has_work(ExportConfig.from_dict(export), get_current_context()))

    # In the writer pool: it records refusals in the ledger (before any load, so they stay recorded
    # whatever fails later), and no load holds the ledger while it reads what is loaded.
    @task(pool=config.WRITER_POOL, trigger_rule="none_failed_min_one_success")
    def find_deliveries() -> list[dict]:
        from include.orchestration.deliveries import requested_periods, survey_exports
        from include.orchestration.errors import fail_fast_on_bad_input

        context = get_current_context()
        with fail_fast_on_bad_input():
            # Per export, logging what it saw, skipped, refused or could not survey; none holds back another.
            survey = survey_exports(config.aws_exports(), config.warehouse_path(), requested_periods(context))
        context["ti"].xcom_push(key="refused", value=survey.refused)
        context["ti"].xcom_push(key="not_surveyed", value=survey.not_surveyed)
        return [delivery.to_dict() for delivery in survey.to_load]

    @task(pool=config.WRITER_POOL, outlets=[AWS_BILLING_MONTHS], map_index_template="{{ delivery_label }}")
    def load_billing_month(delivery: dict) -> dict:
        from functools import partial

        from include.aws.loading import load_delivery
        from include.aws.manifests import Delivery
        from include.orchestration.deliveries import storage_path
        from include.orchestration.errors import fail_fast_on_bad_input

        context = get_current_context()
        found = Delivery.from_dict(delivery)
        context["delivery_label"] = f"{found.export.name} {found.period_label}"
        with fail_fast_on_bad_input(context["delivery_label"]):
            result = load_delivery(config.warehouse_path(), found, partial(storage_path, conn_id=found.export.conn_id))
        summary = {
            "export": found.export.name,
            "billing_period": found.period_label,
            "rows": result.rows,
            "version": found.version,
            "billed_cost": str(result.billed_cost),
            "table": result.table,
        }
        context["outlet_events"][AWS_BILLING_MONTHS].extra = summary
        return summary

    # In every run, whatever the loads did: the months that loaded go on to the models even when other loads
    # failed (report_refused_deliveries fails the run), and so do those a failed dbt build left behind before.
    @task(task_id=PLAN_TASK_ID, trigger_rule="all_done", pool=config.WRITER_POOL)
    def plan_focus_build(loaded: list[dict]) -> dict:
        from include.orchestration.focus_models import focus_build_plan

        # One slice fetches every mapped result; iterating would probe one past the end and log a 404 as an error.
        return focus_build_plan(config.warehouse_path(), loaded[:])

    @task(pool=config.WRITER_POOL, retries=0)
    def validate_focus(plan: dict) -> dict:
        from include.orchestration.publishing import validate_rebuilt_months

        return validate_rebuilt_months(plan, config.serving_path())

    @task(pool=config.WRITER_POOL)
    def publish_serving_layer(plan: dict) -> dict:
        from include.orchestration.errors import fail_fast_on_bad_input
        from include.orchestration.publishing import publish_rebuilt_months
        from include.warehouse.compact import compact_if_needed

        with fail_fast_on_bad_input("publishing the serving layer"):
            published = publish_rebuilt_months(plan, config.serving_path())
        # Still holding the writer slot: give back what month swaps left free, when worth it.
        compacted = compact_if_needed(config.warehouse_path())
        if compacted:
            before, after = compacted
            log.info("compacted the warehouse: %d → %d bytes", before.file_bytes, after.file_bytes)
        return published

    @task(pool=config.WRITER_POOL, trigger_rule="all_done", retries=0)
    def report_refused_deliveries(deliveries: list[dict] | None, loaded: list[dict]) -> None:
        """Fail the run, naming every delivery refused or not loaded and every export not surveyed, once the
        others have loaded."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from include.aws.manifests import Delivery
        from include.orchestration.deliveries import refusal_report

        if deliveries is None:
            raise AirflowSkipException("find_deliveries did not run to its end; its own state says why")
        ti = get_current_context()["ti"]
        refused = ti.xcom_pull(task_ids="find_deliveries", key="refused") or []
        not_surveyed = ti.xcom_pull(task_ids="find_deliveries", key="not_surveyed") or []
        to_load = [Delivery.from_dict(delivery) for delivery in deliveries]
        report = refusal_report(config.warehouse_path(), refused, not_surveyed, to_load, loaded[:])
        if report:
            raise AirflowFailException(report)

    @task
    def refresh_dashboards() -> dict:
        from include.orchestration.metabase import refresh_metabase

        return refresh_metabase()

    s3_exports = exports_on.override(task_id="s3_exports")("s3")
    local_exports = exports_on.override(task_id="local_exports")("file")
    s3_sensors = AwsDeliverySensor.partial(task_id="wait_for_s3_delivery", **sensing).expand(export=s3_exports)
    local_sensors = wait_for_local_delivery.expand(export=local_exports)
    deliveries = find_deliveries()
    [s3_sensors, local_sensors] >> deliveries
    loaded = load_billing_month.expand(delivery=deliveries)
    plan = plan_focus_build(loaded)
    validated = validate_focus(plan)
    plan >> focus_models() >> validated >> publish_serving_layer(plan) >> refresh_dashboards()
    report_refused_deliveries(deliveries, loaded)


aws_billing()
