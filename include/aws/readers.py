"""How each AWS export format is read into a month table (the format-specific half of a load)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow.parquet as pq

from include.aws.columns import WarehouseColumn, athena_column_name, legacy_cur_columns
from include.aws.provider import AWS
from include.providers.deliveries import Delivery
from include.sql import sql_identifier, sql_literal
from include.warehouse.file_readers import LOADER_COLUMNS, first_failing_file, paths_sql, records_by_line_breaks
from include.warehouse.loader import LoadRefused, LocalFile, MonthLoad

COST_COLUMNS = {
    "cur1": "line_item_unblended_cost",
    "cur2": "line_item_unblended_cost",
    "focus1.0": "BilledCost",
    "focus1.2": "BilledCost",
}
CURRENCY_COLUMNS = {
    "cur1": "line_item_currency_code",
    "cur2": "line_item_currency_code",
    "focus1.0": "BillingCurrency",
    "focus1.2": "BillingCurrency",
}


def _by_listed_uri(files: list[LocalFile], counts_by_path: dict[str, int]) -> dict[str, int]:
    return {f.listed_uri: counts_by_path.get(str(f.path), 0) for f in files}


@dataclass(frozen=True)
class LegacyCsvReader:
    """Legacy CUR CSV(.gz): every field read as text, then cast by the manifest's column types.

    Some writers drop a record's trailing empty fields (the `nise` CUR generator does). A file whose
    first record is short is read with those fields as nulls; in any other file a short record is
    refused, naming the file. Decided per file, from the file itself.
    """

    manifest_columns: tuple[tuple[str, str | None], ...]
    cost_column: str = COST_COLUMNS["cur1"]
    currency_column: str = CURRENCY_COLUMNS["cur1"]

    @property
    def columns(self) -> list[WarehouseColumn]:
        return legacy_cur_columns(list(self.manifest_columns))

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None:
        expected = [name for name, _ in self.manifest_columns]
        unnamed = [source for column in self.columns if not column.name for source in column.sources]
        if unnamed:
            raise LoadRefused(f"manifest columns {unnamed} have no letter or digit to name a warehouse column by")
        for file in files:
            header, _ = _csv_head(file)
            if header != expected:
                missing = [c for c in expected if c not in header]
                unexpected = [c for c in header if c not in expected]
                detail = (
                    f"missing {missing}, unexpected {unexpected}"
                    if missing or unexpected
                    else "columns in another order"
                )
                raise LoadRefused(f"{file.listed_uri}: CSV header disagrees with the manifest's columns ({detail})")

    def _read_csv(self, files: list[LocalFile], typed: bool = True) -> str:
        """read_csv over the files with the manifest's header; typed parses straight into target types.

        Files that drop trailing empty fields are read by a padding read_csv of their own, so the
        other files stay strict.
        """
        source_types = {source: column.sql_type for column in self.columns for source in column.sources}
        columns = ", ".join(
            f"{sql_literal(name)}: '{source_types[name] if typed else 'VARCHAR'}'" for name, _ in self.manifest_columns
        )
        padded = [f for f in files if _drops_trailing_fields(f)]
        strict = [f for f in files if f not in padded]
        options = (
            f"header = true, delim = ',', quote = '\"', escape = '\"', columns = {{{columns}}}, filename = true, "
            "auto_detect = false, strict_mode = true"
        )
        # DuckDB pads short records only in its single-threaded reader (quoted line breaks need it)
        reads = [
            f"SELECT * FROM read_csv({paths_sql(group)}, {options}{extra})"
            for group, extra in ((strict, ""), (padded, ", null_padding = true, parallel = false"))
            if group
        ]
        return f"({' UNION ALL '.join(reads)})"

    def select_sql(self, files: list[LocalFile]) -> str:
        renames = ", ".join(_rename(column) for column in self.columns)
        return f"SELECT {renames}, filename AS _local_file FROM {self._read_csv(files)}"

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Records per file from its line breaks: a reader independent of DuckDB's CSV parser."""
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # decompression releases the GIL
            return dict(zip((f.listed_uri for f in files), pool.map(records_by_line_breaks, files), strict=True))

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        """A quoted field may hold a line break: a strict, untyped DuckDB pass settles such files."""
        counts = con.execute(f"SELECT filename, count(*) FROM {self._read_csv(files, typed=False)} GROUP BY ALL")
        return _by_listed_uri(files, dict(counts.fetchall()))

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {column.name: " | ".join(column.sources) for column in self.columns}


def _rename(column: WarehouseColumn) -> str:
    parts = [sql_identifier(source) for source in column.sources]
    expression = parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"
    return f"{expression} AS {sql_identifier(column.name)}"


def _drops_trailing_fields(file: LocalFile) -> bool:
    """Whether the file's first record has fewer fields than its header."""
    header, first_record = _csv_head(file)
    return 0 < len(first_record) < len(header)


def _csv_head(file: LocalFile) -> tuple[list[str], list[str]]:
    """The header's fields and the first data line's (empty without one)."""
    try:
        opener = gzip.open if file.path.name.endswith(".gz") else open
        with opener(file.path, "rb") as raw:
            lines = [raw.readline(), raw.readline()]
    except (OSError, EOFError, zlib.error) as err:
        raise LoadRefused(f"{file.listed_uri}: cannot read the CSV header ({err})") from err
    header, first_record = (next(csv.reader(io.StringIO(line.decode("utf-8-sig"))), []) for line in lines)
    return header, first_record


@dataclass(frozen=True)
class ParquetReader:
    """CUR 2.0, the FOCUS exports and legacy-CUR Parquet: names are final, types come from the files."""

    manifest_columns: tuple[tuple[str, str | None], ...]
    cost_column: str
    currency_column: str

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None:
        expected = {name for name, _ in self.manifest_columns}
        for file in files:
            try:
                names = {
                    row[0]
                    for row in con.execute(
                        "SELECT name FROM parquet_schema(?) WHERE name <> 'schema'", [str(file.path)]
                    ).fetchall()
                }
                top_level = {name for name in names if name in expected} if expected else names
            except duckdb.Error as err:
                raise LoadRefused(f"{file.listed_uri}: not a readable Parquet file ({err})") from err
            missing = expected - top_level
            if missing:
                raise LoadRefused(f"{file.listed_uri}: columns the manifest lists are missing: {sorted(missing)}")
            _refuse_clashing_names(file)

    def select_sql(self, files: list[LocalFile]) -> str:
        return (
            f"SELECT * EXCLUDE (filename), filename AS _local_file "
            f"FROM read_parquet({paths_sql(files)}, union_by_name = true, filename = true, hive_partitioning = false)"
        )

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Row counts from the Parquet footers, read by pyarrow rather than the DuckDB scan."""
        return {f.listed_uri: pq.read_metadata(f.path).num_rows for f in files}

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        return self.count_records(files)  # footers are exact; nothing to settle

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {}


def _refuse_clashing_names(file: LocalFile) -> None:
    """Column names are matched without regard to case: a file column named like one the loader adds
    (its lineage) or like another of the file's columns would silently replace it."""
    names = pq.read_schema(file.path).names  # as written; DuckDB would rename a duplicate
    lowered = [name.lower() for name in names]
    clashing = sorted(
        {name for name, low in zip(names, lowered, strict=True) if low in LOADER_COLUMNS or lowered.count(low) > 1}
    )
    if clashing:
        raise LoadRefused(
            f"{file.listed_uri}: columns {clashing} clash with another column of the file or with one the loader "
            f"adds ({', '.join(LOADER_COLUMNS)}); column names are compared without regard to case"
        )


def reader_for(delivery: Delivery):
    """Pick the reader from the export format and the data files' extension."""
    names = [f.listed_uri.lower() for f in delivery.data_files]
    fmt = delivery.export.format
    if not names:
        # Restated to nothing: the month table is its cost column alone. The Parquet reader names that column
        # and comments none (the CSV reader would comment the manifest's columns, which the table lacks).
        return ParquetReader((), COST_COLUMNS[fmt], CURRENCY_COLUMNS[fmt])
    if all(name.endswith(".parquet") for name in names):
        return ParquetReader(delivery.columns if fmt != "cur1" else (), COST_COLUMNS[fmt], CURRENCY_COLUMNS[fmt])
    if fmt == "cur1" and all(name.endswith((".csv.gz", ".csv")) for name in names):
        if not delivery.columns:
            raise LoadRefused(f"{delivery.delivery_uri}: manifest lists no columns; cannot check the CSV headers")
        return LegacyCsvReader(delivery.columns)
    raise LoadRefused(
        f"{delivery.delivery_uri}: unsupported data files for format {fmt}: {names[:3]} "
        "(use GZIP CSV or Parquet; ZIP-compressed CUR is not supported)"
    )


def month_load(delivery: Delivery, files: list[LocalFile]) -> MonthLoad:
    reader = reader_for(delivery)
    return MonthLoad.of(AWS, delivery, files, reader, _declared_types(delivery, reader))


def _declared_types(delivery: Delivery, reader) -> dict[str, str]:
    """{warehouse column: type} the loader checks the staged columns against.

    A CSV's columns are what they are cast to (include/aws/columns.py, from the manifest's types or, in older
    manifests, the column's name); Parquet files carry their own types, checked against the manifest's
    where it states them (legacy CUR names mapped).
    """
    if isinstance(reader, LegacyCsvReader):
        return {column.name: column.sql_type for column in reader.columns}
    column_name = athena_column_name if delivery.export.format == "cur1" else str
    return {column_name(source): kind for source, kind in delivery.columns if kind}
