"""Reading one Scan page, with retries that never lose or repeat a page.

botocore's retry handler (see :mod:`transforms.dynamodb.client`) retries
throttling, 5xx and connection errors a few times. When it gives up, the
:class:`ScanPageReader` keeps retrying the *same* request – same segment, same
``ExclusiveStartKey`` – with capped exponential backoff and full jitter, for
up to ``max_retry_seconds``, counted from the start of the table's outage
when the process's other reads of the table failed first
(:mod:`transforms.dynamodb.scan.outage`), so segments read one after another
do not each spend a budget on the same outage. A page is therefore either
read whole or not at all; errors that cannot succeed on retry (missing
table, access denied, validation) fail at once with a message saying what to
fix.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from transforms.dynamodb.rate_limit import ReadRateLimiter
from transforms.dynamodb.scan.errors import (
    check_scan_response,
    explain,
    is_retryable,
    segment_failed,
)
from transforms.dynamodb.scan.outage import outage_of
from transforms.dynamodb.scan.request import ScanRequest
from transforms.dynamodb.wire import Item, Key

__all__ = ["ReadAbandoned", "RetryPolicy", "ScanPage", "ScanPageReader"]

_LOGGER = logging.getLogger(__name__)


class ReadAbandoned(Exception):
    """A page read that gave up retrying because nobody will take the page."""


@dataclasses.dataclass
class ScanPage:
    """One Scan response: its items, where it ended, what it cost."""

    items: list[Item]
    last_evaluated_key: Key | None
    consumed_read_units: float
    scanned_count: int
    retries: int = 0
    throttles: int = 0
    response_bytes: int = 0


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retries beyond botocore's: ``min(cap, base * 2**n)`` with full jitter."""

    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    max_retry_seconds: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap_seconds, self.base_seconds * (2**attempt)))


def _consumed_units(response: dict[str, Any]) -> float:
    return float((response.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))


def _botocore_retries(error: BaseException) -> int:
    """Retries botocore made inside a call that still failed (0 where it does not say)."""
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def _is_throttle(error: BaseException) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code", "") in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }


class ScanPageReader:
    """Reads pages of a :class:`ScanRequest` through a boto3 DynamoDB client."""

    def __init__(
        self,
        client,
        request: ScanRequest,
        retry_policy: RetryPolicy = RetryPolicy(),
        endpoint_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        limiter: ReadRateLimiter | None = None,
    ):
        self._client = client
        self._request = request
        self._retry_policy = retry_policy
        self._endpoint_url = endpoint_url
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._limiter = limiter
        self._outage = outage_of(endpoint_url, request.table_name)

    def _scan(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One Scan call, within the read-rate ceiling if there is one."""
        if self._limiter is None:
            return self._client.scan(**kwargs)
        reserved = self._limiter.reserve()
        consumed = 0.0
        try:
            response = self._client.scan(**kwargs)
            consumed = _consumed_units(response)
            return response
        finally:
            self._limiter.settle(reserved, consumed)

    def read(
        self,
        segment: int,
        start_key: Key | None,
        limit: int | None = None,
        abandoned: Callable[[], bool] | None = None,
    ) -> ScanPage:
        """The page of ``segment`` that starts after ``start_key``.

        ``limit`` overrides the request's ``Limit`` (items evaluated) for this
        page. When ``abandoned()`` is true after a failed attempt, the read
        raises :class:`ReadAbandoned` instead of retrying (a page read ahead
        that will not be taken).
        """
        kwargs: dict[str, Any] = self._request.page_request(segment, start_key)
        if limit is not None:
            kwargs["Limit"] = limit
        started = time.monotonic()
        attempt = 0
        throttles = 0
        failed_call_retries = 0
        while True:
            try:
                response = check_scan_response(self._scan(kwargs))
            except Exception as error:  # classified below; nothing is swallowed
                if not is_retryable(error):
                    raise explain(error, self._request.table_name, self._endpoint_url) from error
                if abandoned is not None and abandoned():
                    raise ReadAbandoned(f"segment {segment}: read dropped, not retried") from error
                throttled = _is_throttle(error)
                throttles += throttled
                failed_call_retries += _botocore_retries(error)
                now = time.monotonic()
                budget = self._retry_policy.max_retry_seconds
                if throttled:  # the table answers: not an outage, its own budget
                    self._outage.ended()
                    since = started
                else:
                    since = min(started, self._outage.failed(now, stale_after=budget))
                left = budget - (now - since)
                if left < 0:
                    failed = segment_failed(
                        error,
                        self._request.table_name,
                        segment,
                        self._request.total_segments,
                        start_key,
                        failing_seconds=now - since,
                    )
                    failed.retries = attempt + failed_call_retries
                    failed.throttles = throttles
                    raise failed from error
                # never past the budget: one last try when it runs out
                delay = min(self._retry_policy.delay(attempt, self._rng), left)
                _LOGGER.warning(
                    "Scan of segment %d/%d failed (%s); retrying the same page in %.1f s",
                    segment,
                    self._request.total_segments,
                    type(error).__name__,
                    delay,
                )
                attempt += 1
                self._sleep(delay)
                continue
            self._outage.ended()
            metadata = response.get("ResponseMetadata", {})
            return ScanPage(
                items=response.get("Items", []),
                last_evaluated_key=response.get("LastEvaluatedKey") or None,
                consumed_read_units=_consumed_units(response),
                scanned_count=int(response.get("ScannedCount", 0)),
                retries=attempt + failed_call_retries + metadata.get("RetryAttempts", 0),
                throttles=throttles,
                response_bytes=int(metadata.get("HTTPHeaders", {}).get("content-length", 0)),
            )
