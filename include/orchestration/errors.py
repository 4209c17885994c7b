"""How a task fails, by the kind of failure `include.failures.classify` decides.

Deterministic: the task fails at once (no retry), naming what failed. Transient: the task fails
with a message saying so, and Airflow retries it while it has retries left (the DAG's `retries`;
its log says whether it will). Unknown: the exception passes unchanged, to Airflow's default.
"""

from __future__ import annotations

from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from include.failures import Failure, classify

# True on every attempt, the last one too: whether Airflow tries again is its retry state, not this message.
TRANSIENT_PREFIX = "transient (a later try may succeed): "


class TransientError(RuntimeError):
    """A failure worth another try; the message starts with TRANSIENT_PREFIX."""


@contextmanager
def fail_fast_on_bad_input(where: str = ""):
    """Deterministic failures → AirflowFailException (no retry); transient ones → TransientError (retried).

    `where` (export, month, manifest) prefixes the message unless it already says it.
    """
    try:
        yield
    except Exception as err:
        failure = classify(err)
        if failure is Failure.UNKNOWN:
            raise
        message = str(err) if where in str(err) else f"{where}: {err}"
        if failure is Failure.DETERMINISTIC:
            raise AirflowFailException(message) from err
        raise TransientError(f"{TRANSIENT_PREFIX}{message}") from err
