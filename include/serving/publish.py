"""The serving layer: Parquet files that dashboards read while the pipeline writes the warehouse.

DuckDB lets one process write a database file or many read it, never both at once, and
Metabase's DuckDB driver keeps its file open. So dashboards never open the warehouse: after
dbt, the publish task copies what they need into plain Parquet files under the serving folder,

    <serving>/cost_and_usage/billing_period=YYYY-MM/part.parquet   one file per billing month
    <serving>/load_ledger.parquet                                    the load ledger
    <serving>/focus_validation.parquet                               focus-validator verdicts, newest last

and readers see them through views in an in-memory DuckDB (`serving_init_sql`, which is also
Metabase's `init_sql`). Each file is written beside its final name and renamed over it, which
is atomic on POSIX: a reader sees a month's old file or its new one, never part of either, and
takes no lock a writer could wait on. Parquet also decouples versions: the Metabase driver's
DuckDB may be older than ours and still reads these files.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

MART = "focus.cost_and_usage"
LEDGER = "finops_meta.load_ledger"
COST_AND_USAGE_DIR = "cost_and_usage"
PART_FILE = "part.parquet"
LEDGER_FILE = "load_ledger.parquet"
VALIDATION_FILE = "focus_validation.parquet"
VALIDATION_HISTORY = 500  # verdicts kept; one per DAG run that rebuilt months
# When one billing account's month arrives through several exports (a CUR → CUR 2.0 migration,
# or a FOCUS export beside a CUR), dashboards read one of them, in this order, so no cost counts twice.
DATASET_PREFERENCE = ("focus1_2", "cur2", "cur1")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PARQUET_OPTIONS = "(FORMAT parquet, COMPRESSION zstd)"

VALIDATION_COLUMNS = {
    "validated_at": "TIMESTAMP",
    "billing_periods": "VARCHAR",
    "status": "VARCHAR",  # passed | failed | not run
    "rules_evaluated": "INTEGER",
    "rules_failed_allowlisted": "INTEGER",
    "rules_failed_unexpected": "INTEGER",
    "rules_skipped": "INTEGER",
    "verdict": "VARCHAR",
}


@dataclass(frozen=True)
class PublishResult:
    months: dict[str, int]  # billing period → rows served (0: the month was withdrawn)
    ledger_rows: int


def serving_init_sql(serving_root: Path | str) -> str:
    """Views over the serving files, for an in-memory DuckDB (Metabase's `init_sql`, tests, the report).

    `serving_root` is the folder as the reader sees it: inside Metabase's container it is where
    the folder is mounted, not where Airflow wrote it.
    """
    root = str(serving_root).rstrip("/")
    months = _sql_string(f"{root}/{COST_AND_USAGE_DIR}/*/*.parquet")
    return (
        "CREATE OR REPLACE VIEW cost_and_usage AS SELECT * FROM read_parquet("
        f"{months}, hive_partitioning = true, hive_types = {{'billing_period': VARCHAR}}, union_by_name = true); "
        f"CREATE OR REPLACE VIEW load_ledger AS SELECT * FROM read_parquet({_sql_string(f'{root}/{LEDGER_FILE}')}); "
        "CREATE OR REPLACE VIEW focus_validation AS SELECT * FROM "
        f"read_parquet({_sql_string(f'{root}/{VALIDATION_FILE}')});"
    )


def connect_serving(serving_root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the serving views, as Metabase's connection has them."""
    con = duckdb.connect(":memory:")
    con.execute(serving_init_sql(serving_root)).fetchall()
    return con


def publish(warehouse_path: Path, serving_root: Path, billing_periods: Iterable[str]) -> PublishResult:
    """Serve the given months (and any month of the mart not served yet) and the load ledger.

    Reads the warehouse read-only; run it where no writer holds the file (the writer pool).
    """
    serving_root = Path(serving_root)
    requested = {_checked_month(month) for month in billing_periods}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        months = sorted(requested | (_mart_months(con) - served_months(serving_root)))
        served = {month: _publish_month(con, serving_root, month) for month in months}
        ledger_rows = _publish_ledger(con, serving_root)
    _ensure_validation_file(serving_root)
    return PublishResult(months=served, ledger_rows=ledger_rows)


def served_months(serving_root: Path) -> set[str]:
    folder = Path(serving_root) / COST_AND_USAGE_DIR
    return {part.parent.name.removeprefix("billing_period=") for part in folder.glob(f"billing_period=*/{PART_FILE}")}


def publish_validation(serving_root: Path, verdict: dict) -> None:
    """Append one validator verdict (keys of VALIDATION_COLUMNS) to the served history."""
    target = Path(serving_root) / VALIDATION_FILE
    _ensure_validation_file(serving_root)
    row = [verdict.get(column) for column in VALIDATION_COLUMNS]
    row[0] = row[0] or datetime.now(UTC).replace(tzinfo=None)  # validated_at
    placeholders = ", ".join(f"?::{kind}" for kind in VALIDATION_COLUMNS.values())
    with duckdb.connect(":memory:") as con:
        con.execute(
            f"CREATE TABLE history AS SELECT * FROM read_parquet({_sql_string(target)}) "
            f"UNION ALL BY NAME SELECT * FROM (VALUES ({placeholders})) AS v({', '.join(VALIDATION_COLUMNS)})",
            row,
        ).fetchall()
        newest = f"SELECT * FROM history ORDER BY validated_at DESC LIMIT {VALIDATION_HISTORY}"
        _copy_atomically(con, f"SELECT * FROM ({newest}) ORDER BY validated_at", target)


def _publish_month(con: duckdb.DuckDBPyConnection, serving_root: Path, month: str) -> int:
    target = serving_root / COST_AND_USAGE_DIR / f"billing_period={month}" / PART_FILE
    rows = _copy_atomically(con, _served_rows_sql(month), target)
    if rows == 0:  # the month left the mart: stop serving it
        target.unlink()
    return rows


def _served_rows_sql(month: str) -> str:
    """One export per provider, billing account and month (DATASET_PREFERENCE), all its rows."""
    period = f"DATE '{month}-01'"
    preference = ", ".join(_sql_string(dataset) for dataset in DATASET_PREFERENCE)
    return f"""
        WITH exports AS (
            SELECT DISTINCT ProviderName, BillingAccountId, x_ExportName, x_Dataset
            FROM {MART} WHERE x_BillingPeriod = {period}
        ), chosen AS (
            SELECT ProviderName, BillingAccountId, x_ExportName FROM exports
            QUALIFY row_number() OVER (
                PARTITION BY ProviderName, BillingAccountId
                ORDER BY coalesce(list_position([{preference}], regexp_extract(x_Dataset, '^[a-z]+_(.+)$', 1)), 99),
                         x_ExportName
            ) = 1
        )
        SELECT mart.* FROM {MART} AS mart
        JOIN chosen USING (ProviderName, BillingAccountId, x_ExportName)
        WHERE mart.x_BillingPeriod = {period}
    """


def _publish_ledger(con: duckdb.DuckDBPyConnection, serving_root: Path) -> int:
    query = f"""
        SELECT source, export, strftime(billing_period, '%Y-%m') AS billing_period, status, version,
               rows, billed_cost, loaded_at, duration_s, manifest_uri, table_name, error
        FROM {LEDGER} ORDER BY loaded_at
    """
    return _copy_atomically(con, query, serving_root / LEDGER_FILE)


def _ensure_validation_file(serving_root: Path) -> None:
    """An empty verdict history until the first validation, so the serving views always bind."""
    target = Path(serving_root) / VALIDATION_FILE
    if target.exists():
        return
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in VALIDATION_COLUMNS.items())
    with duckdb.connect(":memory:") as con:
        _copy_atomically(con, f"SELECT {columns} LIMIT 0", target)


def _copy_atomically(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    """Write the query's result to `target` so readers see the old file or the new one, never a part.

    Returns the rows written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target (same file system, so the rename is atomic) and not matching `*.parquet`.
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        [(rows,)] = con.execute(f"COPY ({query}) TO {_sql_string(temporary)} {_PARQUET_OPTIONS}").fetchall()
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
        return rows
    finally:
        temporary.unlink(missing_ok=True)


def _mart_months(con: duckdb.DuckDBPyConnection) -> set[str]:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'focus' AND table_name = 'cost_and_usage'"
    ).fetchall()[0][0]
    if not exists:
        return set()
    rows = con.execute(f"SELECT DISTINCT strftime(x_BillingPeriod, '%Y-%m') FROM {MART}").fetchall()
    return {month for (month,) in rows}


def _checked_month(month: str) -> str:
    if not _MONTH.match(month):
        raise ValueError(f"billing period {month!r} must be YYYY-MM")
    return month


def _sql_string(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"
