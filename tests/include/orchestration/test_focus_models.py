"""What the dbt task group is told by a run: the absolute warehouse and the months to rebuild.

The months a failed dbt build left behind (`stale_partitions`) are tested with real dbt in
tests/dbt/test_layers_agree.py and through the DAG in tests/dags/test_layers_agree.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

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


def test_a_plan_with_nothing_to_rebuild_skips_the_dbt_tasks_which_would_read_no_month_as_every_month(tmp_path):
    with pytest.raises(AirflowSkipException, match="nothing to rebuild"):
        focus_build_plan(tmp_path / "finops.duckdb", [])
