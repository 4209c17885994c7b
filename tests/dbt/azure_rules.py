"""The documented Azure cost details → FOCUS 1.2 rules for the charge, pricing and commitment columns
(../shared/formats/azure.md §2.2, the finops-toolkit conversion), restated in Python from a file's own
columns to check the models against. Columns are looked up without regard to case (EA PascalCase, MCA
camelCase)."""

from __future__ import annotations

COMMITMENT_MODELS = ("Reservation", "SavingsPlan")


def column(row: dict, name: str) -> str:
    """A column by name whatever its case; "" for an empty cell (CSV) or a null (Parquet)."""
    value = next(value for key, value in row.items() if key.lower() == name.lower())
    return "" if value is None else str(value)


def is_commitment_purchase(row: dict) -> bool:
    """A reservation or savings plan purchase or refund: billed by the actual dataset alone."""
    return column(row, "ChargeType") in ("Purchase", "Refund") and column(row, "PricingModel") in COMMITMENT_MODELS


def rows_as_converted(actual: list[dict], amortized: list[dict]) -> list[dict]:
    """The source rows a converted month's FOCUS rows describe: every amortized row, plus the actual
    commitment purchases and refunds that amortization spreads over usage."""
    return amortized + [row for row in actual if is_commitment_purchase(row)]


def expected_kind(row: dict) -> tuple:
    """(ChargeCategory, ChargeClass, PricingCategory, CommitmentDiscountStatus, CommitmentDiscountType) of a row."""
    charge_type, model = column(row, "ChargeType"), column(row, "PricingModel").replace(" ", "")
    category = {"Refund": "Purchase", "UnusedReservation": "Usage", "UnusedSavingsPlan": "Usage"}.get(
        charge_type, charge_type if charge_type in ("Usage", "Purchase", "Credit", "Tax") else "Adjustment"
    )
    pricing = {"OnDemand": "Standard", "Spot": "Dynamic", "Reservation": "Committed", "SavingsPlan": "Committed"}
    status = (
        "Unused"
        if charge_type.startswith("Unused")
        else "Used"
        if model in COMMITMENT_MODELS and charge_type == "Usage"
        else None
    )
    benefit = column(row, "benefitId").lower()
    kind = (
        "Reservation"
        if "/microsoft.capacity/" in benefit
        else "Savings Plan"
        if "/microsoft.billingbenefits/" in benefit
        else None
    )
    return category, "Correction" if charge_type == "Refund" else None, pricing.get(model), status, kind
