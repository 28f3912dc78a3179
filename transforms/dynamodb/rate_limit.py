"""A read-capacity ceiling shared by the segments that run in one process.

DynamoDB reports what each Scan page cost (``ConsumedCapacity``) only after
the page is read, so the limiter works by reservation: before a request a
segment reserves the units it expects (the running average of recent pages)
and waits for its turn; after the response it settles the difference. Turns
are granted in order of arrival, so the segments of a process share the rate
fairly and no burst exceeds it for long.

The job's ceiling is divided among the processes expected to read at once
(:func:`process_share`); each process has one limiter per scan, shared by all
its threads (:func:`shared_limiter`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from transforms.dynamodb.table_description import TableDescription

__all__ = [
    "ReadRateLimiter",
    "check_rate_options",
    "job_read_ceiling",
    "process_share",
    "shared_limiter",
]

_INITIAL_ESTIMATE = 1.0
_SMOOTHING = 0.2


class ReadRateLimiter:
    """Holds a long-run rate of ``units_per_second`` across threads."""

    def __init__(
        self,
        units_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not units_per_second > 0:
            raise ValueError(f"units_per_second must be positive, got {units_per_second!r}")
        self.units_per_second = float(units_per_second)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = None
        self._estimate = _INITIAL_ESTIMATE

    def reserve(self) -> float:
        """Waits for this request's turn; returns the units reserved."""
        with self._lock:
            now = self._clock()
            start = now if self._next_start is None else max(now, self._next_start)
            units = self._estimate
            self._next_start = start + units / self.units_per_second
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return units

    def settle(self, reserved: float, consumed: float) -> None:
        """Accounts for what the request really cost."""
        with self._lock:
            if self._next_start is not None:
                self._next_start += (consumed - reserved) / self.units_per_second
            self._estimate += _SMOOTHING * (consumed - self._estimate)


_LIMITERS: dict[str, ReadRateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(scan_id: str, units_per_second: float) -> ReadRateLimiter:
    """The limiter of ``scan_id`` in this process, created on first use."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(scan_id)
        if limiter is None or limiter.units_per_second != units_per_second:
            limiter = _LIMITERS[scan_id] = ReadRateLimiter(units_per_second)
        return limiter


def process_share(job_units_per_second: float, reading_processes: int) -> float:
    """Each process's part of the job's ceiling."""
    if reading_processes < 1:
        raise ValueError(f"reading_processes must be at least 1, got {reading_processes}")
    return job_units_per_second / reading_processes


def check_rate_options(
    max_read_units_per_second: float | None,
    read_capacity_fraction: float | None,
    processes: int | None,
) -> None:
    """Raises ``ValueError`` naming the read-rate option that is out of range or doubled."""
    if max_read_units_per_second is not None and read_capacity_fraction is not None:
        raise ValueError("give max_read_units_per_second or read_capacity_fraction, not both")
    if max_read_units_per_second is not None and not max_read_units_per_second > 0:
        raise ValueError(
            f"max_read_units_per_second must be positive, got {max_read_units_per_second}"
        )
    if read_capacity_fraction is not None and not 0 < read_capacity_fraction <= 1:
        raise ValueError(f"read_capacity_fraction must be in (0, 1], got {read_capacity_fraction}")
    if processes is not None and processes < 1:
        raise ValueError(f"reading_processes must be at least 1, got {processes}")


def job_read_ceiling(
    max_read_units_per_second: float | None,
    read_capacity_fraction: float | None,
    description: TableDescription | None,
) -> float | None:
    """The job's read ceiling in units per second, or None for none."""
    if read_capacity_fraction is None:
        return max_read_units_per_second
    if not description.read_capacity_units:
        raise ValueError(
            f"table {description.table_name!r} is on-demand (no provisioned read capacity), "
            "so a fraction of it means nothing: give max_read_units_per_second "
            "(--max-read-units-per-second) instead"
        )
    return description.read_capacity_units * read_capacity_fraction
