"""Scratch space for a load, next to the warehouse, that no killed or failed load leaves behind.

    <warehouse folder>/.finops-tmp/load-<random>/   one per running load: the files fetched from S3
    <warehouse>.tmp/                                DuckDB's spill files past FINOPS_DUCKDB_MEMORY_LIMIT
    .<warehouse name>.compacting(.wal)              a killed compaction's copy (include/warehouse/compact.py)

A load holds an exclusive `flock` on `.lock` in its folder while it runs; the kernel releases it
when the process ends, however it ends (SIGKILL included). A load that ends removes its folder;
each load first removes what no running process holds: load folders whose lock it can take (a
minute old at least, so a folder just created, not locked yet, is not taken for stale), and
DuckDB's spill files and a compaction's copy when no process has the warehouse file (nor the copy)
open (DuckDB holds a lock on a file while open, listed in /proc/locks; DuckDB itself removes a dead
process's spill files only when it spills again). A compaction has the warehouse open while it
writes its copy; should a sweep take the copy in the instant between closing both and renaming it,
that compaction fails and the warehouse stays as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.warehouse.compact import compaction_copy

WORKSPACES = ".finops-tmp"
LOCK_FILE = ".lock"
_CREATING_S = 60  # a load folder younger than this may not be locked yet
_PROC_LOCKS = Path("/proc/locks")


@contextmanager
def load_workspace(warehouse: Path) -> Iterator[Path]:
    """A folder for one load's files, locked while the load runs and removed when it ends."""
    root = Path(warehouse).parent / WORKSPACES
    root.mkdir(parents=True, exist_ok=True)
    sweep_stale(Path(warehouse))
    folder = Path(tempfile.mkdtemp(prefix="load-", dir=root))
    try:
        with open(folder / LOCK_FILE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale(warehouse: Path) -> list[Path]:
    """Remove the load folders, DuckDB spill files and compaction copies no running process holds; returns
    what it removed."""
    root = warehouse.parent / WORKSPACES
    stale = [folder for folder in sorted(root.glob("load-*")) if _unlocked(folder)] if root.is_dir() else []
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    if _open_anywhere(warehouse):
        return stale
    spill = warehouse.with_name(f"{warehouse.name}.tmp")  # DuckDB's default temp_directory
    leftovers = sorted(spill.glob("duckdb_temp_*")) if spill.is_dir() else []
    copy = compaction_copy(warehouse)
    if not _open_anywhere(copy):
        leftovers += [path for path in (copy, copy.with_name(f"{copy.name}.wal")) if path.exists()]
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return stale + leftovers


def _unlocked(folder: Path) -> bool:
    try:
        if time.time() - folder.stat().st_mtime < _CREATING_S:
            return False
        with open(folder / LOCK_FILE, "a") as lock:  # "a": a folder killed before its lock file existed
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except FileNotFoundError:  # removed meanwhile
        return False


def _open_anywhere(path: Path) -> bool:
    """Whether a process holds a lock on the file (any DuckDB connection to it, read-only included).

    Read from /proc/locks rather than by trying a lock: closing a lock-probe file would drop the
    locks a DuckDB connection of this very process holds on it. Without /proc/locks, assume open.
    """
    if not path.exists():
        return False
    try:
        listing = _PROC_LOCKS.read_text()
    except OSError:
        return True
    stat = path.stat()
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any(device in line.split() for line in listing.splitlines())
