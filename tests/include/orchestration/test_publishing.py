"""The validation gate before publishing: a failed verdict is served, and the task fails."""

from __future__ import annotations

import duckdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.orchestration import publishing
from include.serving.publish import VALIDATION_FILE, publish_validation


def test_a_failed_validation_is_served_and_fails_the_task(tmp_path, monkeypatch):
    publish_validation(tmp_path, {"status": "passed", "billing_periods": "2025-01"})
    monkeypatch.setattr(publishing, "validator_available", lambda: True)
    monkeypatch.setattr(publishing, "validate_mart", lambda *args, **kwargs: "report")
    failed = {"status": "failed", "billing_periods": "2025-02", "verdict": "1 failed beyond 13 allowlisted"}
    monkeypatch.setattr(publishing, "verdict_record", lambda report, allowlist, months: failed)
    plan = {"warehouse": "unused", "billing_periods": "2025-02"}

    with pytest.raises(AirflowFailException, match="validation of 2025-02 failed; dashboards keep the previous"):
        publishing.validate_rebuilt_months(plan, tmp_path)

    history = tmp_path / VALIDATION_FILE
    with duckdb.connect() as con:
        served = con.execute(f"SELECT status, billing_periods FROM '{history}' ORDER BY validated_at").fetchall()
    assert served == [("passed", "2025-01"), ("failed", "2025-02")]


def test_without_the_validator_the_verdict_is_not_run_and_the_task_succeeds(tmp_path, monkeypatch):
    monkeypatch.setattr(publishing, "validator_available", lambda: False)
    record = publishing.validate_rebuilt_months({"warehouse": "unused", "billing_periods": "2025-01"}, tmp_path)
    assert record["status"] == "not run" and "make focus-validator" in record["verdict"]
