"""Benchmark: one billing month from its files to a dashboard, against a bare copy of the same files.

Generates one month of N rows (legacy CUR CSV.gz by default, the month issue 11 measured; `--format
cur2` for Parquet) with the sample-data generator, then times, each in a fresh child process (so peak
RSS is that step's alone), on one warehouse:
  bare copy  — CREATE TABLE AS SELECT * FROM read_csv/read_parquet on the same files (bench/load_month.py)
  dbt parse  — the first dbt invocation on a warehouse path parses the project in full; later runs,
               like a DAG's, reuse that parse (not counted in load + FOCUS)
  load       — include.orchestration.loading.load_delivery
  dbt build  — seeds and models, as the DAG's Cosmos producer runs them (tests excluded), rebuilding
               the loaded month's source partition (FINOPS_SOURCE_PARTITIONS); the mart is new
  mart alone — the statement dbt build ran for the new mart, run again straight in DuckDB on a copy
               of the warehouse without the mart: the month's FOCUS work without dbt's own, so
               build − this is what dbt itself costs
  dbt test   — the data tests, as the DAG's test task runs them
  restate    — the month delivered again: load, then dbt build into the existing mart (the
               incremental path every later month takes)
  publish    — include.serving.publish: the month to Parquet (temp file + rename) and the ledger
  query      — a dashboard-like query (Σ BilledCost, EffectiveCost by ServiceCategory for the month),
               median of 5, through the serving views vs on the warehouse file read-only
and prints seconds, rows/s and peak RSS per step, then load + FOCUS against the bare copy, with dbt and
without dbt's own work (load + mart alone).

    python bench/serving.py --rows 1000000 [--format cur2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from load_month import EXPORT_NAMES, MONTH, S3_URI, child_raw  # noqa: E402  (bench/ is this script's folder)

QUERY = (
    "SELECT ServiceCategory, sum(BilledCost), sum(EffectiveCost) FROM {relation} "
    "WHERE {month_filter} GROUP BY ServiceCategory"
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(started: float, **more) -> dict:
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": _peak_rss_mib(), **more}


def child_load(warehouse: Path, data_root: Path, fmt: str) -> dict:
    from upath import UPath

    from include.aws.provider import AWS
    from include.orchestration.loading import load_delivery

    config = [{"name": EXPORT_NAMES[fmt], "uri": data_root.as_uri(), "format": fmt, "s3_uri": S3_URI}]
    [export] = AWS.parse_exports(json.dumps(config))
    [delivery] = AWS.discover(UPath(export.uri), export).deliveries
    started = time.perf_counter()
    result = load_delivery(warehouse, AWS, delivery, UPath)
    return _timed(started, rows=result.rows)


def _dbt_target(warehouse: Path) -> Path:
    return warehouse.parent / "dbt-target"


def _dbt(warehouse: Path, fmt: str, args: list[str]) -> dict:
    from dbt.cli.main import dbtRunner

    from include.aws.settings import AWS_DATASETS
    from include.orchestration.focus_models import DBT_PROJECT, source_partition

    # as the DAG's dbt tasks get them; dbt's target and logs in bench/out, away from the manifest the DAG renders
    os.environ["FINOPS_WAREHOUSE_PATH"] = str(warehouse)
    os.environ["FINOPS_SOURCE_PARTITIONS"] = source_partition(AWS_DATASETS[fmt], EXPORT_NAMES[fmt], f"{MONTH:%Y-%m}")
    os.environ["DBT_TARGET_PATH"] = str(_dbt_target(warehouse))
    os.environ["DBT_LOG_PATH"] = str(warehouse.parent / "dbt-logs")
    started = time.perf_counter()
    result = dbtRunner().invoke([*args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)])
    assert result.success, result.exception
    return _timed(started)


def child_parse(warehouse: Path, _data_root: Path, fmt: str) -> dict:
    return _dbt(warehouse, fmt, ["parse"])


def child_build(warehouse: Path, _data_root: Path, fmt: str) -> dict:
    # Cosmos's watcher producer: `dbt build` of every resource type but tests (graph.py, TestBehavior.AFTER_ALL)
    return _dbt(
        warehouse, fmt, ["build", "--resource-type", "model", "--resource-type", "snapshot", "--resource-type", "seed"]
    )


def child_mart_alone(warehouse: Path, _data_root: Path, _fmt: str) -> dict:
    import duckdb

    from include.warehouse.loader import writer_settings

    # dbt writes each statement it ran under target/run: for a new mart, the one CREATE TABLE AS.
    statement = (_dbt_target(warehouse) / "run/open_finops/models/marts/cost_and_usage.sql").read_text()
    mart_relation = '"warehouse"."focus"."cost_and_usage"'
    assert statement.count(mart_relation) == 1, f"not one CREATE TABLE AS {mart_relation}"
    # On a copy without the mart (same file name, so the same catalog name), so later steps see dbt's warehouse.
    copy = warehouse.parent / "mart-alone" / warehouse.name
    copy.parent.mkdir()
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy), config=writer_settings()) as con:  # the settings dbt/profiles.yml gives dbt
        con.execute(f"DROP TABLE {mart_relation}").fetchall()
        started = time.perf_counter()
        [(rows,)] = con.execute(statement).fetchall()
        result = _timed(started, rows=rows)
    shutil.rmtree(copy.parent)
    return result


def child_test(warehouse: Path, _data_root: Path, fmt: str) -> dict:
    return _dbt(warehouse, fmt, ["test"])


def child_publish(warehouse: Path, serving: Path, _fmt: str) -> dict:
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
    return _timed(started, rows=sum(result.months.values()))


def child_query_serving(_warehouse: Path, serving: Path, _fmt: str) -> dict:
    from include.serving.publish import connect_serving

    con = connect_serving(serving)
    return _timed_queries(
        con, QUERY.format(relation="cost_and_usage", month_filter=f"billing_period = '{MONTH:%Y-%m}'")
    )


def child_query_warehouse(warehouse: Path, _serving: Path, _fmt: str) -> dict:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    return _timed_queries(
        con, QUERY.format(relation="focus.cost_and_usage", month_filter=f"x_BillingPeriod = DATE '{MONTH}'")
    )


def _timed_queries(con, query: str) -> dict:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        con.execute(query).fetchall()
        timings.append(time.perf_counter() - started)
    return {"seconds": statistics.median(timings), "peak_rss_mib": _peak_rss_mib()}


def child_bare_copy(warehouse: Path, data_root: Path, fmt: str) -> dict:
    return child_raw(data_root, fmt, warehouse)


CHILDREN = {
    "bare_copy": child_bare_copy,
    "parse": child_parse,
    "load": child_load,
    "build": child_build,
    "mart_alone": child_mart_alone,
    "test": child_test,
    "restate_load": child_load,
    "restate_build": child_build,
    "publish": child_publish,
    "query_serving": child_query_serving,
    "query_warehouse": child_query_warehouse,
}
LABELS = {
    "bare_copy": "bare copy (CTAS)",
    "parse": "dbt parse (first run)",
    "load": "load",
    "build": "dbt build (new mart)",
    "mart_alone": "mart statement alone",
    "test": "dbt test",
    "restate_load": "restate: load",
    "restate_build": "restate: dbt build",
    "publish": "publish",
    "query_serving": "query (serving views)",
    "query_warehouse": "query (warehouse file)",
}


def _run_child(step: str, warehouse: Path, path: Path, fmt: str) -> dict:
    command = [sys.executable, __file__, "--child", step, "--warehouse", str(warehouse), "--path", str(path)]
    output = subprocess.run([*command, "--format", fmt], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="One billing month from its files to a dashboard, against a bare copy")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=sorted(EXPORT_NAMES), default="cur1")
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "bench" / "out")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--path", type=Path, help="(child) the month's files, or the serving folder")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.warehouse, args.path, args.format)))
        return

    from include.aws.sample_data import write_month

    fmt, work = args.format, args.workdir / "serving-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warehouse, serving = work / "warehouse.duckdb", work / "serving"
    data_root = args.workdir / f"data-{fmt}-{args.rows}"  # shared with bench/load_month.py
    if not (data_root / EXPORT_NAMES[fmt]).exists():
        write_month(data_root, EXPORT_NAMES[fmt], fmt, MONTH, rows=args.rows, s3_uri=S3_URI)
    results = {}
    for step in CHILDREN:
        path = serving if step in ("publish", "query_serving", "query_warehouse") else data_root
        target = work / "bare-copy.duckdb" if step == "bare_copy" else warehouse
        results[step] = _run_child(step, target, path, fmt)
    served_mib = sum(p.stat().st_size for p in serving.rglob("*.parquet")) / 2**20
    focus_rows = results["publish"]["rows"]

    print(
        f"one {fmt} month: {results['load']['rows']:,} CUR rows, {focus_rows:,} FOCUS rows, "
        f"{served_mib:,.1f} MiB served"
    )
    header = f"{'step':24} {'seconds':>9} {'rows/s':>11} {'peak RSS MiB':>13}"
    print(header)
    print("-" * len(header))
    for step, result in results.items():
        rows = result.get("rows") or (focus_rows if step in ("build", "restate_build") else None)
        rate = f"{rows / result['seconds']:>11,.0f}" if rows else f"{'':>11}"
        print(f"{LABELS[step]:24} {result['seconds']:>9.3f} {rate} {result['peak_rss_mib']:>13,.0f}")
    bare = results["bare_copy"]["seconds"]
    for label, load, build in (("new month", "load", "build"), ("restated month", "restate_load", "restate_build")):
        total = results[load]["seconds"] + results[build]["seconds"]
        with_tests = total + results["test"]["seconds"]
        print(
            f"load + FOCUS, {label}: {results[load]['seconds']:.2f} + {results[build]['seconds']:.2f} = {total:.2f} s, "
            f"{total / bare:.2f}× the bare copy ({bare:.2f} s); with dbt test {with_tests:.2f} s"
        )
    without_dbt = results["load"]["seconds"] + results["mart_alone"]["seconds"]
    print(
        f"without dbt, new month: load + the mart statement alone = {without_dbt:.2f} s, {without_dbt / bare:.2f}× "
        f"the bare copy; dbt build adds {results['build']['seconds'] - results['mart_alone']['seconds']:.2f} s"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
