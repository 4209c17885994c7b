"""Small helpers the tests share: load through the library and read the warehouse back."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
from upath import UPath

from include.aws.loading import load_delivery
from include.aws.manifests import Delivery, discover_deliveries
from include.settings import ExportConfig, parse_aws_exports
from include.warehouse.loader import LoadResult


def local_export(name: str, fmt: str, root: Path, s3_uri: str) -> ExportConfig:
    import json

    return parse_aws_exports(json.dumps([{"name": name, "uri": root.as_uri(), "format": fmt, "s3_uri": s3_uri}]))[0]


def deliveries(export: ExportConfig) -> list[Delivery]:
    return discover_deliveries(UPath(export.uri), export)


def load(warehouse: Path, delivery: Delivery) -> LoadResult:
    return load_delivery(warehouse, delivery, UPath)


def month_rows_and_cost(warehouse: Path, table: str, cost_column: str = "line_item_unblended_cost"):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows, cost = con.execute(f'SELECT count(*), sum("{cost_column}") FROM aws_cur.{table}').fetchall()[0]
    return rows, Decimal(str(cost))


def ledger(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT export, strftime(billing_period, '%Y-%m'), version, rows, billed_cost, status, error "
            "FROM finops_meta.load_ledger ORDER BY loaded_at"
        ).fetchall()


def loaded_ledger(warehouse: Path) -> list[tuple]:
    return [row[:5] for row in ledger(warehouse) if row[5] == "loaded"]


def truncate_gzip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def assert_same_money(actual, expected, relative=Decimal("1e-9")) -> None:
    """Equal to `relative` (1e-9 by default): Parquet carries doubles, CSV carries exact decimals."""
    actual, expected = Decimal(str(actual)), Decimal(str(expected))
    assert abs(actual - expected) <= abs(expected) * relative, f"{actual} != {expected}"
