"""Bad input fails the task at once: retrying cannot fix a broken file."""

from __future__ import annotations

from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from include.aws.manifests import DeliveryError
from include.warehouse.loader import LoadRefused


@contextmanager
def fail_fast_on_bad_input():
    try:
        yield
    except (DeliveryError, LoadRefused) as err:
        raise AirflowFailException(str(err)) from err
