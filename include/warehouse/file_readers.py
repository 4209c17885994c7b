"""What every cloud's readers share: the columns the load adds, DuckDB's list of the files, an independent count
of a CSV's records, and naming the file DuckDB could not read. The format-specific readers are
`include/<provider>/readers.py`."""

from __future__ import annotations

import zlib

import duckdb
from isal import igzip

from include.sql import sql_literal
from include.warehouse.loader import LoadRefused, LocalFile

# Columns the load adds beside the delivery's own: the file each row came from (`filename`, then
# `_local_file`) and the lineage the loader and the dataset view add (include/warehouse/loader.py).
LOADER_COLUMNS = ("filename", "_local_file", "_export", "_billing_period", "_source_file", "_manifest_version")


def paths_sql(files: list[LocalFile]) -> str:
    """The files' local paths as a DuckDB list literal, for read_csv / read_parquet."""
    return "[" + ", ".join(sql_literal(str(f.path)) for f in files) + "]"


def records_by_line_breaks(file: LocalFile) -> int:
    """Data records in a CSV(.gz) file = line breaks, plus an unterminated last line, minus the header.

    A reader independent of DuckDB's CSV parser (a quoted field holding a line break makes it count more:
    the loader then lets DuckDB settle that file). A truncated or corrupt gzip is refused naming the file."""
    breaks, last = 0, b"\n"
    opener = igzip.open if file.path.name.endswith(".gz") else open  # ISA-L: ~2x zlib's speed
    try:
        with opener(file.path, "rb") as stream:
            while chunk := stream.read(16 * 1024 * 1024):
                breaks, last = breaks + chunk.count(b"\n"), chunk[-1:]
    except (OSError, EOFError, zlib.error) as err:
        raise LoadRefused(f"{file.listed_uri}: truncated or corrupt gzip ({err}); re-copy the file") from err
    return breaks + (last != b"\n") - 1


def first_failing_file(con: duckdb.DuckDBPyConnection, files: list[LocalFile], select_sql) -> str | None:
    """Re-read file by file (only after a failure) to name the file DuckDB choked on."""
    for file in files:
        try:
            con.execute(f"SELECT count(*) FROM ({select_sql([file])})").fetchall()
        except duckdb.Error as err:
            return f"{file.listed_uri}: {str(err).splitlines()[0]}"
    return None
