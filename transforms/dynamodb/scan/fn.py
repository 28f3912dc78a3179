"""The splittable DoFn of the scan: one segment restriction, page after page.

Each page is fetched, claimed through the tracker with its
``LastEvaluatedKey`` and only then emitted, so a checkpoint resumes at the
next unread page. Metrics are grouped in one collector; the read ceiling is a
limiter shared by the segments running in one process. With a run journal,
the pages claimed in a bundle are recorded by the bundle finalizer
(:mod:`transforms.journal.commits`).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.progress_log import ProgressLog
from transforms.dynamodb.rate_limit import shared_limiter
from transforms.dynamodb.scan.errors import SegmentReadFailed, UnreadSegment
from transforms.dynamodb.scan.pages import RetryPolicy, ScanPageReader
from transforms.dynamodb.scan.request import ScanRequest, SegmentItem
from transforms.dynamodb.scan.restriction import (
    ScanPagePosition,
    ScanRestrictionCoder,
    SegmentRestrictionTracker,
    TableRestriction,
)
from transforms.dynamodb.wire import dumps_item
from transforms.journal.commits import BundleCommits
from transforms.journal.journal import JournalRef

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "dynamodb"
UNREAD_SEGMENTS = "unread_segments"


class _ScanRestrictionProvider(RestrictionProvider):
    """Restrictions of a :class:`ScanRequest`: one per segment."""

    def initial_restriction(self, request: ScanRequest) -> TableRestriction:
        return TableRestriction(
            request.total_segments, request.segments, request.estimated_items_per_segment
        )

    def create_tracker(self, restriction) -> SegmentRestrictionTracker:
        return SegmentRestrictionTracker(restriction)

    def split(self, request: ScanRequest, restriction):
        if isinstance(restriction, TableRestriction):
            for part in restriction.split():
                start_key = request.start_key(part.segment)
                yield part if start_key is None else part.with_keys(start_key, None)
        else:
            yield restriction

    def restriction_coder(self):
        return ScanRestrictionCoder()

    def restriction_size(self, request: ScanRequest, restriction) -> float:
        """Estimated bytes left; pure and thread safe."""
        per_segment = max(request.estimated_bytes_per_segment, 1.0)
        if isinstance(restriction, TableRestriction):
            return per_segment * len(restriction.segments)
        if restriction.empty:
            return 0.0
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
    journal: JournalRef | None = None


class _ScanSegmentsFn(beam.DoFn):
    """Reads the pages of one segment restriction; see the module docstring."""

    def __init__(self, settings: _ScanSettings):
        self._settings = settings
        self._client = None
        self._metrics = None
        self._limiter = None
        self._commits = None

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

    def start_bundle(self):
        self._commits = None

    def _commit_for(self, bundle_finalizer, segment: int, start_key):
        """This restriction's :class:`SegmentCommit`, or None without a journal."""
        if self._settings.journal is None:
            return None
        if self._commits is None:
            self._commits = BundleCommits(self._settings.journal)
            bundle_finalizer.register(self._commits.write)
        return self._commits.segment(segment, start_key)

    def _checkpoint_due(self, pages: int, started: float) -> bool:
        every_pages = self._settings.checkpoint_every_pages
        every_seconds = self._settings.checkpoint_every_seconds
        if every_pages and pages >= every_pages:
            return True
        return bool(every_seconds and time.monotonic() - started >= every_seconds)

    def process(
        self,
        request: ScanRequest,
        bundle_finalizer=beam.DoFn.BundleFinalizerParam,
        tracker=beam.DoFn.RestrictionParam(_ScanRestrictionProvider()),
    ):
        """``bundle_finalizer`` comes before ``tracker``, which Beam passes by keyword."""
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
        commit = self._commit_for(bundle_finalizer, segment, start_key)
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
            if commit is not None:
                self._commits.claimed(commit, len(page.items), page.last_evaluated_key)
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
        yield pvalue.TaggedOutput(
            UNREAD_SEGMENTS,
            UnreadSegment(segment, request.total_segments, start_key, f"{cause}"),
        )
