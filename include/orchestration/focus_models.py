"""The dbt project as a Cosmos task group: FOCUS models built right after a load, in the DAG run.

Cosmos renders the group from `dbt/target/manifest.json` (built by `make`, `make dbt-manifest`, or
the image build), so parsing the DAG never runs dbt; without the manifest the DAG refuses to parse
rather than fall back to a slow `dbt ls` on every parse. It runs in Cosmos's watcher mode: one
task, the producer, runs a single `dbt build` of the seeds and models, and one task per model
reports that model's outcome from the producer's events (`cost_and_usage_run`; the ephemeral
staging and intermediate models and the seeds render as no-op tasks); the tests run after, as one
`dbt test` (`dbt_test`). Every task that can run dbt writes DuckDB, so all of them are in the
`duckdb_writer` pool: the producer, the test task, and the model task too, which on a retry or a
manual clear runs dbt for its model itself. The warehouse path and the source partitions to rebuild
come from the run (XCom of `plan_focus_build`), not from parse time, and reach dbt as environment
variables: a `--vars` value that changes every run would make dbt re-parse the whole project.

The partitions to rebuild are those the run loaded and every one where the mart does not hold what
the ledger says is loaded (`stale_partitions`): a load commits before dbt runs, so a dbt build that
fails after it leaves the mart behind the warehouse, and the next run (the plan task runs in every
run, even one that loads nothing) brings it back in step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    PRODUCER_WATCHER_DONE_TASK_ID,
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SeedRenderingBehavior,
    TestBehavior,
)

from include.orchestration.config import WRITER_POOL
from include.settings import PROJECT_ROOT

DBT_PROJECT = PROJECT_ROOT / "dbt"
DBT_MANIFEST = DBT_PROJECT / "target" / "manifest.json"
PLAN_TASK_ID = "plan_focus_build"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StalePartition:
    """A source partition (`x_SourcePartition`) whose rows in the mart are not the version the ledger loaded."""

    partition: str
    billing_period: str  # YYYY-MM
    why: str


def source_partition(dataset: str, export: str, billing_period: str) -> str:
    """The mart's `x_SourcePartition` of one export's month (YYYY-MM), as dbt's `source_lineage_columns` makes it."""
    return f"{dataset}/{export}/{billing_period}"


def focus_build_plan(warehouse: Path, loaded: list[dict]) -> dict:
    """What the dbt tasks need from this run: the absolute warehouse path and the source partitions to
    rebuild, and for validation and publishing, which go by month, the partitions' billing months.

    The partitions are those of `loaded` (this run's load summaries: `dataset`, `export`, `billing_period`)
    and every stale one. With none, the dbt tasks are skipped: to them no partition means every partition.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    warehouse = Path(warehouse).resolve()
    stale = stale_partitions(warehouse)
    for partition in stale:
        log.warning("rebuilding %s: %s", partition.partition, partition.why)
    partitions = {source_partition(s["dataset"], s["export"], s["billing_period"]) for s in loaded}
    partitions |= {partition.partition for partition in stale}
    partitions |= built_together(warehouse, partitions)
    if not partitions:
        raise AirflowSkipException("nothing to rebuild: no month loaded, and the mart holds what the ledger loaded")
    return {
        "warehouse": str(warehouse),
        "source_partitions": ",".join(sorted(partitions)),
        "billing_periods": ",".join(sorted({partition.rsplit("/", 1)[1] for partition in partitions})),
    }


def built_together(warehouse: Path, partitions: set[str]) -> set[str]:
    """The loaded partitions the models compute together with `partitions`: those of the same month of the other
    datasets in a serving group with theirs (`serving_groups`: Azure's actual and amortized cost, whose rows dbt
    pairs, so a restated actual export changes the BilledCost of rows in the amortized partition). A group of one
    dataset (every AWS format) adds nothing."""
    import duckdb

    from include.serving.publish import serving_groups
    from include.warehouse.ledger import ledger_relation

    groups = serving_groups()
    rebuilt = {(p.split("/", 1)[0], p.rsplit("/", 1)[1]) for p in partitions}  # (dataset, month)
    if not Path(warehouse).exists():
        return set()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ledger = ledger_relation(con)
        loaded = (
            con.execute(
                f"SELECT DISTINCT dataset, export, strftime(billing_period, '%Y-%m') FROM {ledger} "
                "WHERE status = 'loaded'"
            ).fetchall()
            if ledger
            else []
        )
    return {
        source_partition(dataset, export, month)
        for dataset, export, month in loaded
        if any(
            other != dataset and other_month == month and groups.get(other) == groups.get(dataset) is not None
            for other, other_month in rebuilt
        )
    }


def stale_partitions(warehouse: Path) -> list[StalePartition]:
    """Every source partition where the mart's rows do not carry exactly the ledger's `loaded` version.

    In step means: a partition the ledger loaded with rows has rows in the mart, all of that version
    (`x_ManifestVersion`); one loaded with no rows (restated to nothing) has none; the mart holds no
    partition the ledger has no loaded version of. A reload of the version already in the mart is
    not seen: its rows are that delivery's either way.
    """
    import duckdb  # here: the DAG file imports this module, and parsing it stays light

    from include.serving.publish import MART
    from include.warehouse.ledger import ledger_relation

    if not Path(warehouse).exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            f"{schema}.{table}"
            for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        }
        loaded, ledger = {}, ledger_relation(con)
        if ledger is not None:
            rows = con.execute(
                "SELECT dataset, export, strftime(billing_period, '%Y-%m'), version, rows "
                f"FROM {ledger} WHERE status = 'loaded'"
            ).fetchall()
            loaded = {
                source_partition(dataset, export, month): (month, version, count)
                for dataset, export, month, version, count in rows
            }
        held = {}
        if MART in tables:
            rows = con.execute(
                f"SELECT x_SourcePartition, strftime(x_BillingPeriod, '%Y-%m'), "
                f"list_sort(list(DISTINCT coalesce(x_ManifestVersion, 'none'))) FROM {MART} GROUP BY ALL"
            ).fetchall()
            held = {partition: (month, versions) for partition, month, versions in rows}
    stale = []
    for partition in sorted(loaded.keys() | held.keys()):
        month, versions = held.get(partition, (None, []))
        in_mart = f"the mart holds version {', '.join(versions)}" if versions else "the mart has no rows of it"
        if partition not in loaded:
            stale.append(StalePartition(partition, month, f"{in_mart}, the ledger has no loaded version"))
            continue
        month, version, count = loaded[partition]
        if versions != ([version] if count else []):
            why = f"the ledger loaded version {version} ({count} rows), {in_mart}"
            stale.append(StalePartition(partition, month, why))
    return stale


def months_held_back(warehouse: Path, provider: str) -> list[str]:
    """What the models hold back of `provider`'s loaded months, and why (the view `focus.months_held_back`,
    read after the build: Azure's actual cost of a month with reservation or savings plan rows and no
    amortized cost yet): one line per export and month, naming the files."""
    import duckdb

    if not Path(warehouse).exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'focus' AND view_name = 'months_held_back'"
        ).fetchall()
        if not found[0][0]:
            return []
        rows = con.execute(
            "SELECT export, strftime(billing_period, '%Y-%m'), list_sort(list(DISTINCT source_files)), "
            "any_value(reason) FROM focus.months_held_back WHERE provider = ? GROUP BY ALL ORDER BY 2, 1",
            [provider],
        ).fetchall()
    return [
        f"export {export} {month} held back from FOCUS: {reason} (files: {', '.join(files)})"
        for export, month, files, reason in rows
    ]


def _from_plan(key: str) -> str:
    return f"{{{{ ti.xcom_pull(task_ids='{PLAN_TASK_ID}')['{key}'] }}}}"


def focus_models(group_id: str = "focus_models", manifest: Path = DBT_MANIFEST) -> DbtTaskGroup:
    """The dbt project's seeds, models and tests; must be created inside a DAG after the plan task."""
    if not manifest.is_file():
        raise FileNotFoundError(
            f"{manifest} is missing: build it with `make dbt-manifest` (or `dbt parse --profiles-dir .` in "
            f"{DBT_PROJECT}) at deploy time; Cosmos renders the dbt tasks from it"
        )
    project = ProjectConfig(dbt_project_path=DBT_PROJECT, manifest_path=manifest, project_name="open_finops")
    # Cosmos wraps the path in an ObjectStoragePath, whose first use loads every provider's file system
    # (~1.2 s of each parse); the manifest is a local file, and a plain Path serves the same calls.
    project.manifest_path = manifest
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=ProfileConfig(
            profile_name="open_finops", target_name="warehouse", profiles_yml_filepath=DBT_PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # Cosmos turns a producer retry into a skip (a second build would race the model tasks): none is made.
            setup_operator_args={"pool": WRITER_POOL, "retries": 0},
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_ALL,
            # Seeds are built by the producer's `dbt build` in every run (~1 s), so a new or restored warehouse
            # always has them. Not WHEN_SEED_CHANGES: it keeps the seeds' checksum in an Airflow Variable, not in
            # the warehouse, and would skip the seeds of a warehouse that does not have them.
            seed_rendering_behavior=SeedRenderingBehavior.RENDER_ONLY,
            # The run's own Asset events say what changed; one per dbt model would only add scheduler work.
            emit_datasets=False,
        ),
        operator_args={
            "pool": WRITER_POOL,
            "install_deps": False,
            "env": {
                "FINOPS_WAREHOUSE_PATH": _from_plan("warehouse"),
                "FINOPS_SOURCE_PARTITIONS": _from_plan("source_partitions"),
            },
            # a failing model or data test fails the same way again: show it at once
            "retries": 0,
        },
    )
    _start_model_tasks_after_the_producer(group)
    return group


def _start_model_tasks_after_the_producer(group: DbtTaskGroup) -> None:
    """The model tasks only read what the producer reported: they start once it has finished.

    Cosmos wires this for a DbtDag only. In a task group the model tasks would start beside the
    producer and wait for its report deferred, on the triggerer (`dag.test()` can hang on that); started
    after it, each finds its model's outcome at once, and a failed build fails them as upstream_failed.
    """
    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    done = group.children[f"{group.group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"]
    for task in list(group.children.values()):
        if task not in (producer, done) and not task.upstream_task_ids & group.children.keys():
            producer >> task
