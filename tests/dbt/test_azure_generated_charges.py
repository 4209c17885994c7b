"""Every charge type and pricing model Azure emits, through the loader and dbt: the generator's EA and MCA
cost details (actual + amortized) of a closed month, each FOCUS row classified as the documented rules
(tests/dbt/azure_rules.py) say for its source row, and each charge type's billed and amortized cost
exactly the files' sums. The real samples (test_azure_real_samples.py) hold only usage, commitment usage
and a reservation purchase; refunds, unused reservation and savings plan hours, rounding adjustments,
marketplace and spot rows are tried here. Expectations are read from the written files, not the generator."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from include.azure.provider import AZURE
from include.azure.sample_data import DEMO_EXPORTS, EA_SCOPE, MCA_SCOPE, write_exports
from tests.conftest import FEB, JAN
from tests.dbt.azure_rules import column, expected_kind, rows_as_converted
from tests.dbt.conftest import dbt, query
from tests.helpers import load_every_delivery
from tests.include.azure.runs import read_part

SCOPES = {"ea": EA_SCOPE, "mca": MCA_SCOPE}
CHARGE_TYPES = {"Usage", "Purchase", "Refund", "UnusedReservation", "UnusedSavingsPlan", "RoundingAdjustment"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """January (closed) and February (open) of both scopes, discovered and loaded as the DAG does, built once."""
    workdir = tmp_path_factory.mktemp("azure-charges")
    exports = tuple(spec for spec in DEMO_EXPORTS if spec.dataset in ("actual", "amortized"))
    sample = write_exports(workdir / "container", [JAN, FEB], exports=exports, rows=400)
    warehouse = workdir / "warehouse.duckdb"
    load_every_delivery(warehouse, AZURE, sample.settings)
    dbt(warehouse, "build")
    return sample, warehouse


def _source_rows(sample, export: str) -> list[dict]:
    return [row for blob in sample.latest(export, JAN).files for row in read_part(sample.root / blob)]


def _mart(warehouse, scope, columns: str) -> list[tuple]:
    sql = f"SELECT {columns} FROM focus.cost_and_usage WHERE BillingAccountId = ? AND x_BillingPeriod = ? GROUP BY ALL"
    return query(warehouse, sql, [scope.focus_billing_account_id, JAN])


@pytest.mark.parametrize("scope", SCOPES)
def test_each_rows_charge_pricing_and_commitment_columns_follow_its_charge_type_and_pricing_model(converted, scope):
    sample, warehouse = converted
    sources = rows_as_converted(_source_rows(sample, f"{scope}-actual"), _source_rows(sample, f"{scope}-amortized"))
    assert {column(row, "ChargeType") for row in sources} == CHARGE_TYPES
    expected = Counter((column(row, "ChargeType"), *expected_kind(row)) for row in sources)
    mart = _mart(
        warehouse,
        SCOPES[scope],
        "x_LineItemType, ChargeCategory, ChargeClass, PricingCategory, CommitmentDiscountStatus, "
        "CommitmentDiscountType, x_RowKey",
    )
    assert Counter(row[:-1] for row in mart) == expected


@pytest.mark.parametrize("scope", SCOPES)
def test_each_charge_type_bills_its_actual_cost_and_amortizes_its_amortized_cost(converted, scope):
    """Σ BilledCost per charge type = Σ CostInBillingCurrency of the actual file's rows of that type;
    Σ EffectiveCost likewise from the amortized file."""
    sample, warehouse = converted
    expected: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for side, export in enumerate((f"{scope}-actual", f"{scope}-amortized")):
        for row in _source_rows(sample, export):
            expected[column(row, "ChargeType")][side] += Decimal(column(row, "CostInBillingCurrency"))
    mart = _mart(warehouse, SCOPES[scope], "x_LineItemType, sum(BilledCost), sum(EffectiveCost)")
    assert {charge_type: [billed, effective] for charge_type, billed, effective in mart} == dict(expected)


@pytest.mark.parametrize("scope", SCOPES)
def test_marketplace_rows_name_their_publisher_and_others_microsoft(converted, scope):
    sample, warehouse = converted
    sources = rows_as_converted(_source_rows(sample, f"{scope}-actual"), _source_rows(sample, f"{scope}-amortized"))
    expected = Counter(
        column(row, "PublisherName") if column(row, "PublisherType") == "Marketplace" else "Microsoft"
        for row in sources
    )
    mart = _mart(warehouse, SCOPES[scope], "PublisherName, x_RowKey")
    assert Counter(publisher for publisher, _ in mart) == expected
