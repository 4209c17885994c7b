"""Dashboards stay readable while the pipeline writes: a separate reader process queries the serving
layer in a loop during a real DAG run (load + dbt + validate + publish) and never fails or sees part of a month."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.conftest import FEB, MAR, PROJECT_ROOT, export_config
from tests.dags.conftest import serving_path

READER = PROJECT_ROOT / "tests" / "dags" / "serving_reader.py"


def _start_reader(serving_root, tmp_path):
    out, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    reader = subprocess.Popen([sys.executable, str(READER), str(serving_root), str(out), str(stop)], env=env)
    return reader, out, stop


def _reads(out) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def _wait_for_reads(out, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < count):
        time.sleep(0.1)


def test_a_reader_process_never_fails_nor_sees_a_partial_month_during_load_and_dbt(
    closed_and_open_month, write_sample, run_aws_billing, warehouse, tmp_path
):
    # January and February served by one DAG run (shared with test_open_month), then the reader starts
    assert closed_and_open_month.state == "success"
    exports = [export_config("cur2", "cur2", write_sample.root.as_uri())]
    reader, out, stop = _start_reader(serving_path(warehouse), tmp_path)
    try:
        _wait_for_reads(out, 5)
        before = _reads(out)[-1]["months"]

        write_sample("cur2", "cur2", FEB, revision=2, rows=900)  # a restatement of February ...
        write_sample("cur2", "cur2", MAR)  # ... and a new month, loaded and modelled while the reader reads
        dag_run, states = run_aws_billing(exports)
        assert dag_run.state == "success" and states["publish_serving_layer"] == ["success"]
        time.sleep(0.5)
    finally:
        stop.touch()
        reader.wait(timeout=30)
    reads = _reads(out)
    after = reads[-1]["months"]

    assert [read["error"] for read in reads if "error" in read] == []
    assert len(reads) > 100, "the reader must have been querying throughout the run"
    assert before["2025-02"] != after["2025-02"] and "2025-03" not in before and "2025-03" in after
    for read in reads:
        for month, state in read["months"].items():
            # a month is either as it was before the run or as the run left it, never in between
            assert state in (before.get(month), after[month]), (month, state, before.get(month), after[month])
    seen_february = {tuple(read["months"]["2025-02"]) for read in reads}
    assert seen_february == {tuple(before["2025-02"]), tuple(after["2025-02"])}  # the swap happened mid-read
