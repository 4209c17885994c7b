"""Metabase from the Airflow connection `metabase_default`: the billing DAG's refresh, the installer DAG.

The connection: Host = Metabase's URL (`http://metabase:3000`, or host + Port + Schema `https`),
Password = an API key (leave Login empty), or Login + Password of a user. Extra (all optional):
`database_id`, `database_name` (default "Open FinOps"), `timeout_s`, `retries`, and for the
installer `serving_path`, the serving folder as Metabase's container sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

from include.dashboards.spec import load_dashboards
from include.metabase.client import MetabaseAuthError, MetabaseClient, MetabaseSettings
from include.metabase.install import install
from include.metabase.refresh import DEFAULT_DATABASE_NAME, refresh_database
from include.orchestration import config

log = logging.getLogger(__name__)

METABASE_CONN_ID = "metabase_default"


def metabase_connection(conn_id: str = METABASE_CONN_ID) -> Connection | None:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def metabase_settings(connection: Connection) -> MetabaseSettings:
    extra = connection.extra_dejson
    url = connection.host or ""
    if "://" not in url:
        url = f"{connection.schema or 'http'}://{url}"
    if connection.port:
        url = f"{url.rstrip('/')}:{connection.port}"
    return MetabaseSettings(
        url=url,
        api_key=None if connection.login else connection.password,
        username=connection.login or None,
        password=connection.password if connection.login else None,
        timeout_s=float(extra.get("timeout_s", 30)),
        retries=int(extra.get("retries", 3)),
    )


def refresh_metabase(conn_id: str = METABASE_CONN_ID) -> dict:
    """The DAG's last step. Skips when no Metabase is configured; fails at once on 401/403."""
    connection = metabase_connection(conn_id)
    if connection is None:
        raise AirflowSkipException(f"No Airflow connection {conn_id!r}: Metabase refresh skipped (see README)")
    extra = connection.extra_dejson
    database_id = extra.get("database_id")
    with _client(connection, conn_id) as client:
        outcome = refresh_database(
            client,
            database_id=int(database_id) if database_id else None,
            database_name=extra.get("database_name", DEFAULT_DATABASE_NAME),
        )
    log.info("Metabase database %s refreshed: %s", outcome.database_id, outcome.steps)
    return {"database_id": outcome.database_id, **outcome.steps}


def install_dashboards(conn_id: str = METABASE_CONN_ID) -> dict:
    """Create or update the dashboards of dashboards/ in Metabase; a rerun changes nothing."""
    connection = metabase_connection(conn_id)
    if connection is None:
        raise AirflowFailException(f"No Airflow connection {conn_id!r}: add it to install the dashboards (see README)")
    extra = connection.extra_dejson
    serving_path = extra.get("serving_path") or str(config.serving_path())
    with _client(connection, conn_id) as client:
        report = install(
            client, load_dashboards(), serving_path, database_name=extra.get("database_name", DEFAULT_DATABASE_NAME)
        )
    log.info("Dashboards installed (serving path %s): %s", serving_path, report.actions)
    return {"database_id": report.database_id, "collection_id": report.collection_id, "changed": report.changed}


@contextmanager
def _client(connection: Connection, conn_id: str) -> Iterator[MetabaseClient]:
    """A client for the connection; a rejected key or login fails the task without retries."""
    with MetabaseClient(metabase_settings(connection)) as client:
        try:
            yield client
        except MetabaseAuthError as err:
            raise AirflowFailException(f"{err} (Airflow connection {conn_id!r})") from err
