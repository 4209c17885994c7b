"""Whether a failure is worth another try, decided in one place (no Airflow here: discovery uses it too).

Deterministic: the same input fails the same way (a refused delivery, a bad configuration, a value
DuckDB cannot convert, a column it cannot bind, access denied to the export's bucket or folder);
another try only delays the fix. Transient: another process holds the warehouse's lock, or the
network or S3 did not answer; a later try may succeed. Unknown: anything else (S3 throttling or a
5xx, another OSError, a bug), so neither refused nor retried on purpose.
"""

from __future__ import annotations

from enum import Enum

import botocore.exceptions
import duckdb

from include.aws.manifests import DeliveryError
from include.focus.validator import ValidatorError
from include.settings import ConfigError
from include.warehouse.loader import LoadRefused


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
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeout, proxy
    botocore.exceptions.HTTPClientError,  # read timeout, connection closed mid-response
)
_LOCK_MESSAGE = "Could not set lock"  # DuckDB: another process has the warehouse file open for writing
# S3's answers that the policy or the credentials' role forbids the request (a HEAD has no body: just 403).
# s3fs turns these, and others such as ExpiredToken or RequestTimeTooSkewed, into PermissionError.
_ACCESS_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403"}


def classify(err: BaseException) -> Failure:
    if isinstance(err, _DETERMINISTIC) or _access_denied(err):
        return Failure.DETERMINISTIC
    if isinstance(err, _TRANSIENT) or (isinstance(err, duckdb.IOException) and _LOCK_MESSAGE in str(err)):
        return Failure.TRANSIENT
    return Failure.UNKNOWN


def _access_denied(err: BaseException) -> bool:
    """S3 denied access (by its error code), or the file system did (a PermissionError of its own)."""
    for cause in (err, err.__cause__):
        if isinstance(cause, botocore.exceptions.ClientError):
            return cause.response.get("Error", {}).get("Code") in _ACCESS_DENIED_CODES
    return isinstance(err, PermissionError)
