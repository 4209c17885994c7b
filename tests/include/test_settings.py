import pytest

from include.settings import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_SCHEDULE,
    DEFAULT_SENSOR_POKE_S,
    DEFAULT_SENSOR_TIMEOUT_S,
    DEFAULT_SERVING_GRACE_S,
    DEFAULT_WAREHOUSE_PATH,
    MEMORY_LIMIT_VARIABLE,
    PROJECT_ROOT,
    SENSOR_POKE_VARIABLE,
    SENSOR_TIMEOUT_VARIABLE,
    SERVING_GRACE_VARIABLE,
    ConfigError,
    billing_schedule,
    duckdb_memory_limit,
    resolve_warehouse_path,
    sensor_poke_s,
    sensor_timeout_s,
    serving_grace_s,
)

SECONDS = [
    (serving_grace_s, SERVING_GRACE_VARIABLE, DEFAULT_SERVING_GRACE_S),
    (sensor_poke_s, SENSOR_POKE_VARIABLE, DEFAULT_SENSOR_POKE_S),
    (sensor_timeout_s, SENSOR_TIMEOUT_VARIABLE, DEFAULT_SENSOR_TIMEOUT_S),
]


def test_warehouse_path_defaults_under_the_project_and_resolves_relative_paths():
    assert resolve_warehouse_path(None) == PROJECT_ROOT / "data" / "finops.duckdb" == DEFAULT_WAREHOUSE_PATH
    assert resolve_warehouse_path("other/w.duckdb") == PROJECT_ROOT / "other" / "w.duckdb"
    assert str(resolve_warehouse_path("/abs/w.duckdb")) == "/abs/w.duckdb"


@pytest.mark.parametrize(("read", "variable", "default"), SECONDS, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("raw", [None, " ", "0", "2.5"])
def test_seconds_are_read_from_the_environment(monkeypatch, read, variable, default, raw):
    if raw is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, raw)
    assert read() == (default if raw is None or not raw.strip() else float(raw))


@pytest.mark.parametrize(("read", "variable", "default"), SECONDS, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("raw", ["ten", "-1", "nan", "inf", "600\n600"])
def test_seconds_that_are_not_seconds_are_a_configuration_error(monkeypatch, read, variable, default, raw):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ConfigError, match=f"{variable}=.* must be a number of seconds, 0 or more"):
        read()


def test_each_provider_has_its_own_schedule_variable(monkeypatch):
    monkeypatch.delenv("FINOPS_AWS_SCHEDULE", raising=False)
    monkeypatch.setenv("FINOPS_AZURE_SCHEDULE", "5 * * * *")
    assert (billing_schedule("aws"), billing_schedule("azure")) == (DEFAULT_SCHEDULE, "5 * * * *")


def test_the_duckdb_memory_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    assert duckdb_memory_limit() == DEFAULT_MEMORY_LIMIT
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "3GB")
    assert duckdb_memory_limit() == "3GB"
