"""Assets the billing DAGs update; downstream DAGs (or the FOCUS models) can schedule on them."""

from airflow.sdk import Asset

AWS_BILLING_MONTHS = Asset(name="aws_billing_months", uri="finops://warehouse/aws_cur")
