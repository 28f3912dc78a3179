"""The splittable DoFn of the scan: one segment, page after page.

The element is a :class:`~transforms.dynamodb.scan.request.SegmentScan` and its
initial restriction the whole segment (from its start key), which no runner
needs to split. Each page is fetched, claimed through the tracker with its
``LastEvaluatedKey`` and only then emitted, so a checkpoint resumes at the
next unread page. The next page is read on a thread of the DoFn while the
items of the current one go down the pipeline
(:mod:`~transforms.dynamodb.scan.read_ahead`) when it is the only segment
being read in the process, except after its last page and before a
checkpoint. Metrics are grouped in one collector; a restriction read to its
segment's end also updates the per-segment Distributions and goes out as a
:class:`~transforms.dynamodb.scan.segment_figures.SegmentTotal` on the
``SEGMENT_TOTALS`` output, for the segment top lists
(:mod:`~transforms.dynamodb.scan.segment_figures`). The
read ceiling is a limiter shared by the segments running in one process. With a run
journal, the pages claimed in a bundle are recorded by the bundle finalizer
(:mod:`transforms.journal.commits`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider

from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.progress_log import ProgressLog
from transforms.dynamodb.rate_limit import ReadShare, shared_limiter
from transforms.dynamodb.scan.errors import SegmentReadFailed, UnreadSegment
from transforms.dynamodb.scan.pages import RetryPolicy, ScanPageReader
from transforms.dynamodb.scan.range_end import RangeEnd
from transforms.dynamodb.scan.read_ahead import READERS, PageReadAhead
from transforms.dynamodb.scan.request import ScanRequest, SegmentItem, SegmentScan
from transforms.dynamodb.scan.restriction import (
    ScanPagePosition,
    ScanRestrictionCoder,
    SegmentRestriction,
    SegmentRestrictionTracker,
)
from transforms.dynamodb.scan.segment_figures import SegmentDistributions, SegmentTotal
from transforms.dynamodb.wire import dumps_item
from transforms.journal.commits import BundleCommits
from transforms.journal.journal import JournalRef
from transforms.runners.process_exit import skip_final_collection_in_sdk_worker
from transforms.runners.record_batches import Page
from transforms.runners.tagged_outputs import TaggedOutputsDoFn

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "dynamodb"
UNREAD_SEGMENTS = "unread_segments"
SEGMENT_TOTALS = "segment_totals"


class _ScanRestrictionProvider(RestrictionProvider):
    """The restriction of a :class:`SegmentScan`: its segment, from its start key."""

    def initial_restriction(self, scan: SegmentScan) -> SegmentRestriction:
        request = scan.request
        return SegmentRestriction(
            scan.segment,
            request.total_segments,
            start_key=scan.start_key,
            estimated_items=request.estimated_items_per_segment,
        )

    def create_tracker(self, restriction) -> SegmentRestrictionTracker:
        return SegmentRestrictionTracker(restriction)

    def split(self, scan: SegmentScan, restriction):
        yield restriction

    def restriction_coder(self):
        return ScanRestrictionCoder()

    def restriction_size(self, scan: SegmentScan, restriction) -> float:
        """Estimated bytes left; pure and thread safe."""
        request = scan.request
        if restriction.empty:
            return 0.0
        per_segment = max(request.estimated_bytes_per_segment, 1.0)
        average_item = (
            request.estimated_bytes / request.estimated_items if request.estimated_items else 0.0
        )
        return max(per_segment - restriction.items_before * average_item, 1.0)


class _ScanMetrics:
    """The scan's Beam metrics, and a per-process progress log line."""

    def __init__(self):
        self.items = Metrics.counter(METRICS_NAMESPACE, "items")
        self.pages = Metrics.counter(METRICS_NAMESPACE, "pages")
        self.scanned = Metrics.counter(METRICS_NAMESPACE, "scanned_count")
        self.read_units = Metrics.counter(METRICS_NAMESPACE, "consumed_read_units_milli")
        self.retries = Metrics.counter(METRICS_NAMESPACE, "retries")
        self.throttles = Metrics.counter(METRICS_NAMESPACE, "throttles")
        self.checkpoints = Metrics.counter(METRICS_NAMESPACE, "checkpoints")
        self.unread = Metrics.counter(METRICS_NAMESPACE, "unread_segments")
        self.response_bytes = Metrics.counter(METRICS_NAMESPACE, "response_bytes")
        self.page_items = Metrics.distribution(METRICS_NAMESPACE, "page_items")
        self.segments = SegmentDistributions()
        self._progress = ProgressLog(_LOGGER, "scan")

    def record_page(self, page, count: int) -> None:
        """Counts ``page``, of which ``count`` items are emitted."""
        self.items.inc(count)
        self.pages.inc()
        self.scanned.inc(page.scanned_count)
        self.read_units.inc(round(page.consumed_read_units * 1000))
        self.page_items.update(count)
        if page.retries:
            self.retries.inc(page.retries)
        if page.throttles:
            self.throttles.inc(page.throttles)
        self.response_bytes.inc(page.response_bytes)
        self._progress.add(count)


@dataclasses.dataclass(frozen=True)
class _ScanSettings:
    """How the scan DoFn reads; picklable, no credentials.

    ``read_share`` is this process's share of the job's read ceiling
    (None: no ceiling); ``scan_id`` lets the segments of one scan that run in
    the same process share one limiter. With ``pages`` each page's items are
    emitted as one :class:`~transforms.runners.record_batches.Page`.
    """

    client_config: DynamoDBClientConfig
    retry_policy: RetryPolicy
    with_segments: bool
    checkpoint_every_pages: int | None
    checkpoint_every_seconds: float | None
    read_share: ReadShare | None
    scan_id: str
    report_unread: bool = False
    journal: JournalRef | None = None
    decode_at_read: DecodeAtRead | None = None
    pages: bool = False


class _ScanSegmentsFn(TaggedOutputsDoFn):
    """Reads the pages of one segment restriction; see the module docstring."""

    def __init__(self, settings: _ScanSettings):
        self._settings = settings
        self._client = None
        self._metrics = None
        self._limiter = None
        self._commits = None
        self._read_ahead = None

    def setup(self):
        skip_final_collection_in_sdk_worker()
        self._bundle_started = time.monotonic()
        settings = self._settings
        decode_at_read = settings.decode_at_read
        item_decoder = decode_at_read.decoder() if decode_at_read is not None else None
        if item_decoder is None:
            self._client = settings.client_config.create_client()
        else:
            self._client = settings.client_config.create_client(item_decoder)
        self._metrics = _ScanMetrics()
        self._read_ahead = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="scan-read-ahead"
        )
        if settings.read_share is not None:
            self._limiter = shared_limiter(settings.scan_id, settings.read_share)

    def teardown(self):
        if self._read_ahead is not None:
            self._read_ahead.shutdown(wait=True, cancel_futures=True)
            self._read_ahead = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def start_bundle(self):
        self._commits = None
        self._bundle_started = time.monotonic()

    def _commit_for(self, bundle_finalizer, segment: int, start_key):
        """This restriction's :class:`SegmentCommit`, or None without a journal."""
        if self._settings.journal is None:
            return None
        if self._commits is None:
            self._commits = BundleCommits(self._settings.journal)
            bundle_finalizer.register(self._commits.write)
        return self._commits.segment(segment, start_key)

    def _checkpoint_due(self, pages: int) -> bool:
        """After ``pages`` pages of this restriction, or once the bundle has read for the
        interval: a bundle reads its restrictions one after another and its commits are
        recorded when it ends, so a clock per restriction would let a bundle of many
        short segments read for minutes without a commit."""
        every_pages = self._settings.checkpoint_every_pages
        every_seconds = self._settings.checkpoint_every_seconds
        if every_pages and pages >= every_pages:
            return True
        return bool(every_seconds and time.monotonic() - self._bundle_started >= every_seconds)

    def process(
        self,
        scan: SegmentScan,
        bundle_finalizer=beam.DoFn.BundleFinalizerParam,
        tracker=beam.DoFn.RestrictionParam(_ScanRestrictionProvider()),
    ):
        """``bundle_finalizer`` comes before ``tracker``, which Beam passes by keyword."""
        request = scan.request
        restriction = tracker.current_restriction()
        if restriction.empty:
            return
        started = time.monotonic()
        with self._reading() as limiter:
            items = yield from self._read(request, tracker, restriction, limiter, bundle_finalizer)
        read = tracker.current_restriction()  # the primary, if checkpointed or split
        if read.end_key is None and not read.empty:  # read to the segment's end
            total = SegmentTotal(
                read.segment,
                read.items_before + items,
                read.seconds_before + time.monotonic() - started,
            )
            self._metrics.segments.update(total)
            yield self.tagged(SEGMENT_TOTALS, total)

    def _reading(self):
        """The read-rate limiter while one restriction is read (None: no ceiling)."""
        if self._limiter is None:
            return contextlib.nullcontext(None)
        return self._limiter.reading()

    def _read(self, request: ScanRequest, tracker, restriction, limiter, bundle_finalizer):
        """Emits the items of ``restriction``'s pages; returns how many."""
        segment = restriction.segment
        reader = ScanPageReader(
            self._client,
            request,
            self._settings.retry_policy,
            self._settings.client_config.endpoint_url,
            limiter=limiter,
        )
        start_key = restriction.start_key
        commit = self._commit_for(bundle_finalizer, segment, start_key)
        try:
            range_end = self._range_end(reader, segment, restriction.end_key)
        except SegmentReadFailed as error:
            if not self._settings.report_unread:
                raise
            yield from self._give_up(tracker, request, segment, start_key, error)
            return 0
        pages = PageReadAhead(self._read_ahead, functools.partial(reader.read, segment))
        with READERS.reading():
            try:
                return (
                    yield from self._read_pages(
                        request, tracker, segment, start_key, range_end, commit, pages
                    )
                )
            finally:
                pages.drop()

    def _read_pages(self, request, tracker, segment, start_key, range_end, commit, pages):
        """The page loop of :meth:`_read`: claim, count, read the next ahead, emit."""
        emitted = 0
        claimed = 0
        while True:
            try:
                page = pages.page(start_key)
            except SegmentReadFailed as error:
                if not self._settings.report_unread:
                    raise
                yield from self._give_up(tracker, request, segment, start_key, error)
                return emitted
            items, end = page.items, page.last_evaluated_key
            if range_end is not None and end != range_end.end_key:
                within = range_end.cut(items)
                if within is not None:
                    items, end = items[:within], range_end.end_key
            if not tracker.try_claim(ScanPagePosition(start_key, end, len(items))):
                return emitted
            self._metrics.record_page(page, len(items))
            if commit is not None:
                self._commits.claimed(commit, len(items), end)
            last = end is None or (range_end is not None and end == range_end.end_key)
            claimed += 1
            checkpoint = not last and self._checkpoint_due(claimed)
            if not (last or checkpoint):
                pages.ahead(end)  # read while this page's items are processed
            emitted += len(items)
            if self._settings.with_segments:
                total = request.total_segments
                items = [SegmentItem(segment, total, item) for item in items]
            if self._settings.pages:
                yield Page(items, page.response_bytes)
            else:
                yield from items
            if last:
                return emitted
            start_key = end
            if checkpoint:
                self._metrics.checkpoints.inc()
                tracker.defer_remainder()
                return emitted

    def _range_end(self, reader: ScanPageReader, segment: int, end_key) -> RangeEnd | None:
        """Where a restriction with an ``end_key`` (a retried primary) stops; see
        :mod:`transforms.dynamodb.scan.range_end`. One single-item request, at ``end_key``."""
        if end_key is None:
            return None
        probe = reader.read(segment, end_key, limit=1)
        self._metrics.read_units.inc(round(probe.consumed_read_units * 1000))
        return RangeEnd(end_key, RangeEnd.key_after(probe.items, probe.last_evaluated_key, end_key))

    def _give_up(self, tracker, request, segment, start_key, error):
        """Claims the rest of the restriction and reports it as an :class:`UnreadSegment`."""
        end_key = tracker.current_restriction().end_key
        if not tracker.try_claim(ScanPagePosition(start_key, end_key, 0)):
            return  # checkpointed meanwhile: the residual is read again later
        self._metrics.retries.inc(error.retries)  # the summary counts the failed page's too
        self._metrics.throttles.inc(error.throttles)
        cause = error.__cause__ or error
        _LOGGER.error(
            "Segment %d/%d not read past ExclusiveStartKey %s: %s",
            segment,
            request.total_segments,
            dumps_item(start_key),
            cause,
        )
        self._metrics.unread.inc()
        yield self.tagged(
            UNREAD_SEGMENTS,
            UnreadSegment(segment, request.total_segments, start_key, f"{cause}"),
        )
