"""`make demo`: generate sample AWS and Azure exports, run the aws_billing and azure_billing DAGs on them, read
the months back.

No cloud account and no Docker: the exports are local mirrors (`file://`) of what AWS would deliver to S3
and Azure to Blob storage, Airflow runs the real DAGs in-process with `dag.test()`, and the numbers printed at
the end are read from data/finops.duckdb and checked against the generator's own totals. The DAG
ends by publishing the serving layer (data/serving/), from which the static dashboards are rendered
into data/report/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ROOT = PROJECT_ROOT / "data" / "sample" / "aws"
SAMPLE_S3_URI = "s3://finops-sample-billing/exports"
MONTHS = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
ROWS_PER_MONTH = 20_000
EXPORTS = [("sample-cur-legacy", "cur1"), ("sample-cur2", "cur2")]
AZURE_SAMPLE_ROOT = PROJECT_ROOT / "data" / "sample" / "azure"  # the storage container's mirror
AZURE_ROWS_PER_MONTH = 2_000
# EA and MCA cost details (actual and amortized, paired by dbt) and a FOCUS 1.2 export of a third scope.
AZURE_EXPORTS = ("ea-actual", "ea-amortized", "mca-actual", "mca-amortized", "focus-cost")

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
os.environ.setdefault("DBT_QUIET", "true")  # the dbt tasks' own progress lines; errors still print
os.environ.setdefault("FINOPS_SENSOR_POKE_SECONDS", "2")
os.environ.setdefault("FINOPS_SENSOR_TIMEOUT_SECONDS", "10")  # nothing new: give up quickly
sys.path.insert(0, str(PROJECT_ROOT))


def generate_sample_exports() -> dict:
    from include.aws.sample_data import write_month

    totals = {}
    for name, fmt in EXPORTS:
        for month in MONTHS:
            # The last month is still open, as the current month always is: AWS has issued no invoice yet.
            totals[(name, month)] = write_month(
                SAMPLE_ROOT,
                name,
                fmt,
                month,
                rows=ROWS_PER_MONTH,
                s3_uri=SAMPLE_S3_URI,
                first_month=MONTHS[0],
                invoiced=month != MONTHS[-1],
            )
    return totals


def prepare_airflow() -> None:
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], check=True, capture_output=True)
    subprocess.run([*airflow, "pools", "set", "duckdb_writer", "1", "DuckDB writers"], check=True, capture_output=True)


def generate_azure_exports():
    from include.azure.sample_data import DEMO_EXPORTS, write_exports

    exports = tuple(spec for spec in DEMO_EXPORTS if spec.name in AZURE_EXPORTS)
    return write_exports(AZURE_SAMPLE_ROOT, MONTHS, exports=exports, rows=AZURE_ROWS_PER_MONTH)


def run_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    print(f"Running the {dag_id} DAG (dag.test) ...")
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py"))
    if bag.import_errors:
        sys.exit(f"DAG import errors: {bag.import_errors}")
    dag_run = bag.get_dag(dag_id).test()
    print(f"DAG run {dag_run.run_id}: {dag_run.state}")
    if str(dag_run.state) != "success":
        sys.exit("the DAG run failed; see the task logs above")


def _relation(table_name: str) -> str:
    """A ledger's `schema.table` as quoted SQL."""
    from include.sql import sql_qualified

    return sql_qualified(*table_name.split(".", 1))


def print_months(warehouse: Path, expected: dict) -> bool:
    """Rows and Σ unblended cost of every loaded month, read back from the warehouse tables."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = con.execute(
            "SELECT export, billing_period, table_name FROM finops_meta.load_ledger "
            "WHERE provider = 'aws' AND status = 'loaded' ORDER BY export, billing_period"
        ).fetchall()
        months = [
            (
                export,
                period,
                *con.execute(f"SELECT count(*), sum(line_item_unblended_cost) FROM {_relation(table)}").fetchall()[0],
            )
            for export, period, table in loaded
        ]
    print(f"\nBilling months in {warehouse}:")
    print(f"{'export':20} {'month':8} {'rows':>8} {'Σ unblended cost (USD)':>24}  matches generator")
    all_match = True
    for export, period, rows, cost in months:
        want = expected.get((export, period))
        match = want is not None and rows == want.rows and abs(Decimal(str(cost)) - want.billed) < Decimal("1e-6")
        all_match &= match
        print(f"{export:20} {period:%Y-%m}  {rows:>8,} {Decimal(str(cost)):>24,.8f}  {'yes' if match else 'NO'}")
    return all_match and len(months) == len(expected)


def print_focus(warehouse: Path, expected: dict) -> bool:
    """The FOCUS mart per month and ServiceCategory, and each month's reconciliation to the generator."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        by_category = con.execute(
            "SELECT x_BillingPeriod, ServiceCategory, sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage "
            "WHERE x_ExportName = ? GROUP BY ALL ORDER BY 1, 3 DESC",
            [EXPORTS[1][0]],
        ).fetchall()
        totals = con.execute(
            "SELECT x_ExportName, x_BillingPeriod, count(*), sum(BilledCost), sum(EffectiveCost) "
            "FROM focus.cost_and_usage WHERE ProviderName = 'AWS' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    print(f"\nFOCUS 1.2 focus.cost_and_usage, export {EXPORTS[1][0]}, per month and ServiceCategory (USD):")
    print(f"{'month':8} {'ServiceCategory':28} {'BilledCost':>14} {'EffectiveCost':>14}")
    for month, category, billed, effective in by_category:
        print(f"{month:%Y-%m}  {category:28} {billed:>14,.2f} {effective:>14,.2f}")
    print("\nReconciliation (Σ BilledCost = Σ lineItem/UnblendedCost, Σ EffectiveCost = AWS amortized cost):")
    print(f"{'export':20} {'month':8} {'FOCUS rows':>10} {'BilledCost':>16} {'EffectiveCost':>16}  exact")
    all_exact = len(totals) == len(expected)
    for export, month, rows, billed, effective in totals:
        want = expected[(export, month)]
        exact = abs(billed - want.billed) < Decimal("1e-6") and abs(effective - want.amortized) < Decimal("1e-6")
        all_exact &= exact
        verdict = "yes" if exact else "NO"
        print(f"{export:20} {month:%Y-%m}  {rows:>10,} {billed:>16,.6f} {effective:>16,.6f}  {verdict}")
    return all_exact


def print_azure(warehouse: Path, sample) -> bool:
    """Azure's FOCUS rows per billing account and month against the generator: Σ BilledCost = Σ actual cost,
    Σ EffectiveCost = Σ amortized cost (each in the account's billing currency)."""
    import duckdb

    expected = {}
    for spec in sample.exports:
        # FOCUS's BillingAccountId: the enrollment (EA) or billing profile (MCA); Azure's FOCUS export writes the ARM id
        account = spec.scope.resource_id if spec.dataset == "focus" else spec.scope.focus_billing_account_id
        for month in MONTHS:
            expected[(account, month)] = sample.latest(spec.name, month).totals
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT BillingAccountId, x_BillingPeriod, list_sort(list(DISTINCT x_Dataset)), BillingCurrency, "
            "count(*), sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage "
            "WHERE ProviderName = 'Microsoft' GROUP BY BillingAccountId, x_BillingPeriod, BillingCurrency ORDER BY ALL"
        ).fetchall()
    print("\nAzure reconciliation (Σ BilledCost = Σ actual cost, Σ EffectiveCost = Σ amortized cost):")
    print(
        f"{'billing account':52} {'month':8} {'datasets':32} {'cur':4} {'rows':>6} {'BilledCost':>14} "
        f"{'EffectiveCost':>14}  exact"
    )
    all_exact = len(rows) == len(expected)
    for account, month, datasets, currency, count, billed, effective in rows:
        want = expected.get((account, month))
        exact = want is not None and (billed, effective, currency) == (want.actual, want.amortized, want.currency)
        all_exact &= exact
        print(
            f"{account[-52:]:52} {month:%Y-%m}  {','.join(datasets):32} {currency:4} {count:>6,} {billed:>14,.4f} "
            f"{effective:>14,.4f}  {'yes' if exact else 'NO'}"
        )
    return all_exact


def print_serving(warehouse: Path, serving: Path) -> bool:
    """What dashboards read: the served months and the DAG's focus-validator verdict; then the static preview."""
    from include.dashboards.report import DEFAULT_REPORT_PATH, render_report
    from include.serving.publish import connect_serving, publish

    publish(warehouse, serving, [])  # serves any month of the mart not served yet (the DAG serves what it rebuilt)
    with connect_serving(serving) as con:
        months = con.execute(
            "SELECT billing_period, x_ExportName, count(*), sum(BilledCost), sum(EffectiveCost) "
            "FROM cost_and_usage GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        verdicts = con.execute("SELECT status, verdict FROM focus_validation ORDER BY validated_at").fetchall()
    print(f"\nServing layer {serving.relative_to(PROJECT_ROOT)} (one export per account and month; Metabase reads it):")
    print(f"{'month':8} {'export':20} {'rows':>8} {'BilledCost':>16} {'EffectiveCost':>16}")
    for month, export, rows, billed, effective in months:
        print(f"{month:8} {export:20} {rows:>8,} {billed:>16,.6f} {effective:>16,.6f}")
    status, line = verdicts[-1] if verdicts else ("not run", "no validation recorded")
    print(f"\n{line}")
    pages = render_report(serving, DEFAULT_REPORT_PATH)
    print(f"\nStatic dashboards ({len(pages)}): open {(DEFAULT_REPORT_PATH / 'index.html').relative_to(PROJECT_ROOT)}")
    return bool(months) and status == "passed"


def main() -> None:
    expected = generate_sample_exports()
    print(f"Generated {len(MONTHS)} months x {len(EXPORTS)} AWS exports under {SAMPLE_ROOT.relative_to(PROJECT_ROOT)}")
    exports = [{"name": n, "uri": SAMPLE_ROOT.as_uri(), "format": f, "s3_uri": SAMPLE_S3_URI} for n, f in EXPORTS]
    os.environ["AIRFLOW_VAR_FINOPS_AWS_EXPORTS"] = json.dumps(exports)
    azure = generate_azure_exports()
    print(
        f"Generated {len(MONTHS)} months x {len(azure.exports)} Azure exports under "
        f"{AZURE_SAMPLE_ROOT.relative_to(PROJECT_ROOT)}"
    )
    os.environ["AIRFLOW_VAR_FINOPS_AZURE_EXPORTS"] = json.dumps(azure.settings)
    prepare_airflow()

    from include.orchestration.config import WAREHOUSE_PATH_VARIABLE
    from include.settings import resolve_serving_path, resolve_warehouse_path

    warehouse = resolve_warehouse_path(os.environ.get(f"AIRFLOW_VAR_{WAREHOUSE_PATH_VARIABLE.upper()}"))
    run_dag("aws_billing")
    if not print_months(warehouse, expected):
        sys.exit("warehouse totals differ from the generated ones")
    if not print_focus(warehouse, expected):
        sys.exit("the FOCUS mart does not reconcile to the generated totals")
    run_dag("azure_billing")
    if not print_azure(warehouse, azure):
        sys.exit("Azure's FOCUS rows do not reconcile to the generated totals")
    if not print_serving(warehouse, resolve_serving_path(os.environ.get("AIRFLOW_VAR_FINOPS_SERVING_PATH"))):
        sys.exit("nothing served, or focus-validator found failures beyond the allowlist")


if __name__ == "__main__":
    main()
