"""A real DAG run over legacy CUR's Athena layout without any manifest, beside an export with nothing delivered."""

from __future__ import annotations

import logging

import duckdb

from tests.aws_layouts import to_athena
from tests.conftest import JAN, export_config
from tests.helpers import assert_same_money, month_rows_and_cost


def test_athena_month_without_manifest_loads_through_the_dag_and_the_run_says_what_it_skipped(
    write_sample, run_aws_billing, warehouse, caplog, capfd
):
    totals = write_sample("athena", "cur1", JAN)
    to_athena(write_sample.root, "athena", JAN, manifest=None)
    exports = [export_config(name, "cur1", write_sample.root.as_uri()) for name in ("athena", "not-yet-delivered")]

    with caplog.at_level(logging.INFO, logger="include.orchestration.deliveries"):
        dag_run, states = run_aws_billing(exports)

    assert states["wait_for_local_delivery"] == ["success", "skipped"]
    assert states["find_deliveries"] == states["load_billing_month"] == ["success"]
    rows, cost = month_rows_and_cost(warehouse, "athena_2025_01")
    assert rows == totals.rows
    assert_same_money(cost, totals.billed)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(billed, effective)] = con.execute(
            "SELECT sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage WHERE x_ExportName = 'athena'"
        ).fetchall()
    assert_same_money(billed, totals.billed)
    assert_same_money(effective, totals.amortized)
    # Airflow's logging setup decides whether a module's records reach pytest's handler or the output stream.
    log = caplog.text + "".join(capfd.readouterr())
    assert "2025-01 Athena month folder without manifest" in log and "(loaded: none) → load" in log
    assert "not-yet-delivered does not exist" in log
    assert dag_run.state == "success", {t: s for t, s in states.items() if s != ["success"]}
