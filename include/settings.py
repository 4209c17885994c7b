"""The pipeline's settings as plain values: the warehouse, the serving layer, and what the environment sets.

Nothing here imports Airflow: `include.orchestration.config` reads the Airflow Variables and hands
their raw text to the functions below (and a provider's export settings to its own parser, e.g.
`include.aws.settings`), so tests can build the same values directly. The environment variables the
pipeline reads are read here, but for the interpreter of focus-validator's own venv, which
`include.focus.validator` finds. A value that cannot be used is a ConfigError.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE_PATH = PROJECT_ROOT / "data" / "finops.duckdb"
DEFAULT_SERVING_PATH = PROJECT_ROOT / "data" / "serving"

# How long a superseded serving version stays readable (include/serving/publish.py): longer than any query.
SERVING_GRACE_VARIABLE = "FINOPS_SERVING_GRACE_SECONDS"
DEFAULT_SERVING_GRACE_S = 600.0
# How often a billing DAG runs to look for new deliveries: FINOPS_<PROVIDER>_SCHEDULE, a cron expression.
DEFAULT_SCHEDULE = "17 */6 * * *"
# How often a sensor looks inside one run, and how long one run waits for a delivery (the next run takes over).
SENSOR_POKE_VARIABLE = "FINOPS_SENSOR_POKE_SECONDS"
DEFAULT_SENSOR_POKE_S = 15 * 60.0
SENSOR_TIMEOUT_VARIABLE = "FINOPS_SENSOR_TIMEOUT_SECONDS"
DEFAULT_SENSOR_TIMEOUT_S = 5.5 * 3600
# DuckDB's memory limit while loading (and in dbt, through dbt/profiles.yml); it spills to disk beyond it.
MEMORY_LIMIT_VARIABLE = "FINOPS_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which entry and why."""


def resolve_warehouse_path(configured: str | None) -> Path:
    """The DuckDB file: the configured path (relative to the project root) or the default."""
    return _resolve_project_path(configured, DEFAULT_WAREHOUSE_PATH)


def resolve_serving_path(configured: str | None) -> Path:
    """The folder dashboards read (Parquet files): the configured path or the default."""
    return _resolve_project_path(configured, DEFAULT_SERVING_PATH)


def _resolve_project_path(configured: str | None, default: Path) -> Path:
    if not configured:
        return default
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_ROOT / path


def serving_grace_s() -> float:
    """`FINOPS_SERVING_GRACE_SECONDS`: seconds, 0 or more (unset or empty: the default)."""
    return _seconds(SERVING_GRACE_VARIABLE, DEFAULT_SERVING_GRACE_S)


def sensor_poke_s() -> float:
    """`FINOPS_SENSOR_POKE_SECONDS`: how often a sensor looks inside one run."""
    return _seconds(SENSOR_POKE_VARIABLE, DEFAULT_SENSOR_POKE_S)


def sensor_timeout_s() -> float:
    """`FINOPS_SENSOR_TIMEOUT_SECONDS`: how long one run waits before it skips (the next run takes over)."""
    return _seconds(SENSOR_TIMEOUT_VARIABLE, DEFAULT_SENSOR_TIMEOUT_S)


def billing_schedule(provider: str) -> str:
    """`FINOPS_<PROVIDER>_SCHEDULE` (e.g. FINOPS_AWS_SCHEDULE): the cron of the provider's billing DAG."""
    return os.environ.get(f"FINOPS_{provider.upper()}_SCHEDULE", "").strip() or DEFAULT_SCHEDULE


def duckdb_memory_limit() -> str:
    """`FINOPS_DUCKDB_MEMORY_LIMIT`, as DuckDB spells sizes (e.g. 1GB)."""
    return os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip() or DEFAULT_MEMORY_LIMIT


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable, "")
    if not raw.strip():
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(f"{variable}={raw!r} must be a number of seconds, 0 or more")
    return seconds
