"""The Airflow side of Metabase: settings from the `metabase_default` connection, and how the refresh
and install tasks end. Contract tests: the server checks each request against Metabase's OpenAPI spec."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.metabase import (
    install_dashboards,
    metabase_connection,
    metabase_settings,
    refresh_metabase,
)


def _connect(monkeypatch, **connection) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_METABASE_DEFAULT", json.dumps({"conn_type": "http", **connection}))


def test_settings_take_the_url_from_host_and_an_api_key_from_the_password(monkeypatch, airflow_db):
    _connect(monkeypatch, host="metabase", port=3000, schema="https", password="mb_key", extra={"timeout_s": 5})
    settings = metabase_settings(metabase_connection())
    assert (settings.url, settings.api_key, settings.username, settings.timeout_s) == (
        "https://metabase:3000",
        "mb_key",
        None,
        5.0,
    )


def test_settings_use_a_session_when_a_login_is_given(monkeypatch, airflow_db):
    _connect(monkeypatch, host="http://metabase:3000", login="admin@example.com", password="pw")
    settings = metabase_settings(metabase_connection())
    assert (settings.url, settings.api_key, settings.username, settings.password) == (
        "http://metabase:3000",
        None,
        "admin@example.com",
        "pw",
    )


def test_refresh_is_skipped_when_no_metabase_connection_exists(monkeypatch, airflow_db):
    monkeypatch.delenv("AIRFLOW_CONN_METABASE_DEFAULT", raising=False)
    with pytest.raises(AirflowSkipException, match="metabase_default"):
        refresh_metabase()


def test_contract_refresh_task_fails_without_retry_on_a_rejected_key(monkeypatch, airflow_db, fake_metabase):
    _connect(monkeypatch, host=fake_metabase.url, password="mb_wrong", extra={"database_id": 1})
    with pytest.raises(AirflowFailException, match="401.*metabase_default"):
        refresh_metabase()


def test_contract_refresh_and_install_tasks_through_the_connection(monkeypatch, airflow_db, fake_metabase):
    _connect(monkeypatch, host=fake_metabase.url, password=fake_metabase.api_key, extra={"serving_path": "/serving"})
    installed = install_dashboards()
    assert installed["changed"] and install_dashboards()["changed"] == {}
    assert refresh_metabase() == {
        "database_id": installed["database_id"],
        "sync_schema": "started",
        "rescan_values": "started",
        "cache_invalidate": "skipped: paid feature (402)",
    }
