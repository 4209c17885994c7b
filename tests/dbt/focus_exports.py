"""AWS FOCUS export deliveries (`FOCUS_1_0_AWS`, `FOCUS_1_2_AWS`) made from a built mart's CUR-derived rows.

Shaped as AWS ships them: PascalCase FOCUS columns of that version, `Tags` as a map, the AWS `x_`
columns of that version, Parquet plus a Data Exports manifest. Version 1.0 lacks what FOCUS 1.1 and
1.2 added (FOCUS_Spec CHANGELOG.md) and has `x_UsageType` and `x_CostCategories`.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb

from tests.conftest import S3_URI

ADDED_BY_1_1 = (
    "CapacityReservationId",
    "CapacityReservationStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "ServiceSubcategory",
    "SkuMeter",
    "SkuPriceDetails",
)
ADDED_BY_1_2 = (
    "BillingAccountType",
    "InvoiceId",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "SubAccountType",
)
FOCUS_1_3 = ("ServiceProviderName", "HostProviderName")  # the mart's 1.3 columns; AWS's exports have none
# The cost category the 1.0 deliveries carry on usage rows, valued per sub account.
COST_CATEGORY = "Business Unit"
_NO_DISCOUNTS = "CAST(NULL AS MAP(VARCHAR, DOUBLE)) AS x_Discounts"
_AWS_COLUMNS = {
    "1.0": (
        f"CASE WHEN ChargeCategory = 'Usage' THEN MAP {{'{COST_CATEGORY}': 'bu-' || SubAccountId}} END "
        f"AS x_CostCategories, {_NO_DISCOUNTS}, x_Operation, x_ServiceCode, x_UsageType"
    ),
    "1.2": f"{_NO_DISCOUNTS}, x_Operation, x_ServiceCode",
}


def write_focus_delivery(
    source_warehouse: Path, root: Path, export: str, version: str, month: date, from_export: str
) -> int:
    """One month of `from_export`'s mart rows as AWS's FOCUS `version` export delivers it; returns its rows."""
    data = root / export / "data" / f"BILLING_PERIOD={month:%Y-%m}" / f"{export}-00001.snappy.parquet"
    data.parent.mkdir(parents=True)
    left_out = FOCUS_1_3 + (ADDED_BY_1_1 + ADDED_BY_1_2 if version == "1.0" else ())
    with duckdb.connect(str(source_warehouse), read_only=True) as con:
        names = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'focus' "
                "AND table_name = 'cost_and_usage' AND NOT starts_with(column_name, 'x_') ORDER BY column_index"
            ).fetchall()
            if name not in left_out
        ]
        focus = ", ".join(
            "json_transform(Tags, '\"MAP(VARCHAR, VARCHAR)\"') AS Tags" if name == "Tags" else f'"{name}"'
            for name in names
        )
        con.execute(
            f"COPY (SELECT {focus}, {_AWS_COLUMNS[version]} FROM focus.cost_and_usage "
            f"WHERE x_ExportName = ? AND x_BillingPeriod = ?) TO '{data}' (FORMAT parquet, COMPRESSION snappy)",
            [from_export, month],
        ).fetchall()
        written = f"read_parquet('{data}', hive_partitioning = false)"
        columns = con.execute(f"DESCRIBE SELECT * FROM {written}").fetchall()
        rows = con.execute(f"SELECT count(*) FROM {written}").fetchall()[0][0]
    next_month = (month + timedelta(days=32)).replace(day=1)
    manifest = root / export / "metadata" / f"BILLING_PERIOD={month:%Y-%m}" / f"{export}-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": f"{export}-{month:%Y-%m}-v1",
                "billingPeriod": {"start": f"{month:%Y%m%d}T000000.000Z", "end": f"{next_month:%Y%m%d}T000000.000Z"},
                "dataFiles": [f"{S3_URI}/{data.relative_to(root).as_posix()}"],
                "columns": [{"name": name, "type": kind.lower()} for name, kind, *_ in columns],
            }
        )
    )
    return rows
