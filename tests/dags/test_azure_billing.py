"""Real runs of the azure_billing DAG (`dag.test()`) over generated EA cost details on a file:// mirror: the first
deliveries convert to FOCUS with the generator's totals and are served; a restated actual export replaces that
month alone (its amortized rows rebuilt with it, since dbt pairs them); nothing new loads nothing; a month
whose actual cost arrives without its amortized cost is held back, the run failing naming export, month and
file, until the amortized cost arrives. (A month reloaded on request: tests/dags/test_backfill.py, a real
`airflow backfill create` of both DAGs.)
On Azurite (Blob storage through the provider's hook and trigger): first delivery of the cost details and
both FOCUS exports, a restatement, nothing new, and a truncated part refused by name with nothing lost."""

from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal

import duckdb
import pytest

from include.azure.sample_data import CONTAINER, DEMO_EXPORTS, write_exports, write_run
from include.dashboards.spec import load_dashboards, render_sql
from include.orchestration.focus_models import months_held_back
from include.serving.publish import connect_serving, served_months
from tests.azurite import running_azurite, set_connection, upload_tree
from tests.dags.conftest import billing_runner, serving_path
from tests.helpers import truncate_gzip

JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
EA_EXPORTS = tuple(spec for spec in DEMO_EXPORTS if spec.name in ("ea-actual", "ea-amortized"))
ACTUAL, AMORTIZED = EA_EXPORTS
ROWS = 300
SUCCESS, FAILED = "success", "failed"


@pytest.fixture
def run_azure_billing(airflow_db, warehouse, monkeypatch):
    return billing_runner("azure", warehouse, monkeypatch)


def _mart(warehouse) -> dict[str, tuple[Decimal, Decimal]]:
    """Per billing month: (Σ BilledCost, Σ EffectiveCost) of the Azure rows."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT strftime(x_BillingPeriod, '%Y-%m'), sum(BilledCost), sum(EffectiveCost) "
            "FROM focus.cost_and_usage WHERE ProviderName = 'Microsoft' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return {month: (billed, effective) for month, billed, effective in rows}


def _reconciliation(warehouse) -> dict[tuple[str, str], Decimal]:
    """The data-quality dashboard's reconciliation card on the serving layer: (export, month, FOCUS column) →
    difference."""
    [card] = [
        card for dashboard in load_dashboards() for card in dashboard.cards if card.key == "data_quality.reconciliation"
    ]
    with connect_serving(serving_path(warehouse)) as con:
        cursor = con.cursor()
        rows = cursor.execute(render_sql(card.sql, {})).fetchall()
        columns = [column[0] for column in cursor.description]
    shown = [dict(zip(columns, row, strict=True)) for row in rows]
    return {(row["export"], row["billing_period"], row["reconciled_to"]): row["difference"] for row in shown}


def _commitments(warehouse, month: date) -> dict[str, tuple[Decimal, Decimal]]:
    """Per commitment discount, Σ EffectiveCost of the usage it covered and of its unused part, in `month`."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT CommitmentDiscountId, sum(EffectiveCost) FILTER (WHERE CommitmentDiscountStatus = 'Used'), "
            "sum(EffectiveCost) FILTER (WHERE CommitmentDiscountStatus = 'Unused') FROM focus.cost_and_usage "
            "WHERE ProviderName = 'Microsoft' AND x_BillingPeriod = ? AND CommitmentDiscountStatus IS NOT NULL "
            "GROUP BY ALL",
            [month],
        ).fetchall()
    return {benefit: (used, unused) for benefit, used, unused in rows}


def _ledger(warehouse) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT export, strftime(billing_period, '%Y-%m'), status FROM finops_meta.load_ledger "
            "WHERE provider = 'azure' ORDER BY loaded_at"
        ).fetchall()


def test_deliveries_convert_restatements_replace_one_month_and_a_month_without_its_amortized_cost_waits(
    tmp_path, warehouse, run_azure_billing, focus_warehouse
):
    """On a warehouse that already holds AWS's January to March: the validator judges both clouds' rows."""
    shutil.copyfile(focus_warehouse.path, warehouse)
    sample = write_exports(tmp_path / "mirror", [JAN, FEB], exports=EA_EXPORTS, rows=ROWS)
    settings = sample.settings

    dag_run, states = run_azure_billing(settings)

    assert dag_run.state == SUCCESS, states
    with connect_serving(serving_path(warehouse)) as con:
        [(status, judged)] = con.execute(
            "SELECT status, billing_periods FROM focus_validation ORDER BY validated_at DESC LIMIT 1"
        ).fetchall()
        providers = con.execute("SELECT DISTINCT ProviderName FROM cost_and_usage ORDER BY 1").fetchall()
    assert (status, judged, providers) == ("passed", "2025-01,2025-02", [("AWS",), ("Microsoft",)])
    assert len(states["load_billing_month"]) == 4
    expected = {
        f"{m:%Y-%m}": (sample.latest(ACTUAL.name, m).totals.actual, sample.latest(ACTUAL.name, m).totals.amortized)
        for m in (JAN, FEB)
    }
    assert _mart(warehouse) == expected
    assert served_months(serving_path(warehouse)) == {"2025-01", "2025-02"}
    # the data-quality dashboard reconciles the pair: actual cost to BilledCost, amortized cost to EffectiveCost
    reconciled = _reconciliation(warehouse)
    pair = {
        ("ea-actual + ea-amortized", f"{month:%Y-%m}", basis)
        for month in (JAN, FEB)
        for basis in ("BilledCost", "EffectiveCost")
    }
    assert pair <= reconciled.keys() and set(reconciled.values()) == {0}  # AWS's exports too, each on its own

    # per reservation and savings plan: used + unused = the month's amortized commitment
    for month in (JAN, FEB):
        commitments = sample.latest(ACTUAL.name, month).totals.commitments
        assert commitments and _commitments(warehouse, month) == {
            benefit: (totals.used, totals.unused) for benefit, totals in commitments.items()
        }
        assert all(totals.used + totals.unused == totals.amortized for totals in commitments.values())

    # February's actual cost restated: that month is loaded again, and rebuilt from both exports
    restated = write_run(sample.root, ACTUAL, FEB, rows=ROWS, first_month=JAN, revision=2)
    dag_run, states = run_azure_billing(settings)
    assert dag_run.state == SUCCESS, states
    assert len(states["load_billing_month"]) == 1
    feb_billed, feb_effective = _mart(warehouse)["2025-02"]
    assert feb_billed == restated.totals.actual != expected["2025-02"][0]
    assert (feb_effective, _mart(warehouse)["2025-01"]) == (expected["2025-02"][1], expected["2025-01"])

    # nothing new: nothing loaded
    dag_run, states = run_azure_billing(settings)
    assert "load_billing_month" not in states or states["load_billing_month"] in ([], ["skipped"]), states
    loads_so_far = _ledger(warehouse)

    # March's actual cost (with a reservation purchase) before its amortized cost: held back, named in the report
    march = write_run(sample.root, ACTUAL, MAR, rows=ROWS, first_month=JAN)
    dag_run, states = run_azure_billing(settings)
    assert dag_run.state == FAILED and states["report_refused_deliveries"] == [FAILED], states
    assert _ledger(warehouse)[len(loads_so_far) :] == [("ea-actual", "2025-03", "loaded")]
    assert "2025-03" not in _mart(warehouse) and _mart(warehouse)["2025-01"] == expected["2025-01"]
    [reported] = months_held_back(warehouse, "azure")  # what the failed report task names
    assert reported.startswith("export ea-actual 2025-03 held back from FOCUS: ") and march.files[0] in reported
    assert "amortized cost export" in reported

    # its amortized cost arrives: the month converts and is served
    write_run(sample.root, AMORTIZED, MAR, rows=ROWS, first_month=JAN)
    dag_run, states = run_azure_billing(settings)
    assert dag_run.state == SUCCESS, states
    assert _mart(warehouse)["2025-03"] == (march.totals.actual, march.totals.amortized)
    assert served_months(serving_path(warehouse)) == {"2025-01", "2025-02", "2025-03"}


def test_runs_on_blob_storage_load_both_focus_exports_restate_a_month_load_nothing_new_and_refuse_a_broken_part(
    tmp_path, warehouse, run_azure_billing, monkeypatch, capfd
):
    """Against Azurite: the deferrable sensors wait on the Microsoft Azure provider's trigger, the runs are read
    through the export's connection (abfs://); the FOCUS 1.2-preview and 1.0r2 exports pass through to 1.2."""
    exports = tuple(
        spec for spec in DEMO_EXPORTS if spec.name in ("ea-actual", "ea-amortized", "focus-cost", "focus-cost-1-0r2")
    )
    sample = write_exports(tmp_path / "container", [JAN], exports=exports, rows=ROWS)
    (tmp_path / "azurite").mkdir()
    with running_azurite(tmp_path / "azurite") as azurite:
        set_connection(monkeypatch, azurite, "azurite_billing")
        container = azurite.container(CONTAINER)
        upload_tree(container, sample.root, "")
        settings = sample.storage_settings("azurite_billing")

        dag_run, states = run_azure_billing(settings)
        assert dag_run.state == SUCCESS and states["wait_for_abfs_delivery"] == [SUCCESS] * 4, states
        assert len(states["load_billing_month"]) == 4

        ea = sample.latest(ACTUAL.name, JAN).totals
        focus = sample.latest("focus-cost", JAN).totals
        assert _mart_by_dataset(warehouse) == {
            "azure_actual+azure_amortized": (ea.actual, ea.amortized),
            "azure_focus_1_2": (focus.actual, focus.amortized),
            "azure_focus_1_0": (focus.actual, focus.amortized),
        }

        # January's actual cost restated: its sensor alone fires, that delivery alone loads, and EA's month is
        # rebuilt from both exports; the FOCUS exports' rows stay as they were
        restated = write_run(sample.root, ACTUAL, JAN, rows=ROWS, revision=2)
        upload_tree(container, sample.root, "")
        dag_run, states = run_azure_billing(settings)
        assert dag_run.state == SUCCESS and sorted(states["wait_for_abfs_delivery"]) == ["skipped"] * 3 + [SUCCESS]
        assert len(states["load_billing_month"]) == 1, states
        served = _mart_by_dataset(warehouse)
        assert served["azure_actual+azure_amortized"] == (restated.totals.actual, ea.amortized)
        assert restated.totals.actual != ea.actual
        assert (served["azure_focus_1_2"], served["azure_focus_1_0"]) == ((focus.actual, focus.amortized),) * 2

        dag_run, states = run_azure_billing(settings)  # nothing new: the sensors skip, nothing loads
        assert "load_billing_month" not in states or states["load_billing_month"] in ([], ["skipped"]), states
        assert states["wait_for_abfs_delivery"] == ["skipped"] * 4, states

        # a restated amortized run whose gzip part is cut short: the load fails naming export, month and part;
        # the ledger records it, and the month's FOCUS rows and the serving layer stay as they were
        broken = write_run(sample.root, AMORTIZED, JAN, rows=ROWS, revision=2)
        truncate_gzip(sample.root / broken.files[0])
        upload_tree(container, sample.root, "")
        capfd.readouterr()
        dag_run, states = run_azure_billing(settings)
        assert dag_run.state == FAILED and states["load_billing_month"] == [FAILED], states
        assert states["report_refused_deliveries"] == [FAILED], states
        output = "".join(capfd.readouterr())
        part = broken.files[0].rsplit("/", 1)[-1]
        refusal = rf"export ea-amortized 2025-01 not loaded: .*{re.escape(part)}: IO Error: Unexpected end of GZIP"
        assert re.search(refusal, output), "no refusal naming export, month and part in the task log"
        assert _ledger(warehouse)[-1] == ("ea-amortized", "2025-01", FAILED)
        assert _mart_by_dataset(warehouse) == served
        assert served_months(serving_path(warehouse)) == {"2025-01"}


def _mart_by_dataset(warehouse) -> dict[str, tuple[Decimal, Decimal]]:
    """(Σ BilledCost, Σ EffectiveCost) of the Azure rows per dataset, actual and amortized cost together."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT CASE WHEN x_Dataset IN ('azure_actual', 'azure_amortized') THEN 'azure_actual+azure_amortized' "
            "ELSE x_Dataset END, sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage GROUP BY ALL"
        ).fetchall()
    return {dataset: (billed, effective) for dataset, billed, effective in rows}
