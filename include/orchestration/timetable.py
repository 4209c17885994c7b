"""Billing months as Airflow partitions.

Scheduled runs fire on a cron (default every 6 hours) and load whatever is new; their partition
key is the current month. A backfill (`airflow backfill create --from-date … --to-date …`) walks
whole billing months instead of cron ticks, so each month in range gets exactly one run, whose
partition key (`YYYY-MM`) is the month it reloads.
"""

from __future__ import annotations

import datetime

from airflow.timetables.base import DagRunInfo
from airflow.timetables.trigger import CronPartitionTimetable

from include.periods import MONTH_FORMAT
from include.settings import DEFAULT_SCHEDULE


class BillingMonthTimetable(CronPartitionTimetable):
    # Minute 17 keeps scheduled runs off the first-of-month instant that identifies a
    # backfilled month, so Airflow never mistakes one for the other.
    def __init__(
        self,
        cron: str = DEFAULT_SCHEDULE,
        *,
        timezone="UTC",
        run_offset=None,
        run_immediately=False,
        key_format: str = MONTH_FORMAT,
    ):
        super().__init__(
            cron, timezone=timezone, run_offset=run_offset, run_immediately=run_immediately, key_format=key_format
        )

    @property
    def summary(self) -> str:
        return f"{self._expression} (billing-month partitions)"

    def iter_partition_dagrun_infos(self, *, earliest: datetime.datetime, latest: datetime.datetime):
        current = self.localize_partition_datetime(earliest).start_of("month")
        last = self.localize_partition_datetime(latest)
        while current <= last:
            yield DagRunInfo(
                run_after=current,
                data_interval=None,
                partition_date=current,
                partition_key=current.strftime(MONTH_FORMAT),
            )
            current = current.add(months=1)
