"""Load one delivery of any provider: fetch its listed files into the load's workspace, let the provider
read and check them, and replace its month in the warehouse.

Every attempt that fails is a `failed` ledger row: the loader records what fails in it; what fails
before it (a listed file missing or unreadable, files of a kind the provider reads no way) and what
discovery refused is recorded here. No Airflow here: the DAG's tasks and the tests call the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

from include.providers.contract import Provider
from include.providers.deliveries import Delivery, ExportConfig, Refusal
from include.storage import materialize
from include.warehouse.ledger import Attempt, record_failures
from include.warehouse.loader import LoadRefused, LoadResult, month_attempt, replace_month
from include.warehouse.workspace import load_workspace


def load_delivery(
    warehouse: Path, provider: Provider, delivery: Delivery, open_path: Callable[[str], object] | None = None
) -> LoadResult:
    """`open_path` turns a read URI into a pathlib-like object; by default the provider's, through the
    export's Airflow connection."""
    open_path = open_path or partial(provider.open_path, conn_id=delivery.export.conn_id)
    with load_workspace(warehouse) as workdir:  # removed after; a killed load's by the next load
        listed = [(f.listed_uri, open_path(f.read_uri)) for f in delivery.data_files]
        try:
            load = provider.month_load(delivery, materialize(listed, workdir))
        except LoadRefused as err:
            refused = LoadRefused(f"{delivery.export.name} {delivery.period_label}: {err}")
            _record_failure(warehouse, provider, delivery, refused)
            raise refused from err
        except Exception as err:
            _record_failure(warehouse, provider, delivery, err)
            raise
        return replace_month(warehouse, load)


def _record_failure(warehouse: Path, provider: Provider, delivery: Delivery, err: Exception) -> None:
    files = [f.listed_uri for f in delivery.data_files]
    attempt = _attempt(
        provider, delivery.export, delivery.billing_period, delivery.delivery_uri, delivery.version, files
    )
    record_failures(warehouse, [(attempt, str(err))])


def record_refusals(warehouse: Path, provider: Provider, refusals: list[Refusal]) -> None:
    """What discovery refused, as failed attempts in the ledger (no data was touched)."""
    record_failures(
        warehouse,
        [(_attempt(provider, r.export, r.billing_period, r.where, r.version, r.files), str(r)) for r in refusals],
    )


def _attempt(
    provider: Provider, export: ExportConfig, period: date | None, where: str, version: str | None, files
) -> Attempt:
    return month_attempt(
        provider=provider.name,
        schema=provider.schema,
        export=export.name,
        table_stem=export.table_stem,
        dataset=provider.datasets[export.format],
        billing_period=period,
        delivery_uri=where,
        version=version,
        files=list(files),
    )
