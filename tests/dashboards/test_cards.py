"""Every card of dashboards/ runs on a published serving layer in two currencies, as Metabase would run
it: it never adds amounts of different currencies, and its totals agree, currency by currency, with
the FOCUS mart they come from."""

from __future__ import annotations

import shutil
from collections import defaultdict
from decimal import Decimal

import duckdb
import pytest

from include.azure.sample_data import EA_SCOPE, MCA_SCOPE
from include.dashboards.spec import DASHBOARDS_DIR, FILTERS_FILE, DashboardSpecError, load_dashboards, render_sql
from include.serving.publish import connect_serving, publish_validation
from include.sql import sql_identifier, sql_literal, sql_qualified
from tests.dashboards.conftest import EUR_FROM, EUR_PAYER, MONTHS

CARDS = [card for dashboard in load_dashboards() for card in dashboard.cards]
# Each between 0 and 1. (Not untagged_share: untagged discounts, negative Usage lines such as an EDP
# discount, can outweigh a currency's untagged usage, as for the USD payer here.)
RATIOS = ("utilization", "coverage", "covered_share")
SHARES = ("share",)  # parts of a currency's whole: they add up to 1 (a credited service's share can be negative)
CURRENCY = "BillingCurrency"  # the column every row showing an amount carries: its amounts are in it
BY_CURRENCY = "STRUCT(currency VARCHAR, billed_cost DECIMAL(38, 18))"  # an entry of the ledger's per-currency sums
# The mart-side meaning of each dashboard filter.
MART_FILTERS = {
    "billing_period": "strftime(mart.x_BillingPeriod, '%Y-%m') = ?",
    "provider": "mart.ProviderName = ?",
    "account": "mart.BillingAccountId = ?",
    "currency": "mart.BillingCurrency = ?",
}
AZURE = "Microsoft"  # Azure's ProviderName
SCALE = 7  # one currency's amounts multiplied by this must not move a card that shows no currency


@pytest.fixture(scope="module")
def serving(served, two_currency_warehouse):
    """The serving views, with the warehouse attached read-only as `wh` to compare against."""
    con = connect_serving(served)
    con.execute(f"ATTACH {sql_literal(str(two_currency_warehouse))} AS wh (READ_ONLY)").fetchall()
    yield con
    con.close()


@pytest.fixture(scope="module")
def currencies(serving) -> list[str]:
    found = [c for (c,) in serving.execute("SELECT DISTINCT BillingCurrency FROM cost_and_usage ORDER BY 1").fetchall()]
    assert found == ["EUR", "USD"]
    return found


@pytest.fixture(scope="module")
def filter_sets(serving) -> list[dict[str, str]]:
    """AWS's EUR payer (it holds the commitments too) in its last USD month and in its first EUR month; Azure's
    MCA billing profile (EUR) and EA enrollment (USD)."""
    [(provider,)] = serving.execute(
        "SELECT DISTINCT ProviderName FROM cost_and_usage WHERE BillingAccountId = ?", [EUR_PAYER]
    ).fetchall()
    usd_month = MONTHS[MONTHS.index(EUR_FROM) - 1]
    return [
        {"billing_period": usd_month, "provider": provider, "account": EUR_PAYER, "currency": "USD"},
        {"billing_period": EUR_FROM, "provider": provider, "account": EUR_PAYER, "currency": "EUR"},
        {"billing_period": MONTHS[0], "provider": AZURE, "account": MCA_SCOPE.billing_profile_id, "currency": "EUR"},
        {"billing_period": EUR_FROM, "provider": AZURE, "account": EA_SCOPE.billing_account_id, "currency": "USD"},
    ]


@pytest.fixture(scope="module")
def layers(served, currencies):
    """Serving connections whose `cost_and_usage` and ledger sums per currency hold one currency only ("only",
    currency), or every row with one currency's amounts, in both, scaled ("scaled", currency)."""
    opened = {}

    def layer(kind: str, currency: str) -> duckdb.DuckDBPyConnection:
        if (kind, currency) not in opened:
            con = connect_serving(served)
            con.execute("CREATE TABLE served_rows AS SELECT * FROM cost_and_usage").fetchall()
            con.execute("CREATE TABLE ledger_rows AS SELECT * FROM load_ledger").fetchall()
            names = [row[0] for row in con.execute("DESCRIBE served_rows").fetchall()]
            currency_is = f"BillingCurrency = {sql_literal(currency)}"
            entry_is = f"entry.currency = {sql_literal(currency)}"
            if kind == "only":
                rows = f"SELECT * FROM served_rows WHERE {currency_is}"
                ledger = (
                    f"SELECT * REPLACE ([entry FOR entry IN billed_cost_by_currency IF {entry_is}] "
                    "AS billed_cost_by_currency) FROM ledger_rows"
                )
            else:
                amounts = ", ".join(
                    f"CASE WHEN {currency_is} THEN {sql_identifier(name)} * {SCALE} ELSE {sql_identifier(name)} END "
                    f"AS {sql_identifier(name)}"
                    for name in names
                    if name.endswith(("Cost", "UnitPrice"))
                )
                rows = f"SELECT * REPLACE ({amounts}) FROM served_rows"
                scaled = f"{{'currency': entry.currency, 'billed_cost': entry.billed_cost * {SCALE}}}::{BY_CURRENCY}"
                scaled_entry = f"CASE WHEN {entry_is} THEN {scaled} ELSE entry END"
                part = f"coalesce(list_sum([entry.billed_cost FOR entry IN billed_cost_by_currency IF {entry_is}]), 0)"
                ledger = (
                    f"SELECT * REPLACE (billed_cost + {SCALE - 1} * {part} AS billed_cost, "
                    f"[{scaled_entry} FOR entry IN billed_cost_by_currency] AS billed_cost_by_currency) "
                    "FROM ledger_rows"
                )
            con.execute(f"CREATE OR REPLACE VIEW cost_and_usage AS {rows}").fetchall()
            con.execute(f"CREATE OR REPLACE VIEW load_ledger AS {ledger}").fetchall()
            opened[kind, currency] = con
        return opened[kind, currency]

    yield layer
    for con in opened.values():
        con.close()


def _run(con, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = con.cursor()
    rows = cursor.execute(sql).fetchall()
    return [column[0] for column in cursor.description], rows


def _comparable(rows) -> list[tuple]:
    """Rows as a sorted multiset, numbers rounded past what a different summation order changes."""

    def value(cell):
        if isinstance(cell, float):
            return round(cell, 9)
        if isinstance(cell, Decimal):
            return round(cell, 6)
        return cell

    return sorted((tuple(value(cell) for cell in row) for row in rows), key=repr)


def _assert_plausible(card, columns: list[str], rows: list[tuple]) -> None:
    assert rows, f"{card.key} returned no rows"
    if card.display == "scalar":
        field = card.visualization.get("scalar.field", columns[0])
        assert rows[0][columns.index(field)] is not None, f"{card.key}: {field} is empty"
    for column in set(columns) & set(RATIOS):
        values = [row[columns.index(column)] for row in rows if row[columns.index(column)] is not None]
        assert values and all(-1e-9 <= value <= 1 + 1e-9 for value in values), (card.key, column, values)
    for column in set(columns) & set(SHARES):
        by_currency = defaultdict(float)
        for row in rows:
            by_currency[row[columns.index(CURRENCY)]] += row[columns.index(column)]
        assert all(total == pytest.approx(1) for total in by_currency.values()), (card.key, column, by_currency)


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.key)
def test_card_sql_returns_plausible_rows_with_no_filter_set(card, serving):
    columns, rows = _run(serving, render_sql(card.sql, {}))
    _assert_plausible(card, columns, rows)


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.key)
def test_no_card_adds_amounts_of_different_currencies(card, serving, layers, currencies, filter_sets):
    """A row in a currency is exactly what the card shows when the data holds that currency alone; a
    card showing no currency does not move when one currency's amounts do (it shows no amount)."""
    for values in ({}, *filter_sets):
        sql = render_sql(card.sql, values)
        columns, rows = _run(serving, sql)
        if CURRENCY in columns:
            index = columns.index(CURRENCY)
            assert {row[index] for row in rows} <= set(currencies), (card.key, values, "a row without a currency")
            for currency in currencies:
                _, alone = _run(layers("only", currency), sql)
                shown = [row for row in rows if row[index] == currency]
                assert _comparable(shown) == _comparable(alone), (card.key, values, currency)
        else:
            _, scaled = _run(layers("scaled", currencies[0]), sql)
            assert _comparable(rows) == _comparable(scaled), f"{card.key} shows amounts without their {CURRENCY}"


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.key)
def test_card_totals_match_the_mart_per_currency_with_every_filter_set(card, serving, filter_sets):
    for values in filter_sets:
        columns, rows = _run(serving, render_sql(card.sql, values))
        _assert_plausible(card, columns, rows)
        if not card.totals:
            continue
        assert CURRENCY in columns, f"{card.key} declares totals but shows no {CURRENCY}"
        used = [tag for tag in card.tags if tag in MART_FILTERS]
        where = " AND ".join(["true", *(MART_FILTERS[tag] for tag in used)])
        for column, expression in card.totals.items():
            shown = defaultdict(Decimal)
            for row in rows:
                shown[row[columns.index(CURRENCY)]] += Decimal(str(row[columns.index(column)] or 0))
            # Only the exports the serving layer chose: the mart also holds the other export of the same bill.
            found = serving.execute(
                f"SELECT mart.BillingCurrency, {expression} FROM wh.focus.cost_and_usage AS mart "
                "SEMI JOIN (SELECT DISTINCT x_ExportName, billing_period FROM cost_and_usage) AS served "
                "ON served.x_ExportName = mart.x_ExportName "
                "AND served.billing_period = strftime(mart.x_BillingPeriod, '%Y-%m') "
                f"WHERE {where} GROUP BY mart.BillingCurrency",
                [values[tag] for tag in used],
            ).fetchall()
            expected = {currency: Decimal(str(total or 0)) for currency, total in found}
            for currency in set(shown) | set(expected):
                difference = abs(shown.get(currency, 0) - expected.get(currency, 0))
                assert difference < Decimal("1e-6"), (card.key, values, column, currency, shown, expected)


def test_month_over_month_change_compares_each_currency_with_itself(serving):
    """The issue's case: EUR beside USD gave one mixed change (−61.7 %); now each currency has its own."""
    card = {card.key: card for card in CARDS}["cost_overview.change_vs_previous_month"]
    monthly = dict(
        ((currency, month), cost)
        for currency, month, cost in serving.execute(
            "SELECT BillingCurrency, billing_period, sum(EffectiveCost) FROM cost_and_usage GROUP BY ALL"
        ).fetchall()
    )
    latest, previous = MONTHS[-1], MONTHS[-2]
    expected = {
        currency: (monthly[currency, latest] - monthly[currency, previous]) / monthly[currency, previous]
        for currency in ("EUR", "USD")
    }

    columns, rows = _run(serving, render_sql(card.sql, {}))

    shown = {row[columns.index(CURRENCY)]: row[columns.index("change")] for row in rows}
    assert shown.keys() == expected.keys()
    assert all(shown[currency] == pytest.approx(float(expected[currency])) for currency in expected), (shown, expected)


def test_the_cards_cover_every_dashboard_the_issue_names():
    dashboards = {dashboard.key: dashboard for dashboard in load_dashboards()}
    assert set(dashboards) == {"cost_overview", "services", "accounts", "allocation", "commitments", "data_quality"}
    assert sum(bool(card.totals) for card in CARDS) >= 15
    for key in ("cost_overview", "services", "accounts", "allocation", "commitments"):
        assert [f.key for f in dashboards[key].filters] == ["billing_period", "provider", "account", "currency"]


@pytest.mark.parametrize(
    ("card", "error"),
    [
        pytest.param(
            """
  - key: billed_cost
    visualization:
      column_settings: {'["name","billed_cost"]': {number_style: currency, currency: USD}}""",
            r"spend.yml card 'billed_cost'.*one fixed currency",
            # Metabase's currency style puts one symbol on every row, whatever the row's BillingCurrency.
            id="a-fixed-currency-format",
        ),
        pytest.param(
            '\n  - key: "billed_cost\\n"',
            r"spend.yml card .*key must be lowercase snake_case",
            id="a-key-ending-in-a-newline",
        ),
    ],
)
def test_a_card_the_dashboards_cannot_show_right_is_a_spec_error(tmp_path, card, error):
    shutil.copy(DASHBOARDS_DIR / FILTERS_FILE, tmp_path / FILTERS_FILE)
    (tmp_path / "spend.yml").write_text(
        f"""
key: spend
name: Spend
cards:{card}
    name: Billed cost
    display: table
    layout: [0, 0, 6, 4]
    sql: SELECT sum(BilledCost) AS billed_cost, BillingCurrency FROM cost_and_usage GROUP BY ALL
"""
    )
    with pytest.raises(DashboardSpecError, match=error):
        load_dashboards(tmp_path)


def test_data_quality_cards_show_the_validator_verdict_and_a_zero_reconciliation_difference(serving, azure_sample):
    cards = {card.key: card for card in CARDS}
    _, [(status,)] = _run(serving, render_sql(cards["data_quality.validator_status"].sql, {}))
    assert status == "passed"
    columns, rows = _run(serving, render_sql(cards["data_quality.reconciliation"].sql, {}))
    shown = {
        (row["export"], row["billing_period"], row[CURRENCY], row["reconciled_to"]): row
        for row in (dict(zip(columns, values, strict=True)) for values in rows)
    }
    assert len(shown) == len(rows)

    # AWS, per served export, month and currency: Σ of the month tables' cost column (read here from the
    # warehouse) against Σ BilledCost served; every AWS cost is on the invoice basis.
    source = {}
    loaded = serving.execute(
        "SELECT export, table_name FROM wh.finops_meta.load_ledger WHERE status = 'loaded' AND provider = 'aws'"
    )
    for export, table in loaded.fetchall():
        for month, currency, cost in serving.execute(
            "SELECT strftime(_billing_period, '%Y-%m'), line_item_currency_code, sum(line_item_unblended_cost) "
            f"FROM wh.{sql_qualified(*table.split('.', 1))} GROUP BY ALL"
        ).fetchall():
            source[export, month, currency, "BilledCost"] = Decimal(str(cost))
    served = dict(
        ((export, month, currency, "BilledCost"), cost)
        for export, month, currency, cost in serving.execute(
            "SELECT x_ExportName, billing_period, BillingCurrency, sum(BilledCost) FROM cost_and_usage "
            "WHERE ProviderName = 'AWS' GROUP BY ALL"
        ).fetchall()
    )
    source = {key: cost for key, cost in source.items() if key in served}  # the exports served, one per payer
    assert {key[2] for key in served} == {"EUR", "USD"}
    assert any((key[0], key[1], "USD", key[3]) in served for key in served if key[2] == "EUR")
    # Azure, per billing account and month: actual cost against Σ BilledCost, amortized cost against Σ EffectiveCost,
    # the sums the generated files hold
    for (scope, month), totals in azure_sample.totals.items():
        pair, label = f"{scope}-actual + {scope}-amortized", f"{month:%Y-%m}"
        source[pair, label, totals.currency, "BilledCost"] = totals.actual
        source[pair, label, totals.currency, "EffectiveCost"] = totals.amortized
    assert {key[2] for key in source if key[0].endswith("amortized")} == {"EUR", "USD"}

    assert shown.keys() == source.keys()
    for key, row in shown.items():
        assert row["difference"] == 0 and abs(row["source_cost"] - source[key]) < Decimal("1e-9"), (key, row)
        assert key not in served or row["served_cost"] == served[key], (key, row, served[key])


def test_the_last_delivery_card_names_each_exports_provider_and_dataset_from_the_ledger(serving):
    card = {card.key: card for card in CARDS}["data_quality.last_delivery"]
    loaded = defaultdict(set)  # (provider, export) → (dataset, billing month) of each loaded row, in the warehouse
    for provider, export, dataset, period in serving.execute(
        "SELECT provider, export, dataset, billing_period FROM wh.finops_meta.load_ledger WHERE status = 'loaded'"
    ).fetchall():
        loaded[provider, export].add((dataset, f"{period:%Y-%m}"))
    columns, rows = _run(serving, render_sql(card.sql, {}))
    shown = [dict(zip(columns, row, strict=True)) for row in rows]
    assert {(row["provider"], row["export"]) for row in shown} == set(loaded) and len(shown) == len(loaded)
    for row in shown:
        [dataset] = {dataset for dataset, _ in loaded[row["provider"], row["export"]]}
        months = {month for _, month in loaded[row["provider"], row["export"]]}
        assert (row["dataset"], row["latest_billing_period"], row["months_loaded"]) == (
            dataset,
            max(months),
            len(months),
        )


def test_the_reconciliation_shows_a_difference_in_the_currency_that_has_it_only(served):
    """EUR BilledCost served at twice what the source files hold: the EUR rows reconciled to BilledCost differ by
    the EUR amount; USD ones, and the EUR ones reconciled to EffectiveCost (Azure's amortized cost), by 0."""
    card = {card.key: card for card in CARDS}["data_quality.reconciliation"]
    with connect_serving(served) as con:
        _, right = _run(con, render_sql(card.sql, {}))
        doubled = "CASE WHEN BillingCurrency = 'EUR' THEN BilledCost * 2 ELSE BilledCost END AS BilledCost"
        con.execute("CREATE TABLE served_rows AS SELECT * FROM cost_and_usage").fetchall()
        view = f"CREATE OR REPLACE VIEW cost_and_usage AS SELECT * REPLACE ({doubled}) FROM served_rows"
        con.execute(view).fetchall()
        columns, wrong = _run(con, render_sql(card.sql, {}))

    index = {column: columns.index(column) for column in ("source_cost", "difference", CURRENCY, "reconciled_to")}
    assert len(wrong) == len(right)
    for row in wrong:
        doubled = row[index[CURRENCY]] == "EUR" and row[index["reconciled_to"]] == "BilledCost"
        expected = row[index["source_cost"]] if doubled else 0
        assert row[index["difference"]] == round(expected, 6), row
    assert {row[index[CURRENCY]] for row in wrong if row[index["difference"]]} == {"EUR"}


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


def test_untagged_share_counts_only_user_tags_not_aws_keys_or_cost_categories_in_each_currency():
    """AWS puts cost categories (and aws_* keys) on lines by rule: they allocate nothing by themselves."""
    card = {card.key: card for card in CARDS}["allocation.untagged_share"]
    charges = [  # tags, effective cost, currency, allocated by a user tag
        ('{"team": "data"}', 10, "USD", True),
        ('{"costCategory/cost_center": "cc-1"}', 20, "USD", False),
        ('{"aws_created_by": "root"}', 30, "EUR", False),
        (None, 40, "EUR", False),
        ('{"team": "web", "aws_created_by": "root"}', 5, "EUR", True),
    ]
    with duckdb.connect(":memory:") as con:
        con.execute(
            "CREATE TABLE cost_and_usage (x_RowKey VARCHAR, ChargeCategory VARCHAR, Tags VARCHAR, "
            "EffectiveCost DOUBLE, BillingCurrency VARCHAR)"
        ).fetchall()
        for index, (tags, cost, currency, _) in enumerate(charges):
            con.execute(
                "INSERT INTO cost_and_usage VALUES (?, 'Usage', ?, ?, ?)", [f"row-{index}", tags, cost, currency]
            ).fetchall()
        columns, rows = _run(con, render_sql(card.sql, {}))
    shown = {row[columns.index(CURRENCY)]: row[columns.index("untagged_share")] for row in rows}
    total, untagged = defaultdict(int), defaultdict(int)
    for _, cost, currency, allocated in charges:
        total[currency] += cost
        untagged[currency] += 0 if allocated else cost
    assert shown == pytest.approx({currency: untagged[currency] / total[currency] for currency in total})
