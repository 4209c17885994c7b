"""Contract tests of the refresh step: the client against a local server that checks every request
against Metabase's OpenAPI spec (a real Metabase cannot run here)."""

from __future__ import annotations

import socket
import time

import pytest

from include.metabase.client import (
    MetabaseAuthError,
    MetabaseClient,
    MetabaseError,
    MetabaseSettings,
    MetabaseUnavailable,
)
from include.metabase.refresh import refresh_database


def _client(server, **overrides) -> MetabaseClient:
    settings = {"url": server.url, "api_key": server.api_key, "backoff_s": 0, **overrides}
    return MetabaseClient(MetabaseSettings(**settings))


def _serving_database(server, name="Open FinOps") -> int:
    with _client(server) as client:
        created = client.post(
            "/api/database/",
            {
                "name": name,
                "engine": "duckdb",
                "details": {"database_file": ":memory:"},
                "is_full_sync": True,
                "is_on_demand": False,
                "connection_source": "admin",
            },
        )
    server.requests.clear()
    return created["id"]


def _calls(server) -> list[tuple[str, str, dict]]:
    return [(r.method, r.path, r.query) for r in server.requests]


def test_contract_refresh_syncs_rescans_and_invalidates_the_cache_on_a_paid_plan(fake_metabase):
    database_id = _serving_database(fake_metabase)
    fake_metabase.cache_mode = "paid"
    with _client(fake_metabase) as client:
        outcome = refresh_database(client, database_id=database_id)
    assert outcome.steps == {
        "sync_schema": "started",
        "rescan_values": "started",
        "cache_invalidate": "invalidated 0 cached queries",
    }
    assert _calls(fake_metabase) == [
        ("POST", f"/api/database/{database_id}/sync_schema", {}),
        ("POST", f"/api/database/{database_id}/rescan_values", {}),
        ("POST", "/api/cache/invalidate", {"database": [str(database_id)]}),
    ]


def test_contract_refresh_logs_402_from_cache_invalidation_as_skipped_not_failed(fake_metabase, caplog):
    database_id = _serving_database(fake_metabase)  # the fake answers 402 like the open-source edition
    with _client(fake_metabase) as client, caplog.at_level("INFO"):
        outcome = refresh_database(client, database_id=database_id)
    assert outcome.steps["cache_invalidate"] == "skipped: paid feature (402)"
    assert [r.status for r in fake_metabase.requests] == [200, 200, 402]
    assert "Cache invalidation skipped" in caplog.text


def test_contract_refresh_finds_the_database_by_name_when_no_id_is_configured(fake_metabase):
    _serving_database(fake_metabase, name="Sample Database")
    database_id = _serving_database(fake_metabase)
    with _client(fake_metabase) as client:
        outcome = refresh_database(client, database_name="Open FinOps")
    assert outcome.database_id == database_id
    assert fake_metabase.requests[0].path == "/api/database/"
    assert fake_metabase.requests[1].path == f"/api/database/{database_id}/sync_schema"


def test_contract_refresh_names_the_missing_database(fake_metabase):
    with _client(fake_metabase) as client, pytest.raises(MetabaseError, match="no database named 'Open FinOps'"):
        refresh_database(client)


def test_contract_401_fails_at_once_with_a_clear_message(fake_metabase):
    database_id = _serving_database(fake_metabase)
    with _client(fake_metabase, api_key="mb_revoked") as client, pytest.raises(MetabaseAuthError) as raised:
        refresh_database(client, database_id=database_id)
    assert raised.value.status == 401
    assert "API key is wrong or revoked" in str(raised.value) and "sync_schema" in str(raised.value)
    assert len(fake_metabase.requests) == 1  # an HTTP answer is not retried


def test_contract_403_is_an_auth_failure_too(fake_metabase):
    database_id = _serving_database(fake_metabase)
    fake_metabase.fail_next("POST", r"/sync_schema$", 403, body="You don't have permissions to do that.")
    with _client(fake_metabase) as client, pytest.raises(MetabaseAuthError, match="403"):
        refresh_database(client, database_id=database_id)


def test_contract_session_login_when_no_api_key_is_given(fake_metabase):
    database_id = _serving_database(fake_metabase)
    settings = MetabaseSettings(
        fake_metabase.url, username=fake_metabase.username, password=fake_metabase.password, backoff_s=0
    )
    with MetabaseClient(settings) as client:
        refresh_database(client, database_id=database_id)
    assert [r.path for r in fake_metabase.requests][:2] == ["/api/session/", f"/api/database/{database_id}/sync_schema"]


def test_contract_wrong_password_is_an_auth_failure(fake_metabase):
    settings = MetabaseSettings(fake_metabase.url, username=fake_metabase.username, password="nope", backoff_s=0)
    with MetabaseClient(settings) as client, pytest.raises(MetabaseAuthError, match="refused the login"):
        refresh_database(client, database_id=1)


def test_contract_a_timeout_is_retried_then_fails_as_unavailable(fake_metabase):
    database_id = _serving_database(fake_metabase)
    fake_metabase.delay("POST", r"/sync_schema$", 0.6)
    with _client(fake_metabase, timeout_s=0.2, retries=2) as client, pytest.raises(MetabaseUnavailable) as raised:
        refresh_database(client, database_id=database_id)
    assert "after 2 retries" in str(raised.value)
    # The server logs a request once it has answered, after the client gave up on it.
    deadline = time.monotonic() + 5
    while len(_sync_attempts(fake_metabase)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_sync_attempts(fake_metabase)) == 3  # the first try and two retries, each reaching the server


def _sync_attempts(server) -> list:
    return [r for r in server.requests if r.path.endswith("/sync_schema")]


def test_contract_a_refused_connection_is_retried_then_fails_as_unavailable():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = MetabaseSettings(url, api_key="k", retries=1, backoff_s=0)
    with MetabaseClient(settings) as client, pytest.raises(MetabaseUnavailable, match="did not answer"):
        refresh_database(client, database_id=1)
