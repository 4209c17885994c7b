"""Whether a failure is worth another try, decided in one place (no Airflow here: discovery uses it too).

Deterministic: the same input fails the same way (a refused delivery, a bad configuration, a value
DuckDB cannot convert, a column it cannot bind, access denied to the export's bucket or folder);
another try only delays the fix. Transient: another process holds the warehouse's lock, or the
network or the cloud's storage did not answer; a later try may succeed. Unknown: anything else (S3
throttling or a 5xx, another OSError, a bug), so neither refused nor retried on purpose.

What a cloud's own client raises is told by its package (`include/<provider>/failures.py`: `TRANSIENT`
and `access_denied`), listed in `_CLOUDS`.
"""

from __future__ import annotations

from enum import Enum

import duckdb

from include.aws import failures as aws
from include.azure import failures as azure
from include.focus.validator import ValidatorError
from include.providers.deliveries import DeliveryError
from include.settings import ConfigError
from include.warehouse.loader import LoadRefused

_CLOUDS = (aws, azure)


class LedgerBusy(RuntimeError):
    """The ledger stayed locked by another writer, so what is new cannot be decided now (look again later)."""


class Failure(Enum):
    DETERMINISTIC = "deterministic"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


_DETERMINISTIC = (
    DeliveryError,
    LoadRefused,
    ConfigError,
    ValidatorError,
    # What the data or the SQL is, not what the moment is:
    duckdb.ConversionException,
    duckdb.BinderException,
    duckdb.InvalidInputException,
    duckdb.ParserException,
    duckdb.CatalogException,
)
_TRANSIENT = (
    LedgerBusy,  # discovery could not read the ledger: a load holds the warehouse
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    *(error for cloud in _CLOUDS for error in cloud.TRANSIENT),
)
_LOCK_MESSAGE = "Could not set lock"  # DuckDB: another process has the warehouse file open for writing


def classify(err: BaseException) -> Failure:
    if isinstance(err, _DETERMINISTIC) or _access_denied(err):
        return Failure.DETERMINISTIC
    if isinstance(err, _TRANSIENT) or (isinstance(err, duckdb.IOException) and _LOCK_MESSAGE in str(err)):
        return Failure.TRANSIENT
    return Failure.UNKNOWN


def _access_denied(err: BaseException) -> bool:
    """The cloud denied access (by its own error code), or the file system did (a PermissionError of its own)."""
    for cloud in _CLOUDS:
        denied = cloud.access_denied(err)
        if denied is not None:
            return denied
    return isinstance(err, PermissionError)
