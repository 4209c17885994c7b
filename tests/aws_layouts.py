"""AWS's other legacy-CUR delivery layouts, made by re-arranging the generator's output.

`write_month()` writes a CREATE_NEW_REPORT delivery: `<name>/<yyyymmdd-yyyymmdd>/<assemblyId>/`
with the CSV.gz chunks and a manifest, plus the period-root manifest. These functions turn one
such month into the trees AWS writes in its other modes (AWS CUR user guide, "Understanding your
report versions"; Athena: "Querying Cost and Usage Reports using Amazon Athena").
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from include.aws.columns import athena_column_name
from include.aws.manifests import STATUS_FOLDER


def period_folder(month: date) -> str:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return f"{month:%Y%m%d}-{following:%Y%m%d}"


def period_manifest(root: Path, name: str, month: date) -> Path:
    return root / name / period_folder(month) / f"{name}-Manifest.json"


def athena_month_folder(root: Path, name: str, month: date) -> Path:
    return root / name / name / f"year={month.year}" / f"month={month.month}"


def to_overwrite(root: Path, name: str, month: date) -> list[Path]:
    """OVERWRITE_REPORT: the chunks and the manifest sit in the period folder itself; returns the chunks."""
    manifest = period_manifest(root, name, month)
    body = json.loads(manifest.read_text())
    prefix = _key_prefix(body, name)
    chunks = []
    for key in body["reportKeys"]:
        chunk = root / key.removeprefix(prefix)
        chunks.append(chunk.rename(manifest.parent / chunk.name))
    shutil.rmtree(manifest.parent / body["assemblyId"])
    body["reportKeys"] = [prefix + chunk.relative_to(root).as_posix() for chunk in chunks]
    manifest.write_text(json.dumps(body, indent=1))
    return chunks


def to_athena(root: Path, name: str, month: date, manifest: str | None, status: str | None = "READY") -> list[Path]:
    """Parquet with Athena integration: `<name>/<name>/year=YYYY/month=M/<name>-0000N.snappy.parquet`.

    `manifest` is where the legacy manifest (now listing the Parquet keys) stays: "period" (the
    period root), "month" (only in the month folder) or None. `status` is written to
    `<name>/cost_and_usage_data_status/` unless None. Returns the Parquet files.
    """
    csv_manifest = period_manifest(root, name, month)
    body = json.loads(csv_manifest.read_text())
    prefix = _key_prefix(body, name)
    types = {f"{c['category']}/{c['name']}": c.get("type") for c in body["columns"]}
    month_folder = athena_month_folder(root, name, month)
    shutil.rmtree(month_folder, ignore_errors=True)  # a refresh overwrites the month
    month_folder.mkdir(parents=True)
    files = []
    for number, key in enumerate(body["reportKeys"], start=1):
        target = month_folder / f"{name}-{number:05d}.snappy.parquet"
        pq.write_table(_athena_table(root / key.removeprefix(prefix), types), target, compression="snappy")
        files.append(target)
    shutil.rmtree(csv_manifest.parent)  # the Athena layout has no CSV and no assembly folders
    body.update(
        reportKeys=[prefix + f.relative_to(root).as_posix() for f in files],
        compression="Parquet",
        contentType="Parquet",
    )
    if manifest == "period":
        csv_manifest.parent.mkdir()
        csv_manifest.write_text(json.dumps(body, indent=1))
    elif manifest == "month":
        (month_folder / f"{name}-Manifest.json").write_text(json.dumps(body, indent=1))
    if status:
        write_status(root, name, status)
    (root / name / "crawler-cfn.yml").write_text("# the Glue crawler template AWS delivers beside the report\n")
    return files


def write_status(root: Path, name: str, status: str) -> None:
    folder = root / name / STATUS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"status": [status]}), folder / f"{STATUS_FOLDER}.parquet")


def _key_prefix(body: dict, name: str) -> str:
    """The report prefix the manifest's keys start with, e.g. 'exports/'."""
    first = body["reportKeys"][0]
    return first[: first.index(f"{name}/")]


def _athena_table(csv_gz: Path, types: dict[str, str | None]) -> pa.Table:
    """One CSV chunk as AWS writes it for Athena: Athena column names, doubles and timestamps, nulls for blanks."""
    with gzip.open(csv_gz, "rt", newline="") as stream:
        header = next(csv.reader(stream))
    table = pa_csv.read_csv(
        csv_gz, convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    )
    columns = {}
    for source in header:
        values = table.column(source)
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        kind = (types.get(source) or "").lower()
        if kind.endswith("bigdecimal"):
            values = values.cast(pa.float64())
        elif kind.endswith("datetime"):
            values = values.cast(pa.timestamp("ms", tz="UTC"))
        columns[athena_column_name(source)] = values
    assert len(columns) == len(header), "two source columns normalise to one Athena name"
    return pa.table(columns)
