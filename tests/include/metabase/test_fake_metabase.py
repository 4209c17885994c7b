"""Contract tests of the fake Metabase itself: it must flag what the OpenAPI spec forbids and act like Metabase."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from jsonschema import Draft202012Validator

from tests.include.metabase.fake_metabase import FakeMetabase

# The spec marks these defaulted parameters `required`, so a literal client sends them.
ITEMS_FLAGS = {"archived": "false", "include_can_run_adhoc_query": "false", "show_dashboard_questions": "false"}
DATABASE_LIST_FLAGS = dict.fromkeys(
    ["include_analytics", "saved", "include_editable_data_model", "exclude_uneditable_details"]
    + ["include_only_uploadable"],
    "false",
)
VALID_CARD = {
    "name": "Monthly cost",
    "display": "table",
    "dataset_query": {"type": "native", "database": 1, "native": {"query": "select 1"}},
    "visualization_settings": {},
}


@pytest.fixture
def unchecked_metabase() -> Iterator[FakeMetabase]:
    """A server without the fixture's teardown check, for tests that send violations on purpose."""
    with FakeMetabase() as server:
        yield server


def api(server: FakeMetabase) -> requests.Session:
    session = requests.Session()
    session.headers["x-api-key"] = server.api_key
    return session


def messages(server: FakeMetabase) -> list[str]:
    return [violation.message for violation in server.violations]


def create_collection(server: FakeMetabase, name: str, **fields: object) -> dict:
    response = api(server).post(f"{server.url}/api/collection/", json={"name": name, **fields}, timeout=5)
    response.raise_for_status()
    return response.json()


def create_card(server: FakeMetabase, **fields: object) -> dict:
    response = api(server).post(f"{server.url}/api/card/", json={**VALID_CARD, **fields}, timeout=5)
    response.raise_for_status()
    return response.json()


# ------------------------------------------------------------------------------------------ violations


def test_contract_server_flags_undeclared_query_parameter(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    response = api(server).get(f"{server.url}/api/card/", params={"f": "all", "limit": "10"}, timeout=5)

    assert response.status_code == 400
    assert response.json() == {"contract_violation": "undeclared query parameter 'limit'"}
    assert [(v.method, v.path) for v in server.violations] == [("GET", "/api/card/")]


def test_contract_server_flags_missing_required_query_parameter(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    response = api(server).get(f"{server.url}/api/card/", timeout=5)

    assert response.status_code == 400
    assert messages(server) == ["missing required query parameter 'f'"]


def test_contract_server_flags_query_value_failing_its_schema(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    api(server).get(f"{server.url}/api/card/", params={"f": "everything"}, timeout=5)
    api(server).post(f"{server.url}/api/cache/invalidate", params={"database": "one"}, timeout=5)

    assert len(server.violations) == 2
    assert "query parameter 'f'" in messages(server)[0]
    assert "query parameter 'database'" in messages(server)[1]


def test_contract_server_flags_body_failing_schema(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    body = {k: v for k, v in VALID_CARD.items() if k != "display"}
    response = api(server).post(f"{server.url}/api/card/", json=body, timeout=5)

    assert response.status_code == 400
    assert messages(server) == ["request body: 'display' is a required property"]
    assert server.cards == {}


def test_contract_server_flags_body_where_none_is_declared(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    database = api(server).post(
        f"{server.url}/api/database/",
        json={"name": "finops", "engine": "duckdb", "details": {}, "is_full_sync": True, "is_on_demand": False}
        | {"connection_source": "admin"},
        timeout=5,
    )
    response = api(server).post(f"{server.url}/api/database/{database.json()['id']}/sync_schema", json={}, timeout=5)

    assert response.status_code == 400
    assert "declares no request body" in messages(server)[0]


def test_contract_server_flags_body_not_sent_as_json(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    response = api(server).post(f"{server.url}/api/collection/", data='{"name": "x"}', timeout=5)

    assert response.status_code == 400
    assert "Content-Type: application/json" in messages(server)[0]


def test_contract_server_flags_unknown_path_and_undeclared_method(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    health = api(server).get(f"{server.url}/api/health", timeout=5)
    sync = api(server).post(f"{server.url}/api/database/1/sync", timeout=5)
    patch = api(server).patch(f"{server.url}/api/card/1", json={"name": "x"}, timeout=5)

    assert [health.status_code, sync.status_code, patch.status_code] == [400, 400, 400]
    assert messages(server)[:2] == ["undeclared path '/api/health'", "undeclared path '/api/database/1/sync'"]
    assert messages(server)[2].startswith("method PATCH is not declared for '/api/card/1'")


def test_contract_server_flags_path_parameter_failing_its_schema(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    response = api(server).get(f"{server.url}/api/database/abc", timeout=5)

    assert response.status_code == 400
    assert messages(server)[0].startswith("path parameter 'id'")


def test_contract_server_checks_contract_before_auth(unchecked_metabase: FakeMetabase) -> None:
    server = unchecked_metabase
    response = requests.get(f"{server.url}/api/card/", timeout=5)

    assert response.status_code == 400
    assert len(server.violations) == 1


# --------------------------------------------------------------------------------------------- auth


def test_contract_server_answers_401_without_credentials(fake_metabase: FakeMetabase) -> None:
    url = f"{fake_metabase.url}/api/card/"
    missing = requests.get(url, params={"f": "all"}, timeout=5)
    wrong = requests.get(url, params={"f": "all"}, headers={"x-api-key": "nope"}, timeout=5)

    assert (missing.status_code, missing.text) == (401, "Unauthenticated")
    assert wrong.status_code == 401


def test_contract_server_issues_sessions_for_the_right_password(fake_metabase: FakeMetabase) -> None:
    url = fake_metabase.url
    bad = requests.post(f"{url}/api/session/", json={"username": "admin@example.com", "password": "no"}, timeout=5)
    good = requests.post(f"{url}/api/session/", json={"username": "admin@example.com", "password": "secret"}, timeout=5)
    session_id = good.json()["id"]
    me = requests.get(f"{url}/api/user/current", headers={"X-Metabase-Session": session_id}, timeout=5)

    assert bad.status_code == 401
    assert good.status_code == 200
    assert me.json()["email"] == "admin@example.com"


# -------------------------------------------------------------------------------------- valid traffic


def test_contract_server_accepts_valid_card_round_trip(fake_metabase: FakeMetabase) -> None:
    collection = create_collection(fake_metabase, "FinOps")
    created = create_card(fake_metabase, collection_id=collection["id"], description="Cost by month")
    fetched = api(fake_metabase).get(f"{fake_metabase.url}/api/card/{created['id']}", timeout=5)

    assert created["id"] == 1
    assert fetched.json() == created
    assert created | VALID_CARD == created  # every field sent is stored as sent
    assert (created["archived"], created["collection_id"], created["description"]) == (False, 1, "Cost by month")


def test_contract_server_accepts_root_paths_with_or_without_trailing_slash(fake_metabase: FakeMetabase) -> None:
    session = api(fake_metabase)
    with_slash = session.get(f"{fake_metabase.url}/api/collection/", params=_collection_list_flags(), timeout=5)
    without = session.get(f"{fake_metabase.url}/api/collection", params=_collection_list_flags(), timeout=5)

    assert with_slash.json() == without.json() == [{"id": "root", "name": "Our analytics"}]


def test_contract_server_updates_cards_by_merging(fake_metabase: FakeMetabase) -> None:
    card = create_card(fake_metabase)
    response = api(fake_metabase).put(
        f"{fake_metabase.url}/api/card/{card['id']}", json={"description": "new"}, timeout=5
    )

    assert response.json() == card | {"description": "new"}


def test_contract_server_unknown_ids_are_404(fake_metabase: FakeMetabase) -> None:
    session = api(fake_metabase)
    statuses = [
        session.get(f"{fake_metabase.url}/api/card/99", timeout=5).status_code,
        session.get(f"{fake_metabase.url}/api/database/99", timeout=5).status_code,
        session.post(f"{fake_metabase.url}/api/database/99/rescan_values", timeout=5).status_code,
        session.get(f"{fake_metabase.url}/api/dashboard/99", timeout=5).status_code,
    ]

    assert statuses == [404, 404, 404, 404]


def test_contract_server_database_lifecycle(fake_metabase: FakeMetabase) -> None:
    session, url = api(fake_metabase), fake_metabase.url
    body = {"name": "finops", "engine": "duckdb", "details": {"database_file": "/a.duckdb", "read_only": True}}
    flags = {"is_full_sync": True, "is_on_demand": False, "connection_source": "admin"}
    created = session.post(f"{url}/api/database/", json=body | flags, timeout=5).json()
    updated = session.put(f"{url}/api/database/{created['id']}", json={"details": {"database_file": "/b"}}, timeout=5)
    listed = session.get(f"{url}/api/database/", params=DATABASE_LIST_FLAGS, timeout=5)
    synced = session.post(f"{url}/api/database/{created['id']}/sync_schema", timeout=5)

    assert created["id"] == 1 and created["engine"] == "duckdb"
    assert updated.json()["details"] == {"database_file": "/b"}  # replaced, not merged
    assert listed.json() == {"data": [updated.json()], "total": 1}
    assert (synced.status_code, synced.json()) == (200, {"status": "ok"})


def test_contract_server_cache_invalidation_is_a_paid_feature(fake_metabase: FakeMetabase) -> None:
    url = f"{fake_metabase.url}/api/cache/invalidate?database=1"
    oss = api(fake_metabase).post(url, timeout=5)
    fake_metabase.cache_mode = "paid"
    paid = api(fake_metabase).post(url, timeout=5)

    assert (oss.status_code, oss.text) == (402, "This is a paid feature")
    assert paid.json() == {"count": 0, "message": "Invalidated cache for 0 items."}


def test_contract_server_collection_items_honour_models_filter(fake_metabase: FakeMetabase) -> None:
    collection = create_collection(fake_metabase, "FinOps")
    card = create_card(fake_metabase, collection_id=collection["id"])
    dashboard = api(fake_metabase).post(
        f"{fake_metabase.url}/api/dashboard/", json={"name": "Costs", "collection_id": collection["id"]}, timeout=5
    )
    items_url = f"{fake_metabase.url}/api/collection/{collection['id']}/items"
    only_cards = api(fake_metabase).get(items_url, params={**ITEMS_FLAGS, "models": ["card"]}, timeout=5)
    both = api(fake_metabase).get(items_url, params={**ITEMS_FLAGS, "models": ["card", "dashboard"]}, timeout=5)

    card_item = {"id": card["id"], "model": "card", "name": "Monthly cost", "description": None}
    dashboard_item = {"id": dashboard.json()["id"], "model": "dashboard", "name": "Costs", "description": None}
    assert only_cards.json() == {"data": [card_item], "total": 1}
    assert both.json() == {"data": [dashboard_item, card_item], "total": 2}


def test_contract_server_dashcards_put_is_the_full_layout(fake_metabase: FakeMetabase) -> None:
    session, url = api(fake_metabase), fake_metabase.url
    first, second, third = (create_card(fake_metabase, name=name)["id"] for name in ("A", "B", "C"))
    dashboard_id = session.post(f"{url}/api/dashboard/", json={"name": "Costs"}, timeout=5).json()["id"]
    dashboard_url = f"{url}/api/dashboard/{dashboard_id}"

    initial = [_dashcard(-1, first, col=0), _dashcard(-2, second, col=12)]
    placed = session.put(dashboard_url, json={"dashcards": initial}, timeout=5).json()["dashcards"]
    kept_id, dropped_id = placed[0]["id"], placed[1]["id"]
    layout = [_dashcard(kept_id, first, col=0, size_x=24), _dashcard(-1, third, col=0, row=6)]
    updated = session.put(dashboard_url, json={"dashcards": layout}, timeout=5).json()
    fetched = session.get(dashboard_url, timeout=5).json()

    assert kept_id > 0 and dropped_id > 0
    assert [(dc["id"], dc["card_id"], dc["size_x"]) for dc in updated["dashcards"]] == [
        (kept_id, first, 24),
        (dropped_id + 1, third, 12),
    ]
    assert fetched == updated
    assert set(updated["dashcards"][0]) == {
        "id",
        "card_id",
        "dashboard_id",
        "row",
        "col",
        "size_x",
        "size_y",
        "parameter_mappings",
        "visualization_settings",
    }


def test_contract_server_rejects_dashcard_ids_from_elsewhere(fake_metabase: FakeMetabase) -> None:
    card_id = create_card(fake_metabase)["id"]
    dashboard_id = api(fake_metabase).post(f"{fake_metabase.url}/api/dashboard/", json={"name": "D"}, timeout=5)
    response = api(fake_metabase).put(
        f"{fake_metabase.url}/api/dashboard/{dashboard_id.json()['id']}",
        json={"dashcards": [_dashcard(7, card_id, col=0)]},
        timeout=5,
    )

    assert response.status_code == 400


# ------------------------------------------------------------------------------- faults and request log


def test_contract_server_fail_next_answers_then_recovers(fake_metabase: FakeMetabase) -> None:
    fake_metabase.fail_next("POST", r"^/api/card/?$", 503, body={"message": "busy"}, times=2)
    statuses = [api(fake_metabase).post(f"{fake_metabase.url}/api/card/", json=VALID_CARD, timeout=5) for _ in "abc"]

    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].json() == {"message": "busy"}
    assert list(fake_metabase.cards) == [1]  # the failed requests stored nothing


def test_contract_server_delay_makes_client_time_out(fake_metabase: FakeMetabase) -> None:
    fake_metabase.delay("GET", r"^/api/user/current$", 2)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api(fake_metabase).get(f"{fake_metabase.url}/api/user/current", timeout=0.2)
    fake_metabase.reset_faults()

    assert time.monotonic() - started < 1.5
    assert api(fake_metabase).get(f"{fake_metabase.url}/api/user/current", timeout=5).status_code == 200


def test_contract_server_writes_lists_only_state_changing_requests(fake_metabase: FakeMetabase) -> None:
    create_collection(fake_metabase, "FinOps")
    api(fake_metabase).get(f"{fake_metabase.url}/api/collection/1", timeout=5)
    api(fake_metabase).put(f"{fake_metabase.url}/api/collection/1", json={"archived": False, "name": "F"}, timeout=5)

    assert [(w.method, w.path, w.status) for w in fake_metabase.writes()] == [
        ("POST", "/api/collection/", 200),
        ("PUT", "/api/collection/1", 200),
    ]
    assert fake_metabase.requests[1].body is None
    assert fake_metabase.writes()[1].body == {"archived": False, "name": "F"}


def test_contract_server_spec_schemas_are_valid_json_schema() -> None:
    # openapi-core checked the document against OpenAPI 3.1 when it loaded it; each schema in it must also be
    # valid JSON Schema, else every contract check above would mean little.
    spec = FakeMetabase().contract.spec
    operations = [op for path_item in spec["paths"].values() for op in path_item.values() if isinstance(op, dict)]
    bodies = [media["schema"] for op in operations for media in op.get("requestBody", {}).get("content", {}).values()]
    parameters = [parameter["schema"] for op in operations for parameter in op.get("parameters", [])]
    components = list(spec["components"]["schemas"].values())
    assert bodies and parameters and len(components) > len(operations)  # all three kinds were found
    for schema in components + bodies + parameters:
        Draft202012Validator.check_schema(schema)  # raises SchemaError on an invalid schema


def test_contract_server_fails_the_test_whose_client_broke_the_contract(unchecked_metabase: FakeMetabase) -> None:
    # What the `fake_metabase` fixture checks after every test body, even when the client handled the 400.
    server = unchecked_metabase
    server.assert_contract_kept()
    response = api(server).put(f"{server.url}/api/card/1", json={"name": 42}, timeout=5)

    assert response.status_code == 400
    with pytest.raises(AssertionError, match=r"(?s)broke the Metabase OpenAPI contract.*PUT /api/card/1: request body"):
        server.assert_contract_kept()


def _collection_list_flags() -> dict[str, str]:
    return {"archived": "false", "exclude-other-user-collections": "false", "personal-only": "false"}


def _dashcard(dashcard_id: int, card_id: int, *, col: int, row: int = 0, size_x: int = 12) -> dict:
    return {"id": dashcard_id, "card_id": card_id, "row": row, "col": col, "size_x": size_x, "size_y": 6}


def test_contract_server_apply_defaults_accepts_omitted_defaulted_keys() -> None:
    # Metabase fills defaults before validating; the literal spec marks those keys required.
    body = {"name": "finops", "engine": "duckdb", "details": {}}
    with FakeMetabase() as literal, FakeMetabase(apply_defaults=True) as lenient:
        strict_reply = api(literal).post(f"{literal.url}/api/database/", json=body, timeout=5)
        lenient_reply = api(lenient).post(f"{lenient.url}/api/database/", json=body, timeout=5)
        listed = api(lenient).get(f"{lenient.url}/api/database/", timeout=5)

    assert strict_reply.status_code == 400
    assert (lenient_reply.status_code, listed.status_code, lenient.violations) == (200, 200, [])
