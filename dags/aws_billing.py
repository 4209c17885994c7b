"""AWS billing: sense a new CUR / Data Exports delivery (deferrable on S3, rescheduled on a file:// mirror)
→ replace its billing month in DuckDB → FOCUS models (dbt, Cosmos) → validate → publish the serving layer
dashboards read → refresh Metabase; a refused delivery fails the run at its end, naming it.

Exports: Variable `finops_aws_exports`; schedule: env FINOPS_AWS_SCHEDULE. Reloading past months:
`airflow backfill create --dag-id aws_billing --from-date 2025-01-01 --to-date 2025-03-31` makes one run per
billing month, or trigger with Param `billing_periods`. The tasks: include/orchestration/billing_dag.py.
"""

from include.aws.provider import AWS
from include.orchestration.billing_dag import billing_dag

aws_billing = billing_dag(AWS, doc_md=__doc__)
