"""What a failure means for a retry: the one place that tells permanent errors from transient ones.

*Permanent*: bad input or parameters, a failed contract, check or gate, something that does not
exist. A retry would give the same answer, so a task fails at once with the message, and the
CLI exits with "bad input" or "not found". *Transient*: a service did not answer, timed out,
asked us to slow down (throttling, 429) or had an internal error (5xx). A retry with backoff
can succeed. Anything else falls back to the task's ordinary retries.

Used by the DAGs' retry policy (``dag_support``) and by the CLI; imports nothing heavy.
"""

from __future__ import annotations

from enum import Enum


class PermanentError(Exception):
    """A retry cannot fix this; the message says what is wrong, where, and how to fix it."""


class BadInput(PermanentError, ValueError):
    """Arguments or parameters out of range or malformed."""


class NotFound(PermanentError, LookupError):
    """A product, snapshot, model, index or object that does not exist (yet)."""


class TransientError(Exception):
    """A service was busy or unreachable; the same call may succeed later."""


class EncoderUnavailable(TransientError):
    """The query encoder cannot embed for the live index now (its endpoint did not answer, or
    answered with another model than the one that built the index)."""


class ErrorKind(Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


# Programming and data errors: a retry runs the same code on the same data.
_PERMANENT_BUILTINS = (ValueError, LookupError, TypeError, AttributeError, NameError, AssertionError, ImportError,
                       NotImplementedError)
# AWS error codes that mean "slow down" or "try again", whatever the HTTP status says.
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown", "RequestTimeout",
    "RequestTimeoutException", "ServiceUnavailable", "InternalError", "InternalFailure", "LimitExceededException",
})


def classify(err: BaseException) -> ErrorKind:
    """Service answers first (a throttled call is a ClientError, a timeout an OSError), then ours."""
    if missing_configuration(err):
        return ErrorKind.PERMANENT
    if isinstance(err, (TransientError, ConnectionError, TimeoutError)):
        return ErrorKind.TRANSIENT
    answered = _botocore_kind(err) or _opensearch_kind(err)
    if answered is not None:
        return answered
    if isinstance(err, (PermanentError, *_PERMANENT_BUILTINS)):
        return ErrorKind.PERMANENT
    return ErrorKind.UNKNOWN


def missing_configuration(err: BaseException) -> str | None:
    """What is not set up, in one line, when ``err`` is botocore finding no credentials or no
    region for the ``aws_default`` connection (bad input, whatever call it happened in); else None."""
    try:
        from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError, ProfileNotFound
    except ImportError:
        return None
    local = "locally: `source scripts/env.sh`, which points it at moto"
    if isinstance(err, (NoCredentialsError, PartialCredentialsError, ProfileNotFound)):
        return (f"no AWS credentials for the aws_default connection ({err}): set AIRFLOW_CONN_AWS_DEFAULT (its login and "
                f"password, or a role boto3's chain finds); {local}")
    if isinstance(err, NoRegionError):
        return f"no AWS region for the aws_default connection: add region_name to AIRFLOW_CONN_AWS_DEFAULT's extra; {local}"
    return None


def _by_status(status: int, throttled: bool = False) -> ErrorKind:
    """429, 5xx and throttling codes: try again later; any other 4xx: the request itself is wrong."""
    if throttled or status == 429 or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT if 400 <= status < 500 else ErrorKind.UNKNOWN


def _botocore_kind(err: BaseException) -> ErrorKind | None:
    try:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError
    except ImportError:
        return None
    if isinstance(err, (BotoConnectionError, HTTPClientError)):  # refused, reset, timed out
        return ErrorKind.TRANSIENT
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _by_status(status, err.response.get("Error", {}).get("Code") in THROTTLING_CODES)
    return None


def _opensearch_kind(err: BaseException) -> ErrorKind | None:
    try:
        from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
        from opensearchpy.exceptions import TransportError
    except ImportError:
        return None
    if isinstance(err, OpenSearchConnectionError):  # refused, reset, timed out
        return ErrorKind.TRANSIENT
    if isinstance(err, TransportError) and isinstance(err.status_code, int):
        return _by_status(err.status_code)
    return None
