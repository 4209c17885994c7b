"""Benchmark: the project's loader against a bare DuckDB CREATE TABLE AS on the same files.

Generates one month of N rows per format with the sample-data generator, then times, each in a
fresh child process (so peak RSS is that step's alone):
  loader — include.orchestration.loading.load_delivery (checks, typed casts, row-count check, swap, ledger)
  raw    — CREATE TABLE AS SELECT * FROM read_csv(...) / read_parquet(...) into a new DuckDB file
and prints rows/s, loader/raw throughput ratio and peak RSS. Target: ratio >= 0.8 and loader
peak RSS <= 2 GiB at 10M rows.

    python bench/load_month.py --rows 1000000
    python bench/load_month.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

S3_URI = "s3://bench-billing/exports"
MONTH = date(2025, 1, 1)
EXPORT_NAMES = {"cur1": "bench-cur1", "cur2": "bench-cur2"}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _delivery(data_root: Path, fmt: str):
    from upath import UPath

    from include.aws.provider import AWS

    config = [{"name": EXPORT_NAMES[fmt], "uri": data_root.as_uri(), "format": fmt, "s3_uri": S3_URI}]
    [export] = AWS.parse_exports(json.dumps(config))
    [delivery] = AWS.discover(UPath(export.uri), export).deliveries
    return delivery


def child_loader(data_root: Path, fmt: str, warehouse: Path) -> dict:
    from upath import UPath

    from include.aws.provider import AWS
    from include.orchestration.loading import load_delivery

    delivery = _delivery(data_root, fmt)
    started = time.perf_counter()
    result = load_delivery(warehouse, AWS, delivery, UPath)
    return {"seconds": time.perf_counter() - started, "rows": result.rows, "peak_rss_mib": _peak_rss_mib()}


def child_raw(data_root: Path, fmt: str, warehouse: Path) -> dict:
    import duckdb

    paths = [str(data_root / f.listed_uri.removeprefix(S3_URI + "/")) for f in _delivery(data_root, fmt).data_files]
    reader = "read_csv" if fmt == "cur1" else "read_parquet"
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"CREATE TABLE raw AS SELECT * FROM {reader}(?)", [paths]).fetchall()
        rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mib": _peak_rss_mib()}


def _run_child(kind: str, data_root: Path, fmt: str, workdir: Path) -> dict:
    warehouse = workdir / f"{kind}-{fmt}.duckdb"
    warehouse.unlink(missing_ok=True)
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--data",
        str(data_root),
        "--format",
        fmt,
        "--warehouse",
        str(warehouse),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    warehouse.unlink(missing_ok=True)
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Loader vs raw DuckDB throughput and memory")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="+", default=["cur1", "cur2"], choices=["cur1", "cur2"])
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "bench" / "out")
    parser.add_argument("--child", choices=["loader", "raw"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--format")
    parser.add_argument("--warehouse", type=Path)
    args = parser.parse_args()
    if args.child:
        step = child_loader if args.child == "loader" else child_raw
        print(json.dumps(step(args.data, args.format, args.warehouse)))
        return

    from include.aws.sample_data import write_month

    table = []
    for fmt in args.formats:
        data_root = args.workdir / f"data-{fmt}-{args.rows}"
        if not (data_root / EXPORT_NAMES[fmt]).exists():
            started = time.perf_counter()
            write_month(data_root, EXPORT_NAMES[fmt], fmt, MONTH, rows=args.rows, s3_uri=S3_URI)
            print(f"generated {args.rows:,} {fmt} rows in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        size_mib = sum(p.stat().st_size for p in data_root.rglob("*") if p.is_file()) / 2**20
        loader = _run_child("loader", data_root, fmt, args.workdir)
        raw = _run_child("raw", data_root, fmt, args.workdir)
        assert loader["rows"] == raw["rows"], (loader, raw)
        table.append((fmt, loader["rows"], size_mib, loader, raw))

    header = (
        f"{'format':6} {'rows':>11} {'files MiB':>9} {'loader s':>9} {'loader rows/s':>14} {'raw s':>7} "
        f"{'raw rows/s':>12} {'ratio':>6} {'loader RSS MiB':>15} {'raw RSS MiB':>12}"
    )
    print(header)
    print("-" * len(header))
    for fmt, rows, size_mib, loader, raw in table:
        ratio = raw["seconds"] / loader["seconds"]
        print(
            f"{fmt:6} {rows:>11,} {size_mib:>9.0f} {loader['seconds']:>9.2f} {rows / loader['seconds']:>14,.0f} "
            f"{raw['seconds']:>7.2f} {rows / raw['seconds']:>12,.0f} {ratio:>6.2f} "
            f"{loader['peak_rss_mib']:>15,.0f} {raw['peak_rss_mib']:>12,.0f}"
        )
    if args.workdir == PROJECT_ROOT / "bench" / "out":
        shutil.rmtree(args.workdir / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
