"""What S3's client errors mean for a retry (read by `include.failures.classify`, which decides for every cloud)."""

from __future__ import annotations

import botocore.exceptions

# The network, not the request: S3 unreachable, a connect or read timeout, a connection closed mid-response.
TRANSIENT = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
# S3's answers that the policy or the credentials' role forbids the request (a HEAD has no body: just 403).
# s3fs turns these, and others such as ExpiredToken or RequestTimeTooSkewed, into PermissionError.
_ACCESS_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403"}


def access_denied(err: BaseException) -> bool | None:
    """Whether S3 denied access, by its error code (on the error or the one s3fs translated); None: not S3's."""
    for cause in (err, err.__cause__):
        if isinstance(cause, botocore.exceptions.ClientError):
            return cause.response.get("Error", {}).get("Code") in _ACCESS_DENIED_CODES
    return None
