"""The dbt project as a Cosmos task group: FOCUS models built right after a load, in the DAG run.

Cosmos renders one Airflow task per dbt seed and the mart from `dbt/target/manifest.json` (built by
`make`, `make dbt-manifest`, or the image build), so parsing the DAG never runs dbt; without the
manifest the DAG refuses to parse rather than fall back to a slow `dbt ls` on every parse. Staging
and intermediate models are ephemeral (inlined into the mart), so they render as no-op tasks. Every
dbt task writes DuckDB, so all of them run in the `duckdb_writer` pool; the warehouse path and the
months to rebuild come from the run (XCom of `plan_focus_build`), not from parse time.

The months to rebuild are those the run loaded and every month where the mart does not hold what the
ledger says is loaded (`stale_partitions`): a load commits before dbt runs, so a dbt build that fails
after it leaves the mart behind the warehouse, and the next run (the plan task runs in every run, even
one that loads nothing) brings it back in step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

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


def focus_build_plan(warehouse: Path, loaded: list[dict]) -> dict:
    """What the dbt tasks need from this run: the absolute warehouse path and the months to rebuild.

    The months are those of `loaded` (this run's load summaries) and of every stale partition. With
    none, the dbt tasks are skipped: to them no month means every month.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    warehouse = Path(warehouse).resolve()
    stale = stale_partitions(warehouse)
    for partition in stale:
        log.warning("rebuilding %s: %s", partition.partition, partition.why)
    periods = sorted({summary["billing_period"] for summary in loaded} | {p.billing_period for p in stale})
    if not periods:
        raise AirflowSkipException("nothing to rebuild: no month loaded, and the mart holds what the ledger loaded")
    return {"warehouse": str(warehouse), "billing_periods": ",".join(periods)}


def stale_partitions(warehouse: Path) -> list[StalePartition]:
    """Every source partition where the mart's rows do not carry exactly the ledger's `loaded` version.

    In step means: a partition the ledger loaded with rows has rows in the mart, all of that version
    (`x_ManifestVersion`); one loaded with no rows (restated to nothing) has none; the mart holds no
    partition the ledger has no loaded version of. A reload of the version already in the mart is
    not seen: its rows are that delivery's either way.
    """
    import duckdb  # here: the DAG file imports this module, and parsing it stays light

    from include.serving.publish import MART
    from include.warehouse.ledger import EXPORTS_TABLE, LEDGER_TABLE

    if not Path(warehouse).exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            f"{schema}.{table}"
            for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        }
        loaded = {}
        if {LEDGER_TABLE, EXPORTS_TABLE} <= tables:
            rows = con.execute(
                f"SELECT exports.dataset || '/' || ledger.export || '/' || strftime(ledger.billing_period, '%Y-%m'), "
                f"strftime(ledger.billing_period, '%Y-%m'), ledger.version, ledger.rows "
                f"FROM {LEDGER_TABLE} AS ledger JOIN {EXPORTS_TABLE} AS exports USING (source, export) "
                "WHERE ledger.status = 'loaded'"
            ).fetchall()
            loaded = {partition: (month, version, count) for partition, month, version, count in rows}
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
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=ProfileConfig(
            profile_name="open_finops", target_name="warehouse", profiles_yml_filepath=DBT_PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_ALL),
        operator_args={
            "pool": WRITER_POOL,
            "install_deps": False,
            "env": {"FINOPS_WAREHOUSE_PATH": _from_plan("warehouse")},
            "vars": {"billing_periods": _from_plan("billing_periods")},
            # a failing model or data test fails the same way again: show it at once
            "retries": 0,
        },
    )
