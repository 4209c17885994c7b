"""Replace one billing month of one export in DuckDB, atomically.

The month is built aside in a staging table, checked (row count against the files, per-file
attribution), then swapped in with the export's view and the ledger row in one transaction.
A failure or a kill before the commit leaves the previous version of the month untouched.
DuckDB reads the files itself, so memory stays bounded whatever the month's size.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import duckdb

from include.settings import AWS_DATASETS
from include.warehouse.ledger import EXPORTS_TABLE, LEDGER_TABLE, ensure_ledger

# Warehouses written before each dataset had one id (include/settings.py AWS_DATASETS) registered AWS
# exports under the format with `_` for `.`, and had dbt's staging and intermediate models as views
# (ephemeral now) reading those datasets' views. `_migrate_old_dataset_ids` brings them up to date.
_OLD_AWS_DATASET_IDS = {fmt.replace(".", "_"): dataset for fmt, dataset in AWS_DATASETS.items()}
_OLD_DBT_VIEW_SCHEMAS = ("staging", "intermediate")


def writer_settings() -> dict:
    """DuckDB spills to disk past the memory limit, so a month of any size loads in bounded RAM."""
    return {
        "memory_limit": os.environ.get("FINOPS_DUCKDB_MEMORY_LIMIT", "1GB"),
        # Row order inside a month table carries no meaning; not keeping it saves memory and time.
        "preserve_insertion_order": False,
    }


class LoadRefused(RuntimeError):
    """The delivery was not loaded; the message names the file or check that failed."""


@dataclass(frozen=True)
class LocalFile:
    listed_uri: str  # as the manifest lists it (recorded per row)
    path: Path  # local copy DuckDB reads


class MonthReader(Protocol):
    """Format-specific part of a load: how to check the files and select their rows."""

    cost_column: str

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None: ...

    def select_sql(self, files: list[LocalFile]) -> str: ...

    def count_records(self, files: list[LocalFile]) -> dict[str, int]: ...

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]: ...

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None: ...

    def column_comments(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class MonthLoad:
    source: str
    schema: str
    export: str
    table_stem: str
    dataset: str  # the format's dataset id (e.g. aws_cur1); its exports are unioned into `sources_<source>.<dataset>`
    billing_period: date
    manifest_uri: str
    version: str
    files: list[LocalFile]
    reader: MonthReader

    @property
    def table(self) -> str:
        return f"{self.table_stem}_{self.billing_period:%Y_%m}"

    @property
    def where(self) -> str:
        return f"{self.export} {self.billing_period:%Y-%m} ({self.manifest_uri})"


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows: int
    billed_cost: Decimal
    duration_s: float
    rows_per_file: dict[str, int]


def replace_month(warehouse_path: Path, load: MonthLoad) -> LoadResult:
    """Load `load` into its month table; a failure is recorded in the ledger and re-raised."""
    started = time.monotonic()
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse_path), config=writer_settings())
    try:
        ensure_ledger(con)
        _migrate_old_dataset_ids(con)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{load.schema}"').fetchall()
        try:
            result = _build_and_swap(con, load, started)
        except Exception as err:
            # Bad input arrives as LoadRefused (not worth a retry); anything else may be transient.
            _drop_staging(con, load)
            _record_failure(con, load, err, time.monotonic() - started)
            raise
        return result
    finally:
        con.close()


def _staging(load: MonthLoad) -> str:
    return f'"{load.schema}"."_loading_{load.table}"'


def _drop_staging(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_staging(load)}").fetchall()


def _build_and_swap(con: duckdb.DuckDBPyConnection, load: MonthLoad, started: float) -> LoadResult:
    load.reader.check_files(con, load.files)
    _drop_staging(con, load)  # a killed earlier attempt may have left one
    with ThreadPoolExecutor(max_workers=1) as background:
        # Count the files' records with an independent reader while DuckDB loads them.
        counting = background.submit(load.reader.count_records, load.files)
        _create_staging(con, load)
        expected = counting.result()
    per_file = con.execute(
        f'SELECT _source_file, count(*), sum("{load.reader.cost_column}") FROM {_staging(load)} GROUP BY ALL'
    ).fetchall()
    rows_per_file = {uri: rows for uri, rows, _ in per_file}
    disputed = [f for f in load.files if expected.get(f.listed_uri) != rows_per_file.get(f.listed_uri, 0)]
    if disputed:
        expected |= load.reader.recount(con, disputed)
    _check_row_counts(load, rows_per_file, expected)
    total_rows = sum(rows_per_file.values())
    billed = sum((Decimal(str(cost)) for _, _, cost in per_file if cost is not None), Decimal(0))
    _swap_in(con, load, total_rows, billed, time.monotonic() - started)
    return LoadResult(
        table=f"{load.schema}.{load.table}",
        rows=total_rows,
        billed_cost=billed,
        duration_s=time.monotonic() - started,
        rows_per_file=rows_per_file,
    )


def _create_staging(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    try:
        con.execute(
            f"CREATE TABLE {_staging(load)} AS "
            f"SELECT * EXCLUDE (_local_file), DATE '{load.billing_period}' AS _billing_period, "
            f"{_source_file_expression(load.files)} AS _source_file, ? AS _manifest_version "
            f"FROM ({load.reader.select_sql(load.files)})",
            [load.version],
        ).fetchall()
    except duckdb.Error as err:
        culprit = load.reader.diagnose(con, load.files)
        raise LoadRefused(f"{load.where}: {culprit or err}") from err


def _source_file_expression(files: list[LocalFile]) -> str:
    branches = " ".join(f"WHEN {sql_literal(str(f.path))} THEN {sql_literal(f.listed_uri)}" for f in files)
    return f"CASE _local_file {branches} END"


def sql_literal(text: str) -> str:
    """A SQL string literal for text we build into statements (paths, names, comments)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier for a name from the catalog or a delivery (a column header may hold anything)."""
    return '"' + name.replace('"', '""') + '"'


def _check_row_counts(load: MonthLoad, loaded: dict[str, int], expected: dict[str, int]) -> None:
    for listed_uri, count in expected.items():
        if loaded.get(listed_uri, 0) != count:
            raise LoadRefused(
                f"{load.where}: {listed_uri} holds {count} rows but {loaded.get(listed_uri, 0)} were read; "
                "refusing a partial month"
            )


def _swap_in(con: duckdb.DuckDBPyConnection, load: MonthLoad, rows: int, billed: Decimal, duration: float) -> None:
    target = f'"{load.schema}"."{load.table}"'
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        con.execute(f"DROP TABLE IF EXISTS {target}").fetchall()
        con.execute(f'ALTER TABLE {_staging(load)} RENAME TO "{load.table}"').fetchall()
        for column, source_name in load.reader.column_comments().items():
            con.execute(f'COMMENT ON COLUMN {target}."{column}" IS {sql_literal(source_name)}').fetchall()
        con.execute(
            f"COMMENT ON TABLE {target} IS {sql_literal(f'{load.manifest_uri} version {load.version}')}"
        ).fetchall()
        _refresh_export_view(con, load)
        _register_export(con, load)
        _refresh_dataset_view(con, load.source, load.dataset)
        con.execute(
            f"UPDATE {LEDGER_TABLE} SET status = 'superseded' "
            "WHERE source = ? AND export = ? AND billing_period = ? AND status = 'loaded'",
            [load.source, load.export, load.billing_period],
        ).fetchall()
        _insert_ledger_row(con, load, "loaded", rows=rows, billed=billed, duration=duration)
        con.execute("COMMIT").fetchall()
    except Exception:
        con.execute("ROLLBACK").fetchall()
        raise


def _refresh_export_view(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    """One view per export over all its months; columns differ month to month, so BY NAME."""
    months = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND regexp_matches(table_name, ?) "
        "ORDER BY table_name",
        [load.schema, f"^{load.table_stem}_[0-9]{{4}}_[0-9]{{2}}$"],
    ).fetchall()
    union = " UNION ALL BY NAME ".join(f'SELECT * FROM "{load.schema}"."{name}"' for (name,) in months)
    con.execute(f'CREATE OR REPLACE VIEW "{load.schema}"."{load.table_stem}" AS {union}').fetchall()


def _register_export(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    """Which dataset the export belongs to, and the view over all its months."""
    con.execute(
        f"INSERT OR REPLACE INTO {EXPORTS_TABLE} VALUES (?, ?, ?, ?)",
        [load.source, load.export, load.dataset, f"{load.schema}.{load.table_stem}"],
    ).fetchall()


def _refresh_dataset_view(con: duckdb.DuckDBPyConnection, source: str, dataset: str) -> None:
    """`sources_<source>.<dataset>`: every export registered for one format, with `_export`; what dbt reads."""
    exports = con.execute(
        f"SELECT export, relation FROM {EXPORTS_TABLE} WHERE source = ? AND dataset = ? ORDER BY export",
        [source, dataset],
    ).fetchall()
    union = " UNION ALL BY NAME ".join(
        f"SELECT {sql_literal(export)} AS _export, * FROM {relation}" for export, relation in exports
    )
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "sources_{source}"').fetchall()
    con.execute(f'CREATE OR REPLACE VIEW "sources_{source}"."{dataset}" AS {union}').fetchall()


def _migrate_old_dataset_ids(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse from before dataset ids: its exports re-registered under their ids, those views rebuilt,
    the old views dropped (with dbt's views of that time, which read them).

    Without it an export would reach the new views only on its next load, and a full dbt build
    before that would drop its months. Idempotent: with no old id or view left it only reads the catalog.
    """
    old_ids = list(_OLD_AWS_DATASET_IDS)
    placeholders = ", ".join("?" for _ in old_ids)
    registered = con.execute(
        f"SELECT DISTINCT dataset FROM {EXPORTS_TABLE} WHERE source = 'aws' AND dataset IN ({placeholders})", old_ids
    ).fetchall()
    old_views = con.execute(
        f"SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal "
        f"AND schema_name = 'sources_aws' AND view_name IN ({placeholders})",
        old_ids,
    ).fetchall()
    if not registered and not old_views:
        return
    dbt_views = con.execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND schema_name IN (?, ?)",
        list(_OLD_DBT_VIEW_SCHEMAS),
    ).fetchall()
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        for (old,) in registered:
            con.execute(
                f"UPDATE {EXPORTS_TABLE} SET dataset = ? WHERE source = 'aws' AND dataset = ?",
                [_OLD_AWS_DATASET_IDS[old], old],
            ).fetchall()
            _refresh_dataset_view(con, "aws", _OLD_AWS_DATASET_IDS[old])
        for schema, view in old_views + dbt_views:
            con.execute(f"DROP VIEW IF EXISTS {sql_identifier(schema)}.{sql_identifier(view)}").fetchall()
        con.execute("COMMIT").fetchall()
    except Exception:
        con.execute("ROLLBACK").fetchall()
        raise


def _record_failure(con: duckdb.DuckDBPyConnection, load: MonthLoad, err: Exception, duration: float) -> None:
    _insert_ledger_row(con, load, "failed", duration=duration, error=str(err)[:2000])


def record_failure(warehouse_path: Path, load: MonthLoad, err: Exception) -> None:
    """Record a load that failed before it reached the warehouse (e.g. a listed file was missing)."""
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as con:
        ensure_ledger(con)
        _record_failure(con, load, err, None)


def _insert_ledger_row(con, load: MonthLoad, status: str, *, rows=None, billed=None, duration=None, error=None):
    con.execute(
        f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load.source,
            load.export,
            load.billing_period,
            f"{load.schema}.{load.table}",
            load.manifest_uri,
            load.version,
            [f.listed_uri for f in load.files],
            rows,
            billed,
            datetime.now(UTC).replace(tzinfo=None),
            duration,
            status,
            error,
        ],
    ).fetchall()
