"""Small FOCUS 1.2 files written by hand, for focus-validator to judge."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from include.aws.settings import AWS_DATASETS
from include.warehouse.ledger import ensure_ledger

# What `broken=True` breaks, and the offending values the validator is expected to show.
BROKEN_CHARGE_CATEGORY = "Bogus"
BROKEN_CURRENCY = "XYZ"
SHARED_SKU_PRICE_ID = "price-1"  # given to two SKUs: SkuPriceId-C-008-M wants one parent SkuId


def write_focus_file(path: Path, broken: bool = False) -> Path:
    """Three FOCUS 1.2 rows: an EC2 hour, a Savings Plan fee and tax, with the mandatory columns."""
    categories = ["Usage", "Purchase", "Tax"]
    currencies = ["USD", "USD", "USD"]
    sku_ids, sku_price_ids = ["sku-1", "sku-2", None], ["price-1", "price-2", None]
    if broken:
        # focus-validator 2.2.1 checks allowed values against the whole column (any row allowed
        # passes), so only an all-bad column fails; ISO 4217 is checked row by row.
        categories = [BROKEN_CHARGE_CATEGORY] * 3
        currencies = ["USD", BROKEN_CURRENCY, "USD"]
        sku_price_ids = [SHARED_SKU_PRICE_ID, SHARED_SKU_PRICE_ID, None]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    hours = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in (1, 2, 3)]
    amounts = [Decimal("1.5"), Decimal("2.25"), Decimal("0.3")]
    columns = {
        "BilledCost": pa.array(amounts, pa.decimal128(18, 6)),
        "BillingAccountId": ["111122223333"] * 3,
        "BillingAccountName": ["Payer"] * 3,
        "BillingCurrency": currencies,
        "BillingPeriodStart": [start] * 3,
        "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)] * 3,
        "ChargeCategory": categories,
        "ChargeClass": pa.nulls(3, pa.string()),
        "ChargeDescription": ["m5.large hour", "Savings Plan fee", "Tax"],
        "ChargeFrequency": ["Usage-Based", "Recurring", "One-Time"],
        "ChargePeriodStart": hours,
        "ChargePeriodEnd": [datetime(2026, 11, 1, h + 1, tzinfo=UTC) for h in (1, 2, 3)],
        "ContractedCost": pa.array(amounts, pa.decimal128(18, 6)),
        "EffectiveCost": pa.array(amounts, pa.decimal128(18, 6)),
        "InvoiceIssuerName": ["Amazon Web Services, Inc."] * 3,
        "ListCost": pa.array(amounts, pa.decimal128(18, 6)),
        "PricingQuantity": pa.array([Decimal(1), Decimal(1), None], pa.decimal128(18, 6)),
        "PricingUnit": ["Hours", "Hours", None],
        "ProviderName": ["AWS"] * 3,
        "PublisherName": ["AWS"] * 3,
        "ServiceCategory": ["Compute"] * 3,
        "ServiceName": ["Amazon EC2"] * 3,
        "ServiceSubcategory": ["Virtual Machines"] * 3,
        "SkuId": sku_ids,
        "SkuPriceId": sku_price_ids,
    }
    pq.write_table(pa.table(columns), path)
    return path


def write_focus_mart(warehouse: Path, data: Path, months: list[str], manifest: str = "manifest-1") -> Path:
    """A warehouse whose FOCUS mart holds the rows of `data` (a FOCUS file) in each month, as one
    CUR 2.0 export delivered by `manifest`, and an empty load ledger."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    dataset, export = AWS_DATASETS["cur2"], "payer"
    with duckdb.connect(str(warehouse)) as con:
        ensure_ledger(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS focus").fetchall()
        con.execute(
            "CREATE OR REPLACE TABLE focus.cost_and_usage AS SELECT data.*, ? AS x_ExportName, ? AS x_Dataset, "
            "CAST(month || '-01' AS DATE) AS x_BillingPeriod, concat_ws('/', ?, ?, month) AS x_SourcePartition, "
            "? AS x_ManifestVersion FROM read_parquet(?) AS data, unnest(?::VARCHAR[]) AS m(month)",
            [export, dataset, dataset, export, manifest, str(data), months],
        ).fetchall()
    return warehouse
