"""Recording what a bundle of the scan committed, once the runner has committed it.

The scan DoFn opens one :class:`BundleCommits` per bundle and registers its
:meth:`~BundleCommits.write` with ``DoFn.BundleFinalizerParam``; each
restriction it processes adds a :class:`SegmentCommit` and reports every
page it claims. Beam calls the finalizer after the runner has durably
committed the bundle's output; as the scan, the decoding, the index writes
and the dead-letter parts run fused in one stage (no shuffle between them),
that means the documents and the dead letters of those pages are written.
The finalizer then writes one position record for the bundle
(:mod:`transforms.journal.positions`). A bundle that fails, or a process
that dies first, records nothing: those pages are read again on resume.
"""

from __future__ import annotations

import logging
import time
import uuid

from transforms.dynamodb.wire import Key, dumps_item
from transforms.journal.files import write_json
from transforms.journal.journal import POSITIONS, JournalRef, utc_now
from transforms.journal.positions import PositionRecord
from transforms.journal.progress import process_progress

__all__ = ["BundleCommits", "SegmentCommit"]

_LOGGER = logging.getLogger(__name__)


class SegmentCommit:
    """The pages of one segment claimed by one restriction in one bundle."""

    __slots__ = ("done", "end", "items", "pages", "segment", "start")

    def __init__(self, segment: int, start_key: Key | None):
        self.segment = segment
        self.start = dumps_item(start_key)
        self.end = self.start
        self.done = False
        self.pages = 0
        self.items = 0

    def claimed(self, item_count: int, last_evaluated_key: Key | None) -> None:
        """A page was claimed: ``item_count`` items, ending at ``last_evaluated_key``."""
        self.pages += 1
        self.items += item_count
        self.end = dumps_item(last_evaluated_key)
        self.done = last_evaluated_key is None

    def record(self) -> PositionRecord:
        return PositionRecord(self.segment, self.start, self.end, self.done, self.pages, self.items)


class BundleCommits:
    """What one bundle of the scan claimed, written by the bundle finalizer."""

    def __init__(self, ref: JournalRef):
        self._ref = ref
        self._segments: list[SegmentCommit] = []
        self._progress = process_progress(ref)

    def segment(self, segment: int, start_key: Key | None) -> SegmentCommit:
        commit = SegmentCommit(segment, start_key)
        self._segments.append(commit)
        return commit

    def claimed(self, commit: SegmentCommit, item_count: int, last_key: Key | None) -> None:
        """Records a claimed page of ``commit`` and counts its items as read."""
        commit.claimed(item_count, last_key)
        self._progress.add(items=item_count)

    def write(self) -> None:
        """The finalizer callback: one record file with every segment that claimed a page."""
        positions = [c.record().to_json() for c in self._segments if c.pages]
        if positions:
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
            write_json(
                self._ref.join(POSITIONS, name),
                {"run": self._ref.run_id, "at": utc_now(), "positions": positions},
            )
        self._progress.flush()
