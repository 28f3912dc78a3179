"""Running counts of one attempt, summed over every worker process.

Each worker process keeps its cumulative counts (items read, dead letters
written) for the attempt and writes them to ``<journal>/progress/<attempt>-
<host>-<pid>.json`` at most every :data:`WRITE_EVERY_SECONDS` and whenever a
bundle commits. The launcher sums the files of its attempt
(:func:`read_progress`); workers may be threads of the launcher, other
processes or other machines.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time

from transforms.journal.files import matching, read_json, write_json
from transforms.journal.journal import PROGRESS, JournalRef

__all__ = ["ProcessProgress", "ProgressCounts", "process_progress", "read_progress"]

_LOGGER = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class ProgressCounts:
    """Items read and dead letters written so far."""

    items: int = 0
    dead_letters: int = 0


class ProcessProgress:
    """This process's counts for one attempt; thread safe."""

    def __init__(self, ref: JournalRef):
        host = socket.gethostname().replace("/", "_") or "host"
        self._path = ref.join(PROGRESS, f"{ref.attempt_id}-{host}-{os.getpid()}.json")
        self._lock = threading.Lock()
        self._items = 0
        self._dead_letters = 0
        self._written_at = 0.0
        self._dirty = False

    def add(self, items: int = 0, dead_letters: int = 0) -> None:
        with self._lock:
            self._items += items
            self._dead_letters += dead_letters
            self._dirty = True
            due = time.monotonic() - self._written_at >= WRITE_EVERY_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Writes the counts now if they changed; a failed write is logged, not raised."""
        with self._lock:
            if not self._dirty:
                return
            counts = {"items": self._items, "dead_letters": self._dead_letters}
            self._dirty = False
            self._written_at = time.monotonic()
        try:
            write_json(self._path, counts, sync=False)
        except Exception as error:  # progress must never fail the job
            _LOGGER.warning("could not write progress to %s: %s", self._path, error)


_REGISTRY: dict[tuple[str, str], ProcessProgress] = {}
_REGISTRY_LOCK = threading.Lock()


def process_progress(ref: JournalRef) -> ProcessProgress:
    """The one :class:`ProcessProgress` of this process for ``ref``'s attempt."""
    with _REGISTRY_LOCK:
        key = (ref.path, ref.attempt_id)
        progress = _REGISTRY.get(key)
        if progress is None:
            progress = _REGISTRY[key] = ProcessProgress(ref)
        return progress


def read_progress(journal_path: str, attempt_id: str) -> ProgressCounts:
    """The counts of attempt ``attempt_id``, summed over its processes' files."""
    items = dead_letters = 0
    pattern = f"{journal_path.rstrip('/')}/{PROGRESS}/{attempt_id}-*.json"
    for path in matching(pattern):
        try:
            counts = read_json(path)
            items += int(counts["items"])
            dead_letters += int(counts["dead_letters"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # replaced while read: the next look sees it
    return ProgressCounts(items, dead_letters)
