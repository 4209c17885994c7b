"""What the dbt task group is told by a run: the absolute warehouse, the source partitions to rebuild, and
their billing months (what validation and publishing go by).

The partitions a failed dbt build left behind (`stale_partitions`) are tested with real dbt in
tests/dbt/test_layers_agree.py and through the DAG in tests/dags/test_layers_agree.py.
"""

from __future__ import annotations

from datetime import date
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


def test_a_restated_export_rebuilds_its_months_partitions_of_the_datasets_served_with_it_and_no_other(
    monkeypatch, tmp_path
):
    """Azure's actual and amortized cost share a serving rank: dbt pairs their rows, so a restated actual export
    rebuilds that month of the amortized exports too; AWS's datasets are each a rank of their own."""
    import duckdb

    from include.serving import publish
    from include.warehouse.ledger import Attempt, ensure_ledger, record_attempt

    seed = tmp_path / "datasets.csv"
    seed.write_text(
        "dataset,provider,serving_rank,cost_basis\naws_cur2,aws,3,BilledCost\nazure_actual,azure,3,BilledCost\nazure_amortized,azure,3,EffectiveCost\n"
    )
    monkeypatch.setattr(publish, "DATASETS_SEED", seed)
    warehouse = tmp_path / "finops.duckdb"
    loaded = [
        ("azure", "azure_actual", "ea-actual", "2023-09"),
        ("azure", "azure_amortized", "ea-amortized", "2023-09"),
        ("azure", "azure_amortized", "ea-amortized", "2023-10"),
        ("azure", "azure_amortized", "mca-amortized", "2023-09"),
        ("aws", "aws_cur2", "cur2", "2023-09"),
        ("aws", "aws_cur2", "cur2-b", "2023-09"),
    ]
    with duckdb.connect(str(warehouse)) as con:
        ensure_ledger(con)
        for provider, dataset, export, month in loaded:
            attempt = Attempt(
                provider=provider, export=export, dataset=dataset, billing_period=date.fromisoformat(f"{month}-01"),
                table_name=f"x.{export}", delivery_uri="manifest", version="1", files=(),
            )  # fmt: skip
            record_attempt(con, attempt, "loaded")

    def rebuilt(dataset: str, export: str, month: str) -> list[str]:
        summary = {"dataset": dataset, "export": export, "billing_period": month}
        return focus_build_plan(warehouse, [summary])["source_partitions"].split(",")

    assert rebuilt("azure_actual", "ea-actual", "2023-09") == [
        "azure_actual/ea-actual/2023-09",
        "azure_amortized/ea-amortized/2023-09",
        "azure_amortized/mca-amortized/2023-09",
    ]
    assert rebuilt("azure_amortized", "ea-amortized", "2023-10") == ["azure_amortized/ea-amortized/2023-10"]
    assert rebuilt("aws_cur2", "cur2", "2023-09") == ["aws_cur2/cur2/2023-09"]
