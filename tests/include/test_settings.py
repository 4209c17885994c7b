import json

import pytest

from include.settings import (
    DEFAULT_SERVING_GRACE_S,
    DEFAULT_WAREHOUSE_PATH,
    PROJECT_ROOT,
    SERVING_GRACE_VARIABLE,
    ConfigError,
    parse_aws_exports,
    resolve_warehouse_path,
    serving_grace_s,
)


def test_s3_export_defaults_its_s3_uri_and_connection():
    [export] = parse_aws_exports(json.dumps([{"name": "cur", "uri": "s3://bucket/prefix/", "format": "cur2"}]))
    assert (export.s3_uri, export.conn_id, export.uri) == ("s3://bucket/prefix", "aws_default", "s3://bucket/prefix")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "cur", "uri": "s3://b/p", "format": "cur3"}, "format 'cur3'"),
        ({"name": "cur", "uri": "gs://b/p", "format": "cur1"}, "must start with s3:// or file://"),
        ({"name": "cur", "uri": "file:///mirror", "format": "cur1"}, "needs s3_uri"),
        ({"name": "../x", "uri": "s3://b/p", "format": "cur1"}, "export/report name"),
        ({"name": "cur\n", "uri": "s3://b/p", "format": "cur1"}, "export/report name"),  # `$` matches before \n
        ({"name": "cur\nx", "uri": "s3://b/p", "format": "cur1"}, "export/report name"),
        ({"name": "cur", "uri": "s3://b/p", "format": "cur1", "bucket": "b"}, "unknown keys"),
    ],
)
def test_invalid_export_entries_name_the_problem(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_aws_exports(json.dumps([entry]))


def test_duplicate_export_names_are_refused():
    entry = {"name": "cur", "uri": "s3://b/p", "format": "cur1"}
    with pytest.raises(ConfigError, match="duplicate"):
        parse_aws_exports(json.dumps([entry, entry]))


def test_warehouse_path_defaults_under_the_project_and_resolves_relative_paths():
    assert resolve_warehouse_path(None) == PROJECT_ROOT / "data" / "finops.duckdb" == DEFAULT_WAREHOUSE_PATH
    assert resolve_warehouse_path("other/w.duckdb") == PROJECT_ROOT / "other" / "w.duckdb"
    assert str(resolve_warehouse_path("/abs/w.duckdb")) == "/abs/w.duckdb"


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, DEFAULT_SERVING_GRACE_S), (" ", DEFAULT_SERVING_GRACE_S), ("0", 0), ("2.5", 2.5)]
)
def test_the_serving_grace_period_is_read_from_the_environment(monkeypatch, raw, seconds):
    if raw is None:
        monkeypatch.delenv(SERVING_GRACE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SERVING_GRACE_VARIABLE, raw)
    assert serving_grace_s() == seconds


@pytest.mark.parametrize("raw", ["ten", "-1", "nan", "inf", "600\n600"])
def test_a_serving_grace_period_that_is_not_seconds_is_a_configuration_error(monkeypatch, raw):
    monkeypatch.setenv(SERVING_GRACE_VARIABLE, raw)
    with pytest.raises(ConfigError, match=f"{SERVING_GRACE_VARIABLE}=.* must be a number of seconds, 0 or more"):
        serving_grace_s()
