"""Load one AWS delivery: bring its listed files local, then replace its month in the warehouse.

Every attempt that fails is a `failed` ledger row: the loader records what fails in it; what fails
before it (a listed file missing or unreadable, files of a kind no reader takes) and what discovery
refused is recorded here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from include.aws.manifests import Delivery, Refusal
from include.aws.readers import SCHEMA, SOURCE, month_load
from include.settings import ExportConfig
from include.storage import materialize
from include.warehouse.ledger import Attempt, record_failures
from include.warehouse.loader import LoadRefused, LoadResult, month_attempt, replace_month
from include.warehouse.workspace import load_workspace


def load_delivery(warehouse: Path, delivery: Delivery, open_path: Callable[[str], object]) -> LoadResult:
    """`open_path` turns a read URI into a pathlib-like object (ObjectStoragePath in Airflow)."""
    with load_workspace(warehouse) as workdir:  # removed after; a killed load's by the next load
        listed = [(f.listed_uri, open_path(f.read_uri)) for f in delivery.data_files]
        try:
            load = month_load(delivery, materialize(listed, workdir))
        except LoadRefused as err:
            refused = LoadRefused(f"{delivery.export.name} {delivery.period_label}: {err}")
            _record_failure(warehouse, delivery, refused)
            raise refused from err
        except Exception as err:
            _record_failure(warehouse, delivery, err)
            raise
        return replace_month(warehouse, load)


def _record_failure(warehouse: Path, delivery: Delivery, err: Exception) -> None:
    files = [f.listed_uri for f in delivery.data_files]
    attempt = _attempt(delivery.export, delivery.billing_period, delivery.manifest_uri, delivery.version, files)
    record_failures(warehouse, [(attempt, str(err))])


def record_refusals(warehouse: Path, refusals: list[Refusal]) -> None:
    """What discovery refused, as failed attempts in the ledger (no data was touched)."""
    record_failures(
        warehouse,
        [(_attempt(r.export, r.billing_period, r.where, r.version, r.files), str(r)) for r in refusals],
    )


def _attempt(export: ExportConfig, period: date | None, where: str, version: str | None, files) -> Attempt:
    return month_attempt(SOURCE, SCHEMA, export.name, export.table_stem, period, where, version, list(files))
