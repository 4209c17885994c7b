"""One billing month is rebuilt without touching the others (the mart is incremental by source partition)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from tests.conftest import FEB, JAN
from tests.dbt.conftest import FocusWarehouse, dbt, query

MARKER = "left alone by the rebuild"


@pytest.fixture
def two_months(tmp_path) -> FocusWarehouse:
    built = FocusWarehouse(path=tmp_path / "warehouse.duckdb", root=tmp_path / "mirror")
    built.deliver("cur2", "cur2", JAN, rows=600)
    built.deliver("cur2", "cur2", FEB, rows=600)
    dbt(built.path, "build")
    with duckdb.connect(str(built.path)) as con:  # mark January's rows: a rebuild would erase the mark
        con.execute(f"UPDATE focus.cost_and_usage SET ChargeDescription = '{MARKER}' WHERE x_BillingPeriod = ?", [JAN])
    return built


def _month(built: FocusWarehouse, month) -> tuple[int, Decimal, int]:
    rows, billed, marked = query(
        built.path,
        "SELECT count(*), sum(BilledCost), count(*) FILTER (WHERE ChargeDescription = ?) "
        "FROM focus.cost_and_usage WHERE x_BillingPeriod = ?",
        [MARKER, month],
    )[0]
    return rows, Decimal(str(billed)), marked


def test_restated_month_is_rebuilt_alone_when_its_period_is_named(two_months):
    jan_rows, jan_billed, _ = _month(two_months, JAN)
    two_months.deliver("cur2", "cur2", FEB, revision=2, rows=900)

    dbt(two_months.path, "run", "--vars", '{"billing_periods": "2025-02"}')

    assert _month(two_months, JAN) == (jan_rows, jan_billed, jan_rows)  # untouched, mark intact
    feb_rows, feb_billed, feb_marked = _month(two_months, FEB)
    restated = two_months.expected[("cur2", "2025-02")]
    assert abs(feb_billed - restated.billed) <= Decimal("1e-6") and feb_marked == 0
    assert feb_rows > 600  # the restated delivery has more line items


def test_without_named_periods_every_month_is_rebuilt(two_months):
    dbt(two_months.path, "run")
    assert _month(two_months, JAN)[2] == 0


def test_malformed_billing_period_is_refused_before_anything_runs(two_months):
    with pytest.raises(pytest.fail.Exception, match="is not YYYY-MM"):
        dbt(two_months.path, "run", "--vars", '{"billing_periods": "2025-02; drop table x"}')
    assert _month(two_months, JAN)[2] > 0


def test_staging_and_intermediate_models_are_inlined_so_runs_share_no_relation(two_months):
    """Ephemeral upstream models: concurrent runs (a backfill) have no shared view to clobber or half-see."""
    dbt(two_months.path, "run", "--vars", '{"billing_periods": "2025-02"}')
    upstream = query(
        two_months.path,
        "SELECT name FROM (SELECT table_name AS name FROM duckdb_tables() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal) "
        "WHERE name LIKE 'stg\\_%' ESCAPE '\\' OR name LIKE 'int\\_%' ESCAPE '\\'",
    )
    assert upstream == []
    assert query(two_months.path, "SELECT count(DISTINCT x_BillingPeriod) FROM focus.cost_and_usage") == [(2,)]
