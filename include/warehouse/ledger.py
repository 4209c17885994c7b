"""The load ledger: one row per load attempt of (source, export, billing period).

Cloud-agnostic. The warehouse writes it in the same transaction that swaps a month in, so the
ledger and the data never disagree. `status` is `loaded` for the version in the warehouse,
`superseded` for earlier loads of that period, `failed` for refused loads (data untouched).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import duckdb

LEDGER_TABLE = "finops_meta.load_ledger"
EXPORTS_TABLE = "finops_meta.exports"  # which dataset (format) each loaded export belongs to

CREATE_LEDGER_SQL = f"""
CREATE SCHEMA IF NOT EXISTS finops_meta;
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    source          VARCHAR NOT NULL,   -- aws | azure | gcp
    export          VARCHAR NOT NULL,   -- export / report name as configured
    billing_period  DATE NOT NULL,      -- first day of the billing month
    table_name      VARCHAR,            -- schema.table holding the month
    manifest_uri    VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,   -- assemblyId / executionId / key@etag
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


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CREATE_LEDGER_SQL).fetchall()


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
