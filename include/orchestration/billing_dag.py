"""The billing DAG every cloud shares, built for one provider (`include.providers.contract.Provider`):

    <scheme>_exports / local_exports   the provider's exports, from its Variable, by where they are delivered
    wait_for_<scheme>_delivery         the provider's sensor, one per remote export (AWS: deferrable, on S3)
    wait_for_local_delivery            reschedule sensor, one per file:// export
    find_deliveries                    every export surveyed; what is new planned, what is refused recorded
    load_billing_month                 one mapped task per delivery: fetch, check, swap the month in
    plan_focus_build                   the months loaded, and any the mart lags behind
    focus_models                       the dbt project (Cosmos task group)
    validate_focus                     focus-validator on those months; a failed verdict publishes nothing
    publish_serving_layer              validated months → new Parquet versions for the dashboards
    refresh_dashboards                 Metabase: sync, rescan, cache
    report_refused_deliveries          fails the run naming every refused or unloaded delivery and every loaded
                                       month the models hold back (Azure: actual cost awaiting its amortized cost)

Every task re-parses the DAG file: what only a task needs (DuckDB, the loader, Metabase, the validator)
is imported inside it, so parsing stays under a second.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, PokeReturnValue, dag, get_current_context, task

from include import settings
from include.orchestration import config
from include.orchestration.assets import billing_months
from include.orchestration.focus_models import PLAN_TASK_ID, focus_models
from include.orchestration.sensors import has_work
from include.orchestration.timetable import BillingMonthTimetable
from include.periods import MONTH_PATTERN
from include.providers.contract import Provider

log = logging.getLogger(__name__)

LOCAL_SCHEME = "file"
# A hung task would hold the one duckdb_writer slot that every billing DAG waits for.
TASK_TIMEOUT = timedelta(hours=2)
# A waiting sensor counts against execution_timeout too: its own `timeout` (a skip) ends the wait first.
SENSOR_TIMEOUT_MARGIN = timedelta(minutes=10)


def billing_dag(provider: Provider, doc_md: str | None = None) -> DAG:
    """The DAG `<provider>_billing`: sense → find deliveries → load months → FOCUS models → validate →
    publish → refresh Metabase, plus the report of what was refused."""
    months_loaded = billing_months(provider.name)
    remote = provider.remote_scheme

    @dag(
        dag_id=f"{provider.name}_billing",
        schedule=BillingMonthTimetable(settings.billing_schedule(provider.name)),
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "finops",
            "retries": 2,
            "retry_delay": timedelta(minutes=5),
            "execution_timeout": TASK_TIMEOUT,
        },
        tags=["finops", provider.name, "billing"],
        params={
            config.BILLING_PERIODS_PARAM: Param(
                [],
                type="array",
                items={"type": "string", "pattern": MONTH_PATTERN},
                description="Billing months (YYYY-MM) to reload even if already loaded; empty = load what is new.",
            )
        },
        doc_md=doc_md,
    )
    def billing():
        @task(retries=0)
        def exports_on(scheme: str) -> list[dict]:
            return [export.to_dict() for export in config.exports(provider) if export.scheme == scheme]

        sensor_timeout_s = settings.sensor_timeout_s()
        sensing = dict(
            poke_interval=settings.sensor_poke_s(),
            timeout=sensor_timeout_s,
            soft_fail=True,
            execution_timeout=timedelta(seconds=sensor_timeout_s) + SENSOR_TIMEOUT_MARGIN,
        )

        @task.sensor(mode="reschedule", **sensing)
        def wait_for_local_delivery(export: dict) -> PokeReturnValue:
            found = provider.export_type.from_dict(export)
            return PokeReturnValue(is_done=has_work(provider, found, get_current_context()))

        # In the writer pool: it records refusals in the ledger (before any load, so they stay recorded
        # whatever fails later), and no load holds the ledger while it reads what is loaded.
        @task(pool=config.WRITER_POOL, trigger_rule="none_failed_min_one_success")
        def find_deliveries() -> list[dict]:
            from include.orchestration.deliveries import requested_periods, survey_exports
            from include.orchestration.errors import fail_fast_on_bad_input

            context = get_current_context()
            with fail_fast_on_bad_input():
                # Per export, logging what it saw, skipped, refused or could not survey; none holds back another.
                survey = survey_exports(
                    provider, config.exports(provider), config.warehouse_path(), requested_periods(context)
                )
            context["ti"].xcom_push(key="refused", value=survey.refused)
            context["ti"].xcom_push(key="not_surveyed", value=survey.not_surveyed)
            return [delivery.to_dict() for delivery in survey.to_load]

        @task(pool=config.WRITER_POOL, outlets=[months_loaded], map_index_template="{{ delivery_label }}")
        def load_billing_month(delivery: dict) -> dict:
            from include.orchestration.errors import fail_fast_on_bad_input
            from include.orchestration.loading import load_delivery
            from include.providers.deliveries import Delivery

            context = get_current_context()
            found = Delivery.from_dict(delivery, provider.export_type)
            context["delivery_label"] = f"{found.export.name} {found.period_label}"
            with fail_fast_on_bad_input(context["delivery_label"]):
                result = load_delivery(config.warehouse_path(), provider, found)
            summary = {
                "provider": provider.name,
                "dataset": provider.datasets[found.export.format],
                "export": found.export.name,
                "billing_period": found.period_label,
                "rows": result.rows,
                "version": found.version,
                "billed_cost": str(result.billed_cost),
                "table": result.table,
            }
            context["outlet_events"][months_loaded].extra = summary
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
            """Fail the run, naming every delivery refused or not loaded, every export not surveyed and every loaded
            month the models hold back, once the loads and the models have run."""
            from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

            from include.orchestration.deliveries import refusal_report
            from include.orchestration.focus_models import months_held_back
            from include.providers.deliveries import Delivery

            if deliveries is None:
                raise AirflowSkipException("find_deliveries did not run to its end; its own state says why")
            ti = get_current_context()["ti"]
            refused = ti.xcom_pull(task_ids="find_deliveries", key="refused") or []
            not_surveyed = ti.xcom_pull(task_ids="find_deliveries", key="not_surveyed") or []
            to_load = [Delivery.from_dict(delivery, provider.export_type) for delivery in deliveries]
            warehouse = config.warehouse_path()
            held_back = months_held_back(warehouse, provider.name)
            report = refusal_report(provider, warehouse, refused, not_surveyed, to_load, loaded[:], held_back)
            if report:
                raise AirflowFailException(report)

        @task
        def refresh_dashboards() -> dict:
            from include.orchestration.metabase import refresh_metabase

            return refresh_metabase()

        remote_exports = exports_on.override(task_id=f"{remote}_exports")(remote)
        local_exports = exports_on.override(task_id="local_exports")(LOCAL_SCHEME)
        remote_sensor = provider.remote_sensor()
        remote_sensors = remote_sensor.partial(task_id=f"wait_for_{remote}_delivery", **sensing).expand(
            export=remote_exports
        )
        local_sensors = wait_for_local_delivery.expand(export=local_exports)
        deliveries = find_deliveries()
        [remote_sensors, local_sensors] >> deliveries
        loaded = load_billing_month.expand(delivery=deliveries)
        plan = plan_focus_build(loaded)
        validated = validate_focus(plan)
        plan >> focus_models() >> validated >> publish_serving_layer(plan) >> refresh_dashboards()
        # After the models (whatever their outcome): it also reports the loaded months they held back. Not the last
        # task: a leaf with trigger rule all_done would mark the run successful when dbt or publishing failed.
        validated >> report_refused_deliveries(deliveries, loaded)

    return billing()
