"""Tell Metabase the serving layer changed: re-read its schema, its filter values, drop cached answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from include.metabase.client import MetabaseClient, MetabaseError

log = logging.getLogger(__name__)

DEFAULT_DATABASE_NAME = "Open FinOps"
PAID_FEATURE = 402  # cache invalidation is a paid feature; the open-source edition answers 402
NOTHING_CACHED = 404
# The spec marks these flags required (they have defaults server-side); sent so any version agrees.
_DATABASE_LIST_FLAGS = (
    "include_analytics",
    "saved",
    "include_editable_data_model",
    "exclude_uneditable_details",
    "include_only_uploadable",
)


@dataclass
class RefreshOutcome:
    database_id: int
    steps: dict[str, str] = field(default_factory=dict)


def list_databases(client: MetabaseClient) -> list[dict]:
    listed = client.get("/api/database/", **dict.fromkeys(_DATABASE_LIST_FLAGS, "false"))
    return listed["data"] if isinstance(listed, dict) else listed


def find_database_id(client: MetabaseClient, name: str) -> int:
    """The id of the one Metabase database called `name`."""
    matches = [database["id"] for database in list_databases(client) if database.get("name") == name]
    if len(matches) != 1:
        found = "no database" if not matches else f"{len(matches)} databases ({matches})"
        raise MetabaseError(
            f"Metabase at {client.base_url} has {found} named {name!r}: install the dashboards first "
            "(`make dashboards`), or set database_id in the connection's extra"
        )
    return matches[0]


def refresh_database(
    client: MetabaseClient, database_id: int | None = None, database_name: str = DEFAULT_DATABASE_NAME
) -> RefreshOutcome:
    """Sync the schema, rescan field values and invalidate the cache of the serving database."""
    outcome = RefreshOutcome(database_id or find_database_id(client, database_name))
    client.post(f"/api/database/{outcome.database_id}/sync_schema")
    outcome.steps["sync_schema"] = "started"
    client.post(f"/api/database/{outcome.database_id}/rescan_values")
    outcome.steps["rescan_values"] = "started"
    outcome.steps["cache_invalidate"] = _invalidate_cache(client, outcome.database_id)
    return outcome


def _invalidate_cache(client: MetabaseClient, database_id: int) -> str:
    try:
        answer = client.post("/api/cache/invalidate", database=database_id)
    except MetabaseError as err:
        if err.status == PAID_FEATURE:
            log.info("Cache invalidation skipped: a paid Metabase feature (402); cached answers expire by their TTL")
            return "skipped: paid feature (402)"
        if err.status == NOTHING_CACHED:
            return "nothing cached"
        raise
    count = answer.get("count") if isinstance(answer, dict) else None
    return f"invalidated {count} cached queries" if count is not None else "invalidated"
