"""Errors of the scan source, each saying what to fix.

botocore raises generic ``ClientError`` and connection exceptions; the scan
turns those that cannot succeed on retry into one of these, with a message
that names the table, the endpoint or the segment and where to resume.
"""

from __future__ import annotations

from typing import NamedTuple

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSLError,
)

from transforms.dynamodb.wire import Key, dumps_item

__all__ = [
    "RETRYABLE_ERROR_CODES",
    "AccessDenied",
    "EndpointUnreachable",
    "IncompleteScanResponse",
    "InvalidCredentials",
    "InvalidScanRequest",
    "ScanError",
    "SegmentReadFailed",
    "TableNotFound",
    "UnreadSegment",
    "check_scan_response",
    "explain",
    "is_retryable",
]

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "LimitExceededException",
    }
)

_TRANSIENT_EXCEPTIONS = (
    ConnectionClosedError,
    ReadTimeoutError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

_ACCESS_CODES = {"AccessDeniedException", "UnauthorizedOperation", "AccessDenied"}
_CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
}


class ScanError(RuntimeError):
    """A scan cannot go on; the message says what to fix."""


class TableNotFound(ScanError):
    pass


class AccessDenied(ScanError):
    pass


class InvalidCredentials(ScanError):
    pass


class EndpointUnreachable(ScanError):
    pass


class InvalidScanRequest(ScanError):
    pass


class SegmentReadFailed(ScanError):
    """A segment stopped before its end; ``resume_key`` is where to go on.
    ``retries`` and ``throttles``: what the failed page's read went through."""

    def __init__(self, message: str, segment: int, total_segments: int, resume_key: Key | None):
        super().__init__(message)
        self.segment = segment
        self.total_segments = total_segments
        self.resume_key = resume_key
        self.retries = 0
        self.throttles = 0


class IncompleteScanResponse(RuntimeError):
    """A Scan answer without its ``Items``: the body was cut short or garbled.

    botocore retries a DynamoDB body whose ``x-amz-crc32`` does not match,
    but when its attempts run out it returns what it parsed, which for a cut
    JSON body is ``{"message": ...}``: taken as a page, that would read as the
    segment's empty last page and silently end it. Retried like a 5xx.
    """


def check_scan_response(response: dict) -> dict:
    """``response`` if it is a whole Scan page; raises :class:`IncompleteScanResponse`."""
    if not isinstance(response.get("Items"), list):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        error = IncompleteScanResponse(
            f"Scan response (HTTP {status}) has no Items list: body cut short or garbled"
        )
        error.response = {"ResponseMetadata": response.get("ResponseMetadata", {})}
        raise error
    return response


class UnreadSegment(NamedTuple):
    """A segment the scan gave up on: where to resume it and why it stopped.

    ``resume_key`` is the ``ExclusiveStartKey`` of the first page not read
    (``None``: the segment's beginning).
    """

    segment: int
    total_segments: int
    resume_key: Key | None
    error: str


def _status(error: ClientError) -> int:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def is_retryable(error: BaseException) -> bool:
    """True for throttling, 5xx, connection resets and timeouts."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return code in RETRYABLE_ERROR_CODES or _status(error) >= 500
    return isinstance(error, (*_TRANSIENT_EXCEPTIONS, IncompleteScanResponse))


def explain(error: BaseException, table_name: str, endpoint: str | None) -> ScanError:
    """A :class:`ScanError` with a one-line message for a botocore error."""
    where = f"endpoint {endpoint}" if endpoint else "the region's DynamoDB endpoint"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException":
            return TableNotFound(
                f"table {table_name!r} was not found at {where}: check --table and --region"
            )
        if code in _ACCESS_CODES:
            return AccessDenied(
                f"access denied to table {table_name!r}: the credentials need "
                f"dynamodb:DescribeTable and dynamodb:Scan on it ({message})"
            )
        if code in _CREDENTIAL_CODES:
            return InvalidCredentials(
                f"the credentials were refused ({code}): check AWS_PROFILE or the "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN in use"
            )
        if code == "ValidationException":
            return InvalidScanRequest(f"DynamoDB refused the scan of {table_name!r}: {message}")
        if code.isdigit():  # no DynamoDB error in the answer: botocore names the HTTP status
            shown = " ".join(message.split())[:80]
            return ScanError(
                f"{where} answered HTTP {code} without a DynamoDB error"
                f"{f' ({shown})' if shown else ''}: is it a DynamoDB endpoint? "
                "check --endpoint-url and --region"
            )
        return ScanError(f"DynamoDB error {code} on table {table_name!r}: {message}")
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return InvalidCredentials(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with an instance/task role"
        )
    if isinstance(error, NoRegionError):
        return ScanError("no AWS region set: pass --region or set AWS_DEFAULT_REGION")
    if isinstance(error, SSLError):
        return EndpointUnreachable(_tls_failure(str(error), where))
    if isinstance(error, _TRANSIENT_EXCEPTIONS):
        return EndpointUnreachable(
            f"cannot reach {where}: check --endpoint-url and the network ({error})"
        )
    if isinstance(error, BotoCoreError):
        return ScanError(f"DynamoDB client error on table {table_name!r}: {error}")
    return ScanError(f"scan of table {table_name!r} failed: {error!r}")


def _tls_failure(text: str, where: str) -> str:
    """What to fix when TLS with the endpoint failed, from the SSL error's text."""
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        fix = "it does not speak TLS: for a server on plain HTTP, use http:// in --endpoint-url"
    elif "CERTIFICATE_VERIFY_FAILED" in text:
        fix = (
            "its certificate is not trusted here: set AWS_CA_BUNDLE to the file of the "
            "certificate authority that signed it"
        )
    else:
        fix = "check --endpoint-url"
    return f"TLS with {where} failed, {fix} ({text})"


def segment_failed(
    error: BaseException,
    table_name: str,
    segment: int,
    total_segments: int,
    resume_key: Key | None,
    failing_seconds: float | None = None,
) -> SegmentReadFailed:
    """The error for a segment that could not be read past ``resume_key``,
    after the table's reads failed for ``failing_seconds``."""
    during = "" if failing_seconds is None else f" (reads failing for {failing_seconds:.0f} s)"
    return SegmentReadFailed(
        f"segment {segment} of {total_segments} of table {table_name!r} stopped "
        f"at ExclusiveStartKey {dumps_item(resume_key)}{during}: {error}",
        segment,
        total_segments,
        resume_key,
    )
