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

The validation gate: a billing month is served only when its latest verdict is "passed", or "not
run" (no validator where it ran) with no "failed" or "error" verdict since the month's last "passed";
and only while the mart holds what that verdict saw. Each verdict keeps, per month, a fingerprint of
the rows it judged (`month_fingerprints`; focus-validator's is taken in the read-only connection that
exported them to it); a month whose rows differ now (another run rebuilt it after this run validated
it) is held back as "changed since validation". A month held back, or never validated, keeps what was served
before, if anything, until a run validates what the mart holds.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from include.settings import AWS_DATASETS

MART = "focus.cost_and_usage"
LEDGER = "finops_meta.load_ledger"
COST_AND_USAGE_DIR = "cost_and_usage"
PART_FILE = "part.parquet"
LEDGER_FILE = "load_ledger.parquet"
VALIDATION_FILE = "focus_validation.parquet"
VALIDATION_HISTORY = 500  # verdicts kept; one per DAG run that rebuilt months
PASSED, NOT_RUN = "passed", "not run"  # the statuses that may serve a month (see the module's docstring)
NOT_VALIDATED = "not validated"  # why a month no verdict covers is held back
CHANGED_SINCE_VALIDATION = "changed since validation"  # why a month whose rows are not those validated is held back
# When one billing account's month arrives through several exports (a CUR → CUR 2.0 migration,
# or a FOCUS export beside a CUR), dashboards read one of them, in this order, so no cost counts twice.
DATASET_PREFERENCE = tuple(AWS_DATASETS[fmt] for fmt in ("focus1.2", "focus1.0", "cur2", "cur1"))  # x_Dataset values
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PARQUET_OPTIONS = "(FORMAT parquet, COMPRESSION zstd)"

VALIDATION_COLUMNS = {
    "validated_at": "TIMESTAMP",
    "billing_periods": "VARCHAR",
    "status": "VARCHAR",  # passed | failed | error (the validation did not finish) | not run (not installed)
    "rules_evaluated": "INTEGER",
    "rules_failed_allowlisted": "INTEGER",
    "rules_failed_unexpected": "INTEGER",
    "rules_skipped": "INTEGER",
    "verdict": "VARCHAR",
    "failing_rules": "VARCHAR",  # one line per unexpected failure: rule, its text, the validator's findings
    "report_path": "VARCHAR",  # the folder holding the validator's report of this run
    "fingerprints": "MAP(VARCHAR, VARCHAR)",  # billing period → what the mart held when judged (month_fingerprints)
}
# One billing month's fingerprint (month_fingerprints), e.g.
# "3 rows; BilledCost 4.05; EffectiveCost 4.05; aws_cur2/payer/2025-01 manifest 7f3c…".
_FINGERPRINT = """format('{} rows; BilledCost {}; EffectiveCost {}; {}', count(*), sum(BilledCost), sum(EffectiveCost),
    array_to_string(list_sort(list(DISTINCT
        concat(x_SourcePartition, ' manifest ', coalesce(x_ManifestVersion, 'none')))), ', '))"""
_EMPTY_MONTH = "0 rows"  # the fingerprint of a month the mart has no rows of


@dataclass(frozen=True)
class PublishResult:
    months: dict[str, int]  # billing period → rows served (0: the month was withdrawn)
    ledger_rows: int
    held_back: dict[str, str] = field(default_factory=dict)  # billing period → why (see MonthVerdict.held_back)


@dataclass(frozen=True)
class MonthVerdict:
    """A billing month's standing in the verdict history."""

    status: str  # its latest verdict's
    held_back: str | None  # why that verdict does not let the month be served: its status, or "not run after failed"
    fingerprint: str | None  # what the mart held for the month when that verdict was given


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
        f"read_parquet({_sql_string(f'{root}/{VALIDATION_FILE}')}); "
        f"CREATE OR REPLACE VIEW validation_by_month AS {_validation_by_month_sql('focus_validation')};"
    )


def connect_serving(serving_root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the serving views, as Metabase's connection has them."""
    con = duckdb.connect(":memory:")
    con.execute(serving_init_sql(serving_root)).fetchall()
    return con


def publish(warehouse_path: Path, serving_root: Path, billing_periods: Iterable[str]) -> PublishResult:
    """Serve the given months and any month of the mart not served yet, each only if the validation
    gate lets it through (see the module's docstring); and the load ledger.

    A month held back keeps what was served before; a month never validated is held back too.
    Reads the warehouse read-only; run it where no writer holds the file (the writer pool).
    """
    serving_root = Path(serving_root)
    requested = {_checked_month(month) for month in billing_periods}
    _ensure_validation_file(serving_root)
    verdicts = latest_verdicts(serving_root)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        candidates = requested | (_mart_months(con) - served_months(serving_root))
        held_back = {
            month: verdicts[month].held_back if month in verdicts else NOT_VALIDATED
            for month in candidates
            if month not in verdicts or verdicts[month].held_back
        }
        judged = sorted(candidates.difference(held_back))
        for month, fingerprint in month_fingerprints(con, judged).items():
            if fingerprint != verdicts[month].fingerprint:
                held_back[month] = CHANGED_SINCE_VALIDATION
        served = {month: _publish_month(con, serving_root, month) for month in judged if month not in held_back}
        ledger_rows = _publish_ledger(con, serving_root)
    return PublishResult(months=served, ledger_rows=ledger_rows, held_back=dict(sorted(held_back.items())))


def month_fingerprints(con: duckdb.DuckDBPyConnection, billing_periods: Iterable[str] | None) -> dict[str, str]:
    """What the mart holds for each given month (None: each month it has): its rows, Σ BilledCost,
    Σ EffectiveCost and its source partitions with their manifest versions.

    A verdict keeps these so that publishing can tell whether the rows it would serve are the rows judged.
    """
    if billing_periods is None:
        rows = con.execute(f"SELECT strftime(x_BillingPeriod, '%Y-%m'), {_FINGERPRINT} FROM {MART} GROUP BY ALL")
        return dict(rows.fetchall())
    months = sorted({_checked_month(month) for month in billing_periods})
    if not months:
        return {}
    rows = con.execute(
        f"SELECT strftime(x_BillingPeriod, '%Y-%m'), {_FINGERPRINT} FROM {MART} "
        "WHERE x_BillingPeriod IN (SELECT unnest(?::DATE[])) GROUP BY ALL",
        [[f"{month}-01" for month in months]],
    ).fetchall()
    found = dict(rows)
    return {month: found.get(month, _EMPTY_MONTH) for month in months}


def latest_verdicts(serving_root: Path) -> dict[str, MonthVerdict]:
    """Each billing month's standing in the served verdict history (with every column: `_ensure_validation_file`)."""
    history = Path(serving_root) / VALIDATION_FILE
    if not history.exists():
        return {}
    with duckdb.connect(":memory:") as con:
        query = _validation_by_month_sql(f"read_parquet({_sql_string(history)})")
        rows = con.execute(f"SELECT billing_period, status, held_back_reason, fingerprints FROM ({query})").fetchall()
    return {
        month: MonthVerdict(status, reason, (fingerprints or {}).get(month))
        for month, status, reason, fingerprints in rows
    }


def _validation_by_month_sql(history: str) -> str:
    """The latest verdict on each billing month in `history`, and whether (and why) that holds the month back.

    `last_checked` is the month's latest verdict other than "not run": a "not run" serves the month
    only if that is "passed", or if the month was never checked.
    """
    passed, not_run = _sql_string(PASSED), _sql_string(NOT_RUN)
    return f"""
        SELECT * EXCLUDE (last_checked, held_back_reason), held_back_reason IS NOT NULL AS held_back, held_back_reason
        FROM (
            SELECT *, CASE
                WHEN status = {passed} OR (status = {not_run} AND coalesce(last_checked, {passed}) = {passed}) THEN NULL
                WHEN status = {not_run} THEN status || ' after ' || last_checked
                ELSE coalesce(status, 'no status')
            END AS held_back_reason
            FROM (
                SELECT *, arg_max(status, validated_at) FILTER (WHERE status <> {not_run})
                              OVER (PARTITION BY billing_period) AS last_checked
                FROM (
                    SELECT unnest(string_split(billing_periods, ',')) AS billing_period, * EXCLUDE (billing_periods)
                    FROM {history}
                )
                WHERE billing_period <> ''
                QUALIFY row_number() OVER (PARTITION BY billing_period ORDER BY validated_at DESC) = 1
            )
        )
    """


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
                ORDER BY coalesce(list_position([{preference}], x_Dataset), 99),
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
    """An empty verdict history until the first validation, and every column of VALIDATION_COLUMNS in
    a history written by an older version, so the serving views always bind."""
    target = Path(serving_root) / VALIDATION_FILE
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in VALIDATION_COLUMNS.items())
    with duckdb.connect(":memory:") as con:
        if not target.exists():
            _copy_atomically(con, f"SELECT {columns} LIMIT 0", target)
            return
        history = f"read_parquet({_sql_string(target)})"
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {history}").fetchall()}
        if not present.issuperset(VALIDATION_COLUMNS):
            _copy_atomically(con, f"SELECT * FROM {history} UNION ALL BY NAME (SELECT {columns} LIMIT 0)", target)


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
