"""A load's scratch files: fetched files live in a locked folder next to the warehouse, removed when the load
ends, and whatever a killed load left (its folder, partial downloads, DuckDB spill files), or a killed
compaction (its copy of the warehouse), goes at the next load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from upath import UPath

from include.aws.provider import AWS
from include.orchestration.loading import load_delivery
from include.warehouse.compact import compaction_copy
from include.warehouse.loader import LoadRefused
from include.warehouse.workspace import WORKSPACES, load_workspace, sweep_stale
from tests.conftest import JAN, PROJECT_ROOT, S3_URI
from tests.helpers import deliveries, local_export, month_rows_and_cost

ENV = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
# Enters a load's workspace, writes half a download, says where, then waits or dies by SIGKILL.
IN_A_LOAD = """
import os, signal, sys, time
from pathlib import Path
from include.warehouse.workspace import load_workspace
with load_workspace(Path(sys.argv[1])) as folder:
    (folder / "00000-part.parquet").write_bytes(b"PAR1" * 1000)
    print(folder, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
"""
# Compacts the warehouse and dies by SIGKILL once its copy is written, just before renaming it over the file.
KILLED_COMPACTING = """
import os, signal, sys
from pathlib import Path
from include.warehouse import compact
compact.os.replace = lambda source, target: os.kill(os.getpid(), signal.SIGKILL)
compact.compact(Path(sys.argv[1]))
"""


def _in_a_load(warehouse: Path, how: str) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", IN_A_LOAD, str(warehouse), how], stdout=subprocess.PIPE, text=True, env=ENV
    )
    return process, Path(process.stdout.readline().strip())


def _holding(warehouse: Path) -> subprocess.Popen:
    """A process with the warehouse open (as a load has it), once it has said so."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    holder.stdout.readline()
    return holder


def _age(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _remote():
    """Files as a remote store serves them (memory://, like s3://): a load fetches them into its folder."""

    def open_path(read_uri: str) -> UPath:
        remote = UPath(f"memory://bucket/{Path(read_uri).name}")
        remote.write_bytes(Path(read_uri.removeprefix("file://")).read_bytes())
        return remote

    return open_path


def test_a_load_fetches_into_its_folder_and_leaves_nothing_whether_it_succeeds_or_fails(write_sample, warehouse):
    totals = write_sample("cur", "cur2", JAN)
    [delivery] = deliveries(local_export("cur", "cur2", write_sample.root, S3_URI))
    workspaces, during = warehouse.parent / WORKSPACES, []
    open_path = _remote()

    def fetch(read_uri):
        during.append(sorted(workspaces.glob("load-*")))
        return open_path(read_uri)

    load_delivery(warehouse, AWS, delivery, fetch)
    assert month_rows_and_cost(warehouse, "cur_2025_01")[0] == totals.rows
    assert all(len(folders) == 1 for folders in during) and list(workspaces.iterdir()) == []

    first = Path(delivery.data_files[0].read_uri.removeprefix("file://"))
    first.write_bytes(first.read_bytes()[:100])  # truncated: the load fails after fetching
    with pytest.raises(LoadRefused):
        load_delivery(warehouse, AWS, delivery, _remote())
    assert list(workspaces.iterdir()) == []


def test_a_killed_loads_folder_and_partial_download_go_at_the_next_load_a_running_ones_stay(warehouse):
    killed, killed_folder = _in_a_load(warehouse, "kill")
    assert killed.wait(timeout=30) == -signal.SIGKILL and (killed_folder / "00000-part.parquet").exists()
    running, running_folder = _in_a_load(warehouse, "wait")
    try:
        _age(running_folder)
        assert sweep_stale(warehouse) == []  # the killed folder is too young to tell from one being created
        _age(killed_folder)
        with load_workspace(warehouse) as folder:
            assert sorted((warehouse.parent / WORKSPACES).iterdir()) == sorted([folder, running_folder])
        assert not killed_folder.exists() and running_folder.exists()  # locked by a process that runs
    finally:
        running.kill()
        running.wait()
    _age(running_folder)
    assert sweep_stale(warehouse) == [running_folder]


def test_duckdb_spill_files_of_a_killed_load_go_once_no_process_has_the_warehouse_open(warehouse):
    spill = warehouse.with_name(f"{warehouse.name}.tmp")
    spill.mkdir()
    leftover = spill / "duckdb_temp_999999_0_storage_DEFAULT-0.tmp"  # as a killed DuckDB leaves them
    leftover.write_bytes(b"\0" * 4096)
    holder = _holding(warehouse)
    try:
        assert sweep_stale(warehouse) == [] and leftover.exists()  # a running DuckDB may be spilling there
    finally:
        holder.kill()
        holder.wait()
    with duckdb.connect(str(warehouse), read_only=True):
        assert sweep_stale(warehouse) == []  # this process has it open, too
    assert sweep_stale(warehouse) == [leftover] and not leftover.exists()


def test_a_killed_compactions_copy_goes_at_the_next_load_once_no_process_has_the_warehouse_open(
    write_sample, warehouse
):
    totals = write_sample("cur", "cur2", JAN)
    [january] = deliveries(local_export("cur", "cur2", write_sample.root, S3_URI))
    load_delivery(warehouse, AWS, january, _remote())
    killed = subprocess.run([sys.executable, "-c", KILLED_COMPACTING, str(warehouse)], env=ENV, check=False)
    copy = compaction_copy(warehouse)
    assert killed.returncode == -signal.SIGKILL and copy.stat().st_size > 0  # a full copy of the warehouse
    holder = _holding(warehouse)
    try:
        assert sweep_stale(warehouse) == [] and copy.exists()  # it may be a running compaction's
    finally:
        holder.kill()
        holder.wait()

    with load_workspace(warehouse):
        assert not copy.exists()
    assert month_rows_and_cost(warehouse, "cur_2025_01")[0] == totals.rows  # the warehouse as it was
