"""``ReadFromDynamoDB``: a parallel scan of a table as a splittable DoFn.

Example::

    items = p | ReadFromDynamoDB(table_name="works", total_segments=8,
                                 region_name="eu-west-1")

The initial restriction covers the chosen segments of the table and is split
into one restriction per segment. Inside a segment the DoFn reads page after
page (``ExclusiveStartKey = LastEvaluatedKey``), claims each page through the
tracker and only then emits its items, so a checkpoint – the runner's
``try_split(0)`` or a self-checkpoint every N pages or T seconds – resumes at
the next unread page. Memory holds one page per running segment.

Items are emitted exactly as DynamoDB returns them (wire format, binary as
``bytes``), or as :class:`SegmentItem` with ``with_segments=True`` so that
later stages can name the segment an item came from.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PortableOptions
from apache_beam.transforms.core import RestrictionProvider

from transforms.dynamodb_client import DynamoDBClientConfig
from transforms.rate_limit import process_share, shared_limiter
from transforms.scan_errors import SegmentReadFailed, UnreadSegment, explain
from transforms.scan_pages import RetryPolicy, ScanPageReader
from transforms.scan_request import ScanRequest
from transforms.scan_restriction import (
    ScanPagePosition,
    ScanRestrictionCoder,
    SegmentRestrictionTracker,
    TableRestriction,
    validate_segments,
)
from transforms.table_description import TableDescription, choose_total_segments
from transforms.wire import Item, dumps_item

__all__ = ["METRICS_NAMESPACE", "ReadFromDynamoDB", "SegmentItem", "describe_table"]

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "dynamodb"
PROGRESS_INTERVAL_SECONDS = 10.0
UNREAD_SEGMENTS = "unread_segments"

# Runners whose local, multi-worker bundle manager drops self-checkpoint
# residuals (measured with Beam 2.77): the scan must not defer work there.
_LOCAL_RUNNERS = {"DirectRunner", "SwitchingDirectRunner", "FnApiRunner", "TestDirectRunner"}


class SegmentItem(NamedTuple):
    """An item with the segment that produced it."""

    segment: int
    total_segments: int
    item: Item


def describe_table(client_config: DynamoDBClientConfig, table_name: str) -> TableDescription:
    """``DescribeTable`` with errors turned into one-line :class:`ScanError`s.

    Made before the pipeline starts, with few retries, so that a wrong
    endpoint or region is reported in seconds.
    """
    quick = dataclasses.replace(
        client_config, max_attempts=min(client_config.max_attempts, 3), connect_timeout=5.0
    )
    client = quick.create_client()
    try:
        return TableDescription.from_response(client.describe_table(TableName=table_name))
    except Exception as error:
        raise explain(error, table_name, client_config.endpoint_url) from error
    finally:
        client.close()


def build_scan_request(
    table_name: str,
    total_segments: int | None,
    segments: tuple[int, ...] | None,
    workers: int | None,
    description: TableDescription | None,
    client_config: DynamoDBClientConfig,
    request_options: Mapping[str, Any],
) -> ScanRequest:
    """The :class:`ScanRequest` of a scan; ``DescribeTable`` only if needed."""
    if total_segments is None:
        description = description or describe_table(client_config, table_name)
        choice = choose_total_segments(description.size_bytes, description.item_count, workers)
        total_segments = choice.total_segments
        _LOGGER.info("Scanning %s with %s", table_name, choice.reason)
    return ScanRequest(
        table_name=table_name,
        total_segments=total_segments,
        segments=segments,
        estimated_items=description.item_count if description else 0,
        estimated_bytes=description.size_bytes if description else 0,
        **request_options,
    )


def scan_options(
    page_size: int | None = None,
    consistent_read: bool = False,
    index_name: str | None = None,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    expression_attribute_names: Mapping[str, str] | None = None,
    expression_attribute_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The per-page Scan options of a :class:`ScanRequest`, normalised."""
    return {
        "page_size": page_size,
        "consistent_read": consistent_read,
        "index_name": index_name,
        "projection": tuple(projection) if projection is not None else None,
        "filter_expression": filter_expression,
        "expression_attribute_names": _as_pairs(expression_attribute_names),
        "expression_attribute_values": _as_pairs(expression_attribute_values),
    }


def residuals_are_honoured(pipeline: beam.Pipeline) -> bool:
    """False where the runner is known to drop self-checkpoint residuals."""
    options = pipeline.options
    workers = options.view_as(DirectOptions).direct_num_workers
    runner = type(pipeline.runner).__name__
    if runner in _LOCAL_RUNNERS:
        return workers == 1
    if runner == "PortableRunner":
        return options.view_as(PortableOptions).job_endpoint != "embed" or workers == 1
    return True


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
        self._items_since_log = 0
        self._last_log = time.monotonic()

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
        self._items_since_log += count
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_INTERVAL_SECONDS:
            _LOGGER.info(
                "scan progress: %d items in the last %.0f s (%.0f items/s) in this worker",
                self._items_since_log,
                now - self._last_log,
                self._items_since_log / (now - self._last_log),
            )
            self._items_since_log = 0
            self._last_log = now


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


class _ScanSegmentsFn(beam.DoFn):
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
        request: ScanRequest,
        tracker=beam.DoFn.RestrictionParam(_ScanRestrictionProvider()),
    ):
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
        yield pvalue.TaggedOutput(
            UNREAD_SEGMENTS,
            UnreadSegment(segment, request.total_segments, start_key, f"{cause}"),
        )


class ReadFromDynamoDB(beam.PTransform):
    """Reads every item of a table (or index) with a parallel scan.

    Args:
      table_name: the table to scan.
      total_segments: ``TotalSegments`` of the scan; ``None`` chooses a count
        from ``DescribeTable`` (see :func:`choose_total_segments`).
      page_size: the Scan ``Limit``; ``None`` lets DynamoDB fill 1 MB pages.
      endpoint_url, region_name: where DynamoDB is; credentials come from
        boto3's default chain on each worker.
      segments: scan only these segments (a sample or a partial reindex).
      consistent_read, index_name, projection, filter_expression,
      expression_attribute_names, expression_attribute_values: Scan options.
      checkpoint_every_pages, checkpoint_every_seconds: self-checkpoint
        interval; ignored (with a warning) on runners that drop residuals.
      with_segments: emit :class:`SegmentItem` instead of bare items.
      start_keys: ``{segment: ExclusiveStartKey}`` for segments that resume
        where an earlier scan stopped (see ``report_unread_segments``).
      report_unread_segments: when a segment cannot be read on (a transient
        fault outlasted the retries), claim its rest and report it as an
        :class:`~transforms.scan_errors.UnreadSegment` in the PCollection
        ``self.unread_segments`` (set when the transform is applied), so
        the job finishes with everything it did read; by default the job fails.
      workers: expected worker count, used only when choosing segments.
      max_read_units_per_second: the job's read-capacity ceiling, enforced
        from the ``ConsumedCapacity`` of each page.
      read_capacity_fraction: or a ceiling as a share of the table's
        provisioned read capacity (not for on-demand tables).
      reading_processes: how many processes read at once; the ceiling is
        divided among them. By default taken from the local runner's options,
        else the number of segments (never above the ceiling, possibly below).
      table_description: skip ``DescribeTable`` at construction by passing it.
    """

    def __init__(
        self,
        table_name: str,
        total_segments: int | None = None,
        page_size: int | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        *,
        segments: Sequence[int] | None = None,
        consistent_read: bool = False,
        index_name: str | None = None,
        projection: Sequence[str] | None = None,
        filter_expression: str | None = None,
        expression_attribute_names: Mapping[str, str] | None = None,
        expression_attribute_values: Mapping[str, Any] | None = None,
        checkpoint_every_pages: int | None = None,
        checkpoint_every_seconds: float | None = None,
        with_segments: bool = False,
        workers: int | None = None,
        max_read_units_per_second: float | None = None,
        read_capacity_fraction: float | None = None,
        reading_processes: int | None = None,
        table_description: TableDescription | None = None,
        client_config: DynamoDBClientConfig | None = None,
        retry_policy: RetryPolicy = RetryPolicy(),
        report_unread_segments: bool = False,
        start_keys: Mapping[int, Any] | None = None,
    ):
        super().__init__()
        self._report_unread = report_unread_segments
        self.unread_segments = None
        check_rate_options(max_read_units_per_second, read_capacity_fraction, reading_processes)
        if total_segments is not None:
            validate_segments(total_segments, tuple(segments) if segments is not None else None)
        if checkpoint_every_pages is not None and checkpoint_every_pages < 1:
            raise ValueError(
                f"checkpoint_every_pages must be at least 1, got {checkpoint_every_pages}"
            )
        if checkpoint_every_seconds is not None and checkpoint_every_seconds <= 0:
            raise ValueError(
                f"checkpoint_every_seconds must be positive, got {checkpoint_every_seconds}"
            )
        self._client_config = client_config or DynamoDBClientConfig(
            region_name=region_name, endpoint_url=endpoint_url
        )
        self._table_name = table_name
        self._total_segments = total_segments
        self._segments = tuple(segments) if segments is not None else None
        self._workers = workers
        self._description = table_description
        self._request_options = scan_options(
            page_size,
            consistent_read,
            index_name,
            projection,
            filter_expression,
            expression_attribute_names,
            expression_attribute_values,
        )
        self._checkpoint_every_pages = checkpoint_every_pages
        self._checkpoint_every_seconds = checkpoint_every_seconds
        self._with_segments = with_segments
        self._retry_policy = retry_policy
        self._reading_processes = reading_processes
        self._scan_id = uuid.uuid4().hex
        if read_capacity_fraction is not None:
            self._description = self._description or describe_table(self._client_config, table_name)
        self.max_read_units_per_second = job_read_ceiling(
            max_read_units_per_second, read_capacity_fraction, self._description
        )
        self.scan_request = self._build_request()
        if start_keys:
            resume = tuple(sorted((s, dumps_item(key)) for s, key in start_keys.items()))
            self.scan_request = dataclasses.replace(self.scan_request, start_keys=resume)

    def _build_request(self) -> ScanRequest:
        return build_scan_request(
            self._table_name,
            self._total_segments,
            self._segments,
            self._workers,
            self._description,
            self._client_config,
            self._request_options,
        )

    def expand(self, pbegin):
        request = self.scan_request
        every_pages, every_seconds = self._checkpoint_every_pages, self._checkpoint_every_seconds
        if (every_pages or every_seconds) and not residuals_are_honoured(pbegin.pipeline):
            _LOGGER.warning(
                "Self-checkpoints are off: this runner's multi-worker mode drops "
                "checkpoint residuals; runner-initiated checkpoints still apply"
            )
            every_pages = every_seconds = None
        units_per_second = None
        if self.max_read_units_per_second:
            processes = self._reading_processes or reading_processes(
                pbegin.pipeline, request.segment_count
            )
            units_per_second = process_share(self.max_read_units_per_second, processes)
            _LOGGER.info(
                "Read ceiling %.1f units/s, %.1f per reading process (%d processes)",
                self.max_read_units_per_second,
                units_per_second,
                processes,
            )
        scan_fn = _ScanSegmentsFn(
            _ScanSettings(
                self._client_config,
                self._retry_policy,
                self._with_segments,
                every_pages,
                every_seconds,
                units_per_second,
                self._scan_id,
                self._report_unread,
            )
        )
        scans = (
            pbegin
            | "ScanRequest" >> beam.Create([request])
            | "ScanSegments" >> beam.ParDo(scan_fn).with_outputs(UNREAD_SEGMENTS, main="items")
        )
        self.unread_segments = scans[UNREAD_SEGMENTS]
        return scans.items


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


def reading_processes(pipeline: beam.Pipeline, segment_count: int) -> int:
    """How many processes may read at once, for dividing the read ceiling.

    Local runners say it in their options; elsewhere no more processes than
    segments can read at once.
    """
    options = pipeline.options
    runner = type(pipeline.runner).__name__
    workers = options.view_as(DirectOptions).direct_num_workers
    local = runner in _LOCAL_RUNNERS or (
        runner == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed"
    )
    if local:
        workers = workers if workers else os.cpu_count() or 1
        return max(1, min(workers, segment_count))
    return max(1, segment_count)


def _as_pairs(mapping: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    return None if mapping is None else tuple(sorted(mapping.items()))
