"""What a run has to load: new deliveries, or the billing periods a backfill asked for."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from include.aws.manifests import Delivery, discover_deliveries, pending_deliveries
from include.aws.readers import SOURCE
from include.settings import ExportConfig
from include.warehouse.ledger import loaded_versions

BILLING_PERIODS_PARAM = "billing_periods"


def storage_path(uri: str, conn_id: str) -> ObjectStoragePath:
    """An ObjectStoragePath for an export URI; S3 paths carry the Airflow connection."""
    if urlsplit(uri).scheme == "s3":
        return ObjectStoragePath(uri, conn_id=conn_id)
    return ObjectStoragePath(uri)


def requested_periods(context) -> list[date]:
    """Billing periods this run must reload: a backfill's partition, or the trigger form's Param.

    Empty for scheduled runs, which load whatever is new.
    """
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)  # an enum in the Task SDK
    partition_key = getattr(dag_run, "partition_key", None)
    if partition_key and run_type == "backfill":
        return [date.fromisoformat(f"{partition_key}-01")]
    params = context.get("params") or {}
    return sorted({date.fromisoformat(f"{period}-01") for period in params.get(BILLING_PERIODS_PARAM) or []})


def deliveries_to_load(export: ExportConfig, warehouse, periods: list[date]) -> list[Delivery] | None:
    """Deliveries of `periods` when given (forced reload), else those not yet in the ledger.

    None means the ledger is locked by another writer right now, so nothing can be decided.
    """
    found = discover_deliveries(storage_path(export.uri, export.conn_id), export)
    if periods:
        return [delivery for delivery in found if delivery.billing_period in periods]
    loaded = loaded_versions(warehouse, SOURCE, export.name)
    if loaded is None:
        return None
    return pending_deliveries(found, loaded)
