"""Sensors that fire only for a delivery that still has to be loaded."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import AirflowSkipException

from include.aws.manifests import DeliveryError
from include.orchestration.config import warehouse_path
from include.orchestration.deliveries import deliveries_to_load, requested_periods
from include.settings import ExportConfig


def manifest_key_pattern(export: ExportConfig) -> str:
    """Wildcard over the export's manifest keys (fnmatch's * also spans folders)."""
    prefix = urlsplit(export.uri).path.strip("/")
    base = f"{prefix}/{export.name}" if prefix else export.name
    if export.format == "cur1":
        return f"{base}/*/{export.name}-Manifest.json"
    return f"{base}/metadata/*Manifest.json"


def has_work(export: ExportConfig, context) -> bool:
    """True when something must be loaded, or a new manifest is broken (the next task reports it)."""
    try:
        work = deliveries_to_load(export, warehouse_path(), requested_periods(context))
    except DeliveryError:
        return True
    return bool(work)


class AwsDeliverySensor(S3KeySensor):
    """Deferrable S3KeySensor on one export's manifests.

    The trigger wakes the worker when manifests exist; `check_fn` then compares their versions
    with the ledger, and an already-loaded manifest sends the sensor back to waiting.
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

    def _has_work(self, files: list[dict], **context) -> bool:
        if has_work(ExportConfig.from_dict(self.export), context):
            return True
        # S3KeySensor re-defers with a fresh timeout each time check_fn says no, so without
        # this the run would wait forever once every manifest is loaded.
        waited = (datetime.now(UTC) - context["dag_run"].start_date).total_seconds()
        if waited > self.timeout:
            raise AirflowSkipException(f"no new delivery for {self.export['name']} in {waited:.0f}s of this run")
        return False
