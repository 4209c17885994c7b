"""What Azure Storage's client errors mean for a retry (read by `include.failures.classify`, which decides for
every cloud)."""

from __future__ import annotations

import azure.core.exceptions

# The network, not the request: the storage account unreachable, a timeout, a connection closed mid-response.
TRANSIENT = (azure.core.exceptions.ServiceRequestError, azure.core.exceptions.ServiceResponseError)
# Storage's answers that the credentials or the account's network rules forbid the request.
_ACCESS_DENIED_CODES = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "AuthorizationSourceIPMismatch",
    "AuthorizationProtocolMismatch",
    "InsufficientAccountPermissions",
}


def access_denied(err: BaseException) -> bool | None:
    """Whether Azure Storage denied access, by its error code or status (on the error or the one adlfs
    translated); None: not Azure's."""
    for cause in (err, err.__cause__):
        if isinstance(cause, azure.core.exceptions.ClientAuthenticationError):
            return True
        if isinstance(cause, azure.core.exceptions.HttpResponseError):
            return cause.error_code in _ACCESS_DENIED_CODES or cause.status_code == 403
    return None
