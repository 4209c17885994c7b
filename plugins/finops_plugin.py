"""Registers the billing-month timetable so the scheduler can deserialize the billing DAGs."""

from airflow.plugins_manager import AirflowPlugin

from include.orchestration.timetable import BillingMonthTimetable


class FinopsPlugin(AirflowPlugin):
    name = "finops"
    timetables = [BillingMonthTimetable]
