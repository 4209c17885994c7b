"""Read the project's Airflow Variables in one place (see README, "Configuration reference")."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Variable

from include.settings import ExportConfig, parse_aws_exports, resolve_serving_path, resolve_warehouse_path

AWS_EXPORTS_VARIABLE = "finops_aws_exports"
WAREHOUSE_PATH_VARIABLE = "finops_warehouse_path"
SERVING_PATH_VARIABLE = "finops_serving_path"
# The trigger form's Param: billing months (YYYY-MM) to reload even if already loaded.
BILLING_PERIODS_PARAM = "billing_periods"
# DuckDB allows one writer: every task that writes the warehouse runs in this pool of 1 slot.
WRITER_POOL = "duckdb_writer"


def aws_exports() -> list[ExportConfig]:
    return parse_aws_exports(Variable.get(AWS_EXPORTS_VARIABLE, default="[]"))


def warehouse_path() -> Path:
    return resolve_warehouse_path(Variable.get(WAREHOUSE_PATH_VARIABLE, default=None))


def serving_path() -> Path:
    return resolve_serving_path(Variable.get(SERVING_PATH_VARIABLE, default=None))
