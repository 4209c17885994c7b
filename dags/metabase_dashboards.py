"""Install or update the FinOps dashboards of `dashboards/` in Metabase (connection `metabase_default`).

Trigger it after setting up Metabase and whenever `dashboards/` changes. It is idempotent: a rerun
with unchanged dashboards sends no write. The aws_billing DAG refreshes Metabase after each publish.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.orchestration.metabase import install_dashboards


@dag(
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"owner": "finops", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["finops", "metabase", "dashboards"],
    doc_md=__doc__,
)
def metabase_dashboards():
    @task
    def install_finops_dashboards() -> dict:
        return install_dashboards()

    install_finops_dashboards()


metabase_dashboards()
