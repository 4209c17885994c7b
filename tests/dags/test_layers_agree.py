"""Warehouse, mart and serving layer agree after a DAG run whose delivery restated a month to nothing,
and again after the run that follows one whose dbt build failed."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from include.aws.settings import AWS_DATASETS
from include.orchestration.focus_models import stale_partitions
from include.serving.publish import COST_AND_USAGE_DIR, connect_serving, newest_version
from tests.conftest import FEB, JAN, S3_URI, export_config, sample_writer
from tests.dags.conftest import billing_runner, serving_path
from tests.helpers import assert_layers_agree, assert_same_money, ledger, restate_to_nothing

EXPORTS = {"legacy": "cur1", "cur2": "cur2"}


@pytest.fixture(scope="module")
def served_two_exports(tmp_path_factory, airflow_db):
    """January and February of a legacy CUR and a CUR 2.0 export, loaded, modelled and served by one DAG run; built
    once for this module's tests, each of which gets a copy (`two_exports_served`). Returns folder and totals."""
    root = tmp_path_factory.mktemp("two-exports")
    write = sample_writer(root / "mirror")
    expected = {(name, f"{m:%Y-%m}"): write(name, fmt, m) for name, fmt in EXPORTS.items() for m in (JAN, FEB)}
    warehouse = root / "warehouse.duckdb"
    exports = [export_config(name, fmt, write.root.as_uri()) for name, fmt in EXPORTS.items()]
    with pytest.MonkeyPatch.context() as patch:
        dag_run, _ = billing_runner("aws", warehouse, patch)(exports)
    assert dag_run.state == "success"
    assert set(assert_layers_agree(warehouse, serving_path(warehouse))) == set(expected)
    return root, expected


@pytest.fixture
def two_exports_served(served_two_exports, tmp_path, warehouse, write_sample) -> dict:
    """A copy of `served_two_exports` laid out as this test's `warehouse`, `write_sample` and serving; returns
    {(export, YYYY-MM): MonthTotals} of what was delivered."""
    root, expected = served_two_exports
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    assert warehouse.exists() and write_sample.root.exists()
    return dict(expected)


def test_a_month_restated_to_nothing_leaves_every_layer_in_the_run_that_loads_it(
    two_exports_served, write_sample, run_aws_billing, warehouse
):
    expected = two_exports_served
    exports = [export_config(name, fmt, write_sample.root.as_uri()) for name, fmt in EXPORTS.items()]

    for name, fmt in EXPORTS.items():
        restate_to_nothing(write_sample.root, name, fmt, FEB, S3_URI)
    dag_run, states = run_aws_billing(exports)

    assert dag_run.state == "success" and states["load_billing_month"] == ["success"] * 2
    assert states["validate_focus"] == states["publish_serving_layer"] == ["success"]
    month_tables = assert_layers_agree(warehouse, serving_path(warehouse))
    assert {key: rows for key, (rows, _) in month_tables.items()} == {
        (name, month): 0 if month == f"{FEB:%Y-%m}" else totals.rows for (name, month), totals in expected.items()
    }
    with connect_serving(serving_path(warehouse)) as con:
        served = con.execute("SELECT billing_period, x_ExportName, sum(BilledCost) FROM cost_and_usage GROUP BY ALL")
        [(month, export, billed)] = served.fetchall()  # January, from the preferred CUR 2.0 export
    assert (month, export) == (f"{JAN:%Y-%m}", "cur2")
    assert_same_money(billed, expected[("cur2", month)].billed)


def test_a_run_that_loads_nothing_rebuilds_the_partitions_a_failed_dbt_build_left_behind(
    two_exports_served, write_sample, run_aws_billing, warehouse
):
    """The load commits before dbt runs: when dbt then fails, the next run, with nothing new to load, repairs."""
    expected = two_exports_served
    exports = [export_config(name, fmt, write_sample.root.as_uri()) for name, fmt in EXPORTS.items()]
    assert stale_partitions(warehouse) == []
    january = serving_path(warehouse) / COST_AND_USAGE_DIR / f"billing_period={JAN:%Y-%m}"
    served_january = newest_version(january)

    # February restated in both exports (cur2 to new rows, legacy to nothing); the model fails this run only:
    # a column the mart has and the model does not build (on_schema_change='fail').
    expected[("cur2", f"{FEB:%Y-%m}")] = write_sample("cur2", "cur2", FEB, revision=2, rows=700)
    restate_to_nothing(write_sample.root, "legacy", "cur1", FEB, S3_URI)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("ALTER TABLE focus.cost_and_usage ADD COLUMN x_Drift INTEGER").fetchall()
    dag_run, states = run_aws_billing(exports)

    assert dag_run.state == "failed" and states["load_billing_month"] == ["success"] * 2
    # the one `dbt build` (the watcher's producer) fails; the model's task, downstream of it, does not run
    assert states["focus_models.dbt_producer_watcher"] == ["failed"]
    assert states["focus_models.cost_and_usage_run"] == ["upstream_failed"]
    assert states["validate_focus"] == states["publish_serving_layer"] == ["upstream_failed"]
    with pytest.raises(AssertionError):  # the warehouse has the new February, the mart and serving the old
        assert_layers_agree(warehouse, serving_path(warehouse))
    february = {f"{AWS_DATASETS[fmt]}/{name}/{FEB:%Y-%m}" for name, fmt in EXPORTS.items()}
    assert {(stale.partition, stale.billing_period) for stale in stale_partitions(warehouse)} == {
        (partition, f"{FEB:%Y-%m}") for partition in february
    }
    ledger_after_loads = ledger(warehouse)

    with duckdb.connect(str(warehouse)) as con:  # whatever broke dbt is fixed; nothing new is delivered
        con.execute("ALTER TABLE focus.cost_and_usage DROP COLUMN x_Drift").fetchall()
    dag_run, states = run_aws_billing(exports)

    assert dag_run.state == "success"
    assert states["wait_for_local_delivery"] == ["skipped"] * 2 and states["load_billing_month"] == ["skipped"]
    assert states["plan_focus_build"] == states["focus_models.cost_and_usage_run"] == ["success"]
    assert states["validate_focus"] == states["publish_serving_layer"] == ["success"]
    assert ledger(warehouse) == ledger_after_loads and stale_partitions(warehouse) == []
    month_tables = assert_layers_agree(warehouse, serving_path(warehouse))
    assert {key: rows for key, (rows, _) in month_tables.items()} == {
        key: 0 if key == ("legacy", f"{FEB:%Y-%m}") else totals.rows for key, totals in expected.items()
    }
    assert newest_version(january) == served_january  # only February was rebuilt and served again
    with connect_serving(serving_path(warehouse)) as con:
        [(export, billed)] = con.execute(
            "SELECT x_ExportName, sum(BilledCost) FROM cost_and_usage WHERE billing_period = ? GROUP BY ALL",
            [f"{FEB:%Y-%m}"],
        ).fetchall()
    assert export == "cur2"
    assert_same_money(billed, expected[("cur2", f"{FEB:%Y-%m}")].billed)
