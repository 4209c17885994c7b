"""Real dbt runs on real DuckDB files: the generator's exports, loaded by the loader, built by dbt."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from include.aws.sample_data import MonthTotals, write_month
from include.orchestration.focus_models import DBT_PROJECT
from tests.conftest import DBT_TARGET, FEB, JAN, MAR, S3_URI
from tests.helpers import deliveries, load, local_export

EXPORTS = [("legacy", "cur1"), ("cur2", "cur2")]
MONTH_ROWS = 1_500


@contextmanager
def _dbt_env(warehouse: Path, partitions: str | None):
    """The environment the DAG gives dbt: the warehouse, and the source partitions to rebuild (none: every one)."""
    wanted = {"FINOPS_WAREHOUSE_PATH": str(warehouse), "FINOPS_SOURCE_PARTITIONS": partitions}
    before = {name: os.environ.get(name) for name in wanted}
    try:
        for name, value in wanted.items():
            _set_env(name, value)
        yield
    finally:
        for name, value in before.items():
            _set_env(name, value)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def run_dbt(warehouse: Path, *args: str, partitions: str | None = None):
    """Run one dbt command on `warehouse` in-process, rebuilding `partitions` (comma-separated
    `x_SourcePartition`s; None: every one); returns dbt's result, whatever it is."""
    from dbt.cli.main import dbtRunner

    project = ["--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT), "--target-path", str(DBT_TARGET)]
    with _dbt_env(warehouse, partitions):
        return dbtRunner().invoke([*args, *project, "--quiet"])


def dbt(warehouse: Path, *args: str, partitions: str | None = None) -> None:
    """Run one dbt command on `warehouse` in-process; fails the test with dbt's own error."""
    result = run_dbt(warehouse, *args, partitions=partitions)
    if not result.success:
        failed = [
            f"{r.node.name}: {r.status} {r.message}"
            for r in getattr(result.result, "results", [])
            if str(r.status) not in ("success", "pass")
        ]
        pytest.fail(f"dbt {' '.join(args)} failed: {result.exception or failed}")


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@dataclass
class FocusWarehouse:
    """A warehouse with FOCUS built, and what the generator says each (export, month) holds."""

    path: Path
    root: Path
    expected: dict[tuple[str, str], MonthTotals] = field(default_factory=dict)

    def deliver(self, name: str, fmt: str, month, revision: int = 1, rows: int = MONTH_ROWS, invoiced=True) -> None:
        totals = write_month(
            self.root,
            name,
            fmt,
            month,
            rows=rows,
            s3_uri=S3_URI,
            revision=revision,
            chunk_rows=700,
            first_month=JAN,
            invoiced=invoiced,
        )
        self.expected[(name, f"{month:%Y-%m}")] = totals
        export = local_export(name, fmt, self.root, S3_URI)
        for delivery in deliveries(export):
            if delivery.billing_period == month:
                load(self.path, delivery)

    def mark_every_mart_row(self, marker: str) -> None:
        """Every row of the mart gets `marker` as its ChargeDescription: a partition rebuilt since has lost it."""
        with duckdb.connect(str(self.path)) as con:
            con.execute("UPDATE focus.cost_and_usage SET ChargeDescription = ?", [marker]).fetchall()

    def copy(self, folder: Path) -> FocusWarehouse:
        """This warehouse's folder (warehouse, mirror, serving layer) copied to `folder`, for one test to change."""
        shutil.copytree(self.path.parent, folder)
        return FocusWarehouse(folder / self.path.name, folder / self.root.name, dict(self.expected))


def build_focus_warehouse(workdir: Path) -> FocusWarehouse:
    """Three months of legacy CUR and CUR 2.0, loaded and built into focus.cost_and_usage; March is still open.

    The session fixture `focus_warehouse` (tests/conftest.py) builds it once; tests only read it.
    """
    built = FocusWarehouse(path=workdir / "warehouse.duckdb", root=workdir / "mirror")
    for name, fmt in EXPORTS:
        for month in (JAN, FEB, MAR):
            built.deliver(name, fmt, month, invoiced=month != MAR)  # no invoice yet: empty bill/InvoiceId
    dbt(built.path, "build")
    return built
