"""The load ledger: one row per load attempt of (source, export, billing period).

Cloud-agnostic. The warehouse writes it in the same transaction that swaps a month in, so the
ledger and the data never disagree. `status` is `loaded` for the version in the warehouse,
`superseded` for earlier loads of that period, `failed` for refused loads (data untouched) —
including deliveries refused before any load, when discovery read their manifest: those rows
have no billing period when the export's folder as a whole was refused, and no version when
none could be read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

LEDGER_TABLE = "finops_meta.load_ledger"
EXPORTS_TABLE = "finops_meta.exports"  # which dataset (format) each loaded export belongs to

CREATE_LEDGER_SQL = f"""
CREATE SCHEMA IF NOT EXISTS finops_meta;
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    source          VARCHAR NOT NULL,   -- aws | azure | gcp
    export          VARCHAR NOT NULL,   -- export / report name as configured
    billing_period  DATE,               -- first day of the billing month; null: the export's folder was refused
    table_name      VARCHAR,            -- schema.table holding the month
    manifest_uri    VARCHAR NOT NULL,   -- the manifest read (or the folder listed or refused)
    version         VARCHAR,            -- assemblyId / executionId / key@etag; null: refused before one was read
    files           VARCHAR[],          -- data files exactly as the manifest lists them
    rows            BIGINT,
    billed_cost     DECIMAL(38, 18),    -- Σ invoice-basis cost (AWS: line_item_unblended_cost)
    loaded_at       TIMESTAMP NOT NULL,
    duration_s      DOUBLE,
    status          VARCHAR NOT NULL,   -- loaded | superseded | failed
    error           VARCHAR
);
CREATE TABLE IF NOT EXISTS {EXPORTS_TABLE} (
    source          VARCHAR NOT NULL,
    export          VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,   -- the format's dataset id (aws_cur1, …): its view sources_<source>.<id>
    relation        VARCHAR NOT NULL,   -- schema.view over all of the export's months
    PRIMARY KEY (source, export)
);
"""


ERROR_CHARS = 2000  # of an error, the ledger keeps this many characters

# Columns a ledger written before refusals were recorded has as NOT NULL.
_NULLABLE_SINCE_REFUSALS = ("billing_period", "version")


@dataclass(frozen=True)
class Attempt:
    """What one load attempt was about: the ledger row's description of the delivery."""

    source: str
    export: str
    billing_period: date | None  # None: refused before a billing period was known (the export's folder)
    table_name: str | None
    manifest_uri: str
    version: str | None  # None: refused before a version was read
    files: tuple[str, ...]  # exactly as the manifest lists them


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CREATE_LEDGER_SQL).fetchall()
    still_required = con.execute(
        "SELECT unnest(constraint_column_names) FROM duckdb_constraints() "
        "WHERE schema_name = 'finops_meta' AND table_name = 'load_ledger' AND constraint_type = 'NOT NULL'"
    ).fetchall()
    for (column,) in still_required:
        if column in _NULLABLE_SINCE_REFUSALS:
            con.execute(f"ALTER TABLE {LEDGER_TABLE} ALTER COLUMN {column} DROP NOT NULL").fetchall()


def record_attempt(
    con: duckdb.DuckDBPyConnection,
    attempt: Attempt,
    status: str,
    *,
    rows: int | None = None,
    billed: Decimal | None = None,
    duration: float | None = None,
    error: str | None = None,
) -> None:
    """One ledger row; the caller owns the transaction (a load writes it with its swap)."""
    con.execute(
        f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            attempt.source,
            attempt.export,
            attempt.billing_period,
            attempt.table_name,
            attempt.manifest_uri,
            attempt.version,
            list(attempt.files),
            rows,
            billed,
            datetime.now(UTC).replace(tzinfo=None),
            duration,
            status,
            None if error is None else error[:ERROR_CHARS],
        ],
    ).fetchall()


def record_failures(warehouse_path: Path, failures: list[tuple[Attempt, str]]) -> None:
    """Record attempts refused before they reached the loader (discovery, fetching), in one transaction."""
    if not failures:
        return
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as con:
        ensure_ledger(con)
        con.execute("BEGIN TRANSACTION").fetchall()
        for attempt, error in failures:
            record_attempt(con, attempt, "failed", error=error)
        con.execute("COMMIT").fetchall()


def latest_errors(
    warehouse_path: Path, source: str, keys: list[tuple[str, date | None, str | None]]
) -> dict[tuple, str]:
    """{(export, billing period, version): the error of its newest failed attempt}, for the keys that have one
    (None matching a refusal's missing billing period or version)."""
    if not keys or not Path(warehouse_path).exists():
        return {}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        if not _ledger_exists(con):
            return {}
        rows = con.execute(
            f"SELECT export, billing_period, version, error FROM {LEDGER_TABLE} "
            "WHERE source = ? AND status = 'failed' AND list_contains(?, export) ORDER BY loaded_at",
            [source, sorted({export for export, _, _ in keys})],
        ).fetchall()
    wanted = set(keys)
    return {
        (export, period, version): error
        for export, period, version, error in rows
        if (export, period, version) in wanted
    }


def loaded_versions(warehouse_path: Path, source: str, export: str, attempts: int = 5) -> dict[date, str] | None:
    """{billing period: loaded version} read without taking the write lock.

    Returns None when the file stays locked by a writer (another DAG loading): the caller
    treats that as "cannot tell yet" and looks again on its next poke.
    """
    if not Path(warehouse_path).exists():
        return {}
    for attempt in range(attempts):
        try:
            con = duckdb.connect(str(warehouse_path), read_only=True)
        except duckdb.IOException:
            time.sleep(0.2 * (attempt + 1))
            continue
        try:
            if not _ledger_exists(con):
                return {}
            rows = con.execute(
                f"SELECT billing_period, version FROM {LEDGER_TABLE} "
                "WHERE source = ? AND export = ? AND status = 'loaded'",
                [source, export],
            ).fetchall()
            return dict(rows)
        finally:
            con.close()
    return None


def _ledger_exists(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'finops_meta' AND table_name = 'load_ledger'"
    ).fetchall()
    return found[0][0] == 1
