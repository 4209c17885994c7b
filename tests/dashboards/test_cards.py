"""Every card of dashboards/ runs on a published serving layer, as Metabase would run it, and its
totals agree with the FOCUS mart they come from."""

from __future__ import annotations

import shutil
from decimal import Decimal

import duckdb
import pytest

from include.dashboards.spec import load_dashboards, render_sql
from include.serving.publish import connect_serving, publish_validation
from tests.dashboards.conftest import MONTHS

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
    # the generator bills through two payer accounts: filtering on one leaves the other out
    provider, account = serving.execute(
        "SELECT DISTINCT ProviderName, BillingAccountId FROM cost_and_usage ORDER BY ALL"
    ).fetchall()[0]
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


def test_data_quality_cards_show_the_months_held_back_and_why(served, tmp_path):
    cards = {card.key: card for card in CARDS}
    root = shutil.copytree(served, tmp_path / "serving")
    served_month, new_month = MONTHS[1], "2025-04"  # a restatement and a month never served, failing together
    failed = {
        "status": "failed",
        "billing_periods": f"{served_month},{new_month}",
        "failing_rules": "ChargeCategory-C-003-M: ChargeCategory MUST be one of the allowed values. | e.g. 'Bogus'",
        "report_path": "/data/validation/20250301T000000.000000Z_2025-02_to_2025-04",
    }
    publish_validation(root, failed)
    with connect_serving(root) as con:
        _, [(held_back,)] = _run(con, render_sql(cards["data_quality.held_back_months"].sql, {}))
        _, [(held_back_in_month,)] = _run(
            con, render_sql(cards["data_quality.held_back_months"].sql, {"billing_period": served_month})
        )
        columns, rows = _run(con, render_sql(cards["data_quality.validation_by_month"].sql, {}))

    assert (held_back, held_back_in_month) == (2, 1)
    shown = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [(row["billing_period"], row["held_back"], row["served"]) for row in shown] == [
        (new_month, "yes", "no"),
        (served_month, "yes", "previous data"),
        *[(month, "no", "yes") for month in sorted(set(MONTHS) - {served_month}, reverse=True)],
    ]
    assert [row["why"] for row in shown[:2]] == [failed["failing_rules"]] * 2
    assert {row["report"] for row in shown[:2]} == {failed["report_path"]}
    assert [row["why"] for row in shown[2:]] == [None] * (len(MONTHS) - 1)


def test_untagged_share_counts_only_user_tags_not_aws_keys_or_cost_categories():
    """AWS puts cost categories (and aws_* keys) on lines by rule: they allocate nothing by themselves."""
    card = {card.key: card for card in CARDS}["allocation.untagged_share"]
    tags_and_costs = [
        ('{"team": "data"}', 10),  # a user tag: allocated
        ('{"costCategory/cost_center": "cc-1"}', 20),
        ('{"aws_created_by": "root"}', 30),
        (None, 40),
    ]
    with duckdb.connect(":memory:") as con:
        con.execute(
            "CREATE TABLE cost_and_usage (x_RowKey VARCHAR, ChargeCategory VARCHAR, Tags VARCHAR, EffectiveCost DOUBLE)"
        ).fetchall()
        for index, (tags, cost) in enumerate(tags_and_costs):
            con.execute("INSERT INTO cost_and_usage VALUES (?, 'Usage', ?, ?)", [f"row-{index}", tags, cost]).fetchall()
        _, [(untagged_share,)] = _run(con, render_sql(card.sql, {}))
    total = sum(cost for _, cost in tags_and_costs)
    assert untagged_share == pytest.approx((total - 10) / total)
