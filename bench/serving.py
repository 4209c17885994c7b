"""Benchmark: one billing month through dbt and the publish step, and what a dashboard query costs after.

Generates one CUR 2.0 month of N rows with the sample-data generator, then times, each in a fresh
child process (so peak RSS is that step's alone):
  load      — include.orchestration.loading.load_delivery (rows/s counted in FOCUS rows, for comparison)
  dbt build — the FOCUS models on the warehouse (dbt-duckdb, in-process dbtRunner)
  publish   — include.serving.publish: the month to Parquet (temp file + rename) and the ledger
  query     — a dashboard-like query (Σ BilledCost, EffectiveCost by ServiceCategory for the month),
              median of 5, through the serving views vs on the warehouse file read-only
and prints seconds, rows/s, peak RSS and the served file's size.

    python bench/serving.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

S3_URI = "s3://bench-billing/exports"
EXPORT = "bench-serving"
MONTH = date(2025, 1, 1)
QUERY = (
    "SELECT ServiceCategory, sum(BilledCost), sum(EffectiveCost) FROM {relation} "
    "WHERE {month_filter} GROUP BY ServiceCategory"
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_generate(data_root: Path, rows: int) -> dict:
    from include.aws.sample_data import write_month

    write_month(data_root, EXPORT, "cur2", MONTH, rows=rows, s3_uri=S3_URI)
    return {}


def child_load(warehouse: Path, data_root: Path) -> dict:
    from upath import UPath

    from include.aws.provider import AWS
    from include.orchestration.loading import load_delivery

    config = [{"name": EXPORT, "uri": data_root.as_uri(), "format": "cur2", "s3_uri": S3_URI}]
    [export] = AWS.parse_exports(json.dumps(config))
    [delivery] = AWS.discover(UPath(export.uri), export).deliveries
    started = time.perf_counter()
    load_delivery(warehouse, AWS, delivery, UPath)
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": _peak_rss_mib()}


def child_dbt(warehouse: Path, _serving: Path) -> dict:
    from dbt.cli.main import dbtRunner

    from include.orchestration.focus_models import DBT_PROJECT

    os.environ["FINOPS_WAREHOUSE_PATH"] = str(warehouse)
    started = time.perf_counter()
    result = dbtRunner().invoke(["build", "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)])
    assert result.success, result.exception
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": _peak_rss_mib()}


def child_publish(warehouse: Path, serving: Path) -> dict:
    import duckdb

    from include.serving.publish import month_fingerprints, publish, publish_validation

    # Only validated months are served, as the mart held them; the bench measures publishing, not focus-validator.
    month = f"{MONTH:%Y-%m}"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        fingerprints = month_fingerprints(con, [month])
    verdict = {"status": "not run", "billing_periods": month, "verdict": "bench", "fingerprints": fingerprints}
    publish_validation(serving, verdict)
    started = time.perf_counter()
    result = publish(warehouse, serving, [month])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": sum(result.months.values()), "peak_rss_mib": _peak_rss_mib()}


def child_query_serving(_warehouse: Path, serving: Path) -> dict:
    from include.serving.publish import connect_serving

    con = connect_serving(serving)
    query = QUERY.format(relation="cost_and_usage", month_filter=f"billing_period = '{MONTH:%Y-%m}'")
    return _timed_queries(con, query)


def child_query_warehouse(warehouse: Path, _serving: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    query = QUERY.format(relation="focus.cost_and_usage", month_filter=f"x_BillingPeriod = DATE '{MONTH}'")
    return _timed_queries(con, query)


def _timed_queries(con, query: str) -> dict:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        con.execute(query).fetchall()
        timings.append(time.perf_counter() - started)
    return {"seconds": statistics.median(timings), "peak_rss_mib": _peak_rss_mib()}


CHILDREN = {
    "load": child_load,
    "dbt": child_dbt,
    "publish": child_publish,
    "query_serving": child_query_serving,
    "query_warehouse": child_query_warehouse,
}


def _run_child(step: str, warehouse: Path, serving: Path, rows: int = 0) -> dict:
    command = [sys.executable, __file__, "--child", step, "--warehouse", str(warehouse), "--serving", str(serving)]
    command += ["--rows", str(rows)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="dbt, publish and dashboard-query cost of one billing month")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "bench" / "out")
    parser.add_argument("--child", choices=sorted([*CHILDREN, "generate"]))
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--serving", type=Path)
    args = parser.parse_args()
    if args.child:
        if args.child == "generate":
            print(json.dumps(child_generate(args.serving, args.rows)))
        else:
            print(json.dumps(CHILDREN[args.child](args.warehouse, args.serving)))
        return

    import shutil

    warehouse, serving = args.workdir / "serving-bench.duckdb", args.workdir / "serving-bench"
    warehouse.unlink(missing_ok=True)
    shutil.rmtree(serving, ignore_errors=True)
    data_root = args.workdir / f"data-serving-{args.rows}"
    if not (data_root / EXPORT).exists():
        # In a child too: a child's peak RSS starts from its parent's, so the parent stays small.
        _run_child("generate", Path(), data_root, args.rows)
    results = {step: _run_child(step, warehouse, data_root if step == "load" else serving) for step in CHILDREN}
    served_mib = sum(p.stat().st_size for p in serving.rglob("*.parquet")) / 2**20
    focus_rows = results["publish"]["rows"]

    print(f"one CUR 2.0 month: {args.rows:,} CUR rows, {focus_rows:,} FOCUS rows, {served_mib:,.1f} MiB served")
    header = f"{'step':24} {'seconds':>9} {'FOCUS rows/s':>13} {'peak RSS MiB':>13}"
    print(header)
    print("-" * len(header))
    for step, result in results.items():
        rate = f"{focus_rows / result['seconds']:>13,.0f}" if step in ("load", "dbt", "publish") else f"{'':>13}"
        label = {"query_serving": "query (serving views)", "query_warehouse": "query (warehouse file)"}.get(step, step)
        print(f"{label:24} {result['seconds']:>9.3f} {rate} {result['peak_rss_mib']:>13,.0f}")
    warehouse.unlink(missing_ok=True)
    shutil.rmtree(serving, ignore_errors=True)


if __name__ == "__main__":
    main()
