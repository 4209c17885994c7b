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
from include.serving.publish import (
    CHANGED_SINCE_VALIDATION,
    NOT_VALIDATED,
    VALIDATION_COLUMNS,
    VALIDATION_FILE,
    connect_serving,
    latest_verdicts,
    month_fingerprints,
    publish,
    publish_validation,
    served_months,
)
from include.settings import AWS_DATASETS
from include.warehouse.ledger import ensure_ledger
from tests.conftest import PROJECT_ROOT

CUR1, CUR2, FOCUS_1_2 = (AWS_DATASETS[fmt] for fmt in ("cur1", "cur2", "focus1.2"))


def _mart(path: Path, rows: list[tuple], manifest: str = "manifest-1") -> Path:
    """A warehouse whose mart holds (provider, account, export, dataset, month, billed) rows, each
    delivered by `manifest` with EffectiveCost = BilledCost, and an empty ledger."""
    with duckdb.connect(str(path)) as con:
        ensure_ledger(con)
        con.execute(
            "CREATE SCHEMA IF NOT EXISTS focus; CREATE OR REPLACE TABLE focus.cost_and_usage ("
            "ProviderName VARCHAR, BillingAccountId VARCHAR, x_ExportName VARCHAR, x_Dataset VARCHAR, "
            "x_BillingPeriod DATE, BilledCost DECIMAL(38, 18), EffectiveCost DECIMAL(38, 18), "
            "x_SourcePartition VARCHAR, x_ManifestVersion VARCHAR)"
        ).fetchall()
        if rows:
            con.executemany(
                "INSERT INTO focus.cost_and_usage (ProviderName, BillingAccountId, x_ExportName, x_Dataset, "
                "x_BillingPeriod, BilledCost) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        con.execute(
            "UPDATE focus.cost_and_usage SET EffectiveCost = BilledCost, x_ManifestVersion = ?, "
            "x_SourcePartition = concat_ws('/', x_Dataset, x_ExportName, strftime(x_BillingPeriod, '%Y-%m'))",
            [manifest],
        ).fetchall()
    return path


def _served(root: Path) -> list[tuple]:
    with connect_serving(root) as con:
        return con.execute(
            "SELECT billing_period, BillingAccountId, x_ExportName, sum(BilledCost) FROM cost_and_usage "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def _validated(
    root: Path, warehouse: Path, *months: str, status: str = "passed", failing_rules: str | None = None
) -> None:
    """A focus-validator verdict on these months as the mart holds them now, as validate_focus records it."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        fingerprints = month_fingerprints(con, months)
    verdict = {"billing_periods": ",".join(months), "fingerprints": fingerprints}
    publish_validation(root, verdict | {"status": status, "failing_rules": failing_rules})


JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


def test_one_export_per_account_and_month_is_served_preferring_focus_then_cur2(tmp_path):
    warehouse = _mart(
        tmp_path / "w.duckdb",
        [
            ("AWS", "111", "legacy", CUR1, JAN, 10),
            ("AWS", "111", "new", CUR2, JAN, 10),  # the same bill through CUR 2.0: preferred
            ("AWS", "222", "legacy", CUR1, JAN, 7),  # another payer, only in the legacy CUR
            ("AWS", "111", "focus", FOCUS_1_2, FEB, 5),
            ("AWS", "111", "new", CUR2, FEB, 5),
        ],
    )
    _validated(tmp_path / "serving", warehouse, "2025-01", "2025-02")
    result = publish(warehouse, tmp_path / "serving", [])
    assert result.months == {"2025-01": 2, "2025-02": 1}
    assert _served(tmp_path / "serving") == [
        ("2025-01", "111", "new", 10),
        ("2025-01", "222", "legacy", 7),
        ("2025-02", "111", "focus", 5),
    ]


def test_only_the_requested_and_never_served_months_are_rewritten(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02")
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
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02")
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", CUR2, JAN, 1)])
    _validated(root, warehouse, "2025-02")  # the run that rebuilt February judged what is left of it: nothing
    assert publish(warehouse, root, ["2025-02"]).months == {"2025-02": 0}
    assert served_months(root) == {"2025-01"}


def test_a_failed_publish_leaves_the_served_month_as_it_was(tmp_path, monkeypatch):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01")
    publish(warehouse, root, [])
    before = _served(root)
    _mart(warehouse, [("AWS", "1", "e", CUR2, JAN, 99)])
    _validated(root, warehouse, "2025-01")
    monkeypatch.setattr(serving, "_PARQUET_OPTIONS", "(FORMAT parquet, COMPRESSION no_such_codec)")
    with pytest.raises(duckdb.Error):
        publish(warehouse, root, ["2025-01"])
    assert _served(root) == before
    assert not list(root.rglob("*.tmp"))


def test_a_month_never_validated_is_held_back_and_the_verdict_history_grows(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    result = publish(warehouse, root, ["2025-01"])
    assert (result.months, result.held_back) == ({}, {"2025-01": NOT_VALIDATED})
    with duckdb.connect() as con:  # the history exists, empty, so the views bind once a month is served
        assert con.execute(f"SELECT count(*) FROM '{root / VALIDATION_FILE}'").fetchall() == [(0,)]

    _validated(root, warehouse, "2025-01")
    _validated(root, warehouse, "2025-02", status="failed")
    assert publish(warehouse, root, []).months == {"2025-01": 1}
    with connect_serving(root) as con:
        rows = con.execute("SELECT status, billing_periods FROM focus_validation ORDER BY validated_at").fetchall()
    assert rows == [("passed", "2025-01"), ("failed", "2025-02")]


def test_a_month_whose_latest_verdict_failed_is_served_only_once_a_later_run_validates_it(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", status="failed")  # run 1: January fails, validate_focus stops the run

    _validated(root, warehouse, "2025-02")  # run 2 rebuilds February only, which passes
    result = publish(warehouse, root, ["2025-02"])
    assert (result.months, result.held_back) == ({"2025-02": 1}, {"2025-01": "failed"})
    assert served_months(root) == {"2025-02"}

    _validated(root, warehouse, "2025-01")  # run 3: January restated, and it passes
    assert publish(warehouse, root, ["2025-01"]).months == {"2025-01": 1}
    assert _served(root) == [("2025-01", "1", "e", 1), ("2025-02", "1", "e", 2)]


def test_a_served_month_that_fails_later_keeps_its_previous_data(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01")
    publish(warehouse, root, ["2025-01"])
    before = _served(root)

    _mart(warehouse, [("AWS", "1", "e", CUR2, month, cost) for month, cost in ((JAN, 99), (FEB, 2), (MAR, 3))])
    _validated(root, warehouse, "2025-01", "2025-02", status="failed")  # the restatement fails, with a new month
    _validated(root, warehouse, "2025-03", status="not run")  # the validator is not installed: served anyway
    result = publish(warehouse, root, ["2025-01", "2025-03"])  # January held back even when asked for

    assert (result.months, result.held_back) == ({"2025-03": 1}, {"2025-01": "failed", "2025-02": "failed"})
    assert _served(root) == [*before, ("2025-03", "1", "e", 3)]


@pytest.mark.parametrize(
    "restated",
    [
        pytest.param({"rows": [("AWS", "1", "e", CUR2, JAN, 99)]}, id="another cost"),
        pytest.param({"rows": [("AWS", "1", "e", CUR2, JAN, 1)], "manifest": "manifest-2"}, id="same totals"),
    ],
)
def test_a_month_rebuilt_after_its_validation_is_held_back_until_what_the_mart_holds_is_validated(tmp_path, restated):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01")  # run A validates January...
    _mart(warehouse, **restated)  # ...and before it publishes, run B's dbt rebuilds January from another delivery
    result = publish(warehouse, root, ["2025-01"])  # run A publishes
    assert (result.months, result.held_back) == ({}, {"2025-01": CHANGED_SINCE_VALIDATION})
    assert served_months(root) == set()

    _validated(root, warehouse, "2025-01")  # run B validates what it built
    assert publish(warehouse, root, ["2025-01"]).months == {"2025-01": 1}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        in_mart = con.execute("SELECT x_ExportName, sum(BilledCost) FROM focus.cost_and_usage GROUP BY ALL").fetchall()
    assert _served(root) == [("2025-01", "1", *row) for row in in_mart]


@pytest.mark.parametrize(
    ("verdicts", "held_back"),
    [
        (["not run"], None),  # never checked: the validator is not installed anywhere
        (["passed", "not run"], None),
        (["failed", "passed", "not run"], None),
        (["failed", "not run"], "not run after failed"),
        (["error", "not run"], "not run after error"),
        (["passed", "failed", "not run", "not run"], "not run after failed"),
    ],
)
def test_a_month_not_run_is_served_only_if_no_failure_came_since_it_last_passed(tmp_path, verdicts, held_back):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    for status in verdicts:  # runs rebuild January, on workers with and without the validator
        _validated(root, warehouse, "2025-01", status=status)
    result = publish(warehouse, root, ["2025-01"])
    assert (result.months, result.held_back) == (({}, {"2025-01": held_back}) if held_back else ({"2025-01": 1}, {}))
    [(month, verdict)] = latest_verdicts(root).items()  # as the validation_by_month view says it
    assert (month, verdict.status, verdict.held_back) == ("2025-01", verdicts[-1], held_back)


def test_the_latest_verdict_of_each_month_is_in_the_served_view_with_why_it_is_held_back(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02", status="failed", failing_rules="X-C-001-M: X MUST be Y")
    _validated(root, warehouse, "2025-01")
    publish(warehouse, root, [])
    assert {month: verdict.status for month, verdict in latest_verdicts(root).items()} == {
        "2025-01": "passed",
        "2025-02": "failed",
    }
    with connect_serving(root) as con:
        rows = con.execute(
            "SELECT billing_period, status, held_back, held_back_reason, failing_rules FROM validation_by_month "
            "ORDER BY ALL"
        ).fetchall()
    assert rows == [
        ("2025-01", "passed", False, None, None),
        ("2025-02", "failed", True, "failed", "X-C-001-M: X MUST be Y"),
    ]


def test_a_verdict_history_from_before_the_report_columns_gets_them(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    root.mkdir()
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT TIMESTAMP '2025-02-01' AS validated_at, '2025-01' AS billing_periods, 'passed' AS status) "
            f"TO '{root / VALIDATION_FILE}'"
        ).fetchall()
    # which rows that verdict judged is not known: the month waits for a run to validate it
    result = publish(warehouse, root, [])
    assert (result.months, result.held_back) == ({}, {"2025-01": CHANGED_SINCE_VALIDATION})
    _validated(root, warehouse, "2025-01")
    assert publish(warehouse, root, []).months == {"2025-01": 1}
    with connect_serving(root) as con:
        columns = [row[0] for row in con.execute("DESCRIBE focus_validation").fetchall()]
        assert (
            con.execute("SELECT report_path, failing_rules FROM focus_validation ORDER BY ALL").fetchall()
            == [(None, None)] * 2
        )
    assert set(columns) == set(VALIDATION_COLUMNS)


def test_a_billing_period_that_is_not_yyyy_mm_is_refused(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [])
    with pytest.raises(ValueError, match="'2025-1' must be YYYY-MM"):
        publish(warehouse, tmp_path / "serving", ["2025-1"])


def test_a_reader_in_another_process_sees_the_old_month_while_the_new_file_is_being_written(tmp_path, monkeypatch):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01")
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", CUR2, JAN, 99)])
    _validated(root, warehouse, "2025-01")
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
