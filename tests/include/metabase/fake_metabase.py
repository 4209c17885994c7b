"""A local stand-in for Metabase's REST API that checks every request against its OpenAPI spec.

Metabase itself cannot run in the test environment, so client code talks to this server instead, served
by pytest-httpserver. Each request is first validated against ../shared/metabase/openapi-subset.json by
openapi-core (see `openapi_contract`); anything the spec does not allow is recorded in
`server.violations` and answered 400, so a client that would be rejected (or silently misread) by the
real server fails its test here. Behaviour the spec does not state (auth headers, 402 for the paid cache
endpoint, the dashcards layout rules) follows ../shared/metabase/README.md.

    with FakeMetabase() as server:
        requests.get(f"{server.url}/api/database/", headers={"x-api-key": server.api_key}, ...)
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.include.metabase.openapi_contract import DEFAULT_SPEC_PATH, OpenApiContract, json_or_none

# Requests Metabase answers without a session or API key.
_PUBLIC_OPERATIONS = {("POST", "/api/session/"), ("GET", "/api/session/properties")}
_WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}
_DASHCARD_FIELDS = ("card_id", "row", "col", "size_x", "size_y", "parameter_mappings", "visualization_settings")
# werkzeug logs every request at INFO; the request log lives in FakeMetabase.requests.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
# Collection items report a card by its type: saved questions are "card", models are "dataset".
_CARD_TYPE_TO_ITEM_MODEL = {"question": "card", "model": "dataset", "metric": "metric"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, with the status it answered."""

    method: str
    path: str  # as sent, without the query string
    query: dict[str, list[str]]
    body: Any  # parsed JSON, or None when there was no (JSON) body
    status: int


@dataclass(frozen=True)
class Violation:
    """A request the OpenAPI contract does not allow."""

    method: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.message}"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any) -> Reply:
        return cls(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def not_found(cls) -> Reply:
        return cls.text(404, "Not found.")


@dataclass
class _Fault:
    method: str
    path_pattern: re.Pattern[str]
    reply: Reply
    remaining: int | None  # None: every matching request

    def matches(self, method: str, path: str) -> bool:
        return _method_matches(self.method, method) and bool(self.path_pattern.search(path))


@dataclass(frozen=True)
class _Delay:
    method: str
    path_pattern: re.Pattern[str]
    seconds: float

    def matches(self, method: str, path: str) -> bool:
        return _method_matches(self.method, method) and bool(self.path_pattern.search(path))


Handler = Callable[[dict[str, Any], dict[str, Any], Any], Reply]


class FakeMetabase:
    """In-memory Metabase API on 127.0.0.1 with OpenAPI contract checks, fault injection and a request log."""

    def __init__(
        self,
        api_key: str = "mb_test_key",
        username: str = "admin@example.com",
        password: str = "secret",
        *,
        spec_path: Path | str = DEFAULT_SPEC_PATH,
        apply_defaults: bool = False,
    ) -> None:
        self.api_key = api_key
        self.username = username
        self.password = password
        self.cache_mode = "oss"  # "oss": /api/cache/invalidate answers 402; "paid": it succeeds
        self.contract = OpenApiContract.from_file(spec_path, apply_defaults=apply_defaults)
        self.url = ""
        # Logs; appended under the lock, plain lists so tests can read and clear them.
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.errors: list[str] = []  # exceptions inside the fake itself (a bug here, not in the client)
        # State, keyed by integer id; tests may inspect it.
        self.databases: dict[int, dict[str, Any]] = {}
        self.collections: dict[int, dict[str, Any]] = {}
        self.cards: dict[int, dict[str, Any]] = {}
        self.dashboards: dict[int, dict[str, Any]] = {}
        self.sessions: set[str] = set()
        self._last_ids: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeMetabase:
        if self._server is not None:
            raise RuntimeError("FakeMetabase is already running")
        self._stopping.clear()
        self._server = _Server(host="127.0.0.1", port=0, threaded=True)
        self._server.expect_request(re.compile(".*")).respond_with_handler(self._serve)
        self._server.start()
        self.url = self._server.url_for("").rstrip("/")
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in an injected delay
        self._server.stop()
        self._server = None

    def __enter__(self) -> FakeMetabase:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: str | dict | list = "Injected failure",
        times: int | None = 1,
    ) -> None:
        """Answers the next `times` matching requests (re.search on the path; method "*" = any) with `status`.

        Runs after the auth and contract checks, and the request changes no state. A str body is sent as
        text/plain, a dict or list as JSON. `times=None` keeps failing until reset_faults().
        """
        reply = Reply.text(status, body) if isinstance(body, str) else Reply.json(status, body)
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), reply, times))

    def delay(self, method: str, path_regex: str, seconds: float) -> None:
        """Sleeps `seconds` before answering every matching request, until reset_faults()."""
        with self._lock:
            self._delays.append(_Delay(method.upper(), re.compile(path_regex), seconds))

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    # ------------------------------------------------------------------------------------------- logs

    def writes(self) -> list[RecordedRequest]:
        """Recorded requests that could change state (POST/PUT/DELETE/PATCH), including logins."""
        with self._lock:
            return [record for record in self.requests if record.method in _WRITE_METHODS]

    def assert_contract_kept(self) -> None:
        """Fails unless every request kept the contract and the fake itself raised nothing."""
        with self._lock:
            violations, errors = list(self.violations), list(self.errors)
        assert violations == [], "requests broke the Metabase OpenAPI contract:\n" + "\n".join(
            f"  - {violation}" for violation in violations
        )
        assert errors == [], "FakeMetabase itself failed:\n" + "\n".join(f"  - {error}" for error in errors)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of every stored entity, to compare state before and after a client run."""
        with self._lock:
            entities = {"databases": self.databases, "collections": self.collections, "cards": self.cards}
            return copy.deepcopy(entities | {"dashboards": self.dashboards})

    # ---------------------------------------------------------------------------------- request pipeline

    def _serve(self, request: Request) -> Response:
        """Answers one request: contract check, auth, injected faults, then the in-memory API."""
        method, path, raw_body = request.method.upper(), request.path, request.get_data()
        query = request.args.to_dict(flat=False)
        try:
            reply = self._answer(method, path, query, request.headers, raw_body)
        except Exception as error:  # a bug in the fake must not look like a client problem
            with self._lock:
                self.errors.append(f"{method} {path}: {error!r}")
            reply = Reply.text(500, f"FakeMetabase internal error: {error!r}")
        self._record(RecordedRequest(method, path, query, json_or_none(raw_body), reply.status))
        return Response(reply.body, status=reply.status, content_type=reply.content_type)

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> Reply:
        checked = self.contract.check(method, path, query, raw_body, headers.get("content-type") or "")
        if checked.problems:
            return self._contract_violation(method, path, checked.problems)
        operation = checked.operation
        assert operation is not None  # no problems means an operation matched
        key = (operation.method, operation.template)
        if key not in _PUBLIC_OPERATIONS and not self._is_authenticated(headers):
            return Reply.text(401, "Unauthenticated")
        self._sleep_if_delayed(method, path)
        fault = self._take_fault(method, path)
        if fault is not None:
            return fault
        handler = self._routes.get(key)
        if handler is None:
            return Reply.text(501, f"FakeMetabase does not implement {operation.method} {operation.template}")
        with self._lock:
            return handler(checked.path_params, checked.query, checked.body)

    def _contract_violation(self, method: str, path: str, problems: list[str]) -> Reply:
        with self._lock:
            self.violations.extend(Violation(method, path, problem) for problem in problems)
        return Reply.json(400, {"contract_violation": "; ".join(problems)})

    def _is_authenticated(self, headers: Mapping[str, str]) -> bool:
        if headers.get("x-api-key") == self.api_key:
            return True
        with self._lock:
            return headers.get("x-metabase-session") in self.sessions

    def _sleep_if_delayed(self, method: str, path: str) -> None:
        with self._lock:
            seconds = next((d.seconds for d in self._delays if d.matches(method, path)), 0.0)
        if seconds:
            self._stopping.wait(seconds)

    def _take_fault(self, method: str, path: str) -> Reply | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault.reply
        return None

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(record)

    # ------------------------------------------------------------------------------------------ routes

    def _build_routes(self) -> dict[tuple[str, str], Handler]:
        """Keys are (method, path template) exactly as spelled in the spec."""
        return {
            ("POST", "/api/session/"): self._login,
            ("DELETE", "/api/session/"): self._logout,
            ("GET", "/api/user/current"): self._current_user,
            ("GET", "/api/database/"): self._list_databases,
            ("POST", "/api/database/"): self._create_database,
            ("GET", "/api/database/{id}"): self._get_database,
            ("PUT", "/api/database/{id}"): self._update_database,
            ("POST", "/api/database/{id}/sync_schema"): self._start_database_job,
            ("POST", "/api/database/{id}/rescan_values"): self._start_database_job,
            ("POST", "/api/cache/invalidate"): self._invalidate_cache,
            ("GET", "/api/collection/"): self._list_collections,
            ("POST", "/api/collection/"): self._create_collection,
            ("GET", "/api/collection/{id}"): self._get_collection,
            ("PUT", "/api/collection/{id}"): self._update_collection,
            ("GET", "/api/collection/{id}/items"): self._list_collection_items,
            ("GET", "/api/card/"): self._list_cards,
            ("POST", "/api/card/"): self._create_card,
            ("GET", "/api/card/{id}"): self._get_card,
            ("PUT", "/api/card/{id}"): self._update_card,
            ("GET", "/api/dashboard/"): self._list_dashboards,
            ("POST", "/api/dashboard/"): self._create_dashboard,
            ("GET", "/api/dashboard/{id}"): self._get_dashboard,
            ("PUT", "/api/dashboard/{id}"): self._update_dashboard,
        }

    # Every handler takes (path params, decoded query, JSON body) and runs under the lock.

    def _login(self, _params: dict, _query: dict, body: dict) -> Reply:
        if (body["username"], body["password"]) != (self.username, self.password):
            return Reply.json(401, {"errors": {"password": "did not match stored password"}})
        session_id = str(uuid.uuid4())
        self.sessions.add(session_id)
        return Reply.json(200, {"id": session_id})

    def _logout(self, _params: dict, _query: dict, _body: None) -> Reply:
        return Reply(204)

    def _current_user(self, _params: dict, _query: dict, _body: None) -> Reply:
        user = {"id": 1, "email": self.username, "first_name": "Admin", "last_name": "User", "is_superuser": True}
        return Reply.json(200, user)

    # --- databases

    def _list_databases(self, _params: dict, _query: dict, _body: None) -> Reply:
        databases = list(self.databases.values())
        return Reply.json(200, {"data": databases, "total": len(databases)})

    def _create_database(self, _params: dict, _query: dict, body: dict) -> Reply:
        database_id = self._allocate_id("database", self.databases)
        defaults = {"description": None, "is_full_sync": True, "is_on_demand": False, "auto_run_queries": True}
        fields = {k: v for k, v in body.items() if k != "connection_source"}  # a request-only flag
        self.databases[database_id] = {"id": database_id, **defaults, **fields, "is_sample": False}
        return Reply.json(200, self.databases[database_id])

    def _get_database(self, params: dict, _query: dict, _body: None) -> Reply:
        database = self.databases.get(params["id"])
        return Reply.json(200, database) if database else Reply.not_found()

    def _update_database(self, params: dict, _query: dict, body: dict) -> Reply:
        database = self.databases.get(params["id"])
        if database is None:
            return Reply.not_found()
        database.update(body)  # `details`, when given, replaces the stored map as a whole
        return Reply.json(200, database)

    def _start_database_job(self, params: dict, _query: dict, _body: None) -> Reply:
        # sync_schema and rescan_values only start background work in Metabase.
        if params["id"] not in self.databases:
            return Reply.not_found()
        return Reply.json(200, {"status": "ok"})

    def _invalidate_cache(self, _params: dict, _query: dict, _body: None) -> Reply:
        if self.cache_mode == "oss":
            return Reply.text(402, "This is a paid feature")
        return Reply.json(200, {"count": 0, "message": "Invalidated cache for 0 items."})

    # --- collections

    def _list_collections(self, _params: dict, query: dict, _body: None) -> Reply:
        archived = bool(query.get("archived"))
        root = [{"id": "root", "name": "Our analytics"}] if not archived else []
        created = [c for c in self.collections.values() if c["archived"] == archived]
        return Reply.json(200, root + created)

    def _create_collection(self, _params: dict, _query: dict, body: dict) -> Reply:
        parent_id = body.get("parent_id")
        if parent_id is not None and parent_id not in self.collections:
            return Reply.not_found()
        collection_id = self._allocate_id("collection", self.collections)
        defaults = {"description": None, "parent_id": None, "namespace": None, "authority_level": None}
        collection = {"id": collection_id, **defaults, **body, "archived": False}
        collection["location"] = self._collection_location(collection["parent_id"])
        self.collections[collection_id] = collection
        return Reply.json(200, collection)

    def _get_collection(self, params: dict, _query: dict, _body: None) -> Reply:
        collection = self.collections.get(params["id"])
        return Reply.json(200, collection) if collection else Reply.not_found()

    def _update_collection(self, params: dict, _query: dict, body: dict) -> Reply:
        collection = self.collections.get(params["id"])
        if collection is None:
            return Reply.not_found()
        parent_id = body.get("parent_id", collection["parent_id"])
        if parent_id is not None and parent_id not in self.collections:
            return Reply.not_found()
        collection.update(body)
        collection["location"] = self._collection_location(collection["parent_id"])
        return Reply.json(200, collection)

    def _collection_location(self, parent_id: int | None) -> str:
        """Metabase's materialised path: "/" for top level, "/1/4/" under collections 1 then 4."""
        if parent_id is None:
            return "/"
        return f"{self.collections[parent_id]['location']}{parent_id}/"

    def _list_collection_items(self, params: dict, query: dict, _body: None) -> Reply:
        collection_id = params["id"]
        if collection_id not in self.collections:
            return Reply.not_found()
        archived = bool(query.get("archived"))
        wanted_models = query.get("models")
        items = [
            item
            for archived_flag, item in self._items_in_collection(collection_id)
            if archived_flag == archived and (wanted_models is None or item["model"] in wanted_models)
        ]
        items.sort(key=lambda item: item["name"].lower())
        return Reply.json(200, {"data": items, "total": len(items)})

    def _items_in_collection(self, collection_id: int) -> list[tuple[bool, dict[str, Any]]]:
        """(archived, item) for every child collection, card and dashboard directly in the collection."""
        children = [(c, "collection") for c in self.collections.values() if c["parent_id"] == collection_id]
        cards = [(c, _CARD_TYPE_TO_ITEM_MODEL.get(c.get("type") or "question", "card")) for c in self.cards.values()]
        dashboards = [(d, "dashboard") for d in self.dashboards.values()]
        entries = children + [(e, m) for e, m in cards + dashboards if e.get("collection_id") == collection_id]
        return [(bool(e["archived"]), _collection_item(e, model)) for e, model in entries]

    # --- cards

    def _list_cards(self, _params: dict, query: dict, _body: None) -> Reply:
        archived = query.get("f") == "archived"
        return Reply.json(200, [c for c in self.cards.values() if c["archived"] == archived])

    def _create_card(self, _params: dict, _query: dict, body: dict) -> Reply:
        if not self._collection_exists(body.get("collection_id")):
            return Reply.not_found()
        card_id = self._allocate_id("card", self.cards)
        defaults = {"description": None, "collection_id": None, "type": "question", "parameters": []}
        self.cards[card_id] = {"id": card_id, **defaults, **body, "archived": False}
        return Reply.json(200, self.cards[card_id])

    def _get_card(self, params: dict, _query: dict, _body: None) -> Reply:
        card = self.cards.get(params["id"])
        return Reply.json(200, card) if card else Reply.not_found()

    def _update_card(self, params: dict, _query: dict, body: dict) -> Reply:
        card = self.cards.get(params["id"])
        if card is None or not self._collection_exists(body.get("collection_id")):
            return Reply.not_found()
        card.update(body)
        return Reply.json(200, card)

    # --- dashboards

    def _list_dashboards(self, _params: dict, query: dict, _body: None) -> Reply:
        archived = query.get("f") == "archived"
        summaries = [
            {k: v for k, v in d.items() if k != "dashcards"}
            for d in self.dashboards.values()
            if d["archived"] == archived
        ]
        return Reply.json(200, summaries)

    def _create_dashboard(self, _params: dict, _query: dict, body: dict) -> Reply:
        if not self._collection_exists(body.get("collection_id")):
            return Reply.not_found()
        dashboard_id = self._allocate_id("dashboard", self.dashboards)
        defaults = {"description": None, "collection_id": None, "parameters": [], "tabs": [], "width": "fixed"}
        dashboard = {"id": dashboard_id, **defaults, **body, "archived": False, "dashcards": []}
        if dashboard["parameters"] is None:
            dashboard["parameters"] = []
        self.dashboards[dashboard_id] = dashboard
        return Reply.json(200, dashboard)

    def _get_dashboard(self, params: dict, _query: dict, _body: None) -> Reply:
        dashboard = self.dashboards.get(params["id"])
        return Reply.json(200, dashboard) if dashboard else Reply.not_found()

    def _update_dashboard(self, params: dict, _query: dict, body: dict) -> Reply:
        dashboard = self.dashboards.get(params["id"])
        if dashboard is None or not self._collection_exists(body.get("collection_id")):
            return Reply.not_found()
        layout = body.get("dashcards")
        if layout is not None:
            problem = self._dashcard_layout_problem(dashboard, layout)
            if problem:
                return Reply.json(400, {"message": problem})
            dashboard["dashcards"] = self._apply_dashcard_layout(dashboard, layout)
        dashboard.update({k: v for k, v in body.items() if k != "dashcards"})
        return Reply.json(200, dashboard)

    def _dashcard_layout_problem(self, dashboard: dict[str, Any], layout: list[dict[str, Any]]) -> str | None:
        """Rejects ids that are neither new (negative) nor on this dashboard, and unknown cards."""
        existing = {dashcard["id"] for dashcard in dashboard["dashcards"]}
        stray = [item["id"] for item in layout if item["id"] >= 0 and item["id"] not in existing]
        if stray:
            return f"dashcard ids {stray} are not on dashboard {dashboard['id']} (new dashcards need negative ids)"
        missing_cards = [item["card_id"] for item in layout if item.get("card_id") not in (None, *self.cards)]
        if missing_cards:
            return f"cards {missing_cards} do not exist"
        return None

    def _apply_dashcard_layout(self, dashboard: dict[str, Any], layout: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The list is the full desired layout: negative ids are created, known ids updated, the rest removed."""
        existing = {dashcard["id"]: dashcard for dashcard in dashboard["dashcards"]}
        placed = []
        for item in layout:
            if item["id"] < 0:
                dashcard = {"id": self._allocate_id("dashcard", {}), "dashboard_id": dashboard["id"]}
                dashcard |= {"card_id": None, "parameter_mappings": [], "visualization_settings": {}}
            else:
                dashcard = existing[item["id"]]
            dashcard.update({k: item[k] for k in _DASHCARD_FIELDS if item.get(k) is not None})
            placed.append(dashcard)
        return placed

    # --- helpers

    def _collection_exists(self, collection_id: int | None) -> bool:
        return collection_id is None or collection_id in self.collections

    def _allocate_id(self, kind: str, store: Mapping[int, Any]) -> int:
        """Next integer id for `kind`; never reuses one, even if tests put rows into `store` directly."""
        self._last_ids[kind] = max(self._last_ids.get(kind, 0), max(store, default=0)) + 1
        return self._last_ids[kind]


def _collection_item(entity: dict[str, Any], model: str) -> dict[str, Any]:
    return {"id": entity["id"], "model": model, "name": entity["name"], "description": entity.get("description")}


def _method_matches(wanted: str, method: str) -> bool:
    return wanted in ("*", method)


# ------------------------------------------------------------------------------------------- HTTP plumbing


class _Server(HTTPServer):
    def thread_target(self) -> None:
        # A short poll interval keeps stop() (and so every test's teardown) quick: the default waits up to 0.5 s.
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)
