"""Replace one billing month of one export in DuckDB, atomically.

The month is built aside in a staging table, checked (column types against the manifest and the
export's earlier months, row count against the files, per-file attribution, not empty), then
swapped in with the export's view and the ledger row in one transaction. A failure or a kill
before the commit leaves the previous version of the month untouched, and every failure is a
`failed` ledger row. DuckDB reads the files itself, so memory stays bounded whatever the month's size.

A month is empty only when its delivery lists no file at all (the export restated it to nothing):
files that hold no row are refused, since emptying a month by mistake would erase its cost.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import duckdb

from include.aws.settings import AWS_DATASETS
from include.settings import duckdb_memory_limit
from include.sql import sql_identifier, sql_literal, sql_qualified
from include.warehouse.ledger import LEDGER_TABLE, Attempt, ensure_ledger, record_attempt

# Warehouses written before each dataset had one id (include/aws/settings.py AWS_DATASETS) recorded AWS
# exports' datasets under the format with `_` for `.`, and had dbt's staging and intermediate models as views
# (ephemeral now) reading those datasets' views. `_migrate_old_dataset_ids` brings them up to date.
_OLD_AWS_DATASET_IDS = {fmt.replace(".", "_"): dataset for fmt, dataset in AWS_DATASETS.items()}
_OLD_DBT_VIEW_SCHEMAS = ("staging", "intermediate")


def writer_settings() -> dict:
    """DuckDB spills to disk past the memory limit, so a month of any size loads in bounded RAM."""
    return {
        "memory_limit": duckdb_memory_limit(),
        # Row order inside a month table carries no meaning; not keeping it saves memory and time.
        "preserve_insertion_order": False,
    }


# Costs are summed as this, whatever the files' type: exact and independent of the order rows are added in
# (a double column's sum is neither), as the models sum them.
EXACT = "DECIMAL(38, 18)"


class LoadRefused(RuntimeError):
    """The delivery was not loaded; the message names the file or check that failed."""


@dataclass(frozen=True)
class LocalFile:
    listed_uri: str  # as the manifest lists it (recorded per row)
    path: Path  # local copy DuckDB reads


class MonthReader(Protocol):
    """Format-specific part of a load: how to check the files and select their rows."""

    cost_column: str  # the invoice-basis cost the ledger sums
    currency_column: str  # the billing currency of that cost (the ledger sums per currency)

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None: ...

    def select_sql(self, files: list[LocalFile]) -> str: ...

    def count_records(self, files: list[LocalFile]) -> dict[str, int]: ...

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]: ...

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None: ...

    def column_comments(self) -> dict[str, str]: ...


@dataclass(frozen=True, kw_only=True)
class MonthLoad:
    provider: str
    schema: str
    export: str
    table_stem: str
    dataset: str  # the format's dataset id (e.g. aws_cur1); its exports are unioned into `sources_<provider>.<dataset>`
    billing_period: date
    delivery_uri: str  # what the delivery was read from (the ledger's delivery_uri)
    version: str
    files: list[LocalFile]  # none: the export restated the month to nothing
    reader: MonthReader
    # {column: type} the staged columns must match in kind, where known (see _check_types)
    declared_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, provider, delivery, files: list[LocalFile], reader: MonthReader, declared_types=None) -> MonthLoad:
        """The load of `delivery` (`include.providers.deliveries.Delivery`) from its fetched `files` by `reader`,
        recorded as `provider`'s (`include.providers.contract.Provider`: its name, schema and dataset ids)."""
        return cls(
            provider=provider.name,
            schema=provider.schema,
            export=delivery.export.name,
            table_stem=delivery.export.table_stem,
            dataset=provider.datasets[delivery.export.format],
            billing_period=delivery.billing_period,
            delivery_uri=delivery.delivery_uri,
            version=delivery.version,
            files=files,
            reader=reader,
            declared_types=declared_types or {},
        )

    @property
    def table(self) -> str:
        return _month_table(self.table_stem, self.billing_period)

    @property
    def where(self) -> str:
        return f"{self.export} {self.billing_period:%Y-%m} ({self.delivery_uri})"

    @property
    def attempt(self) -> Attempt:
        return month_attempt(
            provider=self.provider,
            schema=self.schema,
            export=self.export,
            table_stem=self.table_stem,
            dataset=self.dataset,
            billing_period=self.billing_period,
            delivery_uri=self.delivery_uri,
            version=self.version,
            files=[f.listed_uri for f in self.files],
        )


def _month_table(table_stem: str, billing_period: date) -> str:
    """The table holding one billing month of an export."""
    return f"{table_stem}_{billing_period:%Y_%m}"


def _export_view(table_name: str, billing_period: date) -> tuple[str, str]:
    """(schema, view) of the view over an export's months, from one month's `schema.table` (as month_attempt
    names it; our schema names hold no dot)."""
    schema, table = table_name.split(".", 1)
    return schema, table.removesuffix(f"_{billing_period:%Y_%m}")


def month_attempt(
    *,
    provider: str,
    schema: str,
    export: str,
    table_stem: str,
    dataset: str,
    billing_period: date | None,
    delivery_uri: str,
    version: str | None,
    files: list[str] | tuple[str, ...],
) -> Attempt:
    """The ledger's description of an attempt at one month (none: the export's folder was refused as a whole)."""
    return Attempt(
        provider=provider,
        export=export,
        dataset=dataset,
        billing_period=billing_period,
        table_name=f"{schema}.{_month_table(table_stem, billing_period)}" if billing_period else None,
        delivery_uri=delivery_uri,
        version=version,
        files=tuple(files),
    )


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
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_identifier(load.schema)}").fetchall()
        try:
            result = _build_and_swap(con, load, started)
        except Exception as err:
            # Bad input arrives as LoadRefused (not worth a retry); anything else may be transient.
            _drop_staging(con, load)
            record_attempt(con, load.attempt, "failed", duration=time.monotonic() - started, error=str(err))
            raise
        return result
    finally:
        con.close()


def _staging(load: MonthLoad) -> str:
    return sql_qualified(load.schema, f"_loading_{load.table}")


def _drop_staging(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_staging(load)}").fetchall()


def _build_and_swap(con: duckdb.DuckDBPyConnection, load: MonthLoad, started: float) -> LoadResult:
    _drop_staging(con, load)  # a killed earlier attempt may have left one
    if load.files:
        rows_per_file, billed_by_currency = _stage_files(con, load)
    else:
        rows_per_file, billed_by_currency = _stage_nothing(con, load), {}
    total_rows = sum(rows_per_file.values())
    billed = sum(billed_by_currency.values(), Decimal(0))
    _swap_in(con, load, total_rows, billed_by_currency, time.monotonic() - started)
    return LoadResult(
        table=f"{load.schema}.{load.table}",
        rows=total_rows,
        billed_cost=billed,
        duration_s=time.monotonic() - started,
        rows_per_file=rows_per_file,
    )


def _stage_files(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> tuple[dict[str, int], dict[str | None, Decimal]]:
    """The files' rows in the staging table, checked; returns rows per listed file and Σ cost per currency."""
    load.reader.check_files(con, load.files)
    with ThreadPoolExecutor(max_workers=1) as background:
        # Count the files' records with an independent reader while DuckDB loads them.
        counting = background.submit(load.reader.count_records, load.files)
        _create_staging(con, load)
        expected = counting.result()
    _check_types(con, load)
    staged = _column_types(con, load.schema, f"_loading_{load.table}")
    currency = sql_identifier(load.reader.currency_column) if load.reader.currency_column in staged else "NULL"
    per_file_and_currency = con.execute(
        f"SELECT _source_file, {currency}::VARCHAR, count(*), sum({sql_identifier(load.reader.cost_column)}::{EXACT}) "
        f"FROM {_staging(load)} GROUP BY ALL"
    ).fetchall()
    rows_per_file: dict[str, int] = {}
    billed_by_currency: dict[str | None, Decimal] = {}
    for uri, currency_code, rows, cost in per_file_and_currency:
        rows_per_file[uri] = rows_per_file.get(uri, 0) + rows
        if cost is not None:
            billed_by_currency[currency_code] = billed_by_currency.get(currency_code, Decimal(0)) + cost
    disputed = [f for f in load.files if expected.get(f.listed_uri) != rows_per_file.get(f.listed_uri, 0)]
    if disputed:
        expected |= load.reader.recount(con, disputed)
    _check_row_counts(load, rows_per_file, expected)
    if not rows_per_file:
        listed = ", ".join(f.listed_uri for f in load.files[:3]) + (", …" if len(load.files) > 3 else "")
        raise LoadRefused(
            f"{load.where}: delivery holds no rows: refusing to empty {load.billing_period:%Y-%m} (its "
            f"{len(load.files)} listed file(s) {listed} hold no row; a month the export restates to nothing "
            "has a manifest that lists no data file)"
        )
    return rows_per_file, dict(sorted(billed_by_currency.items(), key=lambda item: item[0] or ""))


def _stage_nothing(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> dict[str, int]:
    """The month restated to nothing: an empty table with the bookkeeping columns and the cost column."""
    con.execute(
        f"CREATE TABLE {_staging(load)} (_billing_period DATE, _source_file VARCHAR, _manifest_version VARCHAR, "
        f"{sql_identifier(load.reader.cost_column)} {EXACT})"
    ).fetchall()
    return {}


def _create_staging(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    try:
        con.execute(
            f"CREATE TABLE {_staging(load)} AS "
            f"SELECT * EXCLUDE (_local_file), ?::DATE AS _billing_period, "
            f"{_source_file_expression(load.files)} AS _source_file, ? AS _manifest_version "
            f"FROM ({load.reader.select_sql(load.files)})",
            [load.billing_period, load.version],
        ).fetchall()
    except duckdb.Error as err:
        raise LoadRefused(f"{load.where}: {_read_error(con, load, err)}") from err


def _read_error(con: duckdb.DuckDBPyConnection, load: MonthLoad, err: duckdb.Error) -> str:
    """DuckDB's reason for refusing the files, with the listed file it names (or found by re-reading them).

    Only the message's first paragraph is kept, without the echoed data line: what follows is the CSV
    sniffer's advice on auto-detected types and its options, which misleads here (the manifest sets the types).
    """
    message = str(err)
    essential = "; ".join(
        line.strip()
        for line in message.split("\n\n", 1)[0].splitlines()
        if line.strip() and not line.startswith("Original Line:")
    )
    named = [f for f in load.files if str(f.path) in message]
    if named:
        culprit = max(named, key=lambda f: len(str(f.path)))  # the longest: one path may prefix another
        return f"{culprit.listed_uri}: {essential}"
    return load.reader.diagnose(con, load.files) or essential


def _source_file_expression(files: list[LocalFile]) -> str:
    branches = " ".join(f"WHEN {sql_literal(str(f.path))} THEN {sql_literal(f.listed_uri)}" for f in files)
    return f"CASE _local_file {branches} END"


# What a column must hold for the loader (Σ cost) and the models (arithmetic, dates) to use it, recognised in
# DuckDB's, pyarrow's and the manifests' type names (`OptionalBigDecimal`, `decimal128(38, 8)`, `double`, …).
# The one reading of type names: a reader that casts by a manifest's types (legacy CUR CSV) casts by this too.
NUMBER, TIMESTAMP = "a number", "a timestamp"
_NUMBER_TYPE = re.compile(r"(big)?decimal|numeric|double|float|real|long|u?(tiny|small|big|huge)?int(?!erval)")
_TIMESTAMP_TYPE = re.compile(r"timestamp|datetime|date")
# DuckDB's type for a column no file gives a type or value (Parquet written with the null type): fits any kind.
_NULL_TYPE = '"NULL"'


def type_kind(type_name: str) -> str | None:
    """NUMBER, TIMESTAMP or None (not checked: text, maps, intervals, …)."""
    name = type_name.strip().lower().removeprefix("optional")
    if _NUMBER_TYPE.match(name):
        return NUMBER
    return TIMESTAMP if _TIMESTAMP_TYPE.match(name) else None


def _fits(found: str, expected: str) -> bool:
    return found == _NULL_TYPE or type_kind(found) == expected


def _check_types(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    """Refuse a staged column that is not what the manifest declares or the export's earlier months held.

    Only numbers and timestamps are checked: those are what the sums and the models compute with, and
    a text column where a number belongs (a cost written as a string) would otherwise fail later, far
    from its file. The declared type (MonthLoad.declared_types: the manifest's, or for a CSV the type it is
    cast to) wins over the earlier months (a format may change). A column that is null throughout fits any kind.
    """
    staged = _column_types(con, load.schema, f"_loading_{load.table}")
    if load.reader.cost_column not in staged:
        raise LoadRefused(f"{load.where}: no file has the cost column {load.reader.cost_column}; refusing the month")
    earlier = _column_types(con, load.schema, load.table_stem)  # the export's view over its months
    for column, found in staged.items():
        expected, because = _expected_kind(load, column, earlier)
        if expected is not None and not _fits(found, expected):
            culprit = _first_file_where(con, load, column, expected)
            raise LoadRefused(
                f"{load.where}: {culprit}: column {column} is {found}, expected {expected} ({because}); "
                "refusing the month"
            )


def _expected_kind(load: MonthLoad, column: str, earlier: dict[str, str]) -> tuple[str | None, str]:
    declared = load.declared_types.get(column)
    if declared and (type_kind(declared) or column != load.reader.cost_column):
        return type_kind(declared), f"the manifest declares {declared}"
    if column == load.reader.cost_column:
        return NUMBER, "it is the cost every load sums"
    if column in earlier:
        return type_kind(earlier[column]), f"the export's earlier months have {earlier[column]}"
    return None, ""


def _column_types(con: duckdb.DuckDBPyConnection, schema: str, relation: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
        [schema, relation],
    ).fetchall()
    return dict(rows)


def _first_file_where(con: duckdb.DuckDBPyConnection, load: MonthLoad, column: str, expected: str) -> str:
    """The first listed file whose own type for `column` is not `expected` (they disagree with each other)."""
    for file in load.files:
        described = con.execute(f"DESCRIBE SELECT * FROM ({load.reader.select_sql([file])})").fetchall()
        found = next((kind for name, kind, *_ in described if name == column), None)
        if found is not None and not _fits(found, expected):
            return file.listed_uri
    return ", ".join(f.listed_uri for f in load.files)


def _check_row_counts(load: MonthLoad, loaded: dict[str, int], expected: dict[str, int]) -> None:
    for listed_uri, count in expected.items():
        if loaded.get(listed_uri, 0) != count:
            raise LoadRefused(
                f"{load.where}: {listed_uri} holds {count} rows but {loaded.get(listed_uri, 0)} were read; "
                "refusing a partial month"
            )


def _swap_in(
    con: duckdb.DuckDBPyConnection,
    load: MonthLoad,
    rows: int,
    billed_by_currency: dict[str | None, Decimal],
    duration: float,
) -> None:
    target = sql_qualified(load.schema, load.table)
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        con.execute(f"DROP TABLE IF EXISTS {target}").fetchall()
        con.execute(f"ALTER TABLE {_staging(load)} RENAME TO {sql_identifier(load.table)}").fetchall()
        for column, source_name in load.reader.column_comments().items():
            con.execute(f"COMMENT ON COLUMN {target}.{sql_identifier(column)} IS {sql_literal(source_name)}").fetchall()
        con.execute(
            f"COMMENT ON TABLE {target} IS {sql_literal(f'{load.delivery_uri} version {load.version}')}"
        ).fetchall()
        _refresh_export_view(con, load)
        con.execute(
            f"UPDATE {LEDGER_TABLE} SET status = 'superseded' "
            "WHERE provider = ? AND export = ? AND billing_period = ? AND status = 'loaded'",
            [load.provider, load.export, load.billing_period],
        ).fetchall()
        record_attempt(
            con,
            load.attempt,
            "loaded",
            rows=rows,
            billed=sum(billed_by_currency.values(), Decimal(0)),
            billed_by_currency=billed_by_currency,
            duration=duration,
        )
        _refresh_dataset_view(con, load.provider, load.dataset)  # reads the row just recorded
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
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {sql_qualified(load.schema, name)}" for (name,) in months)
    con.execute(f"CREATE OR REPLACE VIEW {sql_qualified(load.schema, load.table_stem)} AS {union}").fetchall()


def _refresh_dataset_view(con: duckdb.DuckDBPyConnection, provider: str, dataset: str) -> None:
    """`sources_<provider>.<dataset>`: the views of every export of one format that has loaded months, with
    `_export`; what dbt reads. The ledger says which exports those are (its `dataset`)."""
    exports = con.execute(
        f"SELECT export, arg_max(table_name, billing_period), max(billing_period) FROM {LEDGER_TABLE} "
        "WHERE provider = ? AND dataset = ? AND status = 'loaded' GROUP BY export ORDER BY export",
        [provider, dataset],
    ).fetchall()
    union = " UNION ALL BY NAME ".join(
        f"SELECT {sql_literal(export)} AS _export, * FROM {sql_qualified(*_export_view(table, period))}"
        for export, table, period in exports
    )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_identifier(f'sources_{provider}')}").fetchall()
    con.execute(f"CREATE OR REPLACE VIEW {sql_qualified(f'sources_{provider}', dataset)} AS {union}").fetchall()


def _migrate_old_dataset_ids(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse from before dataset ids: its ledger rows given their ids, those datasets' views rebuilt,
    the old views dropped (with dbt's views of that time, which read them).

    Without it an export would reach the new views only on its next load, and a full dbt build
    before that would drop its months. Idempotent: with no old id or view left it only reads the catalog.
    """
    old_ids = list(_OLD_AWS_DATASET_IDS)
    placeholders = ", ".join("?" for _ in old_ids)
    recorded = con.execute(
        f"SELECT DISTINCT dataset FROM {LEDGER_TABLE} WHERE provider = 'aws' AND dataset IN ({placeholders})", old_ids
    ).fetchall()
    old_views = con.execute(
        f"SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal "
        f"AND schema_name = 'sources_aws' AND view_name IN ({placeholders})",
        old_ids,
    ).fetchall()
    if not recorded and not old_views:
        return
    dbt_views = con.execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND schema_name IN (?, ?)",
        list(_OLD_DBT_VIEW_SCHEMAS),
    ).fetchall()
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        for (old,) in recorded:
            con.execute(
                f"UPDATE {LEDGER_TABLE} SET dataset = ? WHERE provider = 'aws' AND dataset = ?",
                [_OLD_AWS_DATASET_IDS[old], old],
            ).fetchall()
        loaded = con.execute(
            f"SELECT DISTINCT dataset FROM {LEDGER_TABLE} WHERE provider = 'aws' AND status = 'loaded' "
            f"AND dataset IN ({placeholders})",
            [_OLD_AWS_DATASET_IDS[old] for old in old_ids],
        ).fetchall()
        for (dataset,) in loaded:
            _refresh_dataset_view(con, "aws", dataset)
        for schema, view in old_views + dbt_views:
            con.execute(f"DROP VIEW IF EXISTS {sql_qualified(schema, view)}").fetchall()
        con.execute("COMMIT").fetchall()
    except Exception:
        con.execute("ROLLBACK").fetchall()
        raise
