"""Real CSV CURs wrapped as AWS delivers them: as a legacy CUR delivery, or the same lines as CUR 2.0."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from include.aws.columns import DECIMAL_TYPE, athena_column_name, legacy_cur_columns
from tests.conftest import S3_URI

# CUR 2.0 keeps these product attributes as columns; the others are keys of its `product` map.
CUR2_PRODUCT_COLUMNS = {"product/servicecode", "product/regionCode", "product/productFamily", "product/sku"}


def _decimal_38_18(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


def read_cur_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def wrap_as_legacy_cur(source: Path, root: Path, report: str) -> date:
    """Write `source` unchanged (gzipped) as the one data file of a legacy CUR delivery; returns its month."""
    header, rows = read_cur_csv(source)
    start = datetime.fromisoformat(rows[0]["bill/BillingPeriodStartDate"]).date()
    end = datetime.fromisoformat(rows[0]["bill/BillingPeriodEndDate"]).date()
    period_folder = root / report / f"{start:%Y%m%d}-{end:%Y%m%d}"
    data = period_folder / "20230703T000000Z" / f"{report}-00001.csv.gz"
    data.parent.mkdir(parents=True)
    data.write_bytes(gzip.compress(source.read_bytes()))
    bucket, _, prefix = S3_URI.removeprefix("s3://").partition("/")
    manifest = {
        "assemblyId": "20230703T000000Z",
        "account": rows[0]["bill/PayerAccountId"],
        "bucket": bucket,
        "reportName": report,
        "compression": "GZIP",
        "contentType": "text/csv",
        "billingPeriod": {"start": f"{start:%Y%m%d}T000000.000Z", "end": f"{end:%Y%m%d}T000000.000Z"},
        "reportKeys": [f"{prefix}/{data.relative_to(root).as_posix()}"],
        "columns": [dict(zip(("category", "name"), column.split("/", 1), strict=True)) for column in header],
    }
    for folder in (data.parent, period_folder):
        (folder / f"{report}-Manifest.json").write_text(json.dumps(manifest))
    return start


def write_as_cur2(source: Path, root: Path, export: str) -> None:
    """`source`'s lines as a CUR 2.0 delivery: snake_case columns, product attributes and cost categories in maps.

    Amounts are DECIMAL(38, 18) (exact, where AWS writes doubles; rounded half away from zero as the
    warehouse rounds longer CSV amounts), the rest text as the CSV has it: staging casts either way.
    """
    header, rows = read_cur_csv(source)
    amounts = {c.name for c in legacy_cur_columns([(name, None) for name in header]) if c.sql_type == DECIMAL_TYPE}
    columns = [c for c in header if not c.startswith(("product/", "costCategory/")) or c in CUR2_PRODUCT_COLUMNS]
    table = {
        athena_column_name(c): pa.array([_decimal_38_18(row[c]) for row in rows], pa.decimal128(38, 18))
        if athena_column_name(c) in amounts and all(row[c] for row in rows)
        else pa.array([row[c] or None for row in rows], pa.string())
        for c in columns
    }
    attributes = [c for c in header if c.startswith("product/") and c not in CUR2_PRODUCT_COLUMNS]
    table["product"] = [
        {athena_column_name(c).removeprefix("product_"): row[c] for c in attributes if row[c]} for row in rows
    ]
    table["cost_category"] = [
        {c.removeprefix("costCategory/"): row[c] for c in header if c.startswith("costCategory/") and row[c]}
        for row in rows
    ]
    table["product"], table["cost_category"] = (
        pa.array([list(m.items()) for m in table[name]], pa.map_(pa.string(), pa.string()))
        for name in ("product", "cost_category")
    )
    month = f"{datetime.fromisoformat(rows[0]['bill/BillingPeriodStartDate']):%Y-%m}"
    data = root / export / "data" / f"BILLING_PERIOD={month}" / f"{export}-00001.snappy.parquet"
    data.parent.mkdir(parents=True)
    pq.write_table(pa.table(table), data)
    manifest = root / export / "metadata" / f"BILLING_PERIOD={month}" / f"{export}-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": f"{export}-v1",
                "dataFiles": [f"{S3_URI}/{data.relative_to(root).as_posix()}"],
                "columns": [{"name": name, "type": "string"} for name in table],
            }
        )
    )
