"""Sensors that fire only for a delivery that still has to be loaded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import AirflowSkipException

from include.orchestration.config import warehouse_path
from include.settings import ExportConfig

log = logging.getLogger(__name__)


def manifest_key_pattern(export: ExportConfig) -> str:
    """Wildcard over the keys whose arrival may mean a new delivery (fnmatch's * also spans folders).

    Legacy CUR: any key in the export's folder, since the Athena layout may deliver Parquet files
    without any manifest; Data Exports: the manifests under metadata/.
    """
    prefix = urlsplit(export.uri).path.strip("/")
    base = f"{prefix}/{export.name}" if prefix else export.name
    if export.format == "cur1":
        return f"{base}/*"
    return f"{base}/metadata/*Manifest.json"


def has_work(export: ExportConfig, context) -> bool:
    """True when something must be loaded, refused, or reported: the run records and reports a refusal,
    and reports an export it could not survey. False while a later look may do better: the ledger is
    busy, or surveying failed for a transient reason (the network, S3 unreachable)."""
    # Imported here: the DAG file imports this module, and discovery brings in DuckDB.
    from include.failures import Failure, LedgerBusy
    from include.orchestration.deliveries import plan_deliveries, requested_periods

    try:
        plan = plan_deliveries(export, warehouse_path(), requested_periods(context))
    except LedgerBusy as err:
        log.info("%s; looking again on the next poke", err)
        return False
    if plan.survey_failure is Failure.TRANSIENT:
        log.warning("%s; looking again on the next poke", plan.not_surveyed)
        return False
    return bool(plan.to_load or plan.refused or plan.survey_error)


class AwsDeliverySensor(S3KeySensor):
    """Deferrable S3KeySensor on one export's folder.

    The first look is a full discovery (it logs what the folder holds, even when no key matches
    yet); then the trigger waits for matching keys, and `check_fn` compares their versions with
    the ledger, so an already-loaded delivery sends the sensor back to waiting. A trigger that
    fails (S3 unreachable, access denied) fires the sensor: find_deliveries then surveys the export
    and the run reports what fails. (Raising would skip the sensor, `soft_fail`; with no other
    export to load, find_deliveries would not run and nothing would say why.)
    """

    def __init__(self, *, export: dict, **kwargs):
        config = ExportConfig.from_dict(export)
        self.export = export
        super().__init__(
            bucket_name=urlsplit(config.uri).netloc,
            bucket_key=manifest_key_pattern(config),
            wildcard_match=True,
            aws_conn_id=config.conn_id,
            check_fn=self._has_work,
            deferrable=True,
            **kwargs,
        )

    def poke(self, context) -> bool:
        return has_work(ExportConfig.from_dict(self.export), context)

    def execute_complete(self, context, event: dict) -> None:
        if event["status"] == "error":
            # The trigger gave up (it does not try again): let find_deliveries survey the export and report it.
            log.error("watching %s failed: %s; find_deliveries surveys it", self.export["name"], event["message"])
            return
        super().execute_complete(context, event)

    def _has_work(self, files: list[dict], **context) -> bool:
        if has_work(ExportConfig.from_dict(self.export), context):
            return True
        # S3KeySensor re-defers with a fresh timeout each time check_fn says no, so without
        # this the run would wait forever once every delivery is loaded.
        waited = (datetime.now(UTC) - context["dag_run"].start_date).total_seconds()
        if waited > self.timeout:
            raise AirflowSkipException(
                f"no new delivery for {self.export['name']} in {waited:.0f}s of this run (the log above says what "
                "each look found)"
            )
        return False
