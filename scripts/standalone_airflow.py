"""A real `airflow standalone` of this project, for the backfill test and the standalone bench.

Its environment (an AIRFLOW_HOME of its own, this project's dags/ and plugins/, free ports on 127.0.0.1,
the Variables as AIRFLOW_VAR_*), the process started in a session of its own, waits that show the end of
its log when they give up, and a stop that leaves no process of that session behind: task processes run
in process groups of their own, so killing the standalone's group alone would not reach them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WRITER_POOL = "duckdb_writer"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StandaloneError(RuntimeError):
    """The standalone did not do what was waited for; the message ends with its log's last lines."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standalone_environment(home: Path, variables: dict[str, str], **settings: str) -> dict[str, str]:
    """The environment of a standalone in `home`; `variables`: Airflow Variables by name; `settings`: more
    environment variables (FINOPS_*, AIRFLOW__*), which win over these."""
    port = free_port()
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # Not the default 8793/8794: another standalone (a test, a bench) may be running on this machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # Parse each DAG file once: re-parsing every 30 s would take a core from the tasks on a 2-core machine.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # dbt's partial-parse state of this standalone's own, not that of another run on this machine.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "PYTHONPATH": str(PROJECT_ROOT),
        # standalone starts its components as `airflow ...` commands: this venv's must be found.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        **{f"AIRFLOW_VAR_{name.upper()}": value for name, value in variables.items()},
        **settings,
    }


def airflow(env: dict[str, str], *args: str) -> str:
    """Run an `airflow` command against the standalone's metadata DB; its output, or StandaloneError."""
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode:
        raise StandaloneError(f"`airflow {' '.join(args)}` failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


def api(env: dict[str, str], path: str, method: str = "GET", body: dict | None = None):
    """The REST API (every caller is an admin: SIMPLE_AUTH_MANAGER_ALL_ADMINS); None while it does not answer."""
    url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running_standalone(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`airflow standalone` with `env`, its output in `log`; stopped whole on the way out.

    The one-slot writer pool exists before the scheduler does (README step 3), so no writer task waits for it.
    """
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", WRITER_POOL, "1", "DuckDB writers")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_session(process)


def wait_until[Result](
    condition: Callable[[], Result], seconds: float, what: str, process: subprocess.Popen, log: Path
) -> Result:
    """The first truthy result of `condition`, looked at every second; StandaloneError if the standalone
    exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        result = condition()
        if result:
            return result
        time.sleep(1)
    ended = "exited" if process.poll() is not None else f"still running after {seconds:.0f} s"
    tail = log.read_text(errors="replace")[-3000:]
    raise StandaloneError(f"gave up waiting for {what} (the standalone {ended}); its log ({log}) ends:\n{tail}")


@dataclass
class Process:
    parent: int
    cmdline: str
    own_cpu: float  # CPU seconds of the process itself
    cpu: float  # and of the children it has waited for


def session_processes(session: int) -> dict[int, Process]:
    """Every live process in `session` (the standalone's: its pid, as it leads its own session)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session or fields[0] == "Z":  # a zombie is already gone
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        user, system, children_user, children_system = (int(value) / CLOCK_TICKS for value in fields[11:15])
        found[int(entry.name)] = Process(
            int(fields[1]), cmdline.strip(), user + system, user + system + children_user + children_system
        )
    return found


def stop_session(process: subprocess.Popen) -> None:
    """SIGTERM to the standalone's process group and to whatever else of its session is there, SIGKILL to
    what is still there after a grace period."""
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        for pid in session_processes(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is not None and not session_processes(process.pid):
                return
            time.sleep(0.5)
