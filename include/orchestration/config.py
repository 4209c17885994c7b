"""Read the project's Airflow Variables, in one place (see README, "Configuration reference").

Each value's text goes to the plain parser of its concern: `include.settings` for the warehouse and
the serving layer, the provider's own (`Provider.parse_exports`) for its exports.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Variable

from include.providers.contract import Provider
from include.providers.deliveries import ExportConfig
from include.settings import resolve_serving_path, resolve_warehouse_path

WAREHOUSE_PATH_VARIABLE = "finops_warehouse_path"
SERVING_PATH_VARIABLE = "finops_serving_path"
# The trigger form's Param: billing months (YYYY-MM) to reload even if already loaded.
BILLING_PERIODS_PARAM = "billing_periods"
# DuckDB allows one writer: every task that writes the warehouse runs in this pool of 1 slot.
WRITER_POOL = "duckdb_writer"


def exports(provider: Provider) -> list[ExportConfig]:
    """The provider's exports, from its Variable (e.g. `finops_aws_exports`); none when it is unset."""
    return provider.parse_exports(Variable.get(provider.exports_variable, default="[]"))


def warehouse_path() -> Path:
    return resolve_warehouse_path(Variable.get(WAREHOUSE_PATH_VARIABLE, default=None))


def serving_path() -> Path:
    return resolve_serving_path(Variable.get(SERVING_PATH_VARIABLE, default=None))
