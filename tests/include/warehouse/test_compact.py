"""Compacting the warehouse: the file shrinks to its data, which stays exactly as it was, and loads go on; a
compaction that fails leaves the file as it was and fails nothing else."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from include.warehouse import compact as compact_module
from include.warehouse.compact import compact, compact_if_needed, compaction_copy, main, needs_compaction, usage
from tests.conftest import FEB, JAN, PROJECT_ROOT, S3_URI
from tests.helpers import deliveries, load, local_export, month_rows_and_cost

ENV = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
# compact_if_needed in a process whose files may not grow past argv[2] bytes (RLIMIT_FSIZE): writing the
# copy fails as on a full disk. Prints what it returned.
WITH_A_FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from include.warehouse import compact
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
compact.MIN_FREE_FRACTION, compact.MIN_FREE_BYTES = 0, 0
print(json.dumps(compact.compact_if_needed(Path(sys.argv[1]))))
"""


def _everything(warehouse) -> dict:
    """Every schema, table (with its rows), view, column and comment the file holds."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name, comment, sql FROM duckdb_tables() ORDER BY ALL"
        ).fetchall()
        return {
            "tables": tables,
            "views": con.execute(
                "SELECT schema_name, view_name, comment, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL"
            ).fetchall(),
            "columns": con.execute(
                "SELECT schema_name, table_name, column_name, data_type, comment FROM duckdb_columns() ORDER BY ALL"
            ).fetchall(),
            "rows": {
                (schema, table): con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
                for schema, table, _, _ in tables
            },
        }


def test_a_warehouse_grown_from_swaps_shrinks_to_its_data_which_stays_the_same(write_sample, warehouse, monkeypatch):
    export = local_export("cur", "cur2", write_sample.root, S3_URI)
    write_sample("cur", "cur2", JAN, rows=20_000)
    [january] = deliveries(export)
    load(warehouse, january)
    write_sample("cur", "cur2", JAN, revision=2, rows=5_000)  # a restatement: the month's table is swapped
    [restated] = deliveries(export)
    load(warehouse, restated)
    grown = usage(warehouse)
    assert not needs_compaction(grown)  # a few MiB free: not worth rewriting at the default thresholds
    assert compact_if_needed(warehouse) is None
    with monkeypatch.context() as lowered:
        lowered.setattr(compact_module, "MIN_FREE_FRACTION", 0.1)
        lowered.setattr(compact_module, "MIN_FREE_BYTES", 0)
        assert grown.free_bytes > 0 and needs_compaction(grown)
    before = _everything(warehouse)

    shrunk, compacted = compact(warehouse)
    assert shrunk == grown and compacted.free_bytes == 0
    assert compacted.file_bytes < grown.file_bytes - grown.free_bytes / 2
    assert _everything(warehouse) == before
    assert not [path.name for path in warehouse.parent.iterdir() if "compact" in path.name]

    write_sample("cur", "cur2", FEB, rows=1_000)  # the compacted file is a warehouse like any other
    [february] = [delivery for delivery in deliveries(export) if delivery.billing_period == FEB]
    assert load(warehouse, february).rows == month_rows_and_cost(warehouse, "cur_2025_02")[0] > 0

    monkeypatch.setattr(sys, "argv", ["compact", "--warehouse", str(warehouse), "--force"])
    main()
    assert usage(warehouse).free_bytes == 0


@pytest.fixture
def loaded(write_sample, warehouse, monkeypatch):
    """A warehouse with one month loaded, which compact_if_needed compacts whatever its free space."""
    write_sample("cur", "cur2", JAN, rows=20_000)
    [january] = deliveries(local_export("cur", "cur2", write_sample.root, S3_URI))
    load(warehouse, january)
    monkeypatch.setattr(compact_module, "MIN_FREE_FRACTION", 0)
    monkeypatch.setattr(compact_module, "MIN_FREE_BYTES", 0)
    return warehouse


def test_a_compaction_that_meets_a_lock_is_logged_and_the_warehouse_stays_as_it_was(loaded, caplog):
    before = _everything(loaded)
    holder = subprocess.Popen(  # another writer has the file, as a load would
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(loaded)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        holder.stdout.readline()
        with caplog.at_level(logging.WARNING, logger=compact_module.__name__):
            assert compact_if_needed(loaded) is None
    finally:
        holder.kill()
        holder.wait()

    [warning] = caplog.records
    assert str(loaded) in warning.getMessage() and "lock" in warning.getMessage()
    assert _everything(loaded) == before
    assert not compaction_copy(loaded).exists()


def test_a_compaction_that_runs_out_of_disk_is_logged_and_the_warehouse_stays_as_it_was(loaded):
    before, size = _everything(loaded), loaded.stat().st_size
    completed = subprocess.run(
        [sys.executable, "-c", WITH_A_FULL_DISK, str(loaded), str(size // 4)],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) is None
    assert f"did not compact {loaded}" in completed.stderr and "File too large" in completed.stderr
    assert _everything(loaded) == before and loaded.stat().st_size == size
    assert not [path.name for path in loaded.parent.iterdir() if "compacting" in path.name]


def test_a_warehouse_built_by_dbt_compacts_with_its_views_binding_including_one_naming_the_catalog(
    focus_warehouse, tmp_path
):
    """The file's name is its catalog's: a view naming it (as dbt-duckdb writes a view model) binds in the copy."""
    warehouse = tmp_path / focus_warehouse.path.name
    shutil.copyfile(focus_warehouse.path, warehouse)
    catalog = warehouse.stem
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f'CREATE VIEW "{catalog}"."focus"."billed_by_month" AS SELECT x_BillingPeriod, sum(BilledCost) AS billed '
            f'FROM "{catalog}"."focus"."cost_and_usage" GROUP BY ALL'
        ).fetchall()
    before = _everything(warehouse)
    views = [(schema, view) for schema, view, _, _ in before["views"]]
    assert ("focus", "billed_by_month") in views and len(views) > 1  # and the loader's views over the months

    compact(warehouse)

    assert _everything(warehouse) == before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = {
            (schema, view): con.execute(f'SELECT * FROM "{schema}"."{view}" ORDER BY ALL').fetchall()
            for schema, view in views
        }
    with duckdb.connect(str(focus_warehouse.path), read_only=True) as con:
        mart = con.execute(
            "SELECT x_BillingPeriod, sum(BilledCost) FROM focus.cost_and_usage GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert rows["focus", "billed_by_month"] == mart
    # every view binds and reads its rows (an AWS warehouse holds no month back, and no Azure source)
    assert [view for view, found in rows.items() if not found] == [("focus", "months_held_back")]
