"""Discovery of Azure export runs: the newest run of each month by its manifest, exactly the blobs it lists, and
a clear refusal of a run that cannot be used, on a file:// mirror and on Blob storage (Azurite)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from upath import UPath

from include.azure.manifests import discover
from include.azure.provider import AZURE
from include.azure.sensor import BlobDeliverySensor
from include.orchestration.loading import load_delivery
from tests.azurite import running_azurite, set_connection, upload_tree
from tests.include.azure.runs import (
    ROOT_FOLDER,
    csv_text,
    edit_manifest,
    mirror_export,
    month_folder,
    run_id,
    write_run,
)

JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
HEADER = ["Date", "MeterCategory", "CostInBillingCurrency", "BillingCurrencyCode"]


def _part(month: date, rows: int, cost: str = "1.5") -> bytes:
    return csv_text(HEADER, [[f"{month:%m}/01/{month:%Y}", "Storage", cost, "USD"]] * rows).encode()


def _discover(export):
    return discover(UPath(export.uri), export)


def _runs(container, export="costs", **kwargs):
    """January three times (CreateNewReport: runs submitted out of folder-name order), February once."""
    write_run(
        container, export, JAN, {"part_0_0001.csv": _part(JAN, 2)}, run=run_id(1), submitted="2025-01-05T03:00:00Z"
    )
    newest = write_run(
        container,
        export,
        JAN,
        {"part_0_0001.csv": _part(JAN, 3), "part_0_0002.csv": _part(JAN, 4)},
        run=run_id(2),
        submitted="2025-02-02T03:00:00.1234567Z",  # Azure writes seven fractional digits
        **kwargs,
    )
    write_run(
        container, export, JAN, {"part_0_0001.csv": _part(JAN, 1)}, run=run_id(3), submitted="2025-01-20T03:00:00Z"
    )
    write_run(
        container, export, FEB, {"part_0_0001.csv": _part(FEB, 5)}, run=run_id(4), submitted="2025-02-10T03:00:00Z"
    )
    return newest


def test_the_newest_run_of_each_month_is_its_delivery_with_exactly_its_blobs(tmp_path):
    _runs(tmp_path)
    export = mirror_export(tmp_path, "costs", "actual")
    found = _discover(export)
    assert not found.refused and not found.skipped
    jan, feb = found.deliveries
    assert (jan.billing_period, jan.version, feb.billing_period, feb.version) == (JAN, run_id(2), FEB, run_id(4))
    run_folder = f"{ROOT_FOLDER}/costs/{month_folder(JAN)}/{run_id(2)}"
    assert [f.listed_uri for f in jan.data_files] == [f"{run_folder}/part_0_0001.csv", f"{run_folder}/part_0_0002.csv"]
    assert all(UPath(f.read_uri).read_bytes() == (tmp_path / f.listed_uri).read_bytes() for f in jan.data_files)
    assert jan.layout == "Cost Management manifest 2024-04-01" and jan.columns == ()
    assert any("2 older run(s) superseded" in line for line in found.seen), found.seen


def test_the_older_manifest_shape_under_an_export_time_folder_is_a_delivery(tmp_path):
    write_run(
        tmp_path,
        "costs",
        MAR,
        {"part_0_0001.csv": _part(MAR, 2)},
        run=run_id(9),
        submitted="2025-03-16T15:27:00Z",
        shape=None,
        export_time="202503161527",
    )
    [delivery] = _discover(mirror_export(tmp_path, "costs", "actual")).deliveries
    assert delivery.version == run_id(9)
    assert delivery.layout == "Cost Management manifest without manifestVersion (API 2023-07-01-preview)"
    assert UPath(delivery.data_files[0].read_uri).exists()


def test_an_overwriting_export_restates_its_month_with_a_new_run(tmp_path):
    first = write_run(
        tmp_path, "costs", JAN, {"part_0_0001.csv": _part(JAN, 2)}, run=run_id(1), submitted="2025-01-05T03:00:00Z"
    )
    export = mirror_export(tmp_path, "costs", "actual")
    assert [d.version for d in _discover(export).deliveries] == [run_id(1)]
    for path in first.parent.iterdir():  # OverwritePreviousReport keeps only the latest run's folder
        path.unlink()
    first.parent.rmdir()
    write_run(
        tmp_path,
        "costs",
        JAN,
        {"part_0_0001.csv": _part(JAN, 3)},
        run=run_id(2),
        submitted="2025-01-06T03:00:00Z",
        overwrite=True,
    )
    assert [d.version for d in _discover(export).deliveries] == [run_id(2)]


def test_a_run_that_lists_no_blob_restates_its_month_to_nothing(tmp_path):
    write_run(tmp_path, "costs", JAN, {}, run=run_id(1), submitted="2025-01-05T03:00:00Z", rows={})
    [delivery] = _discover(mirror_export(tmp_path, "costs", "actual")).deliveries
    assert delivery.data_files == ()


def _list_first_blob_twice(body):
    body["blobs"].append(dict(body["blobs"][0]))
    body.update(blobCount=3, dataRowCount=body["dataRowCount"] + body["blobs"][0]["dataRowCount"])


def _blob_elsewhere(body):
    body["blobs"][0]["blobName"] = body["blobs"][0]["blobName"].replace(run_id(2), run_id(1))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda path: path.write_text('{"runInfo": '), "invalid manifest JSON"),
        (lambda path: (path.parent / "part_0_0002.csv").unlink(), r"1 listed part\(s\) missing .*part_0_0002.csv"),
        (
            lambda path: edit_manifest(path, _list_first_blob_twice),
            "lists .*part_0_0001.csv 2 times",
        ),
        (lambda path: edit_manifest(path, _blob_elsewhere), "outside its run's folder"),
        (
            lambda path: edit_manifest(path, lambda b: b["exportConfig"].update(type="AmortizedCost")),
            "the run is a AmortizedCost export .* configured as format actual",
        ),
        (
            lambda path: edit_manifest(path, lambda b: b["runInfo"].update(startDate="2024-12-01T00:00:00")),
            "startDate's month 2024-12 disagrees with its place",
        ),
        (lambda path: edit_manifest(path, lambda b: b.update(blobCount=1)), "blobCount is 1 but blobs lists 2"),
        (
            lambda path: edit_manifest(path, lambda b: b.update(dataRowCount=0)),
            "dataRowCount is 0 but blobs lists 2 part",
        ),
        (lambda path: edit_manifest(path, lambda b: b["runInfo"].pop("runId")), "runId is missing"),
    ],
    ids=[
        "unparseable",
        "absent-blob",
        "listed-twice",
        "outside-run-folder",
        "other-dataset",
        "month-not-folder",
        "blob-count",
        "no-rows-but-parts",
        "no-run-id",
    ],
)
def test_a_run_that_cannot_be_used_refuses_its_month_and_only_it(tmp_path, break_it, message):
    break_it(_runs(tmp_path, rows={"part_0_0001.csv": 3, "part_0_0002.csv": 4}))
    found = _discover(mirror_export(tmp_path, "costs", "actual"))
    assert [d.billing_period for d in found.deliveries] == [FEB]  # the other month still loads
    [refusal] = found.refused
    assert refusal.billing_period == JAN  # and no older run of January is loaded in its place
    assert refusal.where.endswith(f"{run_id(2)}/manifest.json")
    assert str(refusal).startswith("export costs 2025-01 refused: ")
    assert re.search(message, refusal.error), refusal.error


@pytest.mark.parametrize(("fmt", "data_version"), [("focus1.0", "1.2-preview"), ("focus1.2", "1.0r2")])
def test_a_focus_run_of_another_version_than_configured_is_refused(tmp_path, fmt, data_version):
    manifest = write_run(
        tmp_path, "focus", JAN, {"part_0_0001.csv": _part(JAN, 1)}, run=run_id(1), submitted="2025-01-05T00:00:00Z"
    )
    edit_manifest(manifest, lambda b: b["exportConfig"].update(type="FocusCost", dataVersion=data_version))
    [refusal] = _discover(mirror_export(tmp_path, "focus", fmt)).refused
    assert f"dataVersion {data_version}" in refusal.error and f"format {fmt}" in refusal.error


def test_a_month_with_parts_but_no_manifest_yet_is_skipped_and_a_missing_folder_is_nothing_delivered(tmp_path):
    export = mirror_export(tmp_path, "costs", "actual")
    assert "does not exist" in _discover(export).empty
    folder = tmp_path / ROOT_FOLDER / "costs" / month_folder(JAN) / run_id(1)
    folder.mkdir(parents=True)
    (folder / "part_0_0001.csv").write_bytes(_part(JAN, 1))
    found = _discover(export)
    [skip] = found.skipped
    assert (skip.billing_period, "no manifest.json yet" in skip.reason) == (JAN, True)
    assert not found.deliveries and not found.refused


# --- Blob storage (Azurite) -------------------------------------------------------------------------------

CONTAINER = "msexports"
CONN_ID = "azurite_exports"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def blob_export(azurite, monkeypatch, tmp_path):
    """The same runs as a mirror, uploaded to a container of a fresh Azurite account; the export on abfs://."""
    set_connection(monkeypatch, azurite, CONN_ID)
    container = azurite.container(f"{CONTAINER}-{tmp_path.name.replace('_', '-').lower()[-40:]}")
    export_uri = f"abfs://{container.container_name}/{ROOT_FOLDER}"
    entry = {"name": "costs", "uri": export_uri, "format": "actual", "conn_id": CONN_ID}
    [export] = AZURE.parse_exports(json.dumps([entry]))
    yield container, export
    container.delete_container()


def test_discovery_on_blob_storage_finds_what_the_mirror_does_and_loads_it(blob_export, tmp_path):
    container, export = blob_export
    _runs(tmp_path / "mirror")
    upload_tree(container, tmp_path / "mirror", "")
    on_blob = AZURE.discover(AZURE.open_path(export.uri, export.conn_id), export)
    mirrored = _discover(mirror_export(tmp_path / "mirror", "costs", "actual"))
    assert not on_blob.refused
    assert [(d.billing_period, d.version, [f.listed_uri for f in d.data_files]) for d in on_blob.deliveries] == [
        (d.billing_period, d.version, [f.listed_uri for f in d.data_files]) for d in mirrored.deliveries
    ]
    jan = on_blob.deliveries[0]
    assert jan.delivery_uri.startswith("abfs://")
    result = load_delivery(tmp_path / "warehouse.duckdb", AZURE, jan)
    assert (result.rows, result.billed_cost) == (3 + 4, Decimal("1.5") * 7)


def _sensor_context(warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FINOPS_WAREHOUSE_PATH", str(warehouse))
    dag_run = SimpleNamespace(run_type="scheduled", partition_key=None, start_date=datetime.now(UTC))
    return {"dag_run": dag_run, "params": {}}


async def _first_event(trigger, within_s: float):
    """The trigger's first event, or None when it has none within `within_s` seconds."""
    events = trigger.run()
    try:
        return await asyncio.wait_for(anext(events), within_s)
    except TimeoutError:
        return None
    finally:
        await events.aclose()


def test_the_deferrable_sensor_waits_in_the_provider_trigger_until_a_run_arrives(blob_export, tmp_path, monkeypatch):
    from airflow.providers.microsoft.azure.triggers.wasb import WasbPrefixSensorTrigger
    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
    from airflow.sdk.exceptions import TaskDeferred

    container, export = blob_export
    context = _sensor_context(tmp_path / "warehouse.duckdb", monkeypatch)
    sensor = BlobDeliverySensor(task_id="wait", export=export.to_dict(), poke_interval=0.2, timeout=60)
    with pytest.raises(TaskDeferred) as paused:  # nothing delivered: a pause, then the provider's trigger
        sensor.execute(context)
    assert isinstance(paused.value.trigger, TimeDeltaTrigger)
    with pytest.raises(TaskDeferred) as waiting:
        getattr(sensor, paused.value.method_name)(context, None)
    trigger = waiting.value.trigger
    assert isinstance(trigger, WasbPrefixSensorTrigger)
    assert (trigger.container_name, trigger.prefix) == (container.container_name, f"{ROOT_FOLDER}/costs/")
    assert asyncio.run(_first_event(trigger, within_s=1.5)) is None  # the export's folder holds nothing yet

    _runs(tmp_path / "mirror")
    upload_tree(container, tmp_path / "mirror", "")
    event = asyncio.run(_first_event(trigger, within_s=10))
    assert event.payload["status"] == "success"
    assert getattr(sensor, waiting.value.method_name)(context, event.payload) is None  # fires: two months to load

    for delivery in AZURE.discover(AZURE.open_path(export.uri, export.conn_id), export).deliveries:
        load_delivery(tmp_path / "warehouse.duckdb", AZURE, delivery)
    with pytest.raises(TaskDeferred) as loaded:  # everything loaded: back to waiting
        sensor.execute_complete(context, event.payload)
    assert isinstance(loaded.value.trigger, TimeDeltaTrigger)


def test_storage_that_refuses_the_key_refuses_the_export_and_an_unreachable_one_is_looked_at_again(azurite, tmp_path):
    import azure.core.exceptions

    from include.failures import Failure, classify
    from include.orchestration.deliveries import plan_deliveries
    from tests.azurite import ACCOUNT_KEY

    container = azurite.container("wrong-key")
    wrong_key = azurite.connection_string.replace(ACCOUNT_KEY, "A" * 4 + ACCOUNT_KEY[4:])
    connection = {"conn_type": "wasb", "extra": {"connection_string": wrong_key}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_AZURITE_WRONG_KEY", json.dumps(connection))
        entry = {"name": "costs", "uri": "abfs://wrong-key/exports", "format": "actual", "conn_id": "azurite_wrong_key"}
        plan = plan_deliveries(AZURE, AZURE.parse_exports(json.dumps([entry]))[0], tmp_path / "w.duckdb", [])
    container.delete_container()
    [refusal] = plan.refused
    assert refusal.billing_period is None and "AuthorizationFailure" in refusal.error
    # Azure's client retries a refused connection for minutes before it raises this: classified, not waited for
    assert classify(azure.core.exceptions.ServiceRequestError("Cannot connect to host")) is Failure.TRANSIENT
