"""Azure billing: sense a new Cost Management export run (deferrable on Blob storage, rescheduled on a file://
mirror) → replace its billing month in DuckDB → FOCUS models (dbt, Cosmos) → validate → publish the serving
layer dashboards read → refresh Metabase; a refused run fails the DAG run at its end, naming it.

Exports: Variable `finops_azure_exports`; schedule: env FINOPS_AZURE_SCHEDULE. Reloading past months:
`airflow backfill create --dag-id azure_billing --from-date 2025-01-01 --to-date 2025-03-31` makes one run per
billing month, or trigger with Param `billing_periods`. The tasks: include/orchestration/billing_dag.py.
"""

from include.azure.provider import AZURE
from include.orchestration.billing_dag import billing_dag

azure_billing = billing_dag(AZURE, doc_md=__doc__)
