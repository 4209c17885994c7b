"""A ledger of the previous layout (`source`, `manifest_uri`, datasets in `finops_meta.exports`) is read as it is
and rebuilt in the current layout by the warehouse's next write, whichever writes first: a load or a refusal."""

from __future__ import annotations

import duckdb
import pytest

from include.aws.settings import AWS_DATASETS
from include.warehouse.ledger import (
    LEDGER_COLUMNS,
    Attempt,
    latest_errors,
    ledger_relation,
    loaded_versions,
    record_failures,
)
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import deliveries, load, local_export
from tests.include.warehouse.previous_layout import rewrite_in_previous_layout

NEVER_LOADED = Attempt(  # an export refused before it ever loaded: the previous layout had no dataset for it
    provider="aws",
    export="never",
    dataset=AWS_DATASETS["cur2"],
    billing_period=JAN,
    table_name="aws_cur.never_2025_01",
    delivery_uri="s3://bucket/never/metadata/BILLING_PERIOD=2025-01/never-Manifest.json",
    version="execution-1",
    files=("s3://bucket/never/data/BILLING_PERIOD=2025-01/never-00001.snappy.parquet",),
)


def _delivery(write_sample, name: str, fmt: str, month):
    write_sample(name, fmt, month)
    export = local_export(name, fmt, write_sample.root, S3_URI)
    return next(d for d in deliveries(export) if d.billing_period == month)


def _ledger(warehouse) -> list[tuple]:
    """Every row, in the current layout's columns, whatever layout the warehouse has."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"SELECT * FROM {ledger_relation(con)} ORDER BY loaded_at").fetchall()


def _layout(warehouse) -> tuple[list[tuple], list[tuple]]:
    """(the ledger's columns with their nullability, the tables of finops_meta)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "SELECT column_name, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = 'finops_meta' AND table_name = 'load_ledger' ORDER BY column_index"
        ).fetchall()
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'finops_meta' ORDER BY ALL"
        ).fetchall()
    return columns, tables


def _rows_in(warehouse, relation: str) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute(f"SELECT _export, count(*) FROM {relation} GROUP BY ALL").fetchall())


@pytest.mark.parametrize("required", [False, True], ids=["previous", "before-refusals"])
@pytest.mark.parametrize("first_write", ["load", "refusal"])
def test_a_previous_ledger_is_read_as_it_is_and_rebuilt_by_the_next_write(
    tmp_path, write_sample, required, first_write
):
    warehouse = tmp_path / "warehouse.duckdb"
    legacy_jan = load(warehouse, _delivery(write_sample, "legacy", "cur1", JAN))
    cur2_jan = load(warehouse, _delivery(write_sample, "cur2", "cur2", JAN))
    record_failures(warehouse, [(NEVER_LOADED, "invalid manifest JSON")])
    current = _ledger(warehouse)
    loaded = loaded_versions(warehouse, "aws", "legacy")

    rewrite_in_previous_layout(warehouse, required=required)

    # read as it is: the rows as they were, but the dataset of the export the previous layout kept none of, and
    # no sums per currency (the previous layout kept none)
    dataset, by_currency = (list(LEDGER_COLUMNS).index(name) for name in ("dataset", "billed_cost_by_currency"))
    as_previous = [row[:dataset] + (None,) + row[dataset + 1 :] if row[1] == "never" else row for row in current]
    assert [row[dataset] for row in as_previous] == [AWS_DATASETS["cur1"], AWS_DATASETS["cur2"], None]
    assert [row[by_currency] is not None for row in as_previous] == [True, True, False]
    without_sums = [row[:by_currency] + (None,) + row[by_currency + 1 :] for row in as_previous]
    assert _ledger(warehouse) == without_sums
    assert loaded_versions(warehouse, "aws", "legacy") == loaded
    key = ("never", JAN, "execution-1")
    assert latest_errors(warehouse, "aws", [key]) == {key: "invalid manifest JSON"}
    assert _layout(warehouse)[1] == [("exports",), ("load_ledger",)]

    if first_write == "load":
        legacy_feb = load(warehouse, _delivery(write_sample, "legacy", "cur1", FEB))
        written = [(legacy_feb.table, "loaded")]
    else:
        record_failures(warehouse, [(NEVER_LOADED, "invalid manifest JSON, again")])
        written = [(NEVER_LOADED.table_name, "failed")]

    columns, tables = _layout(warehouse)
    assert columns == [(name, "NOT NULL" not in kind) for name, kind in LEDGER_COLUMNS.items()]
    assert tables == [("load_ledger",)]  # the ledger is the one record of each export's dataset
    after = _ledger(warehouse)
    # rebuilt: the loaded months' sums per currency recomputed from their tables, equal to what their loads recorded
    assert after[: len(as_previous)] == as_previous
    assert [(row[4], row[-2]) for row in after[len(as_previous) :]] == written
    feb_rows = legacy_feb.rows if first_write == "load" else 0
    assert _rows_in(warehouse, f"sources_aws.{AWS_DATASETS['cur1']}") == {"legacy": legacy_jan.rows + feb_rows}
    assert _rows_in(warehouse, f"sources_aws.{AWS_DATASETS['cur2']}") == {"cur2": cur2_jan.rows}
