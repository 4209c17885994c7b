"""Names from a delivery never become SQL: column headers, manifest columns, Parquet column names, tag keys.

Each case loads a plain January, then a February whose names (tests/hostile_names.py) try to end a quoted
identifier or string and run statements of their own. Afterwards the warehouse may differ only by
February: its month table, the export's view naming it, its ledger row. Or, for a name the format
cannot carry, the delivery is refused naming the file, with nothing changed but a failed ledger row.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.aws.sample_data import write_legacy_rows
from include.sql import sql_identifier, sql_qualified
from include.warehouse.file_readers import LOADER_COLUMNS
from include.warehouse.loader import LoadRefused
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import deliveries, load, local_export
from tests.hostile_names import HOSTILE_NAMES, SHAPES, catalog, deliver, hostile_columns, tag_value

SCHEMA = "aws_cur"
# A CSV header is read line by line: a name holding a line break cannot match the manifest's.
REFUSED = {("legacy CSV", "newline"): "CSV header disagrees with the manifest's columns"}


def _load_month(write_sample, warehouse, shape: str, export: str, month, names: list[str]) -> None:
    deliver(write_sample, shape, export, month, names)
    [delivery] = [
        d
        for d in deliveries(local_export(export, SHAPES[shape], write_sample.root, S3_URI))
        if d.billing_period == month
    ]
    load(warehouse, delivery)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", HOSTILE_NAMES)
def test_a_hostile_name_loads_as_a_column_or_is_refused_and_changes_nothing_else(write_sample, warehouse, shape, case):
    name, export = HOSTILE_NAMES[case], "hostile"
    _load_month(write_sample, warehouse, shape, export, JAN, [])
    before = catalog(warehouse)

    refusal = REFUSED.get((shape, case))
    if refusal:
        with pytest.raises(LoadRefused, match=refusal) as refused:
            _load_month(write_sample, warehouse, shape, export, FEB, [name])
        assert "hostile-00001" in str(refused.value)  # names the data file
        assert catalog(warehouse) == {**before, "ledger": before["ledger"] + _ledger_rows(warehouse, "failed")}
        return
    _load_month(write_sample, warehouse, shape, export, FEB, [name])
    after = catalog(warehouse)

    month, view = (SCHEMA, f"{export}_2025_02"), (SCHEMA, export)
    assert after["tables"].keys() - before["tables"].keys() == {month}
    assert {k: v for k, v in after["tables"].items() if k != month} == before["tables"]
    assert after["views"].keys() == before["views"].keys()
    assert {k: v for k, v in after["views"].items() if k != view} == {
        k: v for k, v in before["views"].items() if k != view
    }
    assert f"{export}_2025_02" in after["views"][view][0]  # the export's view now reads February too
    assert after["ledger"][: len(before["ledger"])] == before["ledger"]
    assert [row[:3] for row in after["ledger"][len(before["ledger"]) :]] == [(export, "2025-02", "loaded")]
    unchanged = ("databases", "schemas", "macros", "sequences", "indexes", "types")
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}
    _assert_the_names_carry_their_values(warehouse, shape, name, sql_qualified(*month))


def _ledger_rows(warehouse, status: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT export, strftime(billing_period, '%Y-%m'), status, version, rows, error, dataset "
            "FROM finops_meta.load_ledger WHERE status = ? ORDER BY loaded_at",
            [status],
        ).fetchall()


def _assert_the_names_carry_their_values(warehouse, shape: str, name: str, month_table: str) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(rows,)] = con.execute(f"SELECT count(*) FROM {month_table}").fetchall()
        for column in hostile_columns(shape, name):
            values = con.execute(
                f"SELECT {sql_identifier(column.column)}, count(*) FROM {month_table} GROUP BY ALL"
            ).fetchall()
            assert values == [(tag_value(name), rows)]
            if shape == "legacy CSV":  # the header's own spelling stays recoverable
                [(comment,)] = con.execute(
                    "SELECT comment FROM duckdb_columns() WHERE table_name = 'hostile_2025_02' AND column_name = ?",
                    [column.column],
                ).fetchall()
                assert comment == column.source
        if shape == "CUR 2.0":
            for column, key in (("resource_tags", f"user_{name}"), ("cost_category", name)):
                found = con.execute(f"SELECT count(*) FROM {month_table} WHERE {column}[?] = ?", [key, tag_value(name)])
                assert found.fetchall() == [(rows,)]


@pytest.mark.parametrize("clash", [*LOADER_COLUMNS, "_Source_File", "Line_Item_Unblended_Cost"])
def test_a_parquet_column_named_like_a_lineage_column_or_another_column_is_refused(write_sample, warehouse, clash):
    """DuckDB compares names without regard to case: such a column would replace the loader's lineage or
    the cost, so the file is refused by name."""
    totals = write_sample("cur2", "cur2", JAN)
    for file in totals.files:
        _add_column(write_sample.root / file, clash)
    [delivery] = deliveries(local_export("cur2", "cur2", write_sample.root, S3_URI))
    with pytest.raises(LoadRefused, match=rf"{totals.files[0].split('/')[-1]}: columns \[.*'{clash}'.*\] clash"):
        load(warehouse, delivery)
    assert [row[:3] for row in _ledger_rows(warehouse, "failed")] == [("cur2", "2025-01", "failed")]
    assert catalog(warehouse)["tables"] == {}


def _add_column(path, name: str) -> None:
    table = pq.read_table(path)
    pq.write_table(table.append_column(name, pa.array(["spoofed"] * table.num_rows)), path)


def test_a_legacy_column_name_without_a_letter_or_digit_is_refused_by_name(tmp_path):
    """AWS's Athena rule keeps only [a-z0-9_]: such a name would leave the column nameless."""
    rows = [{"identity/LineItemId": "line-1", "lineItem/UnblendedCost": "1", "東京/京都": "value"}]
    write_legacy_rows(tmp_path / "mirror", "cur", JAN, rows, s3_uri=S3_URI, version="v1")
    [delivery] = deliveries(local_export("cur", "cur1", tmp_path / "mirror", S3_URI))
    with pytest.raises(LoadRefused, match=r"\['東京/京都'\] have no letter or digit"):
        load(tmp_path / "warehouse.duckdb", delivery)
    assert [row[:3] for row in _ledger_rows(tmp_path / "warehouse.duckdb", "failed")] == [("cur", "2025-01", "failed")]
