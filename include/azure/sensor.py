"""The deferrable sensor on a Blob storage export: it waits in the triggerer, not in a worker slot.

Run ids are GUIDs nobody can predict, so no blob name says "a new run": the Microsoft Azure provider's
WasbPrefixSensorTrigger waits until the export's folder holds anything (an export created before its first
run has none), and each look after that is a discovery compared with the ledger, paced by a timer between
looks. The sensor class is ours, rather than the provider's WasbPrefixSensor, so the DAG file's parse
imports no Azure SDK: the triggers are imported only when the sensor defers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSkipException

from include.azure.settings import AzureExport
from include.orchestration.sensors import has_work

log = logging.getLogger(__name__)


def export_folder_prefix(export: AzureExport) -> tuple[str, str]:
    """(container, blob name prefix of the export's folder: `<root folder path>/<name>/`)."""
    root = export.root_folder_path
    return urlsplit(export.uri).netloc, f"{root}/{export.name}/" if root else f"{export.name}/"


class BlobDeliverySensor(BaseSensorOperator):
    """Waits for a run to load on one Blob storage export.

    The first look is a full discovery (it logs what the folder holds); then, look after look: a pause of
    `poke_interval`, the trigger's wait for the export's folder, and a discovery compared with the ledger, so
    an already-loaded run sends the sensor back to waiting. A trigger that fails (the account unreachable,
    access denied) fires the sensor: find_deliveries then surveys the export and the run reports what fails.
    """

    def __init__(self, *, export: dict, **kwargs):
        super().__init__(**kwargs)
        self.export = export

    def _has_work(self, context) -> bool:
        from include.azure.provider import AZURE

        return has_work(AZURE, AzureExport.from_dict(self.export), context)

    def poke(self, context) -> bool:
        return self._has_work(context)

    def execute(self, context) -> None:
        if not self.poke(context):
            self._pause(context)

    def _pause(self, context) -> None:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        self.defer(
            timeout=self._time_left(context),
            trigger=TimeDeltaTrigger(timedelta(seconds=self.poke_interval)),
            method_name="wait_for_export_folder",
        )

    def wait_for_export_folder(self, context, event=None) -> None:
        from airflow.providers.microsoft.azure.triggers.wasb import WasbPrefixSensorTrigger

        container, prefix = export_folder_prefix(AzureExport.from_dict(self.export))
        self.defer(
            timeout=self._time_left(context),
            trigger=WasbPrefixSensorTrigger(
                container_name=container,
                prefix=prefix,
                wasb_conn_id=self.export["conn_id"],
                poke_interval=self.poke_interval,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event: dict) -> None:
        if event["status"] == "error":
            # The trigger gave up (it does not try again): let find_deliveries survey the export and report it.
            log.error("watching %s failed: %s; find_deliveries surveys it", self.export["name"], event["message"])
            return
        if not self._has_work(context):
            self._pause(context)

    def _time_left(self, context) -> timedelta:
        """What is left of the run's wait; past it the run skips (the next run takes over)."""
        waited = (datetime.now(UTC) - context["dag_run"].start_date).total_seconds()
        if waited > self.timeout:
            raise AirflowSkipException(
                f"no new run for {self.export['name']} in {waited:.0f}s of this DAG run (the log above says what "
                "each look found)"
            )
        return timedelta(seconds=self.timeout - waited)
