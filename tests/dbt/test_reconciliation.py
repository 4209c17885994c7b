"""Money must be right: every billing month of the FOCUS mart reconciles to what AWS bills and amortizes.

The generator builds each month from integer amounts, so it knows the invoice total (Σ
`lineItem/UnblendedCost`), AWS's amortized cost (CID formula) and each commitment's amortized
amount independently of the models; the mart must reproduce them to 1e-6.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.dbt.conftest import query

EXACT = Decimal("0.000001")


def _per_month(focus_warehouse, measure: str) -> dict[tuple[str, str], Decimal]:
    rows = query(
        focus_warehouse.path,
        f"SELECT x_ExportName, strftime(x_BillingPeriod, '%Y-%m'), sum({measure}) "
        "FROM focus.cost_and_usage GROUP BY ALL",
    )
    return {(export, month): Decimal(str(total)) for export, month, total in rows}


def test_every_month_and_export_is_in_the_mart(focus_warehouse):
    assert set(_per_month(focus_warehouse, "BilledCost")) == set(focus_warehouse.expected)


@pytest.mark.parametrize("measure, expected_of", [("BilledCost", "billed"), ("EffectiveCost", "amortized")])
def test_monthly_totals_equal_the_invoice_and_the_amortized_cost(focus_warehouse, measure, expected_of):
    actual = _per_month(focus_warehouse, measure)
    for key, totals in focus_warehouse.expected.items():
        assert abs(actual[key] - getattr(totals, expected_of)) <= EXACT, (
            key,
            actual[key],
            getattr(totals, expected_of),
        )


def test_billed_and_effective_differ_where_commitments_are_bought_upfront(focus_warehouse):
    """The first month pays the upfront fees (billed ≫ amortized); the check above is not vacuous."""
    first = focus_warehouse.expected[("legacy", "2025-01")]
    assert first.billed - first.amortized > 1000


def test_each_commitment_used_plus_unused_effective_cost_is_its_amortized_commitment(focus_warehouse):
    rows = query(
        focus_warehouse.path,
        "SELECT x_ExportName, strftime(x_BillingPeriod, '%Y-%m'), CommitmentDiscountId, "
        "sum(EffectiveCost) FILTER (WHERE CommitmentDiscountStatus = 'Used'), "
        "sum(EffectiveCost) FILTER (WHERE CommitmentDiscountStatus = 'Unused') "
        "FROM focus.cost_and_usage WHERE CommitmentDiscountStatus IS NOT NULL GROUP BY ALL",
    )
    booked = {(export, month, cid): (used, unused) for export, month, cid, used, unused in rows}
    for (export, month), totals in focus_warehouse.expected.items():
        assert len(totals.commitments) == 2
        for arn, amortized in totals.commitments.items():
            used, unused = booked[(export, month, arn)]
            assert used > 0 and unused > 0, "both parts must be present for the check to mean something"
            assert abs(Decimal(str(used)) + Decimal(str(unused)) - amortized) <= EXACT, (export, month, arn)


def test_commitment_purchases_carry_no_effective_cost_and_covered_usage_no_billed_cost(focus_warehouse):
    purchases, effective, billed = query(
        focus_warehouse.path,
        "SELECT count(*), sum(abs(EffectiveCost)), sum(BilledCost) FROM focus.cost_and_usage "
        "WHERE ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL",
    )[0]
    assert purchases > 0 and effective == 0 and billed > 0
    covered, billed, effective, listed = query(
        focus_warehouse.path,
        "SELECT count(*), sum(abs(BilledCost)), sum(EffectiveCost), sum(ListCost) FROM focus.cost_and_usage "
        "WHERE CommitmentDiscountStatus = 'Used'",
    )[0]
    assert covered > 0 and billed == 0 and 0 < effective < listed


def test_savings_plan_negation_lines_do_not_reach_the_mart(focus_warehouse):
    negations = query(
        focus_warehouse.path, "SELECT count(*) FROM focus.cost_and_usage WHERE x_LineItemType = 'SavingsPlanNegation'"
    )
    assert negations == [(0,)]
