"""Each CUR line item type lands in FOCUS 1.2 with the charge attributes the specification asks for."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.dbt.conftest import query

RI_ARN = "arn:aws:ec2:us-east-1:222222222222:reserved-instances/4d2f7a10-ri-sample"


def _rows(focus_warehouse, where: str, columns: str) -> list[tuple]:
    return query(
        focus_warehouse.path,
        f"SELECT DISTINCT {columns} FROM focus.cost_and_usage WHERE x_ExportName = 'legacy' AND {where} ORDER BY ALL",
    )


@pytest.mark.parametrize(
    "line_item_type, category, frequency, pricing",
    [
        ("DiscountedUsage", "Usage", "Usage-Based", "Committed"),
        ("SavingsPlanCoveredUsage", "Usage", "Usage-Based", "Committed"),
        ("SavingsPlanUpfrontFee", "Purchase", "One-Time", "Standard"),
        ("Tax", "Tax", "Usage-Based", None),
        ("Credit", "Credit", "One-Time", "Other"),
        ("EdpDiscount", "Usage", "Usage-Based", "Standard"),
        ("BundledDiscount", "Usage", "Usage-Based", "Standard"),
        ("PrivateRateDiscount", "Usage", "Usage-Based", "Standard"),
    ],
)
def test_line_item_type_maps_to_charge_category_frequency_and_pricing_category(
    focus_warehouse, line_item_type, category, frequency, pricing
):
    assert _rows(
        focus_warehouse, f"x_LineItemType = '{line_item_type}'", "ChargeCategory, ChargeFrequency, PricingCategory"
    ) == [(category, frequency, pricing)]


def test_recurring_commitment_fees_become_a_purchase_and_an_unused_usage_row(focus_warehouse):
    for fee in ("RIFee", "SavingsPlanRecurringFee"):
        rows = _rows(
            focus_warehouse,
            f"x_LineItemType = '{fee}'",
            "ChargeCategory, ChargeFrequency, PricingCategory, CommitmentDiscountStatus, BilledCost = 0, "
            "EffectiveCost = 0, ConsumedQuantity IS NULL, ResourceId = CommitmentDiscountId",
        )
        assert rows == [
            ("Purchase", "Recurring", "Standard", None, False, True, True, True),
            ("Usage", "Usage-Based", "Committed", "Unused", True, False, True, True),
        ], fee


def test_upfront_fees_span_the_commitment_term(focus_warehouse):
    rows = _rows(
        focus_warehouse,
        "x_LineItemType IN ('SavingsPlanUpfrontFee') OR (x_LineItemType = 'Fee' AND CommitmentDiscountId IS NOT NULL)",
        "x_LineItemType, ChargePeriodStart, ChargePeriodEnd, ChargeFrequency, EffectiveCost",
    )
    term = (datetime(2025, 1, 1), datetime(2026, 1, 1))
    assert rows == [("Fee", *term, "One-Time", 0), ("SavingsPlanUpfrontFee", *term, "One-Time", 0)]


def test_reservation_is_counted_in_hours_and_savings_plan_in_currency(focus_warehouse):
    rows = _rows(
        focus_warehouse,
        "CommitmentDiscountId IS NOT NULL",
        "CommitmentDiscountType, CommitmentDiscountCategory, CommitmentDiscountUnit",
    )
    assert rows == [("Reserved Instance", "Usage", "Hour"), ("Savings Plan", "Spend", "USD")]
    unused_hours = _rows(
        focus_warehouse,
        f"CommitmentDiscountId = '{RI_ARN}' AND CommitmentDiscountStatus = 'Unused'",
        "CommitmentDiscountQuantity",
    )
    assert unused_hours == [(50,)]  # the generator leaves 50 reserved hours unused every month


def test_support_fee_is_a_recurring_purchase_consumed_in_its_month(focus_warehouse):
    assert _rows(
        focus_warehouse,
        "x_LineItemType = 'Fee' AND CommitmentDiscountId IS NULL",
        "ChargeCategory, ChargeFrequency, EffectiveCost = BilledCost, ServiceCategory, ServiceSubcategory",
    ) == [("Purchase", "Recurring", True, "Management and Governance", "Support")]


def test_refund_for_last_month_is_a_correction_of_that_period(focus_warehouse):
    rows = _rows(
        focus_warehouse,
        "x_LineItemType = 'Refund'",
        "strftime(x_BillingPeriod, '%Y-%m'), ChargeClass, strftime(ChargePeriodStart, '%Y-%m'), ChargeCategory",
    )
    assert rows == [
        ("2025-01", None, "2025-01", "Usage"),  # the first generated month refunds itself
        ("2025-02", "Correction", "2025-01", "Usage"),
        ("2025-03", "Correction", "2025-02", "Usage"),
    ]


def test_spot_usage_is_dynamically_priced_and_marketplace_names_its_seller(focus_warehouse):
    assert _rows(focus_warehouse, "x_UsageType LIKE 'SpotUsage%'", "PricingCategory, PublisherName") == [
        ("Dynamic", "AWS")
    ]
    assert _rows(
        focus_warehouse,
        "PublisherName <> 'AWS'",
        "PublisherName, ServiceName, ServiceCategory, ServiceSubcategory, InvoiceIssuerName",
    ) == [("Acme Analytics LLC", "Acme Log Analytics", "Other", "Other (Other)", "Amazon Web Services, Inc.")]


def test_credits_and_discounts_keep_effective_cost_equal_to_billed_cost(focus_warehouse):
    rows = _rows(
        focus_warehouse,
        "x_LineItemType IN ('Credit', 'EdpDiscount', 'BundledDiscount', 'PrivateRateDiscount', 'Tax')",
        "x_LineItemType, bool_and(EffectiveCost = BilledCost) OVER (PARTITION BY x_LineItemType), "
        "bool_and(sign(BilledCost) = CASE WHEN x_LineItemType = 'Tax' THEN 1 ELSE -1 END) "
        "OVER (PARTITION BY x_LineItemType)",
    )
    assert rows and all(same and signed for _, same, signed in rows)


def test_legacy_cur_and_cur2_of_the_same_bill_give_the_same_focus_rows(focus_warehouse):
    """The generator writes one bill in both formats; only lineage and account names may differ."""
    compared = (
        "ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, round(BilledCost, 8), "
        "round(EffectiveCost, 8), round(ListCost, 8), ChargePeriodStart, ServiceName, ServiceCategory, RegionId, "
        "RegionName, CommitmentDiscountId, CommitmentDiscountStatus, round(CommitmentDiscountQuantity, 8), "
        "ResourceId, ResourceType, PricingUnit, SkuId, SkuMeter, Tags"
    )
    differences = query(
        focus_warehouse.path,
        f"(SELECT {compared} FROM focus.cost_and_usage WHERE x_ExportName = 'legacy' "
        f" EXCEPT ALL SELECT {compared} FROM focus.cost_and_usage WHERE x_ExportName = 'cur2') "
        f"UNION ALL (SELECT {compared} FROM focus.cost_and_usage WHERE x_ExportName = 'cur2' "
        f" EXCEPT ALL SELECT {compared} FROM focus.cost_and_usage WHERE x_ExportName = 'legacy')",
    )
    assert differences == []
    tagged = query(
        focus_warehouse.path,
        "SELECT count(*) FILTER (WHERE Tags IS NOT NULL), count(*) FILTER (WHERE Tags LIKE '%\"project\"%') "
        "FROM focus.cost_and_usage WHERE x_ExportName = 'cur2'",
    )[0]
    assert tagged[0] > 0 and tagged[1] > 0  # the tag activated in February reaches Tags too
