"""Every card of dashboards/ runs on a published serving layer, as Metabase would run it, and its
totals agree with the FOCUS mart they come from."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dashboards.spec import load_dashboards, render_sql
from include.serving.publish import connect_serving

CARDS = [card for dashboard in load_dashboards() for card in dashboard.cards]
RATIOS = ("utilization", "coverage", "untagged_share", "covered_share")  # each between 0 and 1
SHARES = ("share",)  # parts of a whole: they add up to 1 (a credited service's share can be negative)
# The mart-side meaning of each dashboard filter.
MART_FILTERS = {
    "billing_period": "strftime(mart.x_BillingPeriod, '%Y-%m') = ?",
    "provider": "mart.ProviderName = ?",
    "account": "mart.BillingAccountId = ?",
}


@pytest.fixture(scope="module")
def serving(served, focus_warehouse):
    """The serving views, with the warehouse attached read-only as `wh` to compare against."""
    con = connect_serving(served)
    con.execute(f"ATTACH '{focus_warehouse.path}' AS wh (READ_ONLY)").fetchall()
    yield con
    con.close()


@pytest.fixture(scope="module")
def filter_values(serving) -> dict[str, str]:
    [(provider, account)] = serving.execute(
        "SELECT DISTINCT ProviderName, BillingAccountId FROM cost_and_usage"
    ).fetchall()
    return {"billing_period": "2025-02", "provider": provider, "account": account}


def _run(serving, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = serving.cursor()
    rows = cursor.execute(sql).fetchall()
    return [column[0] for column in cursor.description], rows


def _assert_plausible(card, columns: list[str], rows: list[tuple]) -> None:
    assert rows, f"{card.key} returned no rows"
    if card.display == "scalar":
        field = card.visualization.get("scalar.field", columns[0])
        assert rows[0][columns.index(field)] is not None, f"{card.key}: {field} is empty"
    for column in set(columns) & set(RATIOS):
        values = [row[columns.index(column)] for row in rows if row[columns.index(column)] is not None]
        assert values and all(-1e-9 <= value <= 1 + 1e-9 for value in values), (card.key, column, values)
    for column in set(columns) & set(SHARES):
        assert sum(row[columns.index(column)] for row in rows) == pytest.approx(1), (card.key, column)


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.key)
def test_card_sql_returns_plausible_rows_with_no_filter_set(card, serving):
    columns, rows = _run(serving, render_sql(card.sql, {}))
    _assert_plausible(card, columns, rows)


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.key)
def test_card_totals_match_the_mart_with_every_filter_set(card, serving, filter_values):
    columns, rows = _run(serving, render_sql(card.sql, filter_values))
    _assert_plausible(card, columns, rows)

    used = [tag for tag in card.tags if tag in MART_FILTERS]
    where = " AND ".join(["true", *(MART_FILTERS[tag] for tag in used)])
    for column, expression in card.totals.items():
        shown = sum((Decimal(str(row[columns.index(column)] or 0)) for row in rows), Decimal(0))
        # Only the exports the serving layer chose: the mart also holds the other export of the same bill.
        [(expected,)] = serving.execute(
            f"SELECT {expression} FROM wh.focus.cost_and_usage AS mart "
            "SEMI JOIN (SELECT DISTINCT x_ExportName, billing_period FROM cost_and_usage) AS served "
            "ON served.x_ExportName = mart.x_ExportName "
            "AND served.billing_period = strftime(mart.x_BillingPeriod, '%Y-%m') "
            f"WHERE {where}",
            [filter_values[tag] for tag in used],
        ).fetchall()
        assert abs(shown - Decimal(str(expected or 0))) < Decimal("1e-6"), (card.key, column, shown, expected)


def test_the_cards_cover_every_dashboard_the_issue_names():
    dashboards = {dashboard.key: dashboard for dashboard in load_dashboards()}
    assert set(dashboards) == {"cost_overview", "services", "accounts", "allocation", "commitments", "data_quality"}
    assert sum(bool(card.totals) for card in CARDS) >= 15
    for key in ("cost_overview", "services", "accounts", "allocation", "commitments"):
        assert [f.key for f in dashboards[key].filters] == ["billing_period", "provider", "account"]


def test_data_quality_cards_show_the_validator_verdict_and_a_zero_reconciliation_difference(serving):
    cards = {card.key: card for card in CARDS}
    _, [(status,)] = _run(serving, render_sql(cards["data_quality.validator_status"].sql, {}))
    assert status == "passed"
    columns, rows = _run(serving, render_sql(cards["data_quality.reconciliation"].sql, {}))
    assert len(rows) == 3 and all(row[columns.index("difference")] == 0 for row in rows)
