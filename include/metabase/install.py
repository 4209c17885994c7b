"""Install the dashboards in `dashboards/` into Metabase, idempotently.

Creates or updates, through the REST API: the DuckDB database entry that reads the serving layer,
a collection, one native-SQL card per card spec and the dashboards. Everything it manages carries
a marker at the end of its description, `[open-finops key=<stable key> rev=<hash of the spec>]`:
the key finds the object again on the next run, the revision tells whether it changed. A second
run with the same specs therefore sends no write at all. Edits made in Metabase's UI to a managed
card survive until its spec changes; cards and dashboards dropped from the specs are archived.

    python -m include.metabase.install --url http://localhost:3000 --api-key mb_... --serving-path /serving
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from include.dashboards.spec import Card, Dashboard, load_dashboards
from include.metabase.client import MetabaseClient, MetabaseError, MetabaseSettings
from include.metabase.refresh import DEFAULT_DATABASE_NAME, list_databases
from include.serving.publish import serving_init_sql
from include.settings import DEFAULT_SERVING_PATH

log = logging.getLogger(__name__)

COLLECTION_NAME = "Open FinOps"
ENGINE = "duckdb"  # motherduckdb/metabase_duckdb_driver
_MARKER = re.compile(r"\[open-finops key=(?P<key>[\w.]+) rev=(?P<rev>[0-9a-f]{12})\]\s*$")
_UNFINISHED = "0" * 12  # revision of a dashboard created but not yet given its cards
_TAG_NAMESPACE = uuid.UUID("6f1c3a52-9d0e-4b7a-8a51-3f0c2d9e7b14")  # stable template-tag ids


@dataclass
class InstallReport:
    database_id: int = 0
    collection_id: int = 0
    actions: dict[str, str] = field(default_factory=dict)  # "card:<key>" → created | updated | unchanged | archived

    @property
    def changed(self) -> dict[str, str]:
        return {name: action for name, action in self.actions.items() if action != "unchanged"}


@dataclass(frozen=True)
class _Managed:
    id: int
    rev: str


def install(
    client: MetabaseClient,
    dashboards: Sequence[Dashboard],
    serving_path: str,
    database_name: str = DEFAULT_DATABASE_NAME,
    collection_name: str = COLLECTION_NAME,
) -> InstallReport:
    report = InstallReport()
    report.database_id = _ensure_database(client, report, database_name, serving_path)
    report.collection_id = _ensure_collection(client, report, collection_name)
    managed_cards = _managed_items(client, report.collection_id, "card")
    card_ids = {
        card.key: _ensure_card(client, report, card, managed_cards.get(card.key), dashboard)
        for dashboard in dashboards
        for card in dashboard.cards
    }
    managed_dashboards = _managed_items(client, report.collection_id, "dashboard")
    for dashboard in dashboards:
        _ensure_dashboard(client, report, dashboard, card_ids, managed_dashboards.get(dashboard.key))
    _archive_dropped(client, report, "card", managed_cards, set(card_ids))
    _archive_dropped(client, report, "dashboard", managed_dashboards, {d.key for d in dashboards})
    return report


def database_details(serving_path: str) -> dict:
    """An in-memory DuckDB whose every pooled connection first creates the serving views."""
    return {"database_file": ":memory:", "read_only": False, "init_sql": serving_init_sql(serving_path)}


def _ensure_database(client: MetabaseClient, report: InstallReport, name: str, serving_path: str) -> int:
    details = database_details(serving_path)
    found = [database for database in list_databases(client) if database.get("name") == name]
    if not found:
        created = client.post(
            "/api/database/",
            {
                "name": name,
                "engine": ENGINE,
                "details": details,
                "is_full_sync": True,
                "is_on_demand": False,
                "connection_source": "admin",
                "auto_run_queries": True,
            },
        )
        report.actions[f"database:{name}"] = "created"
        return created["id"]
    database = found[0]
    current = database.get("details") or {}
    if database.get("engine") != ENGINE or any(current.get(key) != value for key, value in details.items()):
        client.put(f"/api/database/{database['id']}", {"engine": ENGINE, "details": {**current, **details}})
        report.actions[f"database:{name}"] = "updated"
    else:
        report.actions[f"database:{name}"] = "unchanged"
    return database["id"]


def _ensure_collection(client: MetabaseClient, report: InstallReport, name: str) -> int:
    collections = client.get(
        "/api/collection/", archived="false", **{"exclude-other-user-collections": "false", "personal-only": "false"}
    )
    for collection in collections:
        if collection.get("name") == name and not collection.get("archived") and isinstance(collection["id"], int):
            report.actions[f"collection:{name}"] = "unchanged"
            return collection["id"]
    created = client.post(
        "/api/collection/", {"name": name, "description": "FinOps dashboards over the FOCUS data (dashboards/)"}
    )
    report.actions[f"collection:{name}"] = "created"
    return created["id"]


def _managed_items(client: MetabaseClient, collection_id: int, model: str) -> dict[str, _Managed]:
    """key → (id, revision) of the collection's cards or dashboards that carry our marker."""
    listed = client.get(
        f"/api/collection/{collection_id}/items",
        models=model,
        archived="false",
        include_can_run_adhoc_query="false",
        show_dashboard_questions="true",
    )
    managed = {}
    for item in listed["data"] if isinstance(listed, dict) else listed:
        marker = _MARKER.search(item.get("description") or "")
        if item.get("model", model) == model and marker:
            managed[marker["key"]] = _Managed(item["id"], marker["rev"])
    return managed


def _ensure_card(
    client: MetabaseClient, report: InstallReport, card: Card, existing: _Managed | None, dashboard: Dashboard
) -> int:
    payload = _card_payload(card, dashboard, report.database_id, report.collection_id)
    return _create_or_update(client, report, "card", card.key, card.description, payload, existing)


def _ensure_dashboard(
    client: MetabaseClient,
    report: InstallReport,
    dashboard: Dashboard,
    card_ids: dict[str, int],
    existing: _Managed | None,
) -> int:
    payload = _dashboard_payload(dashboard, card_ids, report.collection_id)
    if existing is None:
        # Metabase creates a dashboard bare, then takes its cards in a PUT. The placeholder revision
        # lets a rerun find (and finish) a dashboard whose PUT failed, instead of making another.
        created = client.post(
            "/api/dashboard/",
            {
                "name": dashboard.name,
                "collection_id": report.collection_id,
                "parameters": payload["parameters"],
                "description": _described(dashboard.description, dashboard.key, _UNFINISHED),
            },
        )
        existing = _Managed(created["id"], rev=_UNFINISHED)
    return _create_or_update(client, report, "dashboard", dashboard.key, dashboard.description, payload, existing)


def _create_or_update(
    client: MetabaseClient,
    report: InstallReport,
    model: str,
    key: str,
    description: str,
    payload: dict,
    existing: _Managed | None,
) -> int:
    rev = _revision(payload)
    body = {**payload, "description": _described(description, key, rev)}
    if existing is None:
        report.actions[f"{model}:{key}"] = "created"
        return client.post(f"/api/{model}/", body)["id"]
    if existing.rev == rev:
        report.actions[f"{model}:{key}"] = "unchanged"
    else:
        client.put(f"/api/{model}/{existing.id}", body)
        report.actions[f"{model}:{key}"] = "created" if existing.rev == _UNFINISHED else "updated"
    return existing.id


def _described(description: str, key: str, rev: str) -> str:
    return f"{description}\n\n[open-finops key={key} rev={rev}]".strip()


def _archive_dropped(
    client: MetabaseClient, report: InstallReport, model: str, managed: dict[str, _Managed], wanted: set[str]
) -> None:
    for key, item in managed.items():
        if key not in wanted:
            client.put(f"/api/{model}/{item.id}", {"archived": True})
            report.actions[f"{model}:{key}"] = "archived"


def _card_payload(card: Card, dashboard: Dashboard, database_id: int, collection_id: int) -> dict:
    filter_names = {f.key: f.name for f in dashboard.filters}
    template_tags = {
        tag: {
            "id": str(uuid.uuid5(_TAG_NAMESPACE, f"{card.key}/{tag}")),
            "name": tag,
            "display-name": filter_names[tag],
            "type": "text",
        }
        for tag in card.tags
    }
    return {
        "name": card.name,
        "type": "question",
        "display": card.display,
        "collection_id": collection_id,
        "visualization_settings": card.visualization,
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {"query": card.sql, "template-tags": template_tags},
        },
    }


def _dashboard_payload(dashboard: Dashboard, card_ids: dict[str, int], collection_id: int) -> dict:
    parameters = [
        {"id": f.key, "name": f.name, "slug": f.key, "type": f.type, "sectionId": "string"} for f in dashboard.filters
    ]
    dashcards = [
        {
            "id": -position,  # negative: a new placement; the PUT replaces the whole layout
            "card_id": card_ids[card.key],
            "row": card.layout.row,
            "col": card.layout.col,
            "size_x": card.layout.width,
            "size_y": card.layout.height,
            "parameter_mappings": [
                {"parameter_id": tag, "card_id": card_ids[card.key], "target": ["variable", ["template-tag", tag]]}
                for tag in card.tags
            ],
        }
        for position, card in enumerate(dashboard.cards, start=1)
    ]
    return {
        "name": dashboard.name,
        "collection_id": collection_id,
        "parameters": parameters,
        "dashcards": dashcards,
        "width": "full",
    }


def _revision(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the FinOps dashboards into Metabase (idempotent).")
    parser.add_argument("--url", default=os.environ.get("METABASE_URL", "http://localhost:3000"))
    parser.add_argument("--api-key", default=os.environ.get("METABASE_API_KEY"))
    parser.add_argument("--username", default=os.environ.get("METABASE_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("METABASE_PASSWORD"))
    parser.add_argument(
        "--serving-path",
        default=os.environ.get("FINOPS_METABASE_SERVING_PATH", str(DEFAULT_SERVING_PATH)),
        help="the serving folder as Metabase's container sees it",
    )
    parser.add_argument("--database-name", default=DEFAULT_DATABASE_NAME)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = MetabaseSettings(args.url, api_key=args.api_key, username=args.username, password=args.password)
        with MetabaseClient(settings) as client:
            report = install(client, load_dashboards(), args.serving_path, database_name=args.database_name)
    except (MetabaseError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, action in report.actions.items():
        print(f"{action:10} {name}")
    print(f"{len(report.changed)} changed, {len(report.actions) - len(report.changed)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
