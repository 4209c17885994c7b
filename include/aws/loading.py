"""Load one AWS delivery: bring its listed files local, then replace its month in the warehouse."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from include.aws.manifests import Delivery
from include.aws.readers import month_load
from include.storage import materialize
from include.warehouse.loader import LoadRefused, LoadResult, LocalFile, record_failure, replace_month


def load_delivery(warehouse: Path, delivery: Delivery, open_path: Callable[[str], object]) -> LoadResult:
    """`open_path` turns a read URI into a pathlib-like object (ObjectStoragePath in Airflow)."""
    with tempfile.TemporaryDirectory(prefix="finops-load-") as workdir:
        listed = [(f.listed_uri, open_path(f.read_uri)) for f in delivery.data_files]
        try:
            files = materialize(listed, Path(workdir))
        except LoadRefused as err:
            unfetched = [LocalFile(f.listed_uri, Path(workdir)) for f in delivery.data_files]
            record_failure(warehouse, month_load(delivery, unfetched), err)
            raise
        return replace_month(warehouse, month_load(delivery, files))
