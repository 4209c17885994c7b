"""Assets the billing DAGs update; downstream DAGs (or the FOCUS models) can schedule on them."""

from airflow.sdk import Asset

# Name only: a URI scheme Airflow does not know (finops://) makes it load every provider's asset handlers, ~1.6 s
# of every task's DAG parse.
AWS_BILLING_MONTHS = Asset(name="aws_billing_months")
