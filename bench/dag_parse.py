"""Benchmark: how long each DAG file takes to parse, as Airflow's DAG processor would.

Each file is parsed in a fresh child process (cold: imports of Airflow, providers, Cosmos and
the dbt manifest included), then once more in the same process (warm: what a re-parse costs).
Cosmos renders the dbt task group from dbt/target/manifest.json (`make dbt-manifest`), so no dbt
command runs at parse time.

    python bench/dag_parse.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
cold = time.perf_counter()
assert not bag.import_errors, bag.import_errors
DagBag(dag_folder=sys.argv[1])
warm = time.perf_counter()
tasks = sum(len(dag.tasks) for dag in bag.dags.values())
print(json.dumps({"airflow_import": imported - started, "cold": cold - imported, "warm": warm - cold, "tasks": tasks}))
"""


def parse_once(dag_file: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(dag_file)], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    header = f"{'DAG file':22} {'tasks':>5} {'cold parse s':>13} {'warm parse s':>13} {'airflow import s':>17}"
    print(f"{header}  (median of {args.repeat})")
    for dag_file in sorted((PROJECT_ROOT / "dags").glob("*.py")):
        runs = [parse_once(dag_file) for _ in range(args.repeat)]
        median = {key: statistics.median(run[key] for run in runs) for key in ("cold", "warm", "airflow_import")}
        print(
            f"{dag_file.name:22} {runs[0]['tasks']:>5} {median['cold']:>13.2f} {median['warm']:>13.2f} "
            f"{median['airflow_import']:>17.2f}"
        )


if __name__ == "__main__":
    main()
