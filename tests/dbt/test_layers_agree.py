"""Warehouse, mart and serving layer never disagree about a month (issue 10, item 3).

A month can become empty: the export restates it to nothing (a manifest listing no data file) and
the loader swaps in an empty month table. The run that loads it rebuilds that source partition
(export × month), which then has no rows in the mart, and the gate must let the serving layer
withdraw the month. A load commits before dbt runs: when dbt then fails, the mart lags the ledger,
and the next run's plan rebuilds every partition where it does, and no other. Each step here is
what the DAG's tasks call: the loader, the plan, dbt with the run's source partitions,
focus-validator's gate and publish.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from airflow.sdk.exceptions import AirflowSkipException

from include.aws.settings import AWS_DATASETS
from include.orchestration.focus_models import DBT_PROJECT, focus_build_plan, stale_partitions
from include.orchestration.publishing import publish_rebuilt_months, validate_rebuilt_months
from include.serving.publish import connect_serving
from tests.conftest import DBT_TARGET, FEB, JAN, MAR, S3_URI
from tests.dbt.conftest import FocusWarehouse, dbt, query, run_dbt
from tests.helpers import (
    assert_layers_agree,
    assert_same_money,
    deliveries,
    load,
    local_export,
    restate_to_nothing,
)

EXPORTS = {"legacy": "cur1", "cur2": "cur2"}  # the serving layer prefers cur2 for the same account
ROWS = 400
MARKER = "left alone by the rebuild"
FEBRUARY = f"{FEB:%Y-%m}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> FocusWarehouse:
    """Three months of both exports loaded, built, validated and served; every row of the mart marked."""
    folder = tmp_path_factory.mktemp("layers")
    built = FocusWarehouse(path=folder / "warehouse.duckdb", root=folder / "mirror")
    for name, fmt in EXPORTS.items():
        for month in (JAN, FEB, MAR):
            built.deliver(name, fmt, month, rows=ROWS)
    dbt(built.path, "build")
    _gate_and_publish(built.path, focus_build_plan(built.path, _loaded(EXPORTS, (JAN, FEB, MAR))))
    built.mark_every_mart_row(MARKER)
    return built


@pytest.fixture
def state(built, tmp_path) -> FocusWarehouse:
    """A copy of the built state (warehouse, mirror, serving layer) for one test to change."""
    return built.copy(tmp_path / "state")


def _serving(warehouse: Path) -> Path:
    return warehouse.parent / "serving"


def _loaded(names, months) -> list[dict]:
    """The load summaries a run that loaded these exports' months hands the plan."""
    return [
        {"dataset": AWS_DATASETS[EXPORTS[name]], "export": name, "billing_period": f"{month:%Y-%m}"}
        for name in names
        for month in months
    ]


def _gate_and_publish(warehouse: Path, plan: dict) -> dict:
    """validate_focus then publish_serving_layer, as the DAG runs them after dbt."""
    validate_rebuilt_months(plan, _serving(warehouse))
    return publish_rebuilt_months(plan, _serving(warehouse))


def _restate_to_nothing(state: FocusWarehouse, name: str) -> str:
    """February of `name` delivered again by a manifest that lists no data file, and loaded; its version."""
    version = restate_to_nothing(state.root, name, EXPORTS[name], FEB, S3_URI)
    export = local_export(name, EXPORTS[name], state.root, S3_URI)
    [delivery] = [d for d in deliveries(export) if d.billing_period == FEB]
    assert load(state.path, delivery).rows == 0
    return version


def _partition(name: str, fmt: str, month: date) -> str:
    """The mart's x_SourcePartition of one export's month."""
    return f"{AWS_DATASETS[fmt]}/{name}/{month:%Y-%m}"


def _node_results(result) -> list:
    """dbt's results for the models and tests it ran (its on-run-end hook has one too)."""
    return [outcome for outcome in result.result.results if outcome.node.resource_type in ("model", "test")]


def _mart_months(warehouse: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(export, month) → (rows, rows still carrying the mark)."""
    rows = query(
        warehouse,
        "SELECT x_ExportName, strftime(x_BillingPeriod, '%Y-%m'), count(*), "
        "count(*) FILTER (WHERE ChargeDescription = ?) FROM focus.cost_and_usage GROUP BY ALL",
        [MARKER],
    )
    return {(export, month): (count, marked) for export, month, count, marked in rows}


@pytest.mark.parametrize("restated", [("cur2",), ("legacy", "cur2")], ids=["served-export", "every-export"])
def test_a_month_restated_to_nothing_leaves_the_mart_and_the_serving_layer(state, restated):
    before = _mart_months(state.path)
    for name in restated:
        _restate_to_nothing(state, name)

    plan = focus_build_plan(state.path, _loaded(restated, [FEB]))  # what the run that loads them plans
    assert plan["source_partitions"] == ",".join(sorted(_partition(name, EXPORTS[name], FEB) for name in restated))
    dbt(state.path, "build", partitions=plan["source_partitions"])
    published = _gate_and_publish(state.path, plan)

    after = _mart_months(state.path)
    emptied = {(name, FEBRUARY) for name in restated}
    assert {key for key in after if key[1] == FEBRUARY} == {(n, FEBRUARY) for n in EXPORTS if n not in restated}
    for key, (rows, marked) in before.items():
        if key not in emptied:  # the other partitions, of February too, were not rebuilt
            assert after[key] == (rows, marked) and marked == rows > 0
    month_tables = assert_layers_agree(state.path, _serving(state.path))
    assert set(month_tables) == set(state.expected)
    for key, (rows, cost) in month_tables.items():
        if key in emptied:
            assert (rows, cost) == (0, 0)
        else:
            assert rows == state.expected[key].rows
            assert_same_money(cost, state.expected[key].billed)
    remaining = [name for name in EXPORTS if name not in restated]  # the one served for February, if any
    with connect_serving(_serving(state.path)) as con:
        served = con.execute(
            "SELECT x_ExportName, sum(BilledCost) FROM cost_and_usage WHERE billing_period = ? GROUP BY ALL", [FEBRUARY]
        ).fetchall()
    assert [name for name, _ in served] == remaining
    for name, billed in served:
        assert_same_money(billed, state.expected[(name, FEBRUARY)].billed)
    assert published["held_back"] == {} and (published["months"][FEBRUARY] == 0) == (not remaining)


def test_a_failed_rebuild_keeps_the_rows_of_the_partitions_it_was_rebuilding(state):
    """The pre-hook's delete runs in the model's transaction: a failure after it rolls it back."""
    with duckdb.connect(str(state.path)) as con:
        # Schema drift: on_schema_change='fail' stops the model once the new rows are built, after the delete.
        con.execute("ALTER TABLE focus.cost_and_usage ADD COLUMN x_Drift INTEGER").fetchall()
    before = _mart_months(state.path)
    _restate_to_nothing(state, "cur2")

    result = run_dbt(state.path, "run", "--select", "cost_and_usage", partitions=_partition("cur2", "cur2", FEB))

    [outcome] = _node_results(result)
    assert str(outcome.status) == "error" and "out of sync" in outcome.message
    assert _mart_months(state.path) == before and before[("cur2", FEBRUARY)][1] > 0


def test_the_plan_rebuilds_every_partition_where_the_mart_does_not_hold_the_version_the_ledger_loaded(state):
    """What a failed dbt build leaves behind, in each way the mart can lag the ledger, until a plan rebuilds it."""
    apr = date(2025, 4, 1)
    assert stale_partitions(state.path) == []
    with pytest.raises(AirflowSkipException):  # nothing loaded, nothing stale: no dbt run (none = every partition)
        focus_build_plan(state.path, [])
    old, held = dict(state.expected), _mart_months(state.path)  # MonthTotals of what the mart holds; its rows
    state.deliver("cur2", "cur2", FEB, revision=2, rows=ROWS + 100)  # a restatement
    state.deliver("cur2", "cur2", apr, rows=ROWS)  # a new month
    emptied = _restate_to_nothing(state, "legacy")  # February of legacy CUR
    retired, january = _partition("retired", "cur1", JAN), _partition("legacy", "cur1", JAN)
    with duckdb.connect(str(state.path)) as con:  # rows of an export the ledger has nothing loaded of
        con.execute(
            "UPDATE focus.cost_and_usage SET x_ExportName = 'retired', x_SourcePartition = ? "
            "WHERE x_SourcePartition = ?",
            [retired, january],
        ).fetchall()

    new = state.expected
    jan, feb = old[("legacy", "2025-01")], old[("legacy", FEBRUARY)]
    restated, apr_cur2 = new[("cur2", FEBRUARY)], new[("cur2", "2025-04")]
    stale = {(p.partition, p.billing_period): p.why for p in stale_partitions(state.path)}
    assert stale == {
        (january, "2025-01"): f"the ledger loaded version {jan.version} ({jan.rows} rows), the mart has no rows of it",
        (retired, "2025-01"): f"the mart holds version {jan.version}, the ledger has no loaded version",
        (_partition("cur2", "cur2", FEB), FEBRUARY): (
            f"the ledger loaded version {restated.version} ({restated.rows} rows), "
            f"the mart holds version {old[('cur2', FEBRUARY)].version}"
        ),
        (_partition("legacy", "cur1", FEB), FEBRUARY): (
            f"the ledger loaded version {emptied} (0 rows), the mart holds version {feb.version}"
        ),
        (_partition("cur2", "cur2", apr), "2025-04"): (
            f"the ledger loaded version {apr_cur2.version} ({apr_cur2.rows} rows), the mart has no rows of it"
        ),
    }

    plan = focus_build_plan(state.path, [])  # a run that loaded nothing
    assert plan["source_partitions"] == ",".join(sorted(partition for partition, _ in stale))
    assert plan["billing_periods"] == "2025-01,2025-02,2025-04"
    dbt(state.path, "build", partitions=plan["source_partitions"])
    _gate_and_publish(state.path, plan)

    assert stale_partitions(state.path) == []
    mart = _mart_months(state.path)
    assert "retired" not in {export for export, _ in mart}
    assert mart[("legacy", "2025-01")] == (held[("legacy", "2025-01")][0], 0)  # rebuilt, from the same rows
    assert mart[("cur2", "2025-01")] == held[("cur2", "2025-01")]  # in step all along: not rebuilt, its month was
    month_tables = assert_layers_agree(state.path, _serving(state.path))
    assert month_tables[("legacy", FEBRUARY)] == (0, 0)
    for key in (("cur2", FEBRUARY), ("cur2", "2025-04")):
        assert month_tables[key][0] == new[key].rows > 0
        assert_same_money(month_tables[key][1], new[key].billed)


@pytest.mark.parametrize(
    ("data_test", "corruption", "partition"),
    [
        (  # three rows of a partition twice: three keys repeat
            "assert_row_keys_are_unique",
            "INSERT INTO focus.cost_and_usage SELECT * FROM focus.cost_and_usage "
            "WHERE x_SourcePartition = 'aws_cur2/cur2/2025-02' ORDER BY x_RowKey LIMIT 3 RETURNING x_RowKey",
            "aws_cur2/cur2/2025-02",
        ),
        (  # the Unused rows of a partition no longer balance their commitments' fees
            "assert_commitment_amortization_balances",
            "UPDATE focus.cost_and_usage SET EffectiveCost = EffectiveCost + 1 WHERE x_SourcePartition = "
            "'aws_cur1/legacy/2025-03' AND CommitmentDiscountStatus = 'Unused' RETURNING CommitmentDiscountId",
            "aws_cur1/legacy/2025-03",
        ),
    ],
)
def test_a_failing_data_test_logs_its_rows_and_they_name_the_partition(
    state, monkeypatch, data_test, corruption, partition
):
    """dbt reports only "Got 3 results"; the on-run-end hook logs the rows, which name the source partition."""
    from dbt.cli.main import dbtRunner

    with duckdb.connect(str(state.path)) as con:
        corrupted = {value for (value,) in con.execute(corruption).fetchall()}
    logged: list[str] = []
    monkeypatch.setenv("FINOPS_WAREHOUSE_PATH", str(state.path))
    result = dbtRunner(callbacks=[lambda event: logged.append(event.info.msg)]).invoke(
        ["test", "--select", data_test, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
        + ["--target-path", str(DBT_TARGET)]
    )

    [outcome] = _node_results(result)
    assert str(outcome.status) == "fail" and outcome.failures == len(corrupted) > 0
    assert f"{data_test} (fail, {len(corrupted)} rows); the first {len(corrupted)}:" in logged
    rows = [
        dict(field.split("=", 1) for field in line.strip().split(", ")) for line in logged if line.startswith("  x_")
    ]
    assert {row["x_SourcePartition"] for row in rows} == {partition}
    assert {value for row in rows for value in row.values()} >= corrupted
