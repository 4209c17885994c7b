"""Shared fixtures: a throwaway Airflow home, moto's S3 server, sample exports from our generator, and a
contract-checking stand-in for Metabase.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it. Everything a test process writes outside its tests' tmp_path goes under a
folder of its own (PROCESS_TMP), so pytest-xdist's workers (`make test` runs two) share no state.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from scripts.standalone_airflow import free_port
from tests.include.metabase.fake_metabase import FakeMetabase

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
PROCESS_TMP = Path(tempfile.mkdtemp(prefix="finops-tests-"))
atexit.register(shutil.rmtree, PROCESS_TMP, ignore_errors=True)
_AIRFLOW_HOME = PROCESS_TMP / "airflow-home"
# dbt run by a test writes its artifacts here, not over dbt/target/manifest.json, which the DAG renders from.
DBT_TARGET = PROCESS_TMP / "dbt-target"
os.environ.update(
    AIRFLOW_HOME=str(_AIRFLOW_HOME),
    AIRFLOW__COSMOS__CACHE_DIR=str(PROCESS_TMP / "cosmos"),
    DBT_LOG_PATH=str(PROCESS_TMP / "dbt-logs"),
    AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
    AIRFLOW__CORE__PLUGINS_FOLDER=str(PROJECT_ROOT / "plugins"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
    AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",  # no network here, and none wanted
    # Sensors look every second and give up after a few, so "nothing new" ends quickly.
    FINOPS_SENSOR_POKE_SECONDS="1",
    FINOPS_SENSOR_TIMEOUT_SECONDS="4",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
)

BUCKET = "finops-billing"
S3_PREFIX = "exports"
S3_URI = f"s3://{BUCKET}/{S3_PREFIX}"
JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
SMALL_MONTH_ROWS = 500
SMALL_CHUNK_ROWS = 200


# pytest-xdist (`make test` runs two workers) hands a worker whole modules, so that module fixtures are built
# once, in file order, so that tests/dags/ (the longest) start first. Modules that share a costly session
# fixture are one unit, so that one worker builds it once.
_SCHEDULED_TOGETHER = {
    "tests/dags/test_open_month.py": "served_closed_and_open_month",
    "tests/dags/test_serving_during_writes.py": "served_closed_and_open_month",
    "tests/dashboards/test_cards.py": "dashboards: served",
    "tests/dashboards/test_report.py": "dashboards: served",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return _SCHEDULED_TOGETHER.get(module, module)

    config.option.loadscopereorder = False  # file order, not "most tests first"
    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated metadata DB and the `duckdb_writer` pool, once per test process (each xdist worker has its own)."""
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], check=True, capture_output=True)
    subprocess.run([*airflow, "pools", "set", "duckdb_writer", "1", "DuckDB writers"], check=True, capture_output=True)
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1, reachable through the Airflow connection `finops_s3`."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AIRFLOW_CONN_FINOPS_S3"] = json.dumps(
        {
            "conn_type": "aws",
            "extra": {
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
            },
        }
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """An empty bucket for one test, and a client to fill it."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def upload_tree(client, local_root: Path, prefix: str = S3_PREFIX) -> None:
    for path in sorted(local_root.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(local_root).as_posix()}")


def export_config(name: str, fmt: str, uri: str, **extra) -> dict:
    config = {"name": name, "uri": uri, "format": fmt, **extra}
    if uri.startswith("file://"):
        config["s3_uri"] = S3_URI
    return config


@pytest.fixture
def warehouse(tmp_path):
    """A DuckDB warehouse file of the test's own."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def write_sample(tmp_path):
    """Write one month of one export with the project's generator; returns its MonthTotals."""
    return sample_writer(tmp_path / "mirror")


def sample_writer(root: Path):
    """`write(name, fmt, month, ...)` into the local mirror at `root`; `write.root` is that mirror."""
    from include.aws.sample_data import write_month

    def write(name: str, fmt: str, month: date, revision: int = 1, rows: int = SMALL_MONTH_ROWS, **kwargs):
        return write_month(
            root,
            name,
            fmt,
            month,
            rows=rows,
            s3_uri=S3_URI,
            revision=revision,
            chunk_rows=kwargs.pop("chunk_rows", SMALL_CHUNK_ROWS),
            first_month=JAN,
            **kwargs,
        )

    write.root = root
    return write


@pytest.fixture(scope="session")
def focus_warehouse(tmp_path_factory):
    """Three months of legacy CUR and CUR 2.0 built into the FOCUS mart by dbt, once per session (read only)."""
    from tests.dbt.conftest import build_focus_warehouse

    return build_focus_warehouse(tmp_path_factory.mktemp("focus"))


@pytest.fixture
def fake_metabase() -> Iterator[FakeMetabase]:
    server = FakeMetabase().start()
    try:
        yield server
    finally:
        server.stop()
    # Checked after the test body so a client that breaks the contract fails even if it handled the 400.
    server.assert_contract_kept()
