"""When a sensor fires: something to load, refuse or report fires it; what a later look may do better keeps it
waiting, so a network error on one export neither fails the sensor nor holds back the other exports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from include.aws.provider import AWS
from include.orchestration.deliveries import plan_deliveries
from include.orchestration.sensors import has_work
from tests.conftest import JAN, S3_URI
from tests.helpers import load, local_export

SCHEDULED_RUN = {"dag_run": SimpleNamespace(run_type="scheduled", partition_key=None), "params": {}}


@pytest.fixture
def sensing(warehouse, monkeypatch):
    """The Variable the sensor reads the warehouse path from."""
    monkeypatch.setenv("AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH", str(warehouse))
    return warehouse


@pytest.mark.parametrize(
    ("answer", "fires"),
    [((403, "AccessDenied"), True), ((503, "SlowDown"), True), (None, False)],
    ids=["access-denied-is-refused", "throttled-is-reported", "unreachable-waits"],
)
def test_an_export_that_cannot_be_surveyed_fires_the_sensor_unless_a_later_look_may_see_it(
    sensing, failing_s3_export, caplog, answer, fires
):
    export = failing_s3_export("cur2", answer)
    assert has_work(AWS, export, SCHEDULED_RUN) is fires
    if not fires:
        assert "not surveyed (transient error): EndpointConnectionError" in caplog.text
        assert "looking again on the next poke" in caplog.text


def test_a_new_delivery_fires_the_sensor_and_a_loaded_one_does_not(sensing, write_sample):
    write_sample("cur2", "cur2", JAN)
    export = local_export("cur2", "cur2", write_sample.root, S3_URI)
    assert has_work(AWS, export, SCHEDULED_RUN) is True
    [delivery] = plan_deliveries(AWS, export, sensing, []).to_load
    load(sensing, delivery)
    assert has_work(AWS, export, SCHEDULED_RUN) is False
