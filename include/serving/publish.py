"""The serving layer: Parquet files that dashboards read while the pipeline writes the warehouse.

DuckDB lets one process write a database file or many read it, never both at once, and
Metabase's DuckDB driver keeps its file open. So dashboards never open the warehouse: after
dbt, the publish task copies what they need into plain Parquet files under the serving folder,

    <serving>/cost_and_usage/billing_period=YYYY-MM/part-<version>.parquet   versions of each billing month
    <serving>/load_ledger/part-<version>.parquet                             versions of the load ledger, each
                                                                             loaded month with its source's Σ cost
                                                                             per currency (billed_cost_by_currency)
    <serving>/focus_validation/part-<version>.parquet                        of the focus-validator verdicts

and readers see the newest version in each folder through views in an in-memory DuckDB
(`serving_init_sql`, which is also Metabase's `init_sql`). Readers take no lock a writer could wait
on, and Parquet decouples versions: the Metabase driver's DuckDB may be older than ours.

Readers never fail during a publish and see each month whole, as it was or as it is now. One DuckDB
query opens a file several times (to bind, to plan, to scan), so renaming a new file over the old
one is not enough: a query could read the old file's footer and the new file's bytes. So:
- A version, once written, never changes. A publish writes a new version under a name never used
  before (hidden while written, then renamed), and version names sort newest first:
  `part-<10^20 - 1 - publish time in ns>.parquet`.
- The views list the version names with `read_blob`, which opens no file, take the first name in
  each folder and join the Parquet rows to it by file name: DuckDB then opens no other version (the
  join filters the files before the scan opens them; `_newest_versions_sql` says what keeps that so;
  tests check it in our DuckDB and in `.venv-focus`'s DuckDB 1.5.x, 1.5.6 when written; the Metabase
  driver's is 1.5.5). The names are listed before the Parquet scan lists its files, so the chosen
  version is one the scan has.
- The scan takes its columns from the first file it lists (`union_by_name` would open every
  version), the newest version of the oldest month; so every month has the same columns. Served
  columns only grow: a column the mart gains is added to every month, the oldest month last (until
  then readers do not see it); a column the mart loses stays, empty.
- A superseded version is deleted by a later publish once a grace period has passed since it was
  superseded (`FINOPS_SERVING_GRACE_SECONDS`, default 600): queries started since never open it,
  and a query that started before has finished by then (one running longer than that may fail).
- A month with no rows left gets an empty version, `part-<version>-withdrawn.parquet`, which is kept:
  the month stops being served, and its older versions go like any superseded ones.
- A killed publish leaves at most a hidden `.part-*.tmp`, deleted by a publish after the grace period.

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
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from include.periods import checked_month
from include.settings import PROJECT_ROOT, serving_grace_s
from include.sql import sql_identifier, sql_literal
from include.warehouse.ledger import LEDGER_TABLE, ledger_relation

MART = "focus.cost_and_usage"
COST_AND_USAGE_DIR = "cost_and_usage"
LEDGER_DIR = "load_ledger"
VALIDATION_DIR = "focus_validation"
# Before versions: one file per month (`billing_period=YYYY-MM/part.parquet`, read as a month's oldest
# version) and these two, which the first publish replaces.
LEGACY_FILES = {LEDGER_DIR: "load_ledger.parquet", VALIDATION_DIR: "focus_validation.parquet"}
VALIDATION_HISTORY = 500  # verdicts kept; one per DAG run that rebuilt months
PASSED, NOT_RUN = "passed", "not run"  # the statuses that may serve a month (see the module's docstring)
NOT_VALIDATED = "not validated"  # why a month no verdict covers is held back
CHANGED_SINCE_VALIDATION = "changed since validation"  # why a month whose rows are not those validated is held back
# When one billing account's month arrives through several exports (a CUR → CUR 2.0 migration, or a FOCUS
# export beside a CUR), dashboards read the export whose dataset ranks first in this dbt seed (`serving_rank`,
# lowest first), so no cost counts twice. dbt loads the same file (reference.datasets): a provider's new
# dataset is a row there.
DATASETS_SEED = PROJECT_ROOT / "dbt" / "seeds" / "datasets.csv"
# the seed's, in order
_DATASETS_COLUMNS = {"dataset": "VARCHAR", "provider": "VARCHAR", "serving_rank": "INTEGER", "cost_basis": "VARCHAR"}
_PARQUET_OPTIONS = "(FORMAT parquet, COMPRESSION zstd)"
_VERSIONS = "part*.parquet"  # a folder's versions, and a month's part.parquet from before versions (sorts last)
_VERSION = re.compile(r"part-(\d{20})(-withdrawn)?\.parquet")
_NEWEST_FIRST = 10**20 - 1  # a version's number is this minus its publish time in ns
_MOST_FOLDERS = 100_000  # more served folders than this and a reader's join would open superseded versions
_SCAN_CARDINALITY = 10**12  # what the views tell DuckDB a scan returns (see _newest_versions_sql)

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
    """Views over the newest serving files, for an in-memory DuckDB (Metabase's `init_sql`, tests, the report).

    `serving_root` is the folder as the reader sees it: inside Metabase's container it is where
    the folder is mounted, not where Airflow wrote it.
    """
    root = str(serving_root).rstrip("/")
    hive = "hive_partitioning = true, hive_types = {'billing_period': VARCHAR}"
    months = _newest_versions_sql(f"{root}/{COST_AND_USAGE_DIR}/*/{_VERSIONS}", hive)
    ledger = _newest_versions_sql(f"{root}/{LEDGER_DIR}/{_VERSIONS}", "hive_partitioning = false")
    validation = _newest_versions_sql(f"{root}/{VALIDATION_DIR}/{_VERSIONS}", "hive_partitioning = false")
    return (
        f"SET dynamic_or_filter_threshold = {_MOST_FOLDERS}; "
        f"CREATE OR REPLACE VIEW cost_and_usage AS {months}; "
        f"CREATE OR REPLACE VIEW load_ledger AS {ledger}; "
        f"CREATE OR REPLACE VIEW focus_validation AS {validation}; "
        f"CREATE OR REPLACE VIEW validation_by_month AS {_validation_by_month_sql('focus_validation')};"
    )


def _newest_versions_sql(versions: str, options: str) -> str:
    """The rows of the newest version in each folder `versions` matches, opening no other version.

    The names are listed first (bound first), then the scan's files; the join filters the scan's
    files by name before it opens them, which takes the names on the join's build side (the scan's
    cardinality is set above any folder count, even when the first file it lists is empty) and a
    filter of every name, not a range (`dynamic_or_filter_threshold`, set in `serving_init_sql`).
    """
    files = sql_literal(versions)
    return (
        "SELECT served.* EXCLUDE (filename) FROM "
        f"(SELECT min(filename) AS filename FROM read_blob({files}) GROUP BY parse_dirpath(filename)) AS newest "
        f"JOIN read_parquet({files}, {options}, filename = true, explicit_cardinality = {_SCAN_CARDINALITY}) "
        "AS served USING (filename)"
    )


def connect_serving(serving_root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the serving views, as Metabase's connection has them."""
    con = duckdb.connect(":memory:")
    con.execute(serving_init_sql(serving_root)).fetchall()
    return con


def publish(
    warehouse_path: Path, serving_root: Path, billing_periods: Iterable[str], grace_s: float | None = None
) -> PublishResult:
    """Serve the given months and any month of the mart not served yet, each only if the validation
    gate lets it through (see the module's docstring); and the load ledger. Then delete the versions
    superseded longer than `grace_s` ago (None: `serving_grace_s()`).

    A month held back keeps what was served before; a month never validated is held back too.
    Reads the warehouse read-only; run it where no writer holds the file (the writer pool).
    """
    serving_root = Path(serving_root)
    requested = {checked_month(month) for month in billing_periods}
    _ensure_validation_history(serving_root)
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
        served = _publish_months(con, serving_root, [month for month in judged if month not in held_back])
        ledger_rows = _publish_ledger(con, serving_root)
    sweep_superseded(serving_root, grace_s)
    return PublishResult(months=served, ledger_rows=ledger_rows, held_back=dict(sorted(held_back.items())))


def month_fingerprints(con: duckdb.DuckDBPyConnection, billing_periods: Iterable[str] | None) -> dict[str, str]:
    """What the mart holds for each given month (None: each month it has): its rows, Σ BilledCost,
    Σ EffectiveCost and its source partitions with their manifest versions.

    A verdict keeps these so that publishing can tell whether the rows it would serve are the rows judged.
    """
    if billing_periods is None:
        rows = con.execute(f"SELECT strftime(x_BillingPeriod, '%Y-%m'), {_FINGERPRINT} FROM {MART} GROUP BY ALL")
        return dict(rows.fetchall())
    months = sorted({checked_month(month) for month in billing_periods})
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
    """Each billing month's standing in the served verdict history (with every column: `_ensure_validation_history`)."""
    history = newest_version(Path(serving_root) / VALIDATION_DIR)
    if history is None:
        return {}
    with duckdb.connect(":memory:") as con:
        query = _validation_by_month_sql(_read_version(history))
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
    passed, not_run = sql_literal(PASSED), sql_literal(NOT_RUN)
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
    """The months served now: their newest version is not a withdrawal."""
    return {month for month, newest in _newest_month_versions(Path(serving_root)).items() if not _is_withdrawal(newest)}


def newest_version(folder: Path) -> Path | None:
    """The version readers see in one serving folder (a month's, `LEDGER_DIR`, `VALIDATION_DIR`), if any."""
    return min(folder.glob(_VERSIONS), key=lambda path: path.name, default=None)


def publish_validation(serving_root: Path, verdict: dict, grace_s: float | None = None) -> None:
    """Append one validator verdict (keys of VALIDATION_COLUMNS) to the served history, as its new version."""
    serving_root = Path(serving_root)
    _ensure_validation_history(serving_root)
    row = [verdict.get(column) for column in VALIDATION_COLUMNS]
    row[0] = row[0] or datetime.now(UTC).replace(tzinfo=None)  # validated_at
    placeholders = ", ".join(f"?::{kind}" for kind in VALIDATION_COLUMNS.values())
    with duckdb.connect(":memory:") as con:
        con.execute(
            f"CREATE TABLE history AS SELECT * FROM {_read_version(newest_version(serving_root / VALIDATION_DIR))} "
            f"UNION ALL BY NAME SELECT * FROM (VALUES ({placeholders})) AS v({', '.join(VALIDATION_COLUMNS)})",
            row,
        ).fetchall()
        newest = f"SELECT * FROM history ORDER BY validated_at DESC LIMIT {VALIDATION_HISTORY}"
        _write_version(con, f"SELECT * FROM ({newest}) ORDER BY validated_at", serving_root / VALIDATION_DIR)
    sweep_superseded(serving_root, grace_s)


def sweep_superseded(serving_root: Path, grace_s: float | None = None) -> list[Path]:
    """Delete each version superseded more than `grace_s` ago (None: `serving_grace_s()`), the temporary
    files of a killed publish as old, and the files from before versions once replaced. Returns what it deleted."""
    serving_root = Path(serving_root)
    grace_ns = int((serving_grace_s() if grace_s is None else grace_s) * 1e9)
    now = time.time_ns()
    deleted = []
    folders = [serving_root / LEDGER_DIR, serving_root / VALIDATION_DIR]
    for folder in [*folders, *sorted((serving_root / COST_AND_USAGE_DIR).glob("billing_period=*"))]:
        versions = sorted(folder.glob(_VERSIONS), key=lambda path: path.name)
        for newer, older in zip(versions, versions[1:], strict=False):
            superseded_at = _published_ns(newer)  # when `older` stopped being the newest
            if superseded_at is not None and now - superseded_at > grace_ns:
                deleted.append(older)
        deleted += [temporary for temporary in folder.glob(".part-*.tmp") if _age_ns(temporary, now) > grace_ns]
    for folder, legacy in LEGACY_FILES.items():
        replaced = serving_root / legacy
        if replaced.exists() and newest_version(serving_root / folder) and _age_ns(replaced, now) > grace_ns:
            deleted.append(replaced)
    for path in deleted:
        path.unlink(missing_ok=True)
    return deleted


def _publish_months(con: duckdb.DuckDBPyConnection, serving_root: Path, months: list[str]) -> dict[str, int]:
    """A new version of each month from the mart (no rows: withdrawn), and every other month brought to the
    same columns, the oldest month last (see the module's docstring). Returns the rows of each month."""
    if not months:
        return {}
    newest = _newest_month_versions(serving_root)
    mart = _columns(con, f"SELECT * FROM {MART}")
    served = _columns(con, f"SELECT * FROM {_read_version(newest[min(newest)])}") if newest else []
    columns = served + [(name, kind) for name, kind in mart if name not in dict(served)]
    behind = {  # months whose columns are not those: written by an older version of the mart
        month: present
        for month, version in newest.items()
        if month not in months and (present := _columns(con, f"SELECT * FROM {_read_version(version)}")) != columns
    }
    rows = {}
    for month in sorted(behind.keys() | set(months), reverse=True):
        folder = serving_root / COST_AND_USAGE_DIR / f"billing_period={month}"
        if month in behind:
            query = _conformed(_read_version(newest[month]), dict(behind[month]), columns)
            _write_version(con, query, folder, withdrawal=_is_withdrawal(newest[month]))
            continue
        with _temporary_file(folder) as temporary:
            rows[month] = _copy(con, _conformed(f"({_served_rows_sql(month)})", dict(mart), columns), temporary)
            if rows[month] or month in served_months(serving_root):  # no rows and not served: nothing to withdraw
                _install(temporary, folder, withdrawal=rows[month] == 0)
        if not any(folder.iterdir()):
            folder.rmdir()
    return dict(sorted(rows.items()))


def _conformed(source: str, present: dict[str, str], columns: list[tuple[str, str]]) -> str:
    """`source`'s rows with exactly `columns` (name, type), in that order: a column it lacks is NULL."""
    select = ", ".join(
        f"CAST({sql_identifier(name) if name in present else 'NULL'} AS {kind}) AS {sql_identifier(name)}"
        for name, kind in columns
    )
    return f"SELECT {select} FROM {source}"


def serving_ranks() -> dict[str, int]:
    """{dataset: serving rank} from the datasets seed (DATASETS_SEED); of one account's exports the lowest is served."""
    return {dataset: rank for dataset, (_, rank) in serving_groups().items()}


def serving_groups() -> dict[str, tuple[str, int]]:
    """{dataset: (provider, serving rank)}: datasets of one provider and rank describe a billing account's month
    together (Azure's actual and amortized cost, paired row by row in dbt), so they are served together, and
    rebuilt together (`include.orchestration.focus_models.focus_build_plan`)."""
    with duckdb.connect(":memory:") as con:
        rows = con.execute(f"SELECT dataset, provider, serving_rank FROM {_datasets_sql()}").fetchall()
    return {dataset: (provider, rank) for dataset, provider, rank in rows}


def _datasets_sql() -> str:
    columns = ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in _DATASETS_COLUMNS.items())
    return f"read_csv({sql_literal(str(DATASETS_SEED))}, header = true, columns = {{{columns}}})"


def _served_rows_sql(month: str) -> str:
    """Per provider, billing account and month, the rows of its best-ranked datasets (`serving_groups`: Azure's
    actual and amortized cost share a rank), one export of each: the first by name (two exports of one dataset
    for one account hold the same costs). A dataset the seed does not rank comes last."""
    period = f"DATE {sql_literal(f'{month}-01')}"
    return f"""
        WITH exports AS (
            SELECT DISTINCT ProviderName, BillingAccountId, x_ExportName, x_Dataset
            FROM {MART} WHERE x_BillingPeriod = {period}
        ), chosen AS (
            SELECT ProviderName, BillingAccountId, x_ExportName
            FROM exports LEFT JOIN {_datasets_sql()} AS datasets ON datasets.dataset = exports.x_Dataset
            QUALIFY rank() OVER (
                PARTITION BY ProviderName, BillingAccountId ORDER BY datasets.serving_rank NULLS LAST
            ) = 1
            AND row_number() OVER (PARTITION BY ProviderName, BillingAccountId, x_Dataset ORDER BY x_ExportName) = 1
        )
        SELECT mart.* FROM {MART} AS mart
        JOIN chosen USING (ProviderName, BillingAccountId, x_ExportName)
        WHERE mart.x_BillingPeriod = {period}
    """


def _publish_ledger(con: duckdb.DuckDBPyConnection, serving_root: Path) -> int:
    """The load ledger; a loaded month keeps its billed cost per currency (the loader's sums), the FOCUS column
    that cost reconciles to (`cost_basis`, from the datasets seed) and what it is reconciled with
    (`reconciled_as`): its export alone, or, where its dataset is served with others (Azure's actual and
    amortized cost, `serving_groups`: dbt pairs their rows), every such export holding a billing account of
    its month in the mart — an enrollment's actual and amortized exports reconcile together, another
    enrollment's apart."""
    ledger = ledger_relation(con) or LEDGER_TABLE  # none: DuckDB's error names the missing table
    # before dbt's first build there is no mart, so no export has partners yet
    mart = MART if _has_mart(con) else _NO_MART
    query = f"""
        WITH datasets AS (
            SELECT *, count(*) OVER (PARTITION BY provider, serving_rank) AS served_together FROM {_datasets_sql()}
        ), accounts AS (
            SELECT DISTINCT x_ExportName AS export, x_BillingPeriod AS billing_period, ProviderName, BillingAccountId
            FROM {mart} WHERE x_Dataset IN (SELECT dataset FROM datasets WHERE served_together > 1)
        ), partners AS (
            SELECT mine.export, mine.billing_period,
                   string_agg(DISTINCT theirs.export, ' + ' ORDER BY theirs.export) AS reconciled_as
            FROM accounts AS mine JOIN accounts AS theirs USING (billing_period, ProviderName, BillingAccountId)
            GROUP BY ALL
        ), rows AS (
            SELECT ledger.*, datasets.cost_basis, coalesce(datasets.served_together, 1) > 1 AS grouped,
                   partners.reconciled_as AS partners
            FROM {ledger} AS ledger LEFT JOIN datasets USING (dataset)
            LEFT JOIN partners ON partners.export = ledger.export AND partners.billing_period = ledger.billing_period
        )
        SELECT provider, export, dataset, strftime(billing_period, '%Y-%m') AS billing_period, status, version,
               rows, billed_cost,
               CASE WHEN status = 'loaded' THEN billed_cost_by_currency END AS billed_cost_by_currency,
               coalesce(cost_basis, 'BilledCost') AS cost_basis,
               CASE WHEN grouped AND status = 'loaded' THEN coalesce(partners, export) ELSE export END AS reconciled_as,
               loaded_at, duration_s, delivery_uri, table_name, error
        FROM rows
        ORDER BY loaded_at
    """
    return _write_version(con, query, serving_root / LEDGER_DIR)


def _ensure_validation_history(serving_root: Path) -> None:
    """An empty verdict history until the first validation (or the one from before versions), with every
    column of VALIDATION_COLUMNS even if an older version wrote it, so the serving views always bind."""
    folder = serving_root / VALIDATION_DIR
    history, legacy = newest_version(folder), serving_root / LEGACY_FILES[VALIDATION_DIR]
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in VALIDATION_COLUMNS.items())
    with duckdb.connect(":memory:") as con:
        if history is None and not legacy.exists():
            _write_version(con, f"SELECT {columns} LIMIT 0", folder)
            return
        source = _read_version(history or legacy)
        if history is None or not {name for name, _ in _columns(con, f"FROM {source}")}.issuperset(VALIDATION_COLUMNS):
            _write_version(con, f"SELECT * FROM {source} UNION ALL BY NAME (SELECT {columns} LIMIT 0)", folder)


def _write_version(con: duckdb.DuckDBPyConnection, query: str, folder: Path, withdrawal: bool = False) -> int:
    """Write the query's result as the folder's new version; returns its rows."""
    with _temporary_file(folder) as temporary:
        rows = _copy(con, query, temporary)
        _install(temporary, folder, withdrawal)
        return rows


@contextmanager
def _temporary_file(folder: Path) -> Iterator[Path]:
    """Where a version is written: in its folder (so the rename is atomic), hidden and not `*.parquet`."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".part-{uuid.uuid4().hex}.tmp"
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    [(rows,)] = con.execute(f"COPY ({query}) TO {sql_literal(str(target))} {_PARQUET_OPTIONS}").fetchall()
    with open(target, "rb") as written:
        os.fsync(written.fileno())
    return rows


def _install(temporary: Path, folder: Path, withdrawal: bool) -> None:
    """Give a written file the name of the folder's next version, which sorts before every other one."""
    number = _NEWEST_FIRST - time.time_ns()
    newest = newest_version(folder)
    if newest is not None and (match := _VERSION.fullmatch(newest.name)):
        number = min(number, int(match.group(1)) - 1)  # the clock went back
    os.rename(temporary, folder / f"part-{number:020d}{'-withdrawn' if withdrawal else ''}.parquet")


def _newest_month_versions(serving_root: Path) -> dict[str, Path]:
    folders = (serving_root / COST_AND_USAGE_DIR).glob("billing_period=*")
    newest = {folder.name.removeprefix("billing_period="): newest_version(folder) for folder in folders}
    return {month: version for month, version in sorted(newest.items()) if version is not None}


def _read_version(version: Path) -> str:
    return f"read_parquet({sql_literal(str(version))}, hive_partitioning = false)"


def _columns(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE {query}").fetchall()]


def _is_withdrawal(version: Path) -> bool:
    return version.name.endswith("-withdrawn.parquet")


def _published_ns(version: Path) -> int | None:
    match = _VERSION.fullmatch(version.name)
    return _NEWEST_FIRST - int(match.group(1)) if match else None


def _age_ns(path: Path, now_ns: int) -> int:
    try:
        return now_ns - path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


# What the ledger reads of the mart, before dbt has built one.
_NO_MART = (
    "(SELECT NULL AS x_ExportName, NULL::DATE AS x_BillingPeriod, NULL AS ProviderName, NULL AS BillingAccountId, "
    "NULL AS x_Dataset LIMIT 0)"
)


def _has_mart(con: duckdb.DuckDBPyConnection) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'focus' AND table_name = 'cost_and_usage'"
        ).fetchall()[0][0]
        > 0
    )


def _mart_months(con: duckdb.DuckDBPyConnection) -> set[str]:
    if not _has_mart(con):
        return set()
    rows = con.execute(f"SELECT DISTINCT strftime(x_BillingPeriod, '%Y-%m') FROM {MART}").fetchall()
    return {month for (month,) in rows}
