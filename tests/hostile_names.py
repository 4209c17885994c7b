"""Deliveries whose column names and tag keys try to run SQL of their own, made from the generator's output.

Each name tries to end a quoted identifier or string early and run a statement that would show in the
warehouse's catalog or ledger. `deliver` writes one month of an export in one of the three shapes a
name reaches the warehouse in: a legacy CUR CSV header (and its manifest), a legacy CUR Parquet column
(Athena layout), and a CUR 2.0 Parquet column (and its manifest) plus keys of its tag maps.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from include.aws.columns import athena_column_name
from include.sql import sql_qualified
from tests.aws_layouts import to_athena

HOSTILE_NAMES = {
    "double quote": 'x" AS y FROM t; DROP TABLE finops_meta.load_ledger; --',
    "single quote": "it's'); CREATE TABLE main.pwned AS SELECT 1; --",
    "comment markers": "a /* unclosed -- comment",
    "newline": 'line\nbreak"; DROP SCHEMA sources_aws CASCADE; --',
    "unicode": "Kostenstelle-Ärger-東京-🚀-\u202eright-to-left",
}
# The shapes a name reaches the warehouse in: (label, export format, how the files are written).
SHAPES = {"legacy CSV": "cur1", "legacy Parquet": "cur1", "CUR 2.0": "cur2"}


def tag_value(name: str) -> str:
    return f"value of {name}"


@dataclass(frozen=True)
class HostileColumn:
    """A column a hostile delivery adds: as the delivery names it, and as the month table does."""

    source: str  # header, manifest or Parquet column name
    column: str


def hostile_columns(shape: str, name: str) -> list[HostileColumn]:
    """The columns a delivery of `shape` carries for `name`: a resource tag and a cost category in legacy
    CUR (its CSV names normalised as AWS's Athena names), the bare name in CUR 2.0 (its tags are in maps)."""
    if shape == "legacy CSV":
        return [HostileColumn(s, athena_column_name(s)) for s in (f"resourceTags/user:{name}", f"costCategory/{name}")]
    if shape == "legacy Parquet":
        return [HostileColumn(c, c) for c in (f"resource_tags_user_{name}", f"cost_category_{name}")]
    return [HostileColumn(name, name)]


def expected_tags(shape: str, name: str) -> dict[str, str]:
    """The Tags entries dbt makes of `name`'s resource tag and cost category."""
    tag_key = athena_column_name(f"resourceTags/user:{name}").removeprefix("resource_tags_user_")
    category_key = f"costCategory/{athena_column_name(name)}"  # AWS's normalised cost category names
    return {tag_key if shape == "legacy CSV" else name: tag_value(name), category_key: tag_value(name)}


def deliver(write_sample, shape: str, export: str, month: date, names: list[str]) -> None:
    """Write `export`'s `month` as `shape`, its rows carrying every hostile column of `names`."""
    totals = write_sample(export, SHAPES[shape], month)
    root = write_sample.root
    columns = {c.source: tag_value(name) for name in names for c in hostile_columns(shape, name)}
    if shape == "legacy CSV":
        for file in totals.files:
            _add_csv_columns(root / file, columns)
        _add_manifest_columns(
            root / export, totals.files, [{"category": s.split("/", 1)[0], "name": s.split("/", 1)[1]} for s in columns]
        )
    elif shape == "legacy Parquet":
        for file in to_athena(root, export, month, manifest=None):
            _add_parquet_columns(file, columns)
    else:
        tags = {f"user_{name}": tag_value(name) for name in names}
        categories = {name: tag_value(name) for name in names}
        for file in totals.files:
            _add_parquet_columns(root / file, columns, maps={"resource_tags": tags, "cost_category": categories})
        _add_manifest_columns(root / export, totals.files, [{"name": s, "type": "string"} for s in columns])


def _add_csv_columns(path: Path, columns: dict[str, str]) -> None:
    with gzip.open(path, "rb") as stream:
        header = stream.readline().decode().rstrip("\r\n").split(",")
    options = pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True)
    table = pa_csv.read_csv(path, convert_options=options)
    for source, value in columns.items():
        table = table.append_column(source, pa.array([value] * table.num_rows, pa.string()))
    with pa.CompressedOutputStream(str(path), "gzip") as sink:
        pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(quoting_style="needed"))


def _add_parquet_columns(path: Path, columns: dict[str, str], maps: dict[str, dict[str, str]] | None = None) -> None:
    """Append text columns of one value; add `maps`' entries to every row of those map columns (made if absent)."""
    table = pq.read_table(path)
    for source, value in columns.items():
        table = table.append_column(source, pa.array([value] * table.num_rows, pa.string()))
    text_map = pa.map_(pa.string(), pa.string())
    for column, entries in (maps or {}).items():
        present = column in table.column_names
        rows = table[column].to_pylist() if present else [None] * table.num_rows
        values = pa.array([list(row or []) + list(entries.items()) for row in rows], text_map)
        if present:
            table = table.set_column(table.schema.get_field_index(column), column, values)
        else:
            table = table.append_column(column, values)
    pq.write_table(table, path)


def _add_manifest_columns(export_root: Path, files: list[str], columns: list[dict]) -> None:
    """Every manifest of the delivery (legacy CUR writes two) lists the added columns too."""
    for manifest in export_root.rglob("*-Manifest.json"):
        body = json.loads(manifest.read_text())
        listed = body.get("reportKeys") or body.get("dataFiles") or []
        if any(key.endswith(file) for key in listed for file in files):
            body["columns"] += columns
            manifest.write_text(json.dumps(body, indent=1))


def catalog(warehouse: Path, schemas: tuple[str, ...] = ()) -> dict:
    """What a foreign statement could change: databases, schemas, tables (comment, columns, rows), views,
    macros, sequences, indexes, types, the ledger and the export register; only `schemas` when given."""
    where = "database_name = current_database()" + (" AND schema_name IN (SELECT unnest(?))" if schemas else "")
    params = [list(schemas)] if schemas else []

    with duckdb.connect(str(warehouse), read_only=True) as con:

        def rows(sql: str) -> list[tuple]:
            return con.execute(sql.format(where=where), params).fetchall()

        tables = {}
        for schema, table, comment in rows(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE {where}"
        ):
            columns = con.execute(
                "SELECT list((column_name, comment) ORDER BY column_index) FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
                [schema, table],
            ).fetchall()
            if schema != "finops_meta":  # its tables are compared by content below
                count = con.execute(f"SELECT count(*) FROM {sql_qualified(schema, table)}").fetchall()
                tables[(schema, table)] = (comment, columns, count)
        return {
            "databases": con.execute("SELECT database_name, path FROM duckdb_databases() ORDER BY ALL").fetchall(),
            "schemas": rows("SELECT schema_name, comment FROM duckdb_schemas() WHERE {where} ORDER BY ALL"),
            "tables": tables,
            "views": {
                (schema, view): (sql, comment)
                for schema, view, sql, comment in rows(
                    "SELECT schema_name, view_name, sql, comment FROM duckdb_views() WHERE {where} AND NOT internal"
                )
            },
            "macros": rows(
                "SELECT schema_name, function_name, macro_definition FROM duckdb_functions() "
                "WHERE {where} AND NOT internal ORDER BY ALL"
            ),
            "sequences": rows("SELECT schema_name, sequence_name FROM duckdb_sequences() WHERE {where} ORDER BY ALL"),
            "indexes": rows("SELECT schema_name, index_name, sql FROM duckdb_indexes() WHERE {where} ORDER BY ALL"),
            "types": rows(
                "SELECT schema_name, type_name FROM duckdb_types() WHERE {where} AND NOT internal ORDER BY ALL"
            ),
            "ledger": con.execute(
                "SELECT export, strftime(billing_period, '%Y-%m'), status, version, rows, error, dataset "
                "FROM finops_meta.load_ledger ORDER BY loaded_at"
            ).fetchall(),
        }
