"""What the dbt task group is told by a run: the absolute warehouse, the source partitions to rebuild, and
their billing months (what validation and publishing go by).

The partitions a failed dbt build left behind (`stale_partitions`) are tested with real dbt in
tests/dbt/test_layers_agree.py and through the DAG in tests/dags/test_layers_agree.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from include.orchestration.focus_models import focus_build_plan


def test_plan_names_each_loaded_partition_and_its_month_once_in_order_and_an_absolute_warehouse(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    loaded = [
        {"dataset": "aws_cur2", "export": "cur2", "billing_period": "2025-02"},
        {"dataset": "aws_cur1", "export": "legacy", "billing_period": "2025-01"},
        {"dataset": "aws_cur1", "export": "legacy", "billing_period": "2025-02"},
        {"dataset": "aws_cur2", "export": "cur2", "billing_period": "2025-02"},  # loaded twice (a retry)
    ]
    plan = focus_build_plan(Path("data/finops.duckdb"), loaded)
    assert plan == {
        "warehouse": str(tmp_path / "data" / "finops.duckdb"),
        "source_partitions": "aws_cur1/legacy/2025-01,aws_cur1/legacy/2025-02,aws_cur2/cur2/2025-02",
        "billing_periods": "2025-01,2025-02",
    }


def test_a_plan_with_nothing_to_rebuild_skips_the_dbt_tasks_which_would_read_no_partition_as_every_one(tmp_path):
    with pytest.raises(AirflowSkipException, match="nothing to rebuild"):
        focus_build_plan(tmp_path / "finops.duckdb", [])
