"""The mart's columns: every FOCUS 1.2 column by its exact name and type, then the 1.3 provider columns, then x_."""

from __future__ import annotations

import re

from tests.conftest import SHARED
from tests.dbt.conftest import query

# FOCUS data types as DuckDB stores them here (JSON key-value columns are JSON text).
DUCKDB_TYPE = {"Decimal": "DECIMAL(38,18)", "String": "VARCHAR", "DateTime": "TIMESTAMP", "JSON": "VARCHAR"}


def _focus_1_2_columns() -> list[tuple[str, str]]:
    """(column, type) rows of the column table in ../shared/focus/FOCUS-1.2-columns.md, in its order."""
    text = (SHARED / "focus" / "FOCUS-1.2-columns.md").read_text()
    rows = re.findall(r"^\| (\w+) \| [MCR] \| (\w+) \|", text, flags=re.MULTILINE)
    assert len(rows) > 50
    return rows


def test_mart_has_every_focus_1_2_column_with_its_type_then_1_3_provider_columns_then_x(focus_warehouse):
    columns = query(
        focus_warehouse.path,
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'focus' AND table_name = 'cost_and_usage' ORDER BY column_index",
    )
    focus = [(name, DUCKDB_TYPE[kind]) for name, kind in _focus_1_2_columns()]
    assert columns[: len(focus)] == focus
    after = [name for name, _ in columns[len(focus) :]]
    assert after[:2] == ["ServiceProviderName", "HostProviderName"]
    assert after[2:] and all(name.startswith("x_") for name in after[2:])
