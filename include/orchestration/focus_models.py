"""The dbt project as a Cosmos task group: FOCUS models built right after a load, in the DAG run.

Cosmos renders one Airflow task per dbt seed and the mart from `dbt/target/manifest.json` (built by
`make`, `make dbt-manifest`, or the image build), so parsing the DAG never runs dbt; without the
manifest the DAG refuses to parse rather than fall back to a slow `dbt ls` on every parse. Staging
and intermediate models are ephemeral (inlined into the mart), so they render as no-op tasks. Every
dbt task writes DuckDB, so all of them run in the `duckdb_writer` pool; the warehouse path and the
months to rebuild come from the run (XCom of `plan_focus_build`), not from parse time.
"""

from __future__ import annotations

from pathlib import Path

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from include.orchestration.config import WRITER_POOL
from include.settings import PROJECT_ROOT

DBT_PROJECT = PROJECT_ROOT / "dbt"
DBT_MANIFEST = DBT_PROJECT / "target" / "manifest.json"
PLAN_TASK_ID = "plan_focus_build"


def focus_build_plan(warehouse: Path, loaded: list[dict]) -> dict:
    """What the dbt tasks need from this run: the absolute warehouse path and the months to rebuild."""
    periods = sorted({summary["billing_period"] for summary in loaded})
    return {"warehouse": str(Path(warehouse).resolve()), "billing_periods": ",".join(periods)}


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
