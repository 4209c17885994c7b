"""Assets the billing DAGs update; downstream DAGs (or the FOCUS models) can schedule on them."""

from airflow.sdk import Asset


def billing_months(provider: str) -> Asset:
    """`<provider>_billing_months` (AWS: aws_billing_months): one event per billing month loaded, its summary
    as the event's extra."""
    # Name only: a URI scheme Airflow does not know (finops://) makes it load every provider's asset handlers,
    # ~1.6 s of every task's DAG parse.
    return Asset(name=f"{provider}_billing_months")
