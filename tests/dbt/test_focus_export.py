"""AWS's own FOCUS 1.2 export (Data Exports `FOCUS_1_2_AWS`) passes through staging into the same mart.

The delivery is built from the mart's own CUR-derived rows, reshaped as AWS ships that export
(PascalCase FOCUS columns, `Tags` as a map, `x_ServiceCode`/`x_Operation`/`x_Discounts`, Parquet
plus a Data Exports manifest), then loaded and built like any other export.
"""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from tests.conftest import JAN, S3_URI
from tests.dbt.conftest import dbt, query
from tests.helpers import deliveries, load, local_export

EXPORT = "focus-export"
# FOCUS 1.2 columns as AWS delivers them (no FOCUS 1.3 provider columns, no lineage).
DROPPED = ("ServiceProviderName", "HostProviderName")


def _write_focus_delivery(source_warehouse, root) -> int:
    data = root / EXPORT / "data" / "BILLING_PERIOD=2025-01" / f"{EXPORT}-00001.snappy.parquet"
    data.parent.mkdir(parents=True)
    with duckdb.connect(str(source_warehouse), read_only=True) as con:
        focus_columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'focus' "
                "AND table_name = 'cost_and_usage' AND NOT starts_with(column_name, 'x_') ORDER BY column_index"
            ).fetchall()
            if name not in DROPPED
        ]
        select = ", ".join(
            "json_transform(Tags, '\"MAP(VARCHAR, VARCHAR)\"') AS Tags" if name == "Tags" else f'"{name}"'
            for name in focus_columns
        )
        con.execute(
            f"COPY (SELECT {select}, x_ServiceCode, x_Operation, CAST(NULL AS MAP(VARCHAR, DOUBLE)) AS x_Discounts "
            f"FROM focus.cost_and_usage WHERE x_ExportName = 'cur2' AND x_BillingPeriod = ?) "
            f"TO '{data}' (FORMAT parquet, COMPRESSION snappy)",
            [JAN],
        ).fetchall()
        written = f"read_parquet('{data}', hive_partitioning = false)"
        columns = con.execute(f"DESCRIBE SELECT * FROM {written}").fetchall()
        rows = con.execute(f"SELECT count(*) FROM {written}").fetchall()[0][0]
    manifest = root / EXPORT / "metadata" / "BILLING_PERIOD=2025-01" / f"{EXPORT}-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": "focus-export-2025-01-v1",
                "billingPeriod": {"start": "20250101T000000.000Z", "end": "20250201T000000.000Z"},
                "dataFiles": [f"{S3_URI}/{data.relative_to(root).as_posix()}"],
                "columns": [{"name": name, "type": kind.lower()} for name, kind, *_ in columns],
            }
        )
    )
    return rows


@pytest.fixture(scope="module")
def focus_export(focus_warehouse, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("focus-export")
    rows = _write_focus_delivery(focus_warehouse.path, workdir / "mirror")
    warehouse = workdir / "warehouse.duckdb"
    for delivery in deliveries(local_export(EXPORT, "focus1.2", workdir / "mirror", S3_URI)):
        load(warehouse, delivery)
    dbt(warehouse, "build")
    return warehouse, rows


def test_focus_export_rows_reach_the_mart_with_their_money(focus_export, focus_warehouse):
    warehouse, rows = focus_export
    built, billed, effective = query(
        warehouse,
        "SELECT count(*), sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage "
        "WHERE x_Dataset = 'aws_focus_1_2' AND x_ExportName = ?",
        [EXPORT],
    )[0]
    expected = focus_warehouse.expected[("cur2", "2025-01")]
    assert built == rows > 0
    assert abs(Decimal(str(billed)) - expected.billed) <= Decimal("1e-6")
    assert abs(Decimal(str(effective)) - expected.amortized) <= Decimal("1e-6")


def test_focus_export_tags_come_back_as_the_same_json_and_providers_are_filled(focus_export, focus_warehouse):
    warehouse, _ = focus_export
    passed_through = query(
        warehouse,
        "SELECT count(*) FILTER (WHERE Tags IS NOT NULL), count(DISTINCT Tags), "
        "bool_and(ServiceProviderName = ProviderName AND HostProviderName = ProviderName), "
        "count(DISTINCT x_RowKey) = count(*), any_value(x_SourcePartition) FROM focus.cost_and_usage",
    )[0]
    original = query(
        focus_warehouse.path,
        "SELECT count(*) FILTER (WHERE Tags IS NOT NULL), count(DISTINCT Tags) FROM focus.cost_and_usage "
        "WHERE x_ExportName = 'cur2' AND x_BillingPeriod = ?",
        [JAN],
    )[0]
    assert passed_through[:2] == original and original[0] > 0
    assert passed_through[2:] == (True, True, f"aws_focus_1_2/{EXPORT}/2025-01")
