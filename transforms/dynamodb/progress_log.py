"""A per-process progress line for long reads, at most one per interval.

Sources count what they emit; every ``interval`` seconds one INFO line says
how many items this worker process produced since the last line.
"""

from __future__ import annotations

import logging
import time

__all__ = ["ProgressLog"]

PROGRESS_INTERVAL_SECONDS = 10.0


class ProgressLog:
    """``<what> progress: N items in the last T s (R items/s) in this worker``."""

    def __init__(
        self, logger: logging.Logger, what: str, interval: float = PROGRESS_INTERVAL_SECONDS
    ):
        self._logger = logger
        self._what = what
        self._interval = interval
        self._since_log = 0
        self._last_log = time.monotonic()

    def add(self, count: int) -> None:
        self._since_log += count
        now = time.monotonic()
        elapsed = now - self._last_log
        if elapsed >= self._interval:
            self._logger.info(
                "%s progress: %d items in the last %.0f s (%.0f items/s) in this worker",
                self._what,
                self._since_log,
                elapsed,
                self._since_log / elapsed,
            )
            self._since_log = 0
            self._last_log = now
