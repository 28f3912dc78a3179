"""How long the reads of one table have been failing, shared by a process's readers.

Each page read retries for up to ``max_retry_seconds`` (see
:mod:`transforms.dynamodb.scan.pages`). When the endpoint is down, the
readers of a process fail together, and a worker thread that gives up on one
segment goes on to the next: measured per page only, every segment read in
turn would spend a whole budget, and an outage would be reported after
several of them. An :class:`Outage` records when the current run of failures
began, across the readers of one table in one process; a read stops
retrying once the table has failed for the budget, whichever reader saw its
start. Any page read whole ends the outage, so a read never gets less than
its own budget while other reads succeed; so does a throttled read (the
table answers), which keeps its own budget.

A failure more than a budget after the previous one starts a new outage: a
worker that outlives a job (Dask, Flink) does not count a failure of long
ago against the next job.
"""

from __future__ import annotations

import os
import threading

__all__ = ["Outage", "outage_of"]


class Outage:
    """The start of the current run of failed reads of one table (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_failure = 0.0

    def failed(self, now: float, stale_after: float) -> float:
        """Records a failed read at ``now`` (``time.monotonic()``); returns when
        the current outage began (``now`` if the last failure is more than
        ``stale_after`` seconds old)."""
        with self._lock:
            if self._since is None or now - self._last_failure > stale_after:
                self._since = now
            self._last_failure = now
            return self._since

    def ended(self) -> None:
        """A page was read whole: the table answers again."""
        if self._since is not None:
            with self._lock:
                self._since = None


_OUTAGES: dict[tuple[str | None, str], Outage] = {}
_OUTAGES_LOCK = threading.Lock()


def outage_of(endpoint_url: str | None, table_name: str) -> Outage:
    """The process's :class:`Outage` record for ``table_name`` at ``endpoint_url``."""
    key = (endpoint_url, table_name)
    with _OUTAGES_LOCK:
        outage = _OUTAGES.get(key)
        if outage is None:
            outage = _OUTAGES[key] = Outage()
        return outage


def _after_fork_in_child() -> None:
    """A forked child starts with fresh records and locks, whatever its parent held."""
    global _OUTAGES_LOCK
    _OUTAGES_LOCK = threading.Lock()
    _OUTAGES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
