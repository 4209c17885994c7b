"""A warehouse written before each dataset had one id is brought up to date by its next load.

Such warehouses (with the previous ledger layout, tests/include/warehouse/previous_layout.py) register
their exports under the format's old spelling (`cur1`, `cur2`, `focus1_2`), have the source views
`sources_aws.cur1|cur2|focus1_2`, and dbt's staging and intermediate models as views over them (they are
ephemeral now). Were only the loading export migrated, a full dbt build, which reads
`sources_aws.aws_cur1`, would drop the other exports' months.
"""

from __future__ import annotations

import duckdb

from include.aws.settings import AWS_DATASETS
from include.warehouse.ledger import ledger_relation
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import deliveries, load, local_export
from tests.include.warehouse.previous_layout import rewrite_in_previous_layout

# How the loader used to name each format's dataset: the format, with `_` for `.`.
OLD_DATASET_IDS = {fmt: fmt.replace(".", "_") for fmt in AWS_DATASETS}
# dbt's models of that time, views in their schemas
OLD_DBT_VIEWS = {
    "staging": ("stg_aws__cur1_line_items", "sources_aws.cur1"),
    "intermediate": ("int_aws_cur_line_items_unioned", "staging.stg_aws__cur1_line_items"),
}


def _load(warehouse, write_sample, name: str, fmt: str, month) -> None:
    write_sample(name, fmt, month)
    [delivery] = [
        d for d in deliveries(local_export(name, fmt, write_sample.root, S3_URI)) if d.billing_period == month
    ]
    load(warehouse, delivery)


def _rewrite_as_before_dataset_ids(warehouse) -> None:
    """Every registered export and its dataset view under the old spelling, with dbt's views of that time."""
    old_ids = {AWS_DATASETS[fmt]: old for fmt, old in OLD_DATASET_IDS.items()}
    rewrite_in_previous_layout(warehouse, old_ids)
    with duckdb.connect(str(warehouse)) as con:
        registered = con.execute("SELECT export, dataset, relation FROM finops_meta.exports").fetchall()
        for export, old, relation in registered:
            dataset = next(new for new, spelled in old_ids.items() if spelled == old)
            con.execute(f'DROP VIEW sources_aws."{dataset}"').fetchall()
            con.execute(
                f"CREATE VIEW sources_aws.\"{old}\" AS SELECT '{export}' AS _export, * FROM {relation}"
            ).fetchall()
        for schema, (view, reads) in OLD_DBT_VIEWS.items():
            con.execute(f"CREATE SCHEMA {schema}").fetchall()
            con.execute(f"CREATE VIEW {schema}.{view} AS SELECT * FROM {reads}").fetchall()


def _catalog(warehouse) -> tuple[dict, dict, set]:
    """(export → dataset, export → rows in its dataset view, every view outside the export schemas)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        registered = dict(con.execute(f"SELECT DISTINCT export, dataset FROM {ledger_relation(con)}").fetchall())
        rows = {}
        for dataset in set(registered.values()):
            rows |= dict(con.execute(f'SELECT _export, count(*) FROM sources_aws."{dataset}" GROUP BY ALL').fetchall())
        views = con.execute(
            "SELECT schema_name || '.' || view_name FROM duckdb_views() "
            "WHERE NOT internal AND schema_name NOT IN ('aws_cur')"
        ).fetchall()
    return registered, rows, {view for (view,) in views}


def _month_rows(warehouse, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM aws_cur.{table}").fetchall()[0][0]


def test_the_next_load_registers_old_exports_under_their_dataset_id_and_drops_the_old_views(tmp_path, write_sample):
    warehouse = tmp_path / "warehouse.duckdb"
    _load(warehouse, write_sample, "legacy", "cur1", JAN)
    _rewrite_as_before_dataset_ids(warehouse)
    registered, _, views = _catalog(warehouse)
    assert registered == {"legacy": "cur1"} and "sources_aws.cur1" in views

    _load(warehouse, write_sample, "cur2", "cur2", FEB)  # any load: here another export, of another format
    registered, rows, views = _catalog(warehouse)
    assert registered == {"legacy": AWS_DATASETS["cur1"], "cur2": AWS_DATASETS["cur2"]}
    assert rows == {"legacy": _month_rows(warehouse, "legacy_2025_01"), "cur2": _month_rows(warehouse, "cur2_2025_02")}
    assert views == {f"sources_aws.{AWS_DATASETS['cur1']}", f"sources_aws.{AWS_DATASETS['cur2']}"}

    _load(warehouse, write_sample, "legacy", "cur1", FEB)  # nothing left to migrate: loads as usual
    registered, rows, views = _catalog(warehouse)
    assert rows["legacy"] == _month_rows(warehouse, "legacy_2025_01") + _month_rows(warehouse, "legacy_2025_02")
    assert views == {f"sources_aws.{AWS_DATASETS['cur1']}", f"sources_aws.{AWS_DATASETS['cur2']}"}
