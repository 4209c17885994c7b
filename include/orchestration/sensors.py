"""When a billing DAG's sensor fires, for any provider: only for a delivery that still has to be loaded.

The local mirror's (file://) reschedule sensor is built from `has_work` in the shared DAG builder; a
provider's sensor on its remote scheme (`Provider.remote_sensor`, AWS's deferrable S3 sensor) asks it too.
"""

from __future__ import annotations

import logging

from include.orchestration.config import warehouse_path
from include.providers.contract import Provider
from include.providers.deliveries import ExportConfig

log = logging.getLogger(__name__)


def has_work(provider: Provider, export: ExportConfig, context) -> bool:
    """True when something must be loaded, refused, or reported: the run records and reports a refusal,
    and reports an export it could not survey. False while a later look may do better: the ledger is
    busy, or surveying failed for a transient reason (the network, the cloud's storage unreachable)."""
    # Imported here: the DAG file imports this module, and discovery brings in DuckDB.
    from include.failures import Failure, LedgerBusy
    from include.orchestration.deliveries import plan_deliveries, requested_periods

    try:
        plan = plan_deliveries(provider, export, warehouse_path(), requested_periods(context))
    except LedgerBusy as err:
        log.info("%s; looking again on the next poke", err)
        return False
    if plan.survey_failure is Failure.TRANSIENT:
        log.warning("%s; looking again on the next poke", plan.not_surveyed)
        return False
    return bool(plan.to_load or plan.refused or plan.survey_error)
