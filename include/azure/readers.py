"""How each Azure export run's parts are read into a month table (the format-specific half of a load).

CSV and CSV.gz parts are read with every column as text (dbt's staging casts them: Azure writes dates
as `MM/DD/YYYY` or ISO, decimals sometimes in exponent form) but the cost the ledger sums, read as an
exact decimal. Parquet parts keep their own types. Column names are kept as delivered, the BOM Azure
puts before the first one stripped; they are matched without regard to case (EA's PascalCase, MCA's
camelCase), so two names that differ only in case are refused. The parts of one run must have the
same columns. Rows per part are counted by a reader independent of DuckDB and, where the manifest
states them (`blobs[].dataRowCount`), taken from it: the load is refused when DuckDB reads another number.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow.parquet as pq
from isal import igzip

from include.azure.manifests import listed_row_counts
from include.azure.provider import AZURE
from include.providers.deliveries import Delivery, DeliveryError
from include.sql import sql_literal
from include.warehouse.file_readers import LOADER_COLUMNS, first_failing_file, paths_sql, records_by_line_breaks
from include.warehouse.loader import EXACT, LoadRefused, LocalFile, MonthLoad

# The cost each load sums (the ledger's billed cost), by format: the first of these names a part has (any case).
# Actual and amortized: `CostInBillingCurrency` (EA, PascalCase), `costInBillingCurrency` (MCA), `Cost` (older EA).
COST_COLUMNS = {
    "actual": ("CostInBillingCurrency", "Cost"),
    "amortized": ("CostInBillingCurrency", "Cost"),
    "focus1.0": ("BilledCost",),
    "focus1.2": ("BilledCost",),
}
# Its currency: `BillingCurrencyCode` (newer EA), `billingCurrency` (MCA), `BillingCurrency` (older EA, FOCUS).
CURRENCY_COLUMNS = {
    "actual": ("BillingCurrencyCode", "BillingCurrency"),
    "amortized": ("BillingCurrencyCode", "BillingCurrency"),
    "focus1.0": ("BillingCurrency",),
    "focus1.2": ("BillingCurrency",),
}
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIX = ".parquet"


def _named(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first candidate the columns hold, as the columns spell it (names compared without regard to case)."""
    by_lower = {name.lower(): name for name in columns}
    return next((by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None)


def _refuse_unusable_names(columns: list[str], listed_uri: str) -> None:
    lowered = [name.lower() for name in columns]
    clashing = sorted({name for name, low in zip(columns, lowered, strict=True) if lowered.count(low) > 1})
    if clashing:
        raise LoadRefused(f"{listed_uri}: columns {clashing} differ only in case; column names are matched without it")
    reserved = sorted(name for name in columns if name.lower() in LOADER_COLUMNS)
    if reserved:
        raise LoadRefused(f"{listed_uri}: columns {reserved} clash with the ones the loader adds ({LOADER_COLUMNS})")
    if any(not name.strip() for name in columns):
        raise LoadRefused(f"{listed_uri}: the header has an empty column name")


def _refuse_other_columns(files: list[LocalFile], columns_of, where: str) -> None:
    """Every part of one run has the first part's columns, in its order (`where`: the export and month, which
    the loader does not add to the checks' messages)."""
    first = files[0]
    expected = columns_of(first)
    for file in files[1:]:
        try:
            found = columns_of(file)
        except LoadRefused as err:
            raise LoadRefused(f"{where}: {err}") from err
        if found != expected:
            missing = [c for c in expected if c not in found]
            unexpected = [c for c in found if c not in expected]
            detail = f"missing {missing}, unexpected {unexpected}" if missing or unexpected else "another order"
            raise LoadRefused(
                f"{where}: {file.listed_uri}: columns differ from {first.listed_uri}'s ({detail}); the parts of one "
                "run have one header"
            )


@dataclass(frozen=True)
class ManifestCounts:
    """Rows per part as the manifest states them (`blobs[].dataRowCount`): they win over any count of ours."""

    rows: dict[str, int] = field(default_factory=dict)

    def over(self, counted: dict[str, int]) -> dict[str, int]:
        return counted | {uri: rows for uri, rows in self.rows.items() if uri in counted}

    def missing(self, files: list[LocalFile]) -> list[LocalFile]:
        return [f for f in files if f.listed_uri not in self.rows]


@dataclass(frozen=True)
class CsvReader:
    """CSV(.gz) parts: the header's columns as text, the cost column as an exact decimal."""

    header: tuple[str, ...]  # as delivered, BOM stripped
    cost_column: str
    currency_column: str
    manifest_counts: ManifestCounts
    where: str  # the export and billing month

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None:
        _refuse_other_columns(files, csv_header, self.where)

    def _read_csv(self, files: list[LocalFile], typed: bool = True) -> str:
        types = ", ".join(
            f"{sql_literal(name)}: '{EXACT if typed and name == self.cost_column else 'VARCHAR'}'"
            for name in self.header
        )
        return (
            f"read_csv({paths_sql(files)}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"columns = {{{types}}}, filename = true, auto_detect = false, strict_mode = true)"
        )

    def select_sql(self, files: list[LocalFile]) -> str:
        return f"SELECT * EXCLUDE (filename), filename AS _local_file FROM {self._read_csv(files)}"

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Records per part from its line breaks (a reader independent of DuckDB's), or the manifest's count."""
        uncounted = self.manifest_counts.missing(files)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # decompression releases the GIL
            counts = pool.map(records_by_line_breaks, uncounted)
            counted = dict(zip((f.listed_uri for f in uncounted), counts, strict=True))
        return self.manifest_counts.over({f.listed_uri: counted.get(f.listed_uri, 0) for f in files})

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        """A quoted field may hold a line break: a strict, untyped DuckDB pass settles such parts (not the
        manifest's counts, which stand)."""
        counts = dict(
            con.execute(f"SELECT filename, count(*) FROM {self._read_csv(files, typed=False)} GROUP BY ALL").fetchall()
        )
        return self.manifest_counts.over({f.listed_uri: counts.get(str(f.path), 0) for f in files})

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {}


def csv_header(file: LocalFile) -> list[str]:
    """A CSV(.gz) part's column names, the BOM before the first stripped."""
    try:
        opener = igzip.open if file.path.name.endswith(".gz") else open
        with opener(file.path, "rb") as raw:
            line = raw.readline()
    except (OSError, EOFError, zlib.error) as err:
        problem = "truncated or corrupt gzip: " if file.path.name.endswith(".gz") else ""
        raise LoadRefused(f"{file.listed_uri}: cannot read the CSV header ({problem}{err})") from err
    try:
        return next(csv.reader(io.StringIO(line.decode("utf-8-sig"))), [])
    except UnicodeDecodeError as err:
        raise LoadRefused(f"{file.listed_uri}: the CSV header is not UTF-8 ({err})") from err


@dataclass(frozen=True)
class ParquetReader:
    """Parquet parts (snappy or not): names and types as the parts carry them."""

    cost_column: str
    currency_column: str
    manifest_counts: ManifestCounts
    where: str  # the export and billing month

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None:
        _refuse_other_columns(files, parquet_columns, self.where)

    def select_sql(self, files: list[LocalFile]) -> str:
        return (
            f"SELECT * EXCLUDE (filename), filename AS _local_file "
            f"FROM read_parquet({paths_sql(files)}, filename = true, hive_partitioning = false)"
        )

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Rows from the Parquet footers (read by pyarrow, not the DuckDB scan), or the manifest's count."""
        return self.manifest_counts.over({f.listed_uri: _footer_rows(f) for f in files})

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        return self.count_records(files)  # footers are exact; nothing to settle

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {}


def parquet_columns(file: LocalFile) -> list[str]:
    try:
        return pq.read_schema(file.path).names  # as written; DuckDB would rename a duplicate
    except (OSError, ValueError) as err:  # pyarrow's errors derive from these
        raise LoadRefused(f"{file.listed_uri}: not a readable Parquet file ({err})") from err


def _footer_rows(file: LocalFile) -> int:
    try:
        return pq.read_metadata(file.path).num_rows
    except (OSError, ValueError) as err:
        raise LoadRefused(f"{file.listed_uri}: not a readable Parquet file ({err})") from err


def reader_for(delivery: Delivery, files: list[LocalFile], counts: ManifestCounts) -> CsvReader | ParquetReader:
    """Pick the reader from the parts' extension and name the cost and currency columns as the first part does."""
    fmt = delivery.export.format
    where = f"{delivery.export.name} {delivery.period_label}"
    if not files:
        # Restated to nothing: the month table is its cost column alone, by its canonical name.
        return ParquetReader(COST_COLUMNS[fmt][0], CURRENCY_COLUMNS[fmt][0], counts, where)
    names = [f.listed_uri.lower() for f in files]
    if all(name.endswith(CSV_SUFFIXES) for name in names):
        columns_of = csv_header
    elif all(name.endswith(PARQUET_SUFFIX) for name in names):
        columns_of = parquet_columns
    else:
        raise LoadRefused(
            f"{delivery.delivery_uri}: unsupported parts for format {fmt}: {names[:3]} "
            "(one run's parts are all CSV, CSV.gz or Parquet)"
        )
    columns = columns_of(files[0])
    _refuse_unusable_names(columns, files[0].listed_uri)
    cost = _named(columns, COST_COLUMNS[fmt])
    if cost is None:
        raise LoadRefused(
            f"{files[0].listed_uri}: no cost column ({' or '.join(COST_COLUMNS[fmt])}, in any case) for format {fmt}"
        )
    currency = _named(columns, CURRENCY_COLUMNS[fmt]) or CURRENCY_COLUMNS[fmt][0]
    if columns_of is csv_header:
        return CsvReader(tuple(columns), cost, currency, counts, where)
    return ParquetReader(cost, currency, counts, where)


def month_load(delivery: Delivery, files: list[LocalFile], manifest) -> MonthLoad:
    """`manifest`: the run's manifest (pathlib-like), read again for its rows per part."""
    try:
        counts = ManifestCounts(listed_row_counts(manifest, delivery))
    except DeliveryError as err:
        raise LoadRefused(str(err)) from err
    reader = reader_for(delivery, files, counts)
    declared = {reader.cost_column: EXACT} if isinstance(reader, CsvReader) else {}
    return MonthLoad.of(AZURE, delivery, files, reader, declared)
