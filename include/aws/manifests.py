"""Find AWS billing deliveries by their manifests and decide which are new.

A delivery is one billing period's latest manifest plus exactly the data files it lists. Both
layouts are read from the period-root manifest, which AWS rewrites on every refresh:

- legacy CUR:   <prefix>/<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json (`assemblyId`, `reportKeys`)
- Data Exports: <prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json
  (`executionId`, `dataFiles`), used by CUR 2.0 and the FOCUS 1.2 export.

Folders are never listed to pick data files: overwrite mode leaves stale chunks and create-new
mode keeps old versions beside the new one. Paths are pathlib-like objects (Airflow's
ObjectStoragePath or universal_pathlib's UPath), so this module does not import Airflow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from include.settings import ExportConfig

_V1_PERIOD_FOLDER = re.compile(r"^(\d{4})(\d{2})01-\d{8}$")
_EXPORT_PERIOD_FOLDER = re.compile(r"^billing_period=(\d{4})-(\d{2})$", re.IGNORECASE)


class DeliveryError(ValueError):
    """A manifest or data file cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class DataFile:
    """A listed data file: the S3 URI the manifest gives and the URI the pipeline reads."""

    listed_uri: str
    read_uri: str


@dataclass(frozen=True)
class Delivery:
    export: ExportConfig
    billing_period: date
    manifest_uri: str
    version: str
    data_files: tuple[DataFile, ...]
    # (source column name, manifest type or None), in manifest order; empty when not given.
    columns: tuple[tuple[str, str | None], ...]

    @property
    def period_label(self) -> str:
        return self.billing_period.strftime("%Y-%m")

    def to_dict(self) -> dict:
        return {
            "export": self.export.to_dict(),
            "billing_period": self.billing_period.isoformat(),
            "manifest_uri": self.manifest_uri,
            "version": self.version,
            "data_files": [[f.listed_uri, f.read_uri] for f in self.data_files],
            "columns": [list(c) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Delivery:
        return cls(
            export=ExportConfig.from_dict(raw["export"]),
            billing_period=date.fromisoformat(raw["billing_period"]),
            manifest_uri=raw["manifest_uri"],
            version=raw["version"],
            data_files=tuple(DataFile(*pair) for pair in raw["data_files"]),
            columns=tuple((name, kind) for name, kind in raw["columns"]),
        )


def discover_deliveries(root, export: ExportConfig) -> list[Delivery]:
    """The latest delivery of every billing period found under `root` (the export's `uri`)."""
    export_folder = root / export.name
    if export.format == "cur1":
        candidates = _legacy_period_manifests(export_folder, export.name)
    else:
        candidates = _data_exports_period_manifests(export_folder, export.name)
    return [read_delivery(manifest, period, export, root) for period, manifest in sorted(candidates)]


def pending_deliveries(deliveries: list[Delivery], loaded_versions: dict[date, str]) -> list[Delivery]:
    """Deliveries whose version is not the one loaded for their billing period."""
    return [d for d in deliveries if loaded_versions.get(d.billing_period) != d.version]


def _legacy_period_manifests(export_folder, report: str):
    if not export_folder.exists():
        return []
    for folder in export_folder.iterdir():
        match = _V1_PERIOD_FOLDER.match(folder.name)
        manifest = folder / f"{report}-Manifest.json"
        if match and manifest.exists():
            yield date(int(match[1]), int(match[2]), 1), manifest


def _data_exports_period_manifests(export_folder, export_name: str):
    metadata = export_folder / "metadata"
    if not metadata.exists():
        return []
    for folder in metadata.iterdir():
        match = _EXPORT_PERIOD_FOLDER.match(folder.name)
        if not match:
            continue
        # AWS names the period-root manifest both ways in its docs; accept either.
        for manifest_name in (f"{export_name}-Manifest.json", "Manifest.json"):
            manifest = folder / manifest_name
            if manifest.exists():
                yield date(int(match[1]), int(match[2]), 1), manifest
                break


def read_delivery(manifest, billing_period: date, export: ExportConfig, root) -> Delivery:
    """Parse one period-root manifest into a Delivery, refusing files outside the export."""
    manifest_uri = str(manifest)
    try:
        body = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DeliveryError(f"{manifest_uri}: invalid manifest JSON ({err})") from err
    if not isinstance(body, dict):
        raise DeliveryError(f"{manifest_uri}: manifest is not a JSON object")
    if export.format == "cur1":
        listed = _legacy_listed_files(body, manifest_uri, export)
        period_folder = manifest.parent.name
        version = body.get("assemblyId")
    else:
        listed = _data_exports_listed_files(body, manifest_uri)
        period_folder = f"data/{manifest.parent.name}"
        version = body.get("executionId")
    files = tuple(_locate(uri, manifest_uri, export, period_folder, root) for uri in listed)
    if not files:
        raise DeliveryError(f"{manifest_uri}: manifest lists no data files")
    return Delivery(
        export=export,
        billing_period=billing_period,
        manifest_uri=manifest_uri,
        version=str(version) if version else _fallback_version(manifest),
        data_files=files,
        columns=_manifest_columns(body, export.format),
    )


def _legacy_listed_files(body: dict, manifest_uri: str, export: ExportConfig) -> list[str]:
    keys = body.get("reportKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise DeliveryError(f"{manifest_uri}: reportKeys must be a list of S3 keys")
    bucket = body.get("bucket") or urlsplit(export.s3_uri).netloc
    return [f"s3://{bucket}/{key.lstrip('/')}" for key in keys]


def _data_exports_listed_files(body: dict, manifest_uri: str) -> list[str]:
    entries = body.get("dataFiles")
    if not isinstance(entries, list):
        raise DeliveryError(f"{manifest_uri}: dataFiles must be a list of s3:// URIs")
    uris = []
    for entry in entries:
        # Some writers give objects instead of plain strings; accept the known spellings.
        uri = entry if isinstance(entry, str) else (entry or {}).get("s3Uri") or (entry or {}).get("filePath")
        if not isinstance(uri, str):
            raise DeliveryError(f"{manifest_uri}: unreadable dataFiles entry {entry!r}")
        uris.append(uri)
    return uris


def _locate(listed_uri: str, manifest_uri: str, export: ExportConfig, period_folder: str, root) -> DataFile:
    """Map a listed S3 URI to where the pipeline reads it; refuse anything outside the period."""
    allowed = f"{export.s3_uri}/{export.name}/{period_folder}/"
    inside = listed_uri.startswith(allowed) or listed_uri.lower().startswith(allowed.lower())
    if not inside or "/../" in listed_uri:
        raise DeliveryError(
            f"{manifest_uri}: data file {listed_uri} is outside the export's billing-period folder {allowed}; "
            "refusing to load it (check the export's uri/s3_uri configuration)"
        )
    relative = listed_uri[len(export.s3_uri) + 1 :]
    return DataFile(listed_uri=listed_uri, read_uri=str(root / relative))


def _manifest_columns(body: dict, fmt: str) -> tuple[tuple[str, str | None], ...]:
    columns = body.get("columns") or []
    if fmt == "cur1":
        return tuple((f"{c['category']}/{c['name']}", c.get("type")) for c in columns)
    return tuple((c["name"], c.get("type")) for c in columns)


def _fallback_version(manifest) -> str:
    """Without an id, key + ETag (S3) or modification time (local) identifies a delivery."""
    info = manifest.fs.info(manifest.path)
    marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    return f"{manifest.path}@{str(marker).strip(chr(34))}"
