"""The validation gate before publishing: a failed verdict is served, the task fails, the months are
held back, and the validator's report stays on disk."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.focus.validator import FINDINGS_FILE, JUNIT_FILE, ValidatorError, validator_python
from include.orchestration import publishing
from include.serving.publish import (
    VALIDATION_DIR,
    month_fingerprints,
    newest_version,
    publish_validation,
    served_months,
)
from tests.include.focus.focus_files import BROKEN_CHARGE_CATEGORY, write_focus_file, write_focus_mart


def _history(serving_root) -> list[dict]:
    with duckdb.connect() as con:
        cursor = con.execute(f"SELECT * FROM '{newest_version(serving_root / VALIDATION_DIR)}' ORDER BY validated_at")
        rows = cursor.fetchall()
        return [dict(zip([column[0] for column in cursor.description], row, strict=True)) for row in rows]


def _fingerprints(warehouse, *months: str) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return month_fingerprints(con, months)


def test_a_failed_validation_is_served_kept_on_disk_and_fails_the_task(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    publish_validation(serving, {"status": "passed", "billing_periods": "2025-01"})
    monkeypatch.setattr(publishing, "validator_available", lambda: True)
    monkeypatch.setattr(publishing, "validate_mart", lambda *args, **kwargs: "report")
    failed = {"status": "failed", "billing_periods": "2025-02", "verdict": "1 failed", "failing_rules": "X-C-001-M"}
    monkeypatch.setattr(publishing, "verdict_record", lambda report, allowlist, months: dict(failed))
    plan = {"warehouse": str(tmp_path / "w.duckdb"), "billing_periods": "2025-02"}

    with pytest.raises(AirflowFailException, match="validation of 2025-02 failed; dashboards keep the previous"):
        publishing.validate_rebuilt_months(plan, serving)

    served = _history(serving)
    assert [(row["status"], row["billing_periods"]) for row in served] == [("passed", "2025-01"), ("failed", "2025-02")]
    [report_dir] = (tmp_path / publishing.VALIDATION_DIR).iterdir()
    assert served[-1]["report_path"] == str(report_dir) and served[-1]["failing_rules"] == "X-C-001-M"
    assert (report_dir / publishing.VERDICT_FILE).read_text() == "1 failed\nX-C-001-M\n"


@pytest.mark.parametrize(
    "crash",
    [
        ValidatorError("focus-validator failed on x.parquet (exit 1)"),
        duckdb.IOException('Could not set lock on file "finops.duckdb": Conflicting lock is held'),
        OSError(28, "No space left on device"),
    ],
    ids=["validator", "lock", "disk"],
)
def test_a_validation_that_does_not_finish_holds_the_months_back_says_why_and_re_raises(tmp_path, monkeypatch, crash):
    months = ["2025-02", "2025-03"]
    warehouse = write_focus_mart(
        tmp_path / "warehouse" / "finops.duckdb", write_focus_file(tmp_path / "f.parquet"), months
    )
    serving = tmp_path / "serving"
    # an earlier run passed these months, as the mart holds them
    publish_validation(
        serving,
        {"status": "passed", "billing_periods": ",".join(months), "fingerprints": _fingerprints(warehouse, *months)},
    )
    monkeypatch.setattr(publishing, "validator_available", lambda: True)

    def validate_mart(*args, **kwargs):
        raise crash

    monkeypatch.setattr(publishing, "validate_mart", validate_mart)
    plan = {"warehouse": str(warehouse), "billing_periods": ",".join(months)}

    with pytest.raises(type(crash)) as raised:  # as it is, so that a transient error is retried
        publishing.validate_rebuilt_months(plan, serving)

    assert raised.value is crash
    served = _history(serving)[-1]
    assert (served["status"], served["billing_periods"]) == ("error", ",".join(months))
    [report_dir] = (warehouse.parent / publishing.VALIDATION_DIR).iterdir()
    assert report_dir.name.endswith("_2025-02_to_2025-03")
    assert str(crash) in served["verdict"] and str(crash) in (report_dir / publishing.VERDICT_FILE).read_text()
    published = publishing.publish_rebuilt_months(plan, serving)
    assert (published["months"], published["held_back"]) == ({}, dict.fromkeys(months, "error"))


def test_without_the_validator_the_verdict_is_not_run_and_the_month_goes_out(tmp_path, monkeypatch):
    data = write_focus_file(tmp_path / "f.parquet")
    warehouse = write_focus_mart(tmp_path / "warehouse" / "finops.duckdb", data, ["2025-01"])
    plan = {"warehouse": str(warehouse), "billing_periods": "2025-01"}
    monkeypatch.setattr(publishing, "validator_available", lambda: False)

    record = publishing.validate_rebuilt_months(plan, tmp_path / "serving")

    assert record["status"] == "not run" and "make focus-validator" in record["verdict"]
    assert _history(tmp_path / "serving")[-1]["fingerprints"] == _fingerprints(warehouse, "2025-01")
    published = publishing.publish_rebuilt_months(plan, tmp_path / "serving")
    assert (published["months"], published["held_back"]) == ({"2025-01": pq.read_metadata(data).num_rows}, {})


def test_only_the_newest_reports_are_kept_and_nothing_else_is_touched(tmp_path, monkeypatch):
    monkeypatch.setattr(publishing, "REPORTS_KEPT", 2)
    notes = tmp_path / "operator-notes"
    notes.mkdir()
    made = [publishing.new_report_dir(tmp_path, [month]) for month in ("2025-01", "2025-02", "2025-03")]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([made[1].name, made[2].name, notes.name])
    assert made == sorted(made)  # names sort by time


@pytest.mark.skipif(not validator_python().exists(), reason="focus-validator is absent: run `make focus-validator`")
def test_a_month_failing_the_real_validator_is_explained_in_log_and_report_and_stays_held_back(tmp_path, caplog):
    data = write_focus_file(tmp_path / "broken.parquet", broken=True)
    warehouse = write_focus_mart(tmp_path / "warehouse" / "finops.duckdb", data, ["2026-11", "2026-12"])
    serving = tmp_path / "serving"
    plan = {"warehouse": str(warehouse), "billing_periods": "2026-11"}

    with caplog.at_level(logging.INFO, logger=publishing.__name__), pytest.raises(AirflowFailException) as failure:
        publishing.validate_rebuilt_months(plan, serving)

    [served] = _history(serving)
    report_dir = Path(served["report_path"])
    assert report_dir.parent == warehouse.parent / publishing.VALIDATION_DIR
    failing = served["failing_rules"].splitlines()
    assert served["status"] == "failed" and len(failing) == served["rules_failed_unexpected"] > 5
    assert served["fingerprints"] == _fingerprints(warehouse, "2026-11")  # what the validator was given
    assert any(line.startswith("ChargeCategory-C-003-M: ") and BROKEN_CHARGE_CATEGORY in line for line in failing)
    # the task log and the report folder say the same, in full
    assert all(line in caplog.text for line in failing) and str(report_dir) in caplog.text
    assert str(report_dir) in str(failure.value)
    assert (report_dir / publishing.VERDICT_FILE).read_text().splitlines() == [served["verdict"], *failing]
    assert (report_dir / JUNIT_FILE).is_file() and (report_dir / FINDINGS_FILE).is_file()

    # A later run validates and publishes December only: November stays held back.
    december = {"status": "passed", "billing_periods": "2026-12", "fingerprints": _fingerprints(warehouse, "2026-12")}
    publish_validation(serving, december)
    published = publishing.publish_rebuilt_months({**plan, "billing_periods": "2026-12"}, serving)
    rows = pq.read_metadata(data).num_rows
    assert (published["months"], published["held_back"]) == ({"2026-12": rows}, {"2026-11": "failed"})
    assert served_months(serving) == {"2026-12"}
