"""The splittable DoFn of the scan: one segment, page after page.

The element is a :class:`~transforms.scan_request.SegmentScan` and its
initial restriction the whole segment (from its start key), which no runner
needs to split. Each page is fetched, claimed through the tracker with its
``LastEvaluatedKey`` and only then emitted, so a checkpoint resumes at the
next unread page. Metrics are grouped in one collector; the read ceiling is a
limiter shared by the segments running in one process.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider

from transforms.dynamodb_client import DynamoDBClientConfig
from transforms.progress_log import ProgressLog
from transforms.rate_limit import shared_limiter
from transforms.scan_errors import SegmentReadFailed, UnreadSegment
from transforms.scan_pages import RetryPolicy, ScanPageReader
from transforms.scan_request import SegmentItem, SegmentScan
from transforms.scan_restriction import (
    ScanPagePosition,
    ScanRestrictionCoder,
    SegmentRestriction,
    SegmentRestrictionTracker,
)
from transforms.tagged_outputs import TaggedOutputsDoFn
from transforms.wire import dumps_item

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "dynamodb"
UNREAD_SEGMENTS = "unread_segments"


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
        self._segment_counters = {}
        self._progress = ProgressLog(_LOGGER, "scan")

    def segment_items(self, segment: int):
        counter = self._segment_counters.get(segment)
        if counter is None:
            counter = Metrics.counter(METRICS_NAMESPACE, segment_counter_name(segment))
            self._segment_counters[segment] = counter
        return counter

    def record_page(self, segment: int, page) -> None:
        count = len(page.items)
        self.items.inc(count)
        self.segment_items(segment).inc(count)
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


def segment_counter_name(segment: int) -> str:
    """Name of the per-segment item counter."""
    return f"items_segment_{segment}"


@dataclasses.dataclass(frozen=True)
class _ScanSettings:
    """How the scan DoFn reads; picklable, no credentials.

    ``units_per_second`` is this process's share of the job's read ceiling
    (None: no ceiling); ``scan_id`` lets the segments of one scan that run in
    the same process share one limiter.
    """

    client_config: DynamoDBClientConfig
    retry_policy: RetryPolicy
    with_segments: bool
    checkpoint_every_pages: int | None
    checkpoint_every_seconds: float | None
    units_per_second: float | None
    scan_id: str
    report_unread: bool = False


class _ScanSegmentsFn(TaggedOutputsDoFn):
    """Reads the pages of one segment restriction; see the module docstring."""

    def __init__(self, settings: _ScanSettings):
        self._settings = settings
        self._client = None
        self._metrics = None
        self._limiter = None

    def setup(self):
        settings = self._settings
        self._client = settings.client_config.create_client()
        self._metrics = _ScanMetrics()
        if settings.units_per_second:
            self._limiter = shared_limiter(settings.scan_id, settings.units_per_second)

    def teardown(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def _checkpoint_due(self, pages: int, started: float) -> bool:
        every_pages = self._settings.checkpoint_every_pages
        every_seconds = self._settings.checkpoint_every_seconds
        if every_pages and pages >= every_pages:
            return True
        return bool(every_seconds and time.monotonic() - started >= every_seconds)

    def process(
        self,
        scan: SegmentScan,
        tracker=beam.DoFn.RestrictionParam(_ScanRestrictionProvider()),
    ):
        request = scan.request
        restriction = tracker.current_restriction()
        if restriction.empty:
            return
        segment = restriction.segment
        reader = ScanPageReader(
            self._client,
            request,
            self._settings.retry_policy,
            self._settings.client_config.endpoint_url,
            limiter=self._limiter,
        )
        start_key = restriction.start_key
        started = time.monotonic()
        pages = 0
        while True:
            try:
                page = reader.read(segment, start_key)
            except SegmentReadFailed as error:
                if not self._settings.report_unread:
                    raise
                yield from self._give_up(tracker, request, segment, start_key, error)
                return
            position = ScanPagePosition(start_key, page.last_evaluated_key, len(page.items))
            if not tracker.try_claim(position):
                return
            self._metrics.record_page(segment, page)
            if self._settings.with_segments:
                total = request.total_segments
                for item in page.items:
                    yield SegmentItem(segment, total, item)
            else:
                yield from page.items
            end = page.last_evaluated_key
            if end is None or (restriction.end_key is not None and end == restriction.end_key):
                return
            start_key = end
            pages += 1
            if self._checkpoint_due(pages, started):
                self._metrics.checkpoints.inc()
                tracker.defer_remainder()
                return

    def _give_up(self, tracker, request, segment, start_key, error):
        """Claims the rest of the restriction and reports it as an :class:`UnreadSegment`."""
        end_key = tracker.current_restriction().end_key
        if not tracker.try_claim(ScanPagePosition(start_key, end_key, 0)):
            return  # checkpointed meanwhile: the residual is read again later
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
