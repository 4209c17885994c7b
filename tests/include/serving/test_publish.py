"""Publishing the serving layer: what is served, that each publish adds whole versions, and what readers see."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from include.aws.settings import AWS_DATASETS
from include.serving import publish as serving
from include.serving.publish import (
    CHANGED_SINCE_VALIDATION,
    DATASETS_SEED,
    LEGACY_FILES,
    NOT_VALIDATED,
    VALIDATION_COLUMNS,
    VALIDATION_DIR,
    connect_serving,
    latest_verdicts,
    month_fingerprints,
    newest_version,
    publish,
    publish_validation,
    served_months,
    serving_ranks,
    sweep_superseded,
)
from include.settings import ConfigError
from include.warehouse.ledger import ensure_ledger
from tests.conftest import PROJECT_ROOT, S3_URI, SHARED
from tests.dbt.cur_files import read_cur_csv, wrap_as_legacy_cur
from tests.helpers import deliveries, load, local_export
from tests.include.warehouse.previous_layout import rewrite_in_previous_layout

CUR1, CUR2, FOCUS_1_2 = (AWS_DATASETS[fmt] for fmt in ("cur1", "cur2", "focus1.2"))


def _mart(path: Path, rows: list[tuple], manifest: str = "manifest-1", more_columns: str = "") -> Path:
    """A warehouse whose mart holds (provider, account, export, dataset, month, billed) rows, each
    delivered by `manifest` with EffectiveCost = BilledCost (and `more_columns`, empty), and an empty ledger."""
    with duckdb.connect(str(path)) as con:
        ensure_ledger(con)
        con.execute(
            "CREATE SCHEMA IF NOT EXISTS focus; CREATE OR REPLACE TABLE focus.cost_and_usage ("
            "ProviderName VARCHAR, BillingAccountId VARCHAR, x_ExportName VARCHAR, x_Dataset VARCHAR, "
            "x_BillingPeriod DATE, BilledCost DECIMAL(38, 18), EffectiveCost DECIMAL(38, 18), "
            f"x_SourcePartition VARCHAR, x_ManifestVersion VARCHAR{more_columns})"
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
# Real legacy CURs from other projects: one billed in NOK, one in USD.
NOK_CUR = SHARED / "samples" / "aws" / "koku_cur1_savings_plan_nok_2023-06.csv"
USD_CUR = SHARED / "samples" / "aws" / "koku_cur1_nise_generated.csv"
# The interpreter of the venv with DuckDB 1.5, as the Metabase driver has (`make focus-validator` installs it).
DUCKDB_1_5_PYTHON = PROJECT_ROOT / ".venv-focus" / "bin" / "python"


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


def test_which_export_of_an_account_is_served_is_a_row_per_dataset_in_the_datasets_seed(tmp_path, monkeypatch):
    """A provider's datasets are ranked by rows of dbt/seeds/datasets.csv, not code; an unranked one comes last."""
    seed, root = tmp_path / "datasets.csv", tmp_path / "serving"
    monkeypatch.setattr(serving, "DATASETS_SEED", seed)
    warehouse = _mart(
        tmp_path / "w.duckdb",
        [
            ("Google Cloud", "billing-1", "detailed", "gcp_detailed", JAN, 10),
            ("Google Cloud", "billing-1", "standard", "gcp_standard", JAN, 10),
            ("Google Cloud", "billing-2", "resource", "gcp_resource", JAN, 3),  # a dataset the seed does not rank
            ("Google Cloud", "billing-2", "standard", "gcp_standard", JAN, 3),
            ("AWS", "111", "legacy", CUR1, JAN, 7),
            ("AWS", "111", "new", CUR2, JAN, 7),
        ],
    )
    _validated(root, warehouse, "2025-01")
    aws_rows = DATASETS_SEED.read_text(encoding="utf-8")

    def served_with(ranks: dict[str, int]) -> dict[str, str]:
        seed.write_text(aws_rows + "".join(f"{dataset},gcp,{rank},BilledCost\n" for dataset, rank in ranks.items()))
        publish(warehouse, root, ["2025-01"])
        return {account: export for _, account, export, _ in _served(root)}

    ranks = {"gcp_detailed": 1, "gcp_standard": 2}
    assert served_with(ranks) == {"billing-1": "detailed", "billing-2": "standard", "111": "new"}
    with open(seed, encoding="utf-8", newline="") as rows:
        assert serving_ranks() == {row["dataset"]: int(row["serving_rank"]) for row in csv.DictReader(rows)}
    ranks = {"gcp_detailed": 3, "gcp_standard": 2}
    assert served_with(ranks) == {"billing-1": "standard", "billing-2": "standard", "111": "new"}


def test_datasets_of_one_rank_are_served_together_and_one_export_of_each(tmp_path, monkeypatch):
    """Azure's actual and amortized cost share a rank: both exports of an account are served (their rows were
    paired by dbt); of two exports of one dataset for one account, the first by name."""
    seed, root = tmp_path / "datasets.csv", tmp_path / "serving"
    monkeypatch.setattr(serving, "DATASETS_SEED", seed)
    seed.write_text(
        "dataset,provider,serving_rank,cost_basis\nazure_focus,azure,1,BilledCost\nazure_actual,azure,3,BilledCost\nazure_amortized,azure,3,EffectiveCost\n"
    )
    warehouse = _mart(
        tmp_path / "w.duckdb",
        [
            ("Microsoft", "ea-1", "actual", "azure_actual", JAN, 2),
            ("Microsoft", "ea-1", "amortized", "azure_amortized", JAN, 5),
            ("Microsoft", "ea-1", "amortized-copy", "azure_amortized", JAN, 5),
            ("Microsoft", "ea-2", "actual", "azure_actual", JAN, 1),
            ("Microsoft", "ea-2", "focus", "azure_focus", JAN, 1),
        ],
    )
    _validated(root, warehouse, "2025-01")
    publish(warehouse, root, ["2025-01"])
    assert sorted((account, export) for _, account, export, _ in _served(root)) == [
        ("ea-1", "actual"), ("ea-1", "amortized"), ("ea-2", "focus")
    ]  # fmt: skip


def test_only_the_requested_and_never_served_months_are_rewritten(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02")
    assert publish(warehouse, root, []).months == {"2025-01": 1, "2025-02": 1}
    january, february = (root / "cost_and_usage" / f"billing_period={month}" for month in ("2025-01", "2025-02"))
    [written] = january.iterdir()
    first_february = newest_version(february)

    assert publish(warehouse, root, ["2025-02"]).months == {"2025-02": 1}
    assert list(january.iterdir()) == [written]  # untouched
    assert newest_version(february) != first_february and first_february.exists()  # a new version; the old one stays
    assert not [path for path in root.rglob("*") if path.is_file() and path.suffix != ".parquet"]  # no temporary file


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
        assert con.execute(f"SELECT count(*) FROM '{newest_version(root / VALIDATION_DIR)}'").fetchall() == [(0,)]

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


def test_a_verdict_history_from_before_versions_and_the_report_columns_is_kept_and_gets_them(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    root.mkdir()
    with duckdb.connect() as con:  # one file, renamed over, before each publish wrote a version
        con.execute(
            "COPY (SELECT TIMESTAMP '2025-02-01' AS validated_at, '2025-01' AS billing_periods, 'passed' AS status) "
            f"TO '{root / LEGACY_FILES[VALIDATION_DIR]}'"
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
    rename = os.rename

    def read_then_rename(source, target):
        if "billing_period=" in str(target):  # the new month is complete beside the old one
            read = subprocess.run(
                [sys.executable, "-c", reader, str(root)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            )
            seen_mid_write.append(read.stdout.strip() or read.stderr)
        rename(source, target)

    monkeypatch.setattr(os, "rename", read_then_rename)
    publish(warehouse, root, ["2025-01"])
    assert seen_mid_write == ["1"]
    assert _served(root) == [("2025-01", "1", "e", 99)]


def _versions(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_each_publish_adds_a_version_and_a_superseded_one_goes_once_the_grace_period_has_passed(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    root = tmp_path / "serving"
    january, ledger = root / "cost_and_usage" / "billing_period=2025-01", root / "load_ledger"
    for _ in range(3):
        _validated(root, warehouse, "2025-01")
        publish(warehouse, root, ["2025-01"], grace_s=3600)
    assert len(_versions(january)) == len(_versions(ledger)) == 3  # superseded within the grace period: kept
    newest = [newest_version(folder) for folder in (january, ledger, root / VALIDATION_DIR)]
    assert all(version.name == _versions(version.parent)[0] for version in newest)  # newest first by name
    killed = january / ".part-killed.tmp"  # a publish killed while writing
    killed.write_bytes(b"PAR1")
    os.utime(killed, (time.time() - 120, time.time() - 120))

    deleted = sweep_superseded(root, grace_s=60)  # the versions were superseded moments ago, the file is older
    assert deleted == [killed]
    time.sleep(0.05)
    deleted = sweep_superseded(root, grace_s=0.01)
    assert [path.parent for path in deleted].count(january) == 2 and [path.parent for path in deleted].count(
        ledger
    ) == 2
    assert [newest_version(folder) for folder in (january, ledger, root / VALIDATION_DIR)] == newest
    assert [path.name for path in (january, ledger, root / VALIDATION_DIR) for path in path.iterdir()] == [
        version.name for version in newest
    ]
    assert _served(root) == [("2025-01", "1", "e", 1)]


def _sixty_months_republished_with_superseded_versions_unreadable(warehouse: Path, root: Path) -> list[str]:
    """Sixty months served, then served again without the oldest (withdrawn); every superseded version made
    unreadable, as if deleted mid-query. Returns the months."""
    months = [date(2020 + index // 12, index % 12 + 1, 1) for index in range(60)]
    _mart(warehouse, [("AWS", "1", "e", CUR2, month, 1) for month in months])
    periods = [f"{month:%Y-%m}" for month in months]
    _validated(root, warehouse, *periods)
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", CUR2, month, 2) for month in months[1:]])
    _validated(root, warehouse, *periods)
    assert sum(publish(warehouse, root, periods).months.values()) == 59
    superseded = [path for path in root.rglob("part-*.parquet") if path != newest_version(path.parent)]
    assert len(superseded) == 60 + 1 + 2  # each month, the ledger, the verdict history (empty, then two)
    for path in superseded:
        path.write_bytes(b"not a parquet file")
    return periods


def test_readers_never_open_a_superseded_version(tmp_path):
    """Every superseded version made unreadable (as if deleted mid-query): the views still answer, over more
    months than DuckDB filters a join's names one by one by default, and where the first file a scan lists
    is empty (a withdrawn oldest month, the empty ledger)."""
    root = tmp_path / "serving"
    periods = _sixty_months_republished_with_superseded_versions_unreadable(tmp_path / "w.duckdb", root)
    with connect_serving(root) as con:
        assert con.execute("SELECT count(*) FROM load_ledger").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM validation_by_month").fetchall() == [(60,)]
        assert con.execute("SELECT count(*) FROM cost_and_usage WHERE billing_period = '2022-03'").fetchall() == [(1,)]
    assert _served(root) == [(period, "1", "e", 2) for period in periods[1:]]


def test_a_withdrawn_month_keeps_an_empty_version_until_it_has_rows_again(tmp_path):
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2)])
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02")
    publish(warehouse, root, [])
    _mart(warehouse, [("AWS", "1", "e", CUR2, FEB, 2)])
    _validated(root, warehouse, "2025-01")
    assert publish(warehouse, root, ["2025-01"], grace_s=0).months == {"2025-01": 0}
    january = root / "cost_and_usage" / "billing_period=2025-01"
    [withdrawal] = january.iterdir()  # the month's data is gone after the grace period; its withdrawal stays
    assert withdrawal.name.endswith("-withdrawn.parquet") and served_months(root) == {"2025-02"}
    assert _served(root) == [("2025-02", "1", "e", 2)]
    assert publish(warehouse, root, ["2025-01"]).months == {"2025-01": 0}  # withdrawn already: nothing new
    assert list(january.iterdir()) == [withdrawal]

    _mart(warehouse, [("AWS", "1", "e", CUR2, JAN, 5), ("AWS", "1", "e", CUR2, FEB, 2)])
    _validated(root, warehouse, "2025-01")
    assert publish(warehouse, root, ["2025-01"]).months == {"2025-01": 1}
    assert served_months(root) == {"2025-01", "2025-02"}
    assert _served(root) == [("2025-01", "1", "e", 5), ("2025-02", "1", "e", 2)]
    _mart(warehouse, [("AWS", "1", "e", CUR2, FEB, 2)])
    _validated(root, warehouse, "2025-03")
    assert publish(warehouse, root, ["2025-03"]).months == {"2025-03": 0}  # never served: nothing to withdraw
    assert not (root / "cost_and_usage" / "billing_period=2025-03").exists()


def test_a_column_the_mart_gains_reaches_every_month_the_oldest_last_and_one_it_loses_stays_empty(
    tmp_path, monkeypatch
):
    months = [("AWS", "1", "e", CUR2, month, cost) for month, cost in ((JAN, 1), (FEB, 2), (MAR, 3))]
    warehouse = _mart(tmp_path / "w.duckdb", months, more_columns=", x_Dropped VARCHAR")
    root = tmp_path / "serving"
    _validated(root, warehouse, "2025-01", "2025-02", "2025-03")
    publish(warehouse, root, [])
    _mart(warehouse, months, more_columns=", x_Added INTEGER")
    _validated(root, warehouse, "2025-02")
    renamed, rename = [], os.rename
    monkeypatch.setattr(
        os, "rename", lambda source, target: (renamed.append(Path(target).parent.name), rename(source, target))
    )

    assert publish(warehouse, root, ["2025-02"]).months == {"2025-02": 1}
    # the scan takes its columns from the oldest month's newest version: that one gets the new column last
    assert renamed == ["billing_period=2025-03", "billing_period=2025-02", "billing_period=2025-01", "load_ledger"]
    with duckdb.connect() as con:
        columns = {
            month: con.execute(f"SELECT * FROM '{newest_version(root / 'cost_and_usage' / month)}'").description
            for month in ("billing_period=2025-01", "billing_period=2025-02", "billing_period=2025-03")
        }
    assert len({tuple(column[:2] for column in described) for described in columns.values()}) == 1
    with connect_serving(root) as con:
        rows = con.execute(
            "SELECT billing_period, x_Dropped, x_Added, BilledCost::INT FROM cost_and_usage ORDER BY 1"
        ).fetchall()
    assert rows == [("2025-01", None, None, 1), ("2025-02", None, None, 2), ("2025-03", None, None, 3)]


def test_a_reader_keeping_one_connection_across_many_publishes_never_fails_and_sees_each_month_old_or_new(tmp_path):
    """As Metabase does: one connection, created once, queried while another process publishes in a loop
    and deletes what it superseded (a 1 s grace period here, so deletions happen while the reader reads)."""
    old = [("AWS", "1", "e", CUR2, JAN, 1), ("AWS", "1", "e", CUR2, FEB, 2), ("AWS", "1", "e", CUR2, MAR, 3)]
    new = [("AWS", "1", "e", CUR2, JAN, 10), ("AWS", "2", "e", CUR2, JAN, 5), ("AWS", "1", "e", CUR2, FEB, 20)]
    warehouses = [_mart(tmp_path / "old.duckdb", old), _mart(tmp_path / "new.duckdb", new)]  # new: March withdrawn
    states = {
        month: {
            (len(rows), sum(row[-1] for row in rows))
            for rows in ([row for row in warehouse_rows if f"{row[4]:%Y-%m}" == month] for warehouse_rows in (old, new))
            if rows
        }
        for month in ("2025-01", "2025-02", "2025-03")
    }
    root = tmp_path / "serving"
    _validated(root, warehouses[0], "2025-01", "2025-02", "2025-03")
    publish(warehouses[0], root, [])
    loop = PROJECT_ROOT / "tests" / "include" / "serving" / "publisher_loop.py"
    publisher = subprocess.Popen(
        [sys.executable, str(loop), *map(str, warehouses), str(root), "8", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    seen, errors, reads = {month: set() for month in states}, [], 0
    with connect_serving(root) as con:
        while publisher.poll() is None:
            try:
                months = con.execute(
                    "SELECT billing_period, count(*), sum(BilledCost)::INT FROM cost_and_usage GROUP BY ALL"
                ).fetchall()
                con.execute("SELECT count(*) FROM load_ledger").fetchall()
                con.execute("SELECT count(*) FROM validation_by_month").fetchall()
            except duckdb.Error as err:
                errors.append(str(err))
                continue
            reads += 1
            served = {month: (rows, cost) for month, rows, cost in months}
            for month in states:
                seen[month].add(served.get(month))
    publishes = json.loads(publisher.stdout.read())["publishes"]

    assert errors == [] and publisher.returncode == 0
    assert reads > 50 and publishes >= 4  # ~40 publishes on an idle machine, 7 with both cores busy elsewhere
    assert seen == {"2025-01": states["2025-01"], "2025-02": states["2025-02"], "2025-03": {(1, 3), None}}
    versions = len(list((root / "cost_and_usage" / "billing_period=2025-01").iterdir()))
    assert versions < publishes  # superseded versions were deleted while the reader read


def _billed_by_currency(root: Path) -> dict[tuple[str, str, str], Decimal]:
    """(export, month, currency) → Σ source cost, as the served ledger holds it for the loaded months."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT export, billing_period, entry.currency, entry.billed_cost FROM "
            "(SELECT export, billing_period, unnest(billed_cost_by_currency) AS entry FROM read_parquet(?) "
            "WHERE status = 'loaded')",
            [str(newest_version(root / "load_ledger"))],
        ).fetchall()
    return {(export, month, currency): cost for export, month, currency, cost in rows}


def test_the_served_ledger_has_each_loaded_months_source_cost_per_currency_as_its_load_summed_it(tmp_path):
    """Real CUR files loaded by the loader: one in NOK, and the USD one with every other line relabelled EUR."""
    header, lines = read_cur_csv(USD_CUR)
    for index, line in enumerate(lines):
        line["lineItem/CurrencyCode"] = "EUR" if index % 2 else line["lineItem/CurrencyCode"]
    mixed = tmp_path / "mixed.csv"
    with open(mixed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(lines)
    expected = defaultdict(Decimal)
    sources = {"koku-nok": NOK_CUR, "mixed": mixed}
    for export, source in sources.items():
        for line in read_cur_csv(source)[1]:
            month = line["bill/BillingPeriodStartDate"][:7]
            cost = Decimal(line["lineItem/UnblendedCost"]).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)
            expected[export, month, line["lineItem/CurrencyCode"]] += cost
    assert {currency for _, _, currency in expected} == {"NOK", "USD", "EUR"}
    mirror, warehouse, root = tmp_path / "mirror", tmp_path / "w.duckdb", tmp_path / "serving"
    found = {}
    for export, source in sources.items():
        wrap_as_legacy_cur(source, mirror, export)
        [found[export]] = deliveries(local_export(export, "cur1", mirror, S3_URI))
        load(warehouse, found[export])

    publish(warehouse, root, [])
    assert _billed_by_currency(root) == expected

    with duckdb.connect(str(warehouse)) as con:  # were the month tables read again, their sums would double
        loaded = con.execute("SELECT table_name FROM finops_meta.load_ledger WHERE status = 'loaded'").fetchall()
        for (table,) in loaded:
            schema, name = table.split(".")
            con.execute(
                f'UPDATE "{schema}"."{name}" SET line_item_unblended_cost = line_item_unblended_cost * 2'
            ).fetchall()
    publish(warehouse, root, [])
    assert _billed_by_currency(root) == expected  # as each load summed its files


def test_the_served_ledger_names_provider_dataset_and_delivery_and_publishes_a_previous_layout_in_them(tmp_path):
    """A real CUR loaded: the served ledger has the ledger's columns. A warehouse of the previous layout (`source`,
    `manifest_uri`, no dataset, no sums per currency) publishes in them, with the sums once a write migrated it."""
    mirror, warehouse, root = tmp_path / "mirror", tmp_path / "w.duckdb", tmp_path / "serving"
    wrap_as_legacy_cur(NOK_CUR, mirror, "koku-nok")
    [delivery] = deliveries(local_export("koku-nok", "cur1", mirror, S3_URI))
    load(warehouse, delivery)
    publish(warehouse, root, [])
    columns = "provider, export, dataset, billing_period, version, table_name, delivery_uri"
    with duckdb.connect() as con:
        read = f"read_parquet({str(newest_version(root / 'load_ledger'))!r})"
        [(served_columns,)] = con.execute(f"SELECT list(column_name) FROM (DESCRIBE SELECT * FROM {read})").fetchall()
        [served] = con.execute(f"SELECT {columns} FROM {read}").fetchall()
    assert served_columns == [
        *["provider", "export", "dataset", "billing_period", "status", "version", "rows", "billed_cost"],
        *["billed_cost_by_currency", "cost_basis", "reconciled_as"],
        *["loaded_at", "duration_s", "delivery_uri", "table_name", "error"],
    ]
    table = f"aws_cur.{delivery.export.table_stem}_{delivery.period_label.replace('-', '_')}"
    assert served == (
        "aws", "koku-nok", CUR1, delivery.period_label, delivery.version, table, delivery.delivery_uri
    )  # fmt: skip
    sums = _billed_by_currency(root)

    rewrite_in_previous_layout(warehouse)  # its ledger kept no sums per currency
    publish(warehouse, root, [])
    with duckdb.connect() as con:
        [again] = con.execute(
            f"SELECT {columns} FROM read_parquet({str(newest_version(root / 'load_ledger'))!r})"
        ).fetchall()
    assert again == served and _billed_by_currency(root) == {}
    with duckdb.connect(str(warehouse)) as con:  # the next write rebuilds the ledger, summing its loaded months
        ensure_ledger(con)
    publish(warehouse, root, [])
    assert _billed_by_currency(root) == sums


def test_a_grace_period_that_is_not_seconds_fails_the_publish_as_a_configuration_error(tmp_path, monkeypatch):
    """A ConfigError: not worth a retry (include/orchestration/errors.py)."""
    warehouse = _mart(tmp_path / "w.duckdb", [("AWS", "1", "e", CUR2, JAN, 1)])
    _validated(tmp_path / "serving", warehouse, "2025-01")
    monkeypatch.setenv("FINOPS_SERVING_GRACE_SECONDS", "ten minutes")
    with pytest.raises(ConfigError, match="FINOPS_SERVING_GRACE_SECONDS='ten minutes' must be a number of seconds"):
        publish(warehouse, tmp_path / "serving", [])


@pytest.mark.skipif(
    not DUCKDB_1_5_PYTHON.is_file(), reason=f"no {DUCKDB_1_5_PYTHON}: `make focus-validator` installs DuckDB 1.5 there"
)
def test_the_views_bind_and_never_open_a_superseded_version_in_the_metabase_drivers_duckdb_1_5(tmp_path):
    """As test_readers_never_open_a_superseded_version, queried by DuckDB 1.5 (the Metabase driver's 1.5.5)."""
    root = tmp_path / "serving"
    periods = _sixty_months_republished_with_superseded_versions_unreadable(tmp_path / "w.duckdb", root)
    queries = {
        "ledger": "SELECT count(*) FROM load_ledger",
        "verdicts": "SELECT count(*) FROM validation_by_month",
        "months": "SELECT billing_period, count(*), sum(BilledCost)::INT FROM cost_and_usage GROUP BY ALL ORDER BY ALL",
    }
    reader = (
        "import duckdb, json, sys; con = duckdb.connect(); con.execute(sys.argv[1]).fetchall(); "
        "print(json.dumps({'version': duckdb.__version__} | "
        "{name: con.execute(query).fetchall() for name, query in json.loads(sys.argv[2]).items()}))"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    completed = subprocess.run(
        [str(DUCKDB_1_5_PYTHON), "-c", reader, serving.serving_init_sql(root), json.dumps(queries)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    read = json.loads(completed.stdout)
    assert read["version"].startswith("1.5.")
    assert read["ledger"] == [[0]] and read["verdicts"] == [[60]]
    assert read["months"] == [[period, 1, 2] for period in periods[1:]]
