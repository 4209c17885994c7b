"""What a run has to load: new deliveries, or the billing periods a backfill asked for.

Every look at an export logs what its folder holds and, per billing period, the version found,
the version loaded and the decision, so a run that loads nothing says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from include.aws.manifests import Delivery, Discovery, Skip, discover
from include.aws.readers import SOURCE
from include.orchestration.config import BILLING_PERIODS_PARAM
from include.settings import ExportConfig
from include.warehouse.ledger import loaded_versions

log = logging.getLogger(__name__)


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


class LedgerBusy(RuntimeError):
    """The ledger stayed locked by another writer, so what is new cannot be decided now (retry)."""


@dataclass
class DeliveryPlan:
    """One export: what discovery found, what this run loads, and every skip with its reason."""

    discovery: Discovery
    to_load: list[Delivery] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # one line per billing period

    def report(self) -> str:
        export = self.discovery.export
        lines = [f"export {export.name} ({export.format}) at {self.discovery.folder}:"]
        if self.discovery.empty:
            lines.append(f"  nothing delivered: {self.discovery.empty}")
        lines += [f"  seen: {line}" for line in self.discovery.seen]
        lines += [f"  {line}" for line in self.decisions]
        lines.append(f"  → {len(self.to_load)} to load, {len(self.skipped)} skipped")
        return "\n".join(lines)


def plan_deliveries(export: ExportConfig, warehouse, periods: list[date]) -> DeliveryPlan:
    """Deliveries of `periods` when given (forced reload), else those whose version is not in the ledger.

    Logs the plan; a folder with nothing delivered yet (missing, empty, or only what AWS creates before
    the first month) is a warning, one that holds no known layout raises DeliveryError. Raises
    LedgerBusy when the ledger stays locked.
    """
    discovery = discover(storage_path(export.uri, export.conn_id), export)
    plan = DeliveryPlan(discovery=discovery, skipped=list(discovery.skipped))
    loaded = {} if periods else loaded_versions(warehouse, SOURCE, export.name)
    if loaded is None:
        raise LedgerBusy(f"export {export.name}: the load ledger in {warehouse} stays locked by another writer")
    for skip in discovery.skipped:
        plan.decisions.append(str(skip))
    for delivery in discovery.deliveries:
        _decide(plan, delivery, periods, loaded)
    for period in sorted(set(periods) - {d.billing_period for d in discovery.deliveries}):
        plan.decisions.append(f"{period:%Y-%m} requested, but {export.name} has no delivery of that month")
    plan.decisions.sort()
    log.log(logging.WARNING if discovery.empty else logging.INFO, "%s", plan.report())
    return plan


def _decide(plan: DeliveryPlan, delivery: Delivery, periods: list[date], loaded: dict[date, str]) -> None:
    line = f"{delivery.period_label} {delivery.layout} {delivery.manifest_uri}, version {delivery.version}"
    if periods:
        reason = None if delivery.billing_period in periods else "not among the billing periods this run reloads"
        load = " → load (reload requested)"
    else:
        loaded_version = loaded.get(delivery.billing_period)
        reason = "this version is already loaded" if loaded_version == delivery.version else None
        load = f" (loaded: {loaded_version or 'none'}) → load"
    if reason:
        plan.skipped.append(Skip(delivery.billing_period, delivery.manifest_uri, reason))
        plan.decisions.append(f"{line} → skip: {reason}")
    else:
        plan.to_load.append(delivery)
        plan.decisions.append(line + load)
