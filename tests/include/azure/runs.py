"""Cost Management export runs written by hand for the discovery and reader tests: a folder that mirrors a
container (`<container>/<root folder path>/<export>/<YYYYMMDD-YYYYMMDD>/[<export-time>/]<run-id>/`), each run's
parts and a `manifest.json` of either shape (azure.md 1.2), which a test may then break on purpose."""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import uuid
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from include.azure.provider import AZURE
from include.azure.settings import AzureExport

ROOT_FOLDER = "billing/exports"  # the export's root folder path inside the container
CURRENT_SHAPE = "2024-04-01"
TYPES = {"actual": "ActualCost", "amortized": "AmortizedCost", "focus1.0": "FocusCost", "focus1.2": "FocusCost"}
DATA_VERSIONS = {"actual": "2021-10-01", "amortized": "2021-10-01", "focus1.0": "1.0r2", "focus1.2": "1.2-preview"}


def month_folder(month: date) -> str:
    last = calendar.monthrange(month.year, month.month)[1]
    return f"{month:%Y%m%d}-{month.replace(day=last):%Y%m%d}"


def run_id(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def mirror_export(container: Path, name: str, fmt: str) -> AzureExport:
    """The export as configured for a file:// mirror of the container at `container`."""
    uri = (container / ROOT_FOLDER).as_uri()
    return AZURE.parse_exports(json.dumps([{"name": name, "uri": uri, "format": fmt}]))[0]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_run(
    container: Path,
    export: str,
    month: date,
    parts: dict[str, bytes],
    *,
    run: str,
    submitted: str,
    fmt: str = "actual",
    shape: str | None = CURRENT_SHAPE,
    export_time: str | None = None,
    rows: dict[str, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """One run of `export` for `month`: `parts` ({file name: bytes}) and its manifest listing them (with
    `rows` per part where given, in the current shape); returns the manifest's path."""
    relative_folder = "/".join(
        part for part in (ROOT_FOLDER, export, month_folder(month), export_time, run) if part is not None
    )
    folder = container / relative_folder
    folder.mkdir(parents=True, exist_ok=True)
    blobs = []
    for name, data in parts.items():
        (folder / name).write_bytes(data)
        blob = {"blobName": f"{relative_folder}/{name}", "byteCount": len(data)}
        if shape is not None and rows is not None:
            blob["dataRowCount"] = rows[name]
        blobs.append(blob)
    manifest = {
        "exportConfig": {
            "exportName": export,
            "resourceId": f"/providers/Microsoft.Billing/billingAccounts/8611537/providers/"
            f"Microsoft.CostManagement/exports/{export}",
            "dataVersion": DATA_VERSIONS[fmt],
            "apiVersion": "2023-07-01-preview" if shape is None else "2025-03-01",
            "type": TYPES[fmt],
            "timeFrame": "MonthToDate",
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "OverwritePreviousReport" if overwrite else "CreateNewReport",
            "fileFormat": "Parquet" if all(n.endswith(".parquet") for n in parts) and parts else "Csv",
            "containerUri": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/finops/providers/"
            "Microsoft.Storage/storageAccounts/finopsexports",
            "rootFolderPath": ROOT_FOLDER,
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": submitted,
            "runId": run,
            "startDate": f"{month:%Y-%m-%d}T00:00:00",
            "endDate": f"{month:%Y-%m}-{calendar.monthrange(month.year, month.month)[1]:02d}T00:00:00Z",
        },
        "blobCount": len(blobs),
        "blobs": blobs,
    }
    if shape is not None:
        manifest = {
            "manifestVersion": shape,
            "byteCount": sum(len(data) for data in parts.values()),
            **manifest,
        }
        manifest["deliveryConfig"]["compressionMode"] = "Gzip" if any(n.endswith(".gz") for n in parts) else "None"
        if rows is not None:
            manifest["dataRowCount"] = sum(rows.values())
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path


def edit_manifest(path: Path, change) -> None:
    """Rewrite the manifest at `path` with `change(body)` applied."""
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body, indent=2))


def read_part(path: Path) -> list[dict]:
    """The rows of one part as written (CSV, CSV.gz or Parquet), read without the warehouse's readers."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as text:
        return list(csv.DictReader(text))
