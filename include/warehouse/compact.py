"""Compacting the warehouse file, which DuckDB never shrinks.

Each load swaps a month table and drops the old one; DuckDB reuses the freed blocks for later
writes but does not give them back to the file system (`CHECKPOINT` truncates only free blocks at
the very end of the file, and `VACUUM` does not rewrite tables). So the file keeps the size of its
largest moment, e.g. a restated month loaded while its previous table still existed.

`compact` writes a copy of the whole database (`COPY FROM DATABASE`: every schema, table, view,
constraint and comment, with no free blocks) beside the file, `.<name>.compacting`, and renames it
over the file; a failed compaction leaves the file as it was and removes the copy, a killed one
leaves the copy, which the next compaction or a load's sweep of stale files removes
(include/warehouse/workspace.py). It needs every other process off the file, like any writer: the
billing DAG's `publish_serving_layer` task (in the `duckdb_writer` pool) calls `compact_if_needed`
after each publish, which logs a failure (a full disk, a lock) rather than failing the task; by
hand, run it with the scheduler paused. `compact_if_needed` compacts only when free blocks make
up at least `MIN_FREE_FRACTION` of the file and `MIN_FREE_BYTES`:

    python -m include.warehouse.compact [--warehouse data/finops.duckdb] [--force]
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from include.settings import DEFAULT_WAREHOUSE_PATH
from include.sql import sql_identifier, sql_literal

log = logging.getLogger(__name__)

MIN_FREE_FRACTION = 0.25
MIN_FREE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Usage:
    file_bytes: int
    free_bytes: int  # in blocks DuckDB holds free for reuse

    @property
    def free_fraction(self) -> float:
        return self.free_bytes / self.file_bytes if self.file_bytes else 0.0


def usage(warehouse: Path) -> Usage:
    """The file's size and how much of it DuckDB holds free (after a checkpoint, so the WAL is in the file)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CHECKPOINT").fetchall()
        [(block_size, free_blocks)] = con.execute(
            "SELECT block_size, free_blocks FROM pragma_database_size() WHERE database_name = current_database()"
        ).fetchall()
    return Usage(file_bytes=Path(warehouse).stat().st_size, free_bytes=block_size * free_blocks)


def needs_compaction(found: Usage) -> bool:
    return found.free_bytes >= MIN_FREE_BYTES and found.free_fraction >= MIN_FREE_FRACTION


def compaction_copy(warehouse: Path) -> Path:
    """Where `compact` writes the copy (DuckDB adds `<copy>.wal` beside it while it writes)."""
    return Path(warehouse).with_name(f".{Path(warehouse).name}.compacting")


def compact(warehouse: Path) -> tuple[Usage, Usage]:
    """Rewrite the warehouse without its free blocks; returns its usage before and after."""
    warehouse = Path(warehouse)
    before = usage(warehouse)
    copy = compaction_copy(warehouse)
    _remove_copy(copy)  # a killed compaction's
    # Views are copied as their SQL text: one naming the catalog (the file's stem, as dbt-duckdb writes them)
    # binds again once the copy has the file's name. Attached under that name, it would bind during the copy too.
    catalog, target = sql_identifier(warehouse.stem), sql_identifier(f"{warehouse.stem}_compacted")
    try:
        with duckdb.connect(":memory:") as con:
            con.execute(f"ATTACH {sql_literal(str(warehouse))} AS {catalog}").fetchall()
            con.execute(f"ATTACH {sql_literal(str(copy))} AS {target}").fetchall()
            con.execute(f"COPY FROM DATABASE {catalog} TO {target}").fetchall()
            con.execute(f"DETACH {target}").fetchall()
            con.execute(f"DETACH {catalog}").fetchall()
        with open(copy, "rb") as written:
            os.fsync(written.fileno())
        os.replace(copy, warehouse)
    finally:
        _remove_copy(copy)
    return before, usage(warehouse)


def _remove_copy(copy: Path) -> None:
    copy.unlink(missing_ok=True)
    copy.with_name(f"{copy.name}.wal").unlink(missing_ok=True)


def compact_if_needed(warehouse: Path) -> tuple[Usage, Usage] | None:
    """`compact` when the file has grown from swaps past the thresholds above; None when it has not, or when
    compacting failed: housekeeping after a publish, so a full disk or a lock is logged, not raised."""
    try:
        return compact(warehouse) if needs_compaction(usage(warehouse)) else None
    except (OSError, duckdb.Error) as err:
        log.warning("did not compact %s (the next run tries again): %s", warehouse, err)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description="Compact the warehouse file (run with no other process on it)")
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE_PATH)
    parser.add_argument("--force", action="store_true", help="compact whatever the free space")
    args = parser.parse_args()
    found = usage(args.warehouse)
    if not (args.force or needs_compaction(found)):
        print(f"{args.warehouse}: {found.free_bytes / 2**20:.1f} MiB free of {found.file_bytes / 2**20:.1f} MiB: kept")
        return
    before, after = compact(args.warehouse)  # by hand, a failure is the command's: it exits non-zero
    print(f"{args.warehouse}: {before.file_bytes / 2**20:.1f} MiB → {after.file_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
