"""The load ledger: one row per load attempt of (provider, export, billing period).

Cloud-agnostic. The warehouse writes it in the same transaction that swaps a month in, so the
ledger and the data never disagree. `status` is `loaded` for the version in the warehouse,
`superseded` for earlier loads of that period, `failed` for refused loads (data untouched) —
including deliveries refused before any load, when discovery read their manifest: those rows
have no billing period when the export's folder as a whole was refused, and no version when
none could be read.

The ledger is the one record of which dataset (format) each export's months belong to. A ledger
of an earlier layout (`source`, `manifest_uri`, the dataset in a table `finops_meta.exports`,
billing period and version required) is rebuilt in this layout by the next write (`ensure_ledger`);
until then readers see it in this layout through `ledger_relation`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from include.sql import sql_identifier, sql_qualified

LEDGER_TABLE = "finops_meta.load_ledger"

# The ledger's columns, in order; NOT NULL where every attempt of every provider has a value.
LEDGER_COLUMNS = {
    "provider": "VARCHAR NOT NULL",  # aws | azure | gcp: the package under include/ that read the delivery
    "export": "VARCHAR NOT NULL",  # the export's name as configured
    # the export format's dataset id (aws_cur2, …): its view sources_<provider>.<dataset>, the mart's x_Dataset;
    # null only on a row of an earlier layout whose export never loaded (no dataset was recorded for it)
    "dataset": "VARCHAR",
    "billing_period": "DATE",  # first day of the billing month; null: the export's folder was refused as a whole
    "table_name": "VARCHAR",  # schema.table holding the month
    # what the delivery was read from: a manifest, the listing or folder read (or refused), a table partition
    # (a BigQuery export: bigquery://project/dataset/table$YYYYMM)
    "delivery_uri": "VARCHAR NOT NULL",
    "version": "VARCHAR",  # assemblyId / executionId / key@etag; null: refused before one was read
    "files": "VARCHAR[]",  # data files exactly as the delivery lists them
    "rows": "BIGINT",
    "billed_cost": "DECIMAL(38, 18)",  # Σ invoice-basis cost (AWS: line_item_unblended_cost), a checksum
    # the same Σ per billing currency, the reconciliation's source side (costs in two currencies never add up)
    "billed_cost_by_currency": "STRUCT(currency VARCHAR, billed_cost DECIMAL(38, 18))[]",
    "loaded_at": "TIMESTAMP NOT NULL",
    "duration_s": "DOUBLE",
    "status": "VARCHAR NOT NULL",  # loaded | superseded | failed
    "error": "VARCHAR",
}
_CURRENT_LAYOUT = {name: "NOT NULL" not in kind for name, kind in LEDGER_COLUMNS.items()}  # {column: nullable}
ERROR_CHARS = 2000  # of an error, the ledger keeps this many characters

# Earlier layouts: columns since renamed (current name → old name), and where each export's dataset was kept.
_RENAMED = {"provider": "source", "delivery_uri": "manifest_uri"}
_OLD_EXPORTS_TABLE = "finops_meta.exports"
_MIGRATING = "_load_ledger_migrating"
# Loads recorded before the ledger kept Σ cost per currency were all AWS's: (cost, currency) columns of their months.
_EARLIER_CURRENCY_COLUMNS = (("line_item_unblended_cost", "line_item_currency_code"), ("BilledCost", "BillingCurrency"))


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """What one load attempt was about: the ledger row's description of the delivery."""

    provider: str
    export: str
    dataset: str  # the export format's dataset id
    billing_period: date | None  # None: refused before a billing period was known (the export's folder)
    table_name: str | None
    delivery_uri: str
    version: str | None  # None: refused before a version was read
    files: tuple[str, ...]  # exactly as the delivery lists them


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """The ledger in this layout: created, or an earlier layout's rebuilt (its rows kept, in one transaction)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS finops_meta").fetchall()
    layout = _layout(con)
    if layout == _CURRENT_LAYOUT:
        return
    if not layout:
        con.execute(_create_sql(LEDGER_TABLE)).fetchall()
        return
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        con.execute(_create_sql(f"finops_meta.{_MIGRATING}")).fetchall()
        con.execute(f"INSERT INTO finops_meta.{_MIGRATING} SELECT * FROM {ledger_relation(con)}").fetchall()
        con.execute(f"DROP TABLE {LEDGER_TABLE}").fetchall()
        con.execute(f"ALTER TABLE finops_meta.{_MIGRATING} RENAME TO load_ledger").fetchall()
        con.execute(f"DROP TABLE IF EXISTS {_OLD_EXPORTS_TABLE}").fetchall()
        if "billed_cost_by_currency" not in layout:
            _sum_earlier_loads_by_currency(con)
        con.execute("COMMIT").fetchall()
    except Exception:
        con.execute("ROLLBACK").fetchall()
        raise


def ledger_relation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The ledger as a relation in this layout, whatever layout the warehouse has (None: it has no ledger).

    What every reader selects from: a read-only reader may meet a warehouse no write has migrated yet.
    """
    layout = _layout(con)
    if not layout:
        return None
    if layout == _CURRENT_LAYOUT:
        return LEDGER_TABLE
    return f"(SELECT {', '.join(_old_column_sql(con, name, layout) for name in LEDGER_COLUMNS)} FROM {LEDGER_TABLE})"


def record_attempt(
    con: duckdb.DuckDBPyConnection,
    attempt: Attempt,
    status: str,
    *,
    rows: int | None = None,
    billed: Decimal | None = None,
    billed_by_currency: dict[str | None, Decimal] | None = None,
    duration: float | None = None,
    error: str | None = None,
) -> None:
    """One ledger row; the caller owns the transaction (a load writes it with its swap)."""
    row = asdict(attempt) | {
        "files": list(attempt.files),
        "rows": rows,
        "billed_cost": billed,
        "billed_cost_by_currency": None
        if billed_by_currency is None
        else [{"currency": currency, "billed_cost": cost} for currency, cost in billed_by_currency.items()],
        "loaded_at": datetime.now(UTC).replace(tzinfo=None),
        "duration_s": duration,
        "status": status,
        "error": None if error is None else error[:ERROR_CHARS],
    }
    con.execute(
        f"INSERT INTO {LEDGER_TABLE} ({', '.join(LEDGER_COLUMNS)}) VALUES ({', '.join('?' for _ in LEDGER_COLUMNS)})",
        [row[name] for name in LEDGER_COLUMNS],
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
    warehouse_path: Path, provider: str, keys: list[tuple[str, date | None, str | None]]
) -> dict[tuple, str]:
    """{(export, billing period, version): the error of its newest failed attempt}, for the keys that have one
    (None matching a refusal's missing billing period or version)."""
    if not keys or not Path(warehouse_path).exists():
        return {}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        ledger = ledger_relation(con)
        if ledger is None:
            return {}
        rows = con.execute(
            f"SELECT export, billing_period, version, error FROM {ledger} "
            "WHERE provider = ? AND status = 'failed' AND list_contains(?, export) ORDER BY loaded_at",
            [provider, sorted({export for export, _, _ in keys})],
        ).fetchall()
    wanted = set(keys)
    return {
        (export, period, version): error
        for export, period, version, error in rows
        if (export, period, version) in wanted
    }


def loaded_versions(warehouse_path: Path, provider: str, export: str, attempts: int = 5) -> dict[date, str] | None:
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
            ledger = ledger_relation(con)
            if ledger is None:
                return {}
            rows = con.execute(
                f"SELECT billing_period, version FROM {ledger} WHERE provider = ? AND export = ? AND status = 'loaded'",
                [provider, export],
            ).fetchall()
            return dict(rows)
        finally:
            con.close()
    return None


def _sum_earlier_loads_by_currency(con: duckdb.DuckDBPyConnection) -> None:
    """Σ cost per currency of each loaded month recorded before the ledger kept it, from its month table."""
    loaded = con.execute(f"SELECT DISTINCT table_name FROM {LEDGER_TABLE} WHERE status = 'loaded'").fetchall()
    for (table,) in loaded:
        schema, name = table.split(".", 1)
        columns = {
            column
            for (column,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, name]
            ).fetchall()
        }
        pair = next((pair for pair in _EARLIER_CURRENCY_COLUMNS if set(pair) <= columns), None)
        if pair is None:
            continue
        cost, currency = (sql_identifier(column) for column in pair)
        con.execute(
            f"UPDATE {LEDGER_TABLE} SET billed_cost_by_currency = ("
            f"SELECT coalesce(list({{'currency': currency, 'billed_cost': cost}} ORDER BY currency), []) FROM ("
            f"SELECT {currency} AS currency, sum({cost}::DECIMAL(38, 18)) AS cost "
            f"FROM {sql_qualified(schema, name)} GROUP BY ALL)) WHERE status = 'loaded' AND table_name = ?",
            [table],
        ).fetchall()


def _create_sql(table: str) -> str:
    return f"CREATE TABLE {table} ({', '.join(f'{name} {kind}' for name, kind in LEDGER_COLUMNS.items())})"


def _layout(con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    """The ledger's {column: nullable} in this warehouse; empty: no ledger."""
    rows = con.execute(
        "SELECT column_name, is_nullable FROM duckdb_columns() "
        "WHERE schema_name = 'finops_meta' AND table_name = 'load_ledger' ORDER BY column_index"
    ).fetchall()
    return dict(rows)


def _old_column_sql(con: duckdb.DuckDBPyConnection, name: str, layout: dict[str, bool]) -> str:
    """A column of this layout, selected from a ledger of an earlier one."""
    if name in layout:
        return name
    if _RENAMED.get(name) in layout:
        return f"{_RENAMED[name]} AS {name}"
    if name == "dataset" and _table_exists(con, _OLD_EXPORTS_TABLE):
        provider = "provider" if "provider" in layout else _RENAMED["provider"]
        return (
            f"(SELECT exports.dataset FROM {_OLD_EXPORTS_TABLE} AS exports "
            f"WHERE exports.source = load_ledger.{provider} AND exports.export = load_ledger.export) AS dataset"
        )
    return f"NULL::{LEDGER_COLUMNS[name].removesuffix(' NOT NULL')} AS {name}"


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return found[0][0] == 1
