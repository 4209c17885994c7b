"""Bring listed data files to local disk for DuckDB (no httpfs here), streaming, never whole in memory."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from include.warehouse.loader import LoadRefused, LocalFile

COPY_BUFFER_BYTES = 8 * 1024 * 1024


def object_storage_path(uri: str, conn_id: str, remote_scheme: str):
    """An ObjectStoragePath for a provider's URI: on its remote scheme through the export's Airflow connection,
    on file:// as it is."""
    from airflow.sdk import ObjectStoragePath

    if urlsplit(uri).scheme == remote_scheme:
        return ObjectStoragePath(uri, conn_id=conn_id)
    return ObjectStoragePath(uri)


def is_local(path) -> bool:
    return getattr(path, "protocol", "file") in ("file", "local", "")


def materialize(files: list[tuple[str, object]], workdir: Path) -> list[LocalFile]:
    """(listed URI, pathlib-like object) pairs → local files; local sources are used in place."""
    local_files = []
    for index, (listed_uri, path) in enumerate(files):
        if not path.exists():
            raise LoadRefused(f"{listed_uri}: listed in the manifest but missing at {path}")
        if is_local(path):
            local_files.append(LocalFile(listed_uri, Path(path.path)))
            continue
        target = workdir / f"{index:05d}-{path.name}"
        with path.open("rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, COPY_BUFFER_BYTES)
        local_files.append(LocalFile(listed_uri, target))
    return local_files
