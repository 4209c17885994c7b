"""Billing months as partitions: what `airflow backfill create` and the scheduler get from the timetable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def timetable(airflow_db):
    from include.orchestration.timetable import BillingMonthTimetable

    return BillingMonthTimetable()


def test_backfill_range_yields_one_partition_per_billing_month(timetable):
    infos = list(
        timetable.iter_partition_dagrun_infos(
            earliest=datetime(2025, 1, 1, tzinfo=UTC), latest=datetime(2025, 3, 31, tzinfo=UTC)
        )
    )
    assert [info.partition_key for info in infos] == ["2025-01", "2025-02", "2025-03"]
    assert [info.partition_date.day for info in infos] == [1, 1, 1]


def test_a_range_inside_one_month_still_reloads_that_month(timetable):
    infos = list(
        timetable.iter_partition_dagrun_infos(
            earliest=datetime(2025, 2, 10, tzinfo=UTC), latest=datetime(2025, 2, 12, tzinfo=UTC)
        )
    )
    assert [info.partition_key for info in infos] == ["2025-02"]


def test_scheduled_runs_are_keyed_by_their_month_and_never_on_a_month_start(timetable):
    from airflow.timetables.base import TimeRestriction

    info = timetable.next_dagrun_info_v2(
        last_dagrun_info=None,
        restriction=TimeRestriction(earliest=datetime(2025, 3, 1, tzinfo=UTC), latest=None, catchup=True),
    )
    assert info.partition_key == "2025-03"
    assert (info.partition_date.hour, info.partition_date.minute) == (0, 17)


def test_timetable_survives_serialization_round_trip(timetable):
    from include.orchestration.timetable import BillingMonthTimetable

    restored = BillingMonthTimetable.deserialize(timetable.serialize())
    assert restored.serialize() == timetable.serialize()
    assert restored.summary == timetable.summary


@pytest.mark.parametrize("enum_module", ["airflow.utils.types", "airflow.sdk.api.datamodels._generated"])
def test_a_backfill_run_reloads_the_month_of_its_partition_and_a_scheduled_run_whats_new(airflow_db, enum_module):
    import importlib
    from types import SimpleNamespace

    from include.orchestration.deliveries import requested_periods

    DagRunType = importlib.import_module(enum_module).DagRunType  # the Task SDK hands tasks its own enum

    backfill = SimpleNamespace(run_type=DagRunType("backfill"), partition_key="2025-02")
    scheduled = SimpleNamespace(run_type=DagRunType.SCHEDULED, partition_key="2025-03")
    assert requested_periods({"dag_run": backfill, "params": {}}) == [datetime(2025, 2, 1).date()]
    assert requested_periods({"dag_run": scheduled, "params": {"billing_periods": []}}) == []
    manual = SimpleNamespace(run_type=DagRunType.MANUAL, partition_key=None)
    periods = requested_periods({"dag_run": manual, "params": {"billing_periods": ["2025-03", "2025-01", "2025-03"]}})
    assert periods == [datetime(2025, 1, 1).date(), datetime(2025, 3, 1).date()]
