"""A read-capacity ceiling shared by the segments that run in one process.

DynamoDB reports what each Scan page cost (``ConsumedCapacity``) only after
the page is read, so the limiter works by reservation: before a request a
segment reserves the units it expects (the running average of recent pages)
and waits for its turn; after the response it settles the difference. Turns
are granted in order of arrival, so the segments of a process share the rate
fairly and no burst exceeds it for long.

Each process has one limiter per scan, shared by all its threads
(:func:`shared_limiter`); how fast it may go is the process's
:class:`ReadShare` of the job's ceiling (:func:`read_share`):

* per process: when it is known how many processes read at once (the local
  runners say it; ``--reading-processes`` says it for the others), each
  process's limiter gets ``ceiling / processes``, however many of its
  threads read: one process (in-process or multi-threading mode, the
  portable runner's loopback workers) gets the whole ceiling;
* per segment: otherwise each segment being read gets ``ceiling / segments``
  and a process's limiter runs at that share times the segments it is
  reading at the moment. The job can never exceed its ceiling, and reaches
  it while the runner reads every segment at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

from transforms.dynamodb.table_description import TableDescription

__all__ = [
    "ReadRateLimiter",
    "ReadShare",
    "SharedLimiter",
    "check_rate_options",
    "job_read_ceiling",
    "process_share",
    "read_share",
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

    def set_rate(self, units_per_second: float) -> None:
        """From the next reservation on, holds ``units_per_second``."""
        if not units_per_second > 0:
            raise ValueError(f"units_per_second must be positive, got {units_per_second!r}")
        with self._lock:
            self.units_per_second = float(units_per_second)


@dataclasses.dataclass(frozen=True)
class ReadShare:
    """A process's part of the job's ceiling: ``units_per_second`` for the
    process, or, with ``per_segment``, for each segment it is reading."""

    units_per_second: float
    per_segment: bool = False


class SharedLimiter:
    """The limiter of one scan in one process, sized by its :class:`ReadShare`."""

    def __init__(self, share: ReadShare):
        self.share = share
        self.limiter = ReadRateLimiter(share.units_per_second)
        self._lock = threading.Lock()
        self._readers = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[ReadRateLimiter]:
        """The limiter, for one segment's read; a per-segment share counts the
        segment in while it reads."""
        if not self.share.per_segment:
            yield self.limiter
            return
        self._count(+1)
        try:
            yield self.limiter
        finally:
            self._count(-1)

    def _count(self, change: int) -> None:
        with self._lock:
            self._readers += change
            if self._readers > 0:
                self.limiter.set_rate(self.share.units_per_second * self._readers)


_LIMITERS: dict[str, SharedLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(scan_id: str, share: ReadShare) -> SharedLimiter:
    """The limiter of ``scan_id`` in this process, created on first use."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(scan_id)
        if limiter is None or limiter.share != share:
            limiter = _LIMITERS[scan_id] = SharedLimiter(share)
        return limiter


def process_share(job_units_per_second: float, reading_processes: int) -> float:
    """Each process's part of the job's ceiling."""
    if reading_processes < 1:
        raise ValueError(f"reading_processes must be at least 1, got {reading_processes}")
    return job_units_per_second / reading_processes


def read_share(
    job_units_per_second: float, reading_processes: int | None, segment_count: int
) -> ReadShare:
    """Each process's part of the ceiling: per process when ``reading_processes``
    is known, else per segment being read (see the module docstring)."""
    if reading_processes is not None:
        return ReadShare(process_share(job_units_per_second, reading_processes))
    return ReadShare(job_units_per_second / max(1, segment_count), per_segment=True)


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
