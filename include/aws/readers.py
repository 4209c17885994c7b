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
from isal import igzip

from include.aws.columns import WarehouseColumn, legacy_cur_columns
from include.aws.manifests import Delivery
from include.warehouse.loader import LoadRefused, LocalFile, MonthLoad, sql_literal

SOURCE = "aws"
SCHEMA = "aws_cur"
COST_COLUMNS = {"cur1": "line_item_unblended_cost", "cur2": "line_item_unblended_cost", "focus1.2": "BilledCost"}


def _paths_sql(files: list[LocalFile]) -> str:
    return "[" + ", ".join(sql_literal(str(f.path)) for f in files) + "]"


def _by_listed_uri(files: list[LocalFile], counts_by_path: dict[str, int]) -> dict[str, int]:
    return {f.listed_uri: counts_by_path.get(str(f.path), 0) for f in files}


@dataclass(frozen=True)
class LegacyCsvReader:
    """Legacy CUR CSV(.gz): every field read as text, then cast by the manifest's column types."""

    manifest_columns: tuple[tuple[str, str | None], ...]
    cost_column: str = COST_COLUMNS["cur1"]

    @property
    def columns(self) -> list[WarehouseColumn]:
        return legacy_cur_columns(list(self.manifest_columns))

    def check_files(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> None:
        expected = [name for name, _ in self.manifest_columns]
        for file in files:
            header = _csv_header(file)
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
        """read_csv over the files with the manifest's header; typed parses straight into target types."""
        source_types = {source: column.sql_type for column in self.columns for source in column.sources}
        columns = ", ".join(
            f"{sql_literal(name)}: '{source_types[name] if typed else 'VARCHAR'}'" for name, _ in self.manifest_columns
        )
        return (
            f"read_csv({_paths_sql(files)}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"columns = {{{columns}}}, filename = true, auto_detect = false, strict_mode = true)"
        )

    def select_sql(self, files: list[LocalFile]) -> str:
        renames = ", ".join(_rename(column) for column in self.columns)
        return f"SELECT {renames}, filename AS _local_file FROM {self._read_csv(files)}"

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Records per file from its line breaks: a reader independent of DuckDB's CSV parser."""
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # decompression releases the GIL
            return dict(zip((f.listed_uri for f in files), pool.map(_records_by_line_breaks, files), strict=True))

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        """A quoted field may hold a line break: a strict, untyped DuckDB pass settles such files."""
        counts = con.execute(f"SELECT filename, count(*) FROM {self._read_csv(files, typed=False)} GROUP BY ALL")
        return _by_listed_uri(files, dict(counts.fetchall()))

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return _first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {column.name: " | ".join(column.sources) for column in self.columns}


def _rename(column: WarehouseColumn) -> str:
    parts = [f'"{source}"' for source in column.sources]
    expression = parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"
    return f'{expression} AS "{column.name}"'


def _records_by_line_breaks(file: LocalFile) -> int:
    """Data records in a CSV(.gz) file = line breaks, plus an unterminated last line, minus the header."""
    breaks, last = 0, b"\n"
    opener = igzip.open if file.path.name.endswith(".gz") else open  # ISA-L: ~2x zlib's speed
    with opener(file.path, "rb") as stream:
        while chunk := stream.read(16 * 1024 * 1024):
            breaks, last = breaks + chunk.count(b"\n"), chunk[-1:]
    return breaks + (last != b"\n") - 1


def _csv_header(file: LocalFile) -> list[str]:
    try:
        opener = gzip.open if file.path.name.endswith(".gz") else open
        with opener(file.path, "rb") as raw:
            first_line = raw.readline()
    except (OSError, EOFError, zlib.error) as err:
        raise LoadRefused(f"{file.listed_uri}: cannot read the CSV header ({err})") from err
    return next(csv.reader(io.StringIO(first_line.decode("utf-8-sig"))), [])


@dataclass(frozen=True)
class ParquetReader:
    """CUR 2.0, FOCUS 1.2 and legacy-CUR Parquet: names are final, types come from the files."""

    manifest_columns: tuple[tuple[str, str | None], ...]
    cost_column: str

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

    def select_sql(self, files: list[LocalFile]) -> str:
        return (
            f"SELECT * EXCLUDE (filename), filename AS _local_file "
            f"FROM read_parquet({_paths_sql(files)}, union_by_name = true, filename = true)"
        )

    def count_records(self, files: list[LocalFile]) -> dict[str, int]:
        """Row counts from the Parquet footers, read by pyarrow rather than the DuckDB scan."""
        return {f.listed_uri: pq.read_metadata(f.path).num_rows for f in files}

    def recount(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> dict[str, int]:
        return self.count_records(files)  # footers are exact; nothing to settle

    def diagnose(self, con: duckdb.DuckDBPyConnection, files: list[LocalFile]) -> str | None:
        return _first_failing_file(con, files, self.select_sql)

    def column_comments(self) -> dict[str, str]:
        return {}


def _first_failing_file(con: duckdb.DuckDBPyConnection, files: list[LocalFile], select_sql) -> str | None:
    """Re-read file by file (only after a failure) to name the file DuckDB choked on."""
    for file in files:
        try:
            con.execute(f"SELECT count(*) FROM ({select_sql([file])})").fetchall()
        except duckdb.Error as err:
            return f"{file.listed_uri}: {str(err).splitlines()[0]}"
    return None


def reader_for(delivery: Delivery):
    """Pick the reader from the export format and the data files' extension."""
    names = [f.listed_uri.lower() for f in delivery.data_files]
    fmt = delivery.export.format
    if all(name.endswith(".parquet") for name in names):
        return ParquetReader(delivery.columns if fmt != "cur1" else (), COST_COLUMNS[fmt])
    if fmt == "cur1" and all(name.endswith((".csv.gz", ".csv")) for name in names):
        if not delivery.columns:
            raise LoadRefused(f"{delivery.manifest_uri}: manifest lists no columns; cannot check the CSV headers")
        return LegacyCsvReader(delivery.columns)
    raise LoadRefused(
        f"{delivery.manifest_uri}: unsupported data files for format {fmt}: {names[:3]} "
        "(use GZIP CSV or Parquet; ZIP-compressed CUR is not supported)"
    )


def month_load(delivery: Delivery, files: list[LocalFile]) -> MonthLoad:
    return MonthLoad(
        source=SOURCE,
        schema=SCHEMA,
        export=delivery.export.name,
        table_stem=delivery.export.table_stem,
        dataset=delivery.export.format.replace(".", "_"),
        billing_period=delivery.billing_period,
        manifest_uri=delivery.manifest_uri,
        version=delivery.version,
        files=files,
        reader=reader_for(delivery),
    )
