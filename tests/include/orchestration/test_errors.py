"""Which failures are retried: each case raises the real exception (a real lock held by another process,
a real unreachable endpoint, DuckDB's own conversion and binder errors), not a hand-made one."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from contextlib import contextmanager

import botocore.exceptions
import duckdb
import pytest
from airflow.sdk.exceptions import AirflowFailException
from s3fs.errors import translate_boto_error
from upath import UPath

from include.aws.provider import AWS
from include.aws.sample_data import write_legacy_rows
from include.failures import Failure, classify
from include.orchestration.deliveries import plan_deliveries
from include.orchestration.errors import TRANSIENT_PREFIX, TransientError, fail_fast_on_bad_input
from include.providers.deliveries import DeliveryError
from include.storage import materialize
from tests.conftest import JAN, S3_URI
from tests.helpers import deliveries, ledger, load, local_export

LABEL = "cur 2025-01"
ROWS = [
    {
        "identity/LineItemId": f"line-{n}",
        "lineItem/LineItemType": "Usage",
        "lineItem/UnblendedCost": cost,
        "lineItem/CurrencyCode": "USD",
    }
    for n, cost in enumerate(["1.25", "N/A", "2.5"])
]


def _raised(action) -> Exception:
    try:
        action()
    except Exception as err:
        return err
    pytest.fail("nothing was raised")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def _cur_delivery(root, rows=ROWS):
    write_legacy_rows(root, "cur", JAN, rows, s3_uri=S3_URI, version="v1")
    [delivery] = deliveries(local_export("cur", "cur1", root, S3_URI))
    return delivery


@contextmanager
def _locked(warehouse):
    """The warehouse held open for writing by another process (as a load in another DAG would)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys, duckdb; con = duckdb.connect({str(warehouse)!r}); "
            "print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("")  # closing stdin ends it


def test_a_warehouse_locked_by_another_process_is_transient_and_retried_with_a_message_saying_so(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    delivery = _cur_delivery(tmp_path / "mirror", [{**row, "lineItem/UnblendedCost": "1"} for row in ROWS])
    with _locked(warehouse), pytest.raises(TransientError) as raised, fail_fast_on_bad_input(LABEL):
        load(warehouse, delivery)
    message = str(raised.value)
    assert message.startswith(TRANSIENT_PREFIX + LABEL + ": ")
    assert "Could not set lock" in message
    assert isinstance(raised.value.__cause__, duckdb.IOException)
    assert load(warehouse, delivery).rows == len(ROWS)  # the retry, once the lock is gone, loads the month


def test_a_ledger_locked_while_finding_deliveries_is_transient(tmp_path):
    delivery = _cur_delivery(tmp_path / "mirror")
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()  # a warehouse exists, so discovery reads its ledger
    busy = pytest.raises(TransientError, match="stays locked by another writer")
    with _locked(warehouse), busy, fail_fast_on_bad_input():
        plan_deliveries(AWS, delivery.export, warehouse, [])
    assert plan_deliveries(AWS, delivery.export, warehouse, []).to_load == [delivery]


def test_an_unreachable_s3_endpoint_is_transient(tmp_path):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    listed = f"{S3_URI}/cur/cur-00001.csv.gz"
    path = UPath(
        listed,
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"},
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2},
    )
    expected = rf"^{re.escape(TRANSIENT_PREFIX + LABEL)}: Could not connect to the endpoint URL"
    with pytest.raises(TransientError, match=expected), fail_fast_on_bad_input(LABEL):
        materialize([(listed, path)], tmp_path)


def test_a_refused_connection_is_transient():
    err = _raised(lambda: socket.create_connection(("127.0.0.1", _closed_port()), timeout=2))
    assert isinstance(err, ConnectionRefusedError)
    assert classify(err) is Failure.TRANSIENT


def test_na_in_a_cost_cell_is_deterministic_straight_from_duckdb_and_through_the_loader(tmp_path):
    csv = tmp_path / "costs.csv"
    csv.write_text("id,cost\nline-1,1.25\nline-2,N/A\n")
    conversion = _raised(
        lambda: (
            duckdb.connect()
            .execute(
                "SELECT * FROM read_csv(?, header = true, auto_detect = false, "
                "columns = {'id': 'VARCHAR', 'cost': 'DECIMAL(38,18)'})",
                [str(csv)],
            )
            .fetchall()
        )
    )
    assert isinstance(conversion, duckdb.ConversionException)
    assert classify(conversion) is Failure.DETERMINISTIC

    delivery = _cur_delivery(tmp_path / "mirror")
    with pytest.raises(AirflowFailException) as failed, fail_fast_on_bad_input(LABEL):
        load(tmp_path / "warehouse.duckdb", delivery)
    assert LABEL in str(failed.value)
    assert delivery.data_files[0].listed_uri in str(failed.value)  # the file
    assert "N/A" in str(failed.value)
    assert [row[5] for row in ledger(tmp_path / "warehouse.duckdb")] == ["failed"]  # one attempt, one row


def test_a_binder_error_fails_at_once_naming_where():
    """A string cost column summed: the CUR 2.0 case that used to be retried twice, five minutes apart."""
    failing = pytest.raises(AirflowFailException, match=rf"^{LABEL}: Binder Error: .*sum\(VARCHAR\)")
    with failing, fail_fast_on_bad_input(LABEL), duckdb.connect() as con:
        con.execute("SELECT sum(cost) FROM (SELECT 'N/A' AS cost)").fetchall()


def test_a_broken_manifest_is_refused_not_raised_so_nothing_retries_it(tmp_path):
    delivery = _cur_delivery(tmp_path / "mirror")
    manifest = UPath(delivery.delivery_uri)
    manifest.write_text(manifest.read_text()[:-20])
    plan = plan_deliveries(AWS, delivery.export, tmp_path / "warehouse.duckdb", [])
    [refusal] = plan.refused
    assert plan.to_load == [] and plan.survey_error is None
    assert refusal.error.startswith(f"{delivery.delivery_uri}: invalid manifest JSON")


def test_a_folder_with_no_layout_of_its_format_fails_at_once(tmp_path):
    """Discovery refuses it; raised anywhere else, its DeliveryError is not retried either."""
    write_legacy_rows(tmp_path / "mirror", "cur", JAN, ROWS, s3_uri=S3_URI, version="v1")
    export = local_export("cur", "cur2", tmp_path / "mirror", S3_URI)  # a legacy CUR folder, configured as CUR 2.0
    err = _raised(lambda: AWS.discover(UPath(export.uri), export))
    assert isinstance(err, DeliveryError) and classify(err) is Failure.DETERMINISTIC
    with pytest.raises(AirflowFailException, match=re.escape(str(err))), fail_fast_on_bad_input():
        raise err


def test_access_denied_is_deterministic_other_s3_answers_are_not():
    """As s3fs raises them: S3's error code turned into a Python exception, the ClientError as its cause."""

    def s3_error(status: int, code: str) -> Exception:
        response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return translate_boto_error(botocore.exceptions.ClientError(response, "ListObjectsV2"))

    denied = s3_error(403, "AccessDenied")
    assert isinstance(denied, PermissionError) and classify(denied) is Failure.DETERMINISTIC
    assert classify(s3_error(403, "403")) is Failure.DETERMINISTIC  # a HEAD's answer: no body, no code
    others = [(400, "ExpiredToken"), (403, "RequestTimeTooSkewed"), (503, "SlowDown"), (500, "InternalError")]
    for status, code in others:
        assert classify(s3_error(status, code)) is Failure.UNKNOWN, code


def test_other_failures_keep_airflows_default_and_pass_unchanged(tmp_path):
    """Neither kind (here: a missing warehouse opened read-only) is left to the DAG's retries, as raised."""
    err = _raised(lambda: duckdb.connect(str(tmp_path / "missing.duckdb"), read_only=True))
    assert isinstance(err, duckdb.IOException) and classify(err) is Failure.UNKNOWN
    with pytest.raises(duckdb.IOException) as raised, fail_fast_on_bad_input(LABEL):
        raise err
    assert raised.value is err
