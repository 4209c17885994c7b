"""What the dbt task group is told by a run: the absolute warehouse and exactly the months it loaded."""

from __future__ import annotations

from pathlib import Path

from include.orchestration.focus_models import focus_build_plan


def test_plan_names_each_loaded_month_once_in_order_and_an_absolute_warehouse(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    loaded = [
        {"export": "cur2", "billing_period": "2025-02"},
        {"export": "legacy", "billing_period": "2025-01"},
        {"export": "legacy", "billing_period": "2025-02"},
    ]
    plan = focus_build_plan(Path("data/finops.duckdb"), loaded)
    assert plan == {"warehouse": str(tmp_path / "data" / "finops.duckdb"), "billing_periods": "2025-01,2025-02"}


def test_plan_without_loads_names_no_month():
    assert focus_build_plan(Path("/w/finops.duckdb"), [])["billing_periods"] == ""
