"""Benchmark: one new billing month through the aws_billing DAG under a real `airflow standalone`.

Starts `airflow standalone` (API server, scheduler, DAG processor, triggerer, LocalExecutor) on
127.0.0.1 with an AIRFLOW_HOME of its own, this project's dags/ and plugins/, the Variables as
AIRFLOW_VAR_* and the `duckdb_writer` pool. A generated month in a file:// export is loaded by the
run the scheduler starts when the DAG is unpaused (the warm-up: empty warehouse, first build of
the mart); then the next month is written and one run is triggered, which loads just that month.

For each run it prints, from the task instances in the metadata DB, the wall time of every task
and phase (sense → find → load → plan → dbt group → validate → publish → refresh), the time no
task of the run was running (scheduler and executor overhead between tasks), the total, the task
tries, and, from looking at the processes every 0.2 s, the task processes that started, what they
started, and the CPU time of each task and of Airflow's own processes. CPU seconds vary far less
than wall time on a busy machine. Every process it starts is stopped when it ends, fails or is
interrupted.

    nice -n 10 python bench/standalone_run.py [--rows 20000] [--format cur2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from scripts.standalone_airflow import (  # noqa: E402  (after the path it is found on)
    Process,
    airflow,
    api,
    running_standalone,
    session_processes,
    standalone_environment,
    wait_until,
)

DAG_ID = "aws_billing"
EXPORT_NAME = "bench"
S3_URI = "s3://bench-billing/exports"
WARM_UP_MONTH, NEW_MONTH = date(2025, 1, 1), date(2025, 2, 1)
STARTUP_SECONDS = 300
# The scheduled run starts once, when the DAG is unpaused; the next tick of this cron is months away.
YEARLY = "17 0 1 1 *"
# A task's phase is the first whose keyword its id contains.
PHASES = [
    ("dbt", (".",)),  # the Cosmos task group's tasks: `focus_models.<node>`
    ("sense", ("_exports", "wait_for")),
    ("find", ("find_deliveries",)),
    ("load", ("load_",)),
    ("plan", ("plan_",)),
    ("report", ("report",)),
    ("validate", ("validate",)),
    ("publish", ("publish",)),
    ("refresh", ("refresh",)),
]


def _phase(task_id: str) -> str:
    for name, keywords in PHASES:
        if any(keyword in task_id for keyword in keywords):
            return name
    return "other"


# ---------------------------------------------------------------- processes


# The title the Task SDK gives the process that runs a task: its task instance id.
TASK_TITLE = re.compile(r"airflow worker -- ([0-9a-f-]{36})$")
# The standalone's components by their command line; LocalExecutor workers host each task's supervisor.
COMPONENTS = {
    "airflow scheduler": "scheduler",
    "airflow dag-processor": "dag-processor",
    "airflow triggerer": "triggerer",
    "api_server": "api-server",
    "airflow api-server": "api-server",
    "airflow worker -- LocalExecutor": "executor workers",
    "airflow supervisor": "executor workers",
    "airflow standalone": "standalone",
}


def _program(cmdline: str) -> str:
    """A short name for a command line: the program, and for Python what it runs (`-m module`, script, `-c code`)."""
    for prefix, component in COMPONENTS.items():
        if prefix in cmdline:
            return component
    words = cmdline.split() or ["?"]
    program = Path(words[0]).name
    if not program.startswith("python"):
        return program
    if len(words) > 2 and Path(words[1]).name == "airflow":
        return f"airflow {words[2]}"
    for at, word in enumerate(words[1:], start=1):
        if word in ("-m", "-c"):
            return f"{program} {word} {' '.join(words[at + 1 :])[:50]}"
        if not word.startswith("-"):
            return f"{program} {Path(word).name}"
    return program


@dataclass
class Seen:
    name: str  # the task instance id of a task process, else the program
    first: float  # when first seen
    cpu: float  # CPU seconds at the last look
    parent: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time, CPU seconds), components only


@dataclass
class ProcessSampler:
    """Looks at the standalone's processes every `interval` s: task processes, the processes they start
    (dbt's helpers, the validator's venv) and the rest (scheduler, DAG processor, triggerer, API server,
    executor workers). A process that lives less than `interval` may be missed."""

    session: int
    interval: float = 0.2
    tasks: dict[int, Seen] = field(default_factory=dict)
    children: dict[int, Seen] = field(default_factory=dict)  # started by a task process, or by one of these
    components: dict[int, Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.look(session_processes(self.session), time.time())

    def look(self, processes: dict[int, Process], now: float) -> None:
        for pid, process in processes.items():
            if task := TASK_TITLE.match(process.cmdline):
                seen = self.tasks.setdefault(pid, Seen(task.group(1).replace("-", ""), now, 0.0))
                seen.cpu = process.own_cpu  # its children are counted on their own
                self.components.pop(pid, None)  # forked by an executor worker, it had that title at first
        for pid, process in sorted(processes.items()):  # a parent before its children, mostly
            if pid in self.tasks:
                continue
            if process.parent in self.tasks or process.parent in self.children:
                seen = self.children.setdefault(pid, Seen(_program(process.cmdline), now, 0.0, process.parent))
                seen.cpu = process.cpu
            else:
                seen = self.components.setdefault(pid, Seen(_program(process.cmdline), now, 0.0))
                seen.cpu = process.own_cpu
                seen.samples.append((now, process.own_cpu))

    def task_cpu(self) -> dict[str, float]:
        """CPU seconds by task instance id: its processes and every process they started."""
        by_ti: dict[str, float] = {}
        for seen in self.tasks.values():
            by_ti[seen.name] = by_ti.get(seen.name, 0.0) + seen.cpu
        for seen in self.children.values():
            ancestor = seen.parent
            while ancestor in self.children:
                ancestor = self.children[ancestor].parent
            if ancestor in self.tasks:
                ti = self.tasks[ancestor].name
                by_ti[ti] = by_ti.get(ti, 0.0) + seen.cpu
        return by_ti

    def started(self, start: float, end: float) -> tuple[int, dict[str, int]]:
        """Task processes and (by program) the processes they started, first seen in [start, end]."""
        tasks = sum(start <= seen.first <= end for seen in self.tasks.values())
        children: dict[str, int] = {}
        for seen in self.children.values():
            if start <= seen.first <= end:
                children[seen.name] = children.get(seen.name, 0) + 1
        return tasks, children

    def component_cpu(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each kind of component used between `start` and `end`."""
        used: dict[str, float] = {}
        for seen in self.components.values():
            before = [cpu for when, cpu in seen.samples if when <= start]
            until = [cpu for when, cpu in seen.samples if when <= end]
            if until:
                used[seen.name] = used.get(seen.name, 0.0) + until[-1] - (before[-1] if before else 0.0)
        return used


# ---------------------------------------------------------------- metadata DB


def _query(db: Path, sql: str, params=()) -> list[tuple]:
    for _ in range(20):  # the scheduler may hold the write lock for a moment
        try:
            with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10) as con:
                return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as err:
            last = err
            time.sleep(0.5)
    raise last


def _when(value: str | None) -> float | None:
    """A metadata DB timestamp (UTC) as epoch seconds."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class TaskRun:
    task_id: str
    map_index: int
    state: str
    operator: str
    hostname: str  # where a worker ran it; empty when the scheduler decided its state alone
    ids: list[str]  # task instance ids, one per try (without dashes, as the metadata DB has them)
    tries: int  # task tries that ran (history + the current one)
    reschedules: int  # sensor pokes that ended in a reschedule, each a task process of its own
    queued: float | None
    start: float | None
    end: float | None

    @property
    def ran(self) -> bool:
        # The scheduler alone marks an EmptyOperator (an ephemeral dbt model) done, and a task skipped
        # or upstream_failed, without a task process.
        return bool(self.hostname) and self.start is not None and self.end is not None

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass
class DagRun:
    run_id: str
    run_type: str
    state: str
    queued: float
    start: float
    end: float
    tasks: list[TaskRun]


def read_run(db: Path, run_id: str) -> DagRun:
    [(run_type, state, queued, start, end)] = _query(
        db,
        "SELECT run_type, state, queued_at, start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?",
        (DAG_ID, run_id),
    )
    history: dict[str, list[str]] = {}  # the task instance ids of earlier tries
    for key, ti_id in _query(
        db,
        "SELECT task_id || '/' || map_index, task_instance_id FROM task_instance_history "
        "WHERE dag_id = ? AND run_id = ? AND start_date IS NOT NULL",
        (DAG_ID, run_id),
    ):
        history.setdefault(key, []).append(ti_id)
    reschedules = dict(
        _query(
            db,
            "SELECT ti.task_id || '/' || ti.map_index, count(*) FROM task_reschedule AS r "
            "JOIN task_instance AS ti ON ti.id = r.ti_id WHERE ti.dag_id = ? AND ti.run_id = ? GROUP BY 1",
            (DAG_ID, run_id),
        )
    )
    tasks = []
    for ti_id, task_id, map_index, ti_state, operator, hostname, ti_queued, ti_start, ti_end in _query(
        db,
        "SELECT id, task_id, map_index, state, operator, hostname, queued_dttm, start_date, end_date "
        "FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date",
        (DAG_ID, run_id),
    ):
        key = f"{task_id}/{map_index}"
        tasks.append(
            TaskRun(
                task_id=task_id,
                map_index=map_index,
                state=ti_state or "none",
                operator=operator or "",
                hostname=hostname or "",
                ids=[*history.get(key, []), ti_id],
                tries=len(history.get(key, [])) + (1 if ti_start else 0),
                reschedules=reschedules.get(key, 0),
                queued=_when(ti_queued),
                start=_when(ti_start),
                end=_when(ti_end),
            )
        )
    return DagRun(run_id, run_type, state, _when(queued), _when(start), _when(end), tasks)


# ---------------------------------------------------------------- report


def report(run: DagRun, title: str, sampler: ProcessSampler) -> None:
    ran = sorted((task for task in run.tasks if task.ran), key=lambda task: task.start)
    cpu_by_ti = sampler.task_cpu()
    cpu = {id(task): sum(cpu_by_ti.get(ti_id.replace("-", ""), 0.0) for ti_id in task.ids) for task in ran}
    print(f"\n{title}\n  run {run.run_id} ({run.run_type}): {run.state}")
    header = (
        f"  {'phase':9} {'task':50} {'state':8} {'tries':>5} {'queued→start s':>14} {'start s':>8} {'took s':>7} "
        f"{'CPU s':>6}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    idle = 0.0
    busy_until = run.start
    for task in ran:
        idle += max(0.0, task.start - busy_until)
        busy_until = max(busy_until, task.end)
        waited = f"{task.start - task.queued:14.1f}" if task.queued else f"{'':14}"
        tries = f"{task.tries}+{task.reschedules}r" if task.reschedules else str(task.tries)
        print(
            f"  {_phase(task.task_id):9} {task.label[:50]:50} {task.state[:8]:8} {tries:>5} {waited} "
            f"{task.start - run.start:8.1f} {task.end - task.start:7.1f} {cpu[id(task)]:6.1f}"
        )
    idle += max(0.0, run.end - busy_until)
    empty = [task for task in run.tasks if not task.ran and task.operator == "EmptyOperator"]
    not_run = [task for task in run.tasks if not task.ran and task not in empty]
    if empty:
        print(f"  + {len(empty)} EmptyOperator tasks (ephemeral dbt models), done by the scheduler without a process")
    if not_run:
        print(f"  no task process: {', '.join(f'{task.label} ({task.state})' for task in not_run)}")

    print(
        f"\n  {'phase':9} {'tasks':>5} {'first start s':>13} {'last end s':>10} {'wall s':>7} {'task time s':>11} "
        f"{'CPU s':>6}"
    )
    phases: dict[str, list[TaskRun]] = {}
    for task in ran:  # in the order they started
        phases.setdefault(_phase(task.task_id), []).append(task)
    for name, tasks in phases.items():
        first, last = min(task.start for task in tasks), max(task.end for task in tasks)
        busy = sum(task.end - task.start for task in tasks)
        print(
            f"  {name:9} {len(tasks):>5} {first - run.start:>13.1f} {last - run.start:>10.1f} "
            f"{last - first:>7.1f} {busy:>11.1f} {sum(cpu[id(task)] for task in tasks):6.1f}"
        )
    total = run.end - run.start
    print(f"\n  run queued → started: {run.start - run.queued:.1f} s")
    print(f"  run total (started → ended): {total:.1f} s")
    print(f"  no task of the run running (scheduling, queueing, process start): {idle:.1f} s ({idle / total:.0%})")
    tries = sum(task.tries for task in ran)
    reschedules = sum(task.reschedules for task in ran)
    processes, children = sampler.started(run.queued, run.end + 1)
    programs = ", ".join(f"{program} ×{count}" for program, count in sorted(children.items())) or "none"
    print(f"  task tries: {tries} in {len(ran)} tasks, + {reschedules} sensor reschedules")
    print(f"  task processes seen: {processes}; processes they started: {programs}")
    components = sampler.component_cpu(run.start, run.end)
    listed = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(components.items(), key=lambda i: -i[1]))
    print(f"  CPU s of the task processes (and what they started): {sum(cpu.values()):.1f}")
    print(f"  CPU s of Airflow's own processes meanwhile: {sum(components.values()):.1f} ({listed})")


# ---------------------------------------------------------------- the bench


def _generate(mirror: Path, fmt: str, month: date, rows: int) -> None:
    from include.aws.sample_data import write_month

    started = time.perf_counter()
    write_month(mirror, EXPORT_NAME, fmt, month, rows=rows, s3_uri=S3_URI, first_month=WARM_UP_MONTH)
    print(f"generated {month:%Y-%m}: {rows:,} {fmt} rows in {time.perf_counter() - started:.1f} s", flush=True)


def _finished_runs(db: Path) -> list[tuple[str, str]]:
    return _query(
        db,
        "SELECT run_id, state FROM dag_run WHERE dag_id = ? AND end_date IS NOT NULL ORDER BY start_date",
        (DAG_ID,),
    )


def bench(args: argparse.Namespace, workdir: Path) -> None:
    home, mirror = workdir / "airflow", workdir / "mirror"
    home.mkdir(parents=True)
    export = {"name": EXPORT_NAME, "uri": mirror.as_uri(), "s3_uri": S3_URI, "format": args.format}
    env = standalone_environment(
        home,
        {
            "finops_aws_exports": json.dumps([export]),
            "finops_warehouse_path": str(workdir / "warehouse.duckdb"),
            "finops_serving_path": str(workdir / "serving"),
        },
        FINOPS_AWS_SCHEDULE=YEARLY,
        FINOPS_SENSOR_POKE_SECONDS="1",
        FINOPS_SENSOR_TIMEOUT_SECONDS="600",
    )
    db = home / "airflow.db"
    _generate(mirror, args.format, WARM_UP_MONTH, args.rows)
    log = home / "standalone.log"
    started = time.perf_counter()
    with running_standalone(env, log) as process:
        print(f"airflow standalone: pid {process.pid}, its own session; log {log}", flush=True)
        sampler = ProcessSampler(session=process.pid)
        sampler.start()
        try:
            # Paused until the API server answers: a task that starts before it can reach the Execution API fails.
            wait_until(lambda: api(env, f"dags/{DAG_ID}"), STARTUP_SECONDS, "the API server and the DAG", process, log)
            print(f"metadata DB, pool and standalone up in {time.perf_counter() - started:.1f} s", flush=True)
            if not api(env, f"dags/{DAG_ID}", "PATCH", {"is_paused": False}):
                airflow(env, "dags", "unpause", DAG_ID)
            [(warm_up, state)] = wait_until(lambda: _finished_runs(db), args.timeout, "the warm-up run", process, log)
            if state != "success":
                print(f"the warm-up run ended {state}: the next run loads what it left behind too", flush=True)

            _generate(mirror, args.format, NEW_MONTH, args.rows)
            airflow(env, "dags", "trigger", DAG_ID, "--run-id", "bench_new_month")
            wait_until(lambda: len(_finished_runs(db)) == 2, args.timeout, "the triggered run", process, log)
            sampler.stop()
            report(
                read_run(db, warm_up),
                f"Run 1 (warm-up): {WARM_UP_MONTH:%Y-%m} into an empty warehouse, {args.rows:,} {args.format} rows",
                sampler,
            )
            report(
                read_run(db, "bench_new_month"),
                f"Run 2: one new month, {NEW_MONTH:%Y-%m}, {args.rows:,} {args.format} rows",
                sampler,
            )
        finally:
            sampler.stop()


def _interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per generated month")
    parser.add_argument("--format", default="cur2", choices=["cur1", "cur2"])
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for each run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (AIRFLOW_HOME, logs, warehouse)")
    args = parser.parse_args()
    manifest = PROJECT_ROOT / "dbt" / "target" / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest} is missing: run `make dbt-manifest` first")
    # Stop what it started on Ctrl-C, kill or hang-up, even when started in the background (SIGINT ignored).
    for interruption in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(interruption, _interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="finops-standalone-bench-"))
    try:
        bench(args, workdir)
    except KeyboardInterrupt as interruption:
        print(f"\ninterrupted ({interruption}): airflow standalone stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if args.keep:
            print(f"\nwork folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
