"""Publishing the serving layer: what is served, that each file is replaced whole, and what readers see."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.serving import publish as serving
from include.serving.publish import connect_serving, publish, publish_validation, served_months
from include.warehouse.ledger import ensure_ledger
from tests.conftest import PROJECT_ROOT


def _mart(path: Path, rows: list[tuple]) -> Path:
    """A warehouse whose mart holds (provider, account, export, dataset, month, billed) rows, and an empty ledger."""
    with duckdb.connect(str(path)) as con:
        ensure_ledger(con)
        con.execute(
            "CREATE SCHEMA IF NOT EXISTS focus; CREATE OR REPLACE TABLE focus.cost_and_usage ("
            "ProviderName VARCHAR, BillingAccountId VARCHAR, x_ExportName VARCHAR, x_Dataset VARCHAR, "
            "x_BillingPeriod DATE, BilledCost DECIMAL(38, 18))"
        ).fetchall()
        if rows:
            con.executemany("INSERT INTO focus.cost_and_usage VALUES (?, ?, ?, ?, ?, ?)", rows)
    return path


def _served(root: Path) -> list[tuple]:
    with connect_serving(root) as con:
        return con.execute(
            "SELECT billing_period, BillingAccountId, x_ExportName, sum(BilledCost) FROM cost_and_usage "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)


def test_one_export_per_account_and_month_is_served_preferring_focus_then_cur2(tmp_path):
    warehouse = _mart(
        tmp_path / "w.duckdb",
        [
            ("AWS", "111", "legacy", "aws_cur1", JAN, 10),
            ("AWS", "111", "new", "aws_cur2", JAN, 10),  # the same bill through CUR 2.0: preferred
            ("AWS", "222", "legacy", "aws_cur1", JAN, 7),  # another payer, only in the legacy CUR
            ("AWS", "111", "focus", "aws_focus1_2", FEB, 5),
            ("AWS", "111", "new", "aws_cur2", FEB, 5),
        ],
    )
    result = publish(warehouse, tmp_path / "serving", [])
    assert result.months == {"2025-01": 2, "2025-02": 1}
    assert _served(tmp_path / "serving") == [
        ("2025-01", "111", "new", 10),
        ("2025-01", "222", "legacy", 7),
        ("2025-02", "111", "focus", 5),
    ]


def test_only_the_requested_and_never_served_months_are_rewritten(tmp_path):
    warehouse = _mart(
        tmp_path / "w.duckdb", [("AWS", "1", "e", "aws_cur2", JAN, 1), ("AWS", "1", "e", "aws_cur2", FEB, 2)]
    )
    root = tmp_path / "serving"
    assert publish(warehouse, root, []).months == {"2025-01": 1, "2025-02": 1}
    january = root / "cost_and_usage" / "billing_period=2025-01" / "part.parquet"
    written = january.stat().st_ino

    assert publish(warehouse, root, ["2025-02"]).months == {"2025-02": 1}
    assert january.stat().st_ino == written  # untouched
    assert sorted(path.name for path in root.rglob("*")) == sorted(
        ["cost_and_usage", "billing_period=2025-01", "billing_period=2025-02", "part.parquet", "part.parquet"]
        + ["load_ledger.parquet", "focus_validation.parquet"]
    )  # no temporary file left behind


def test_a_month_that_left_the_mart_is_withdrawn(tmp_path):
    warehouse = _mart(
        tmp_path / "w.duckdb", [("AWS", "1", "e", "aws_cur2", JAN, 1), ("AWS", "1", "e", "aws_cur2", FEB, 2)]
    )
    root = tmp_path / "serving"
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", "aws_cur2", JAN, 1)])
    assert publish(warehouse, root, ["2025-02"]).months == {"2025-02": 0}
    assert served_months(root) == {"2025-01"}


def test_a_failed_publish_leaves_the_served_month_as_it_was(tmp_path, monkeypatch):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", "aws_cur2", JAN, 1)])
    root = tmp_path / "serving"
    publish(warehouse, root, [])
    before = _served(root)
    _mart(warehouse, [("AWS", "1", "e", "aws_cur2", JAN, 99)])
    monkeypatch.setattr(serving, "_PARQUET_OPTIONS", "(FORMAT parquet, COMPRESSION no_such_codec)")
    with pytest.raises(duckdb.Error):
        publish(warehouse, root, ["2025-01"])
    assert _served(root) == before
    assert not list(root.rglob("*.tmp"))


def test_the_views_bind_before_any_validation_and_the_verdict_history_grows(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", "aws_cur2", JAN, 1)])
    root = tmp_path / "serving"
    publish(warehouse, root, [])
    with connect_serving(root) as con:
        assert con.execute("SELECT count(*) FROM focus_validation").fetchall() == [(0,)]
    publish_validation(root, {"status": "passed", "billing_periods": "2025-01", "rules_evaluated": 578})
    publish_validation(root, {"status": "failed", "billing_periods": "2025-02", "rules_evaluated": 578})
    with connect_serving(root) as con:
        rows = con.execute("SELECT status, billing_periods FROM focus_validation ORDER BY validated_at").fetchall()
    assert rows == [("passed", "2025-01"), ("failed", "2025-02")]


def test_a_billing_period_that_is_not_yyyy_mm_is_refused(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [])
    with pytest.raises(ValueError, match="'2025-1' must be YYYY-MM"):
        publish(warehouse, tmp_path / "serving", ["2025-1"])


def test_a_reader_in_another_process_sees_the_old_month_while_the_new_file_is_being_written(tmp_path, monkeypatch):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", "aws_cur2", JAN, 1)])
    root = tmp_path / "serving"
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", "aws_cur2", JAN, 99)])
    reader = (
        "import sys; from pathlib import Path; from include.serving.publish import connect_serving; "
        "print(connect_serving(Path(sys.argv[1])).execute('SELECT sum(BilledCost)::INT FROM cost_and_usage')"
        ".fetchall()[0][0])"
    )
    seen_mid_write = []
    rename = os.replace

    def read_then_rename(source, target):
        if Path(target).name == "part.parquet":  # the new month is complete beside the old one
            read = subprocess.run(
                [sys.executable, "-c", reader, str(root)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            )
            seen_mid_write.append(read.stdout.strip() or read.stderr)
        rename(source, target)

    monkeypatch.setattr(os, "replace", read_then_rename)
    publish(warehouse, root, ["2025-01"])
    assert seen_mid_write == ["1"]
    assert _served(root) == [("2025-01", "1", "e", 99)]
