"""A warehouse rewritten as the loader of issue 10 (commit 0b86100) left it, to test that the next write migrates it.

That ledger had `source` and `manifest_uri` where it has `provider` and `delivery_uri` now, no `dataset`:
each loaded export's dataset was in `finops_meta.exports`, with the view over its months (`relation`).
A ledger from before refusals were recorded also required a billing period and a version.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

PREVIOUS_DDL = """
CREATE TABLE finops_meta.load_ledger (
    source          VARCHAR NOT NULL,
    export          VARCHAR NOT NULL,
    billing_period  DATE,
    table_name      VARCHAR,
    manifest_uri    VARCHAR NOT NULL,
    version         VARCHAR,
    files           VARCHAR[],
    rows            BIGINT,
    billed_cost     DECIMAL(38, 18),
    loaded_at       TIMESTAMP NOT NULL,
    duration_s      DOUBLE,
    status          VARCHAR NOT NULL,
    error           VARCHAR
);
CREATE TABLE finops_meta.exports (
    source          VARCHAR NOT NULL,
    export          VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,
    relation        VARCHAR NOT NULL,
    PRIMARY KEY (source, export)
);
"""


def rewrite_in_previous_layout(warehouse: Path, dataset_ids: dict[str, str] | None = None, *, required=False) -> None:
    """The ledger's rows in the previous layout; each loaded export registered under `dataset_ids[its dataset]`
    (default: its dataset); `required`: billing period and version NOT NULL, as before refusals were recorded."""
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            "SELECT provider, export, billing_period, table_name, delivery_uri, version, files, rows, billed_cost, "
            "loaded_at, duration_s, status, error FROM finops_meta.load_ledger"
        ).fetchall()
        exports = con.execute(
            "SELECT provider, export, any_value(dataset), any_value(table_name), any_value(billing_period) "
            "FROM finops_meta.load_ledger WHERE status = 'loaded' GROUP BY ALL"
        ).fetchall()
        con.execute("DROP TABLE finops_meta.load_ledger").fetchall()
        con.execute(PREVIOUS_DDL).fetchall()
        if required:
            for column in ("billing_period", "version"):
                con.execute(f"ALTER TABLE finops_meta.load_ledger ALTER COLUMN {column} SET NOT NULL").fetchall()
        con.executemany("INSERT INTO finops_meta.load_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for provider, export, dataset, table, period in exports:
            relation = table.removesuffix(f"_{period:%Y_%m}")  # the view over the export's months
            con.execute(
                "INSERT INTO finops_meta.exports VALUES (?, ?, ?, ?)",
                [provider, export, (dataset_ids or {}).get(dataset, dataset), relation],
            ).fetchall()
