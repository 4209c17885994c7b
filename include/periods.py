"""Billing months as text: `YYYY-MM`, the one spelling a run, a backfill, the ledger's readers and the
serving layer use (dbt checks the same pattern in `dbt/macros/sources.sql`)."""

from __future__ import annotations

import re
from datetime import date

from include.settings import ConfigError

MONTH_FORMAT = "%Y-%m"
# Also the trigger form's JSON-schema pattern for the months to reload.
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def is_month(text: object) -> bool:
    # fullmatch: `$` alone would let "2025-01\n" through
    return isinstance(text, str) and _MONTH.fullmatch(text) is not None


def checked_month(text: object) -> str:
    """`text` when it is a billing month (YYYY-MM), else a ConfigError naming it."""
    if not is_month(text):
        raise ConfigError(f"billing period {text!r} must be YYYY-MM")
    return text


def parse_month(text: object) -> date:
    """The first day of the billing month `text` (YYYY-MM)."""
    return date.fromisoformat(f"{checked_month(text)}-01")


def month_label(billing_period: date) -> str:
    return billing_period.strftime(MONTH_FORMAT)
