"""The deferrable sensor on an S3 export: it waits in the triggerer, not in a worker slot.

Built on Airflow's S3KeyTrigger (the amazon provider's). The sensor class is ours, rather than a
subclass of the provider's S3KeySensor, because that module imports boto3, ~1 s of every parse of
the DAG file: the trigger is imported only when the sensor defers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSkipException

from include.aws.settings import AwsExport
from include.orchestration.sensors import has_work

log = logging.getLogger(__name__)


def manifest_key_pattern(export: AwsExport) -> str:
    """Wildcard over the keys whose arrival may mean a new delivery (fnmatch's * also spans folders).

    Legacy CUR: any key in the export's folder, since the Athena layout may deliver Parquet files
    without any manifest; Data Exports: the manifests under metadata/.
    """
    prefix = urlsplit(export.uri).path.strip("/")
    base = f"{prefix}/{export.name}" if prefix else export.name
    if export.format == "cur1":
        return f"{base}/*"
    return f"{base}/metadata/*Manifest.json"


class S3DeliverySensor(BaseSensorOperator):
    """Waits for a delivery to load on one S3 export.

    The first look is a full discovery (it logs what the folder holds, even when no key matches
    yet); then the trigger waits for matching keys, and each time it finds some the versions are
    compared with the ledger, so an already-loaded delivery sends the sensor back to waiting. A
    trigger that fails (S3 unreachable, access denied) fires the sensor: find_deliveries then
    surveys the export and the run reports what fails. (Raising would skip the sensor, `soft_fail`;
    with no other export to load, find_deliveries would not run and nothing would say why.)
    """

    def __init__(self, *, export: dict, **kwargs):
        super().__init__(**kwargs)
        self.export = export

    def _has_work(self, context) -> bool:
        from include.aws.provider import AWS

        return has_work(AWS, AwsExport.from_dict(self.export), context)

    def poke(self, context) -> bool:
        return self._has_work(context)

    def execute(self, context) -> None:
        if not self.poke(context):
            self._defer()

    def _defer(self) -> None:
        from airflow.providers.amazon.aws.triggers.s3 import S3KeyTrigger

        export = AwsExport.from_dict(self.export)
        self.defer(
            timeout=timedelta(seconds=self.timeout),
            trigger=S3KeyTrigger(
                bucket_name=urlsplit(export.uri).netloc,
                bucket_key=manifest_key_pattern(export),
                wildcard_match=True,
                aws_conn_id=export.conn_id,
                poke_interval=self.poke_interval,
                # With the keys' metadata the trigger waits a poke interval before it fires: a look at a
                # folder whose deliveries are all loaded is paced, not repeated at once.
                should_check_fn=True,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event: dict) -> None:
        if event["status"] == "error":
            # The trigger gave up (it does not try again): let find_deliveries survey the export and report it.
            log.error("watching %s failed: %s; find_deliveries surveys it", self.export["name"], event["message"])
            return
        if self._has_work(context):
            return
        # Deferring again starts a fresh timeout: without this the run would wait forever once every
        # delivery is loaded.
        waited = (datetime.now(UTC) - context["dag_run"].start_date).total_seconds()
        if waited > self.timeout:
            raise AirflowSkipException(
                f"no new delivery for {self.export['name']} in {waited:.0f}s of this run (the log above says what "
                "each look found)"
            )
        self._defer()
