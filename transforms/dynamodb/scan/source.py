"""``ReadFromDynamoDB``: a parallel scan of a table as a splittable DoFn.

Example::

    items = p | ReadFromDynamoDB(table_name="works", total_segments=8,
                                 region_name="eu-west-1")

Each chosen segment is one element (a :class:`SegmentScan`), spread over the
workers (:class:`~transforms.runners.distribute.Distribute`: ``Create`` and
``Reshuffle``, the shape of Beam Java's ``DynamoDBIO``), and read by a
splittable DoFn whose initial restriction is that segment's page range. The
parallelism and the correctness come from the elements, so runners that never
split an initial restriction (Beam's Dask runner) read the segments in
parallel too. Inside a segment the DoFn reads page after page
(``ExclusiveStartKey = LastEvaluatedKey``), claims each page through the
tracker and only then emits its items, so a checkpoint – the runner's
``try_split(0)`` or a self-checkpoint every N pages or T seconds, where the
runner is known to keep residuals – resumes at the next unread page. Memory
holds one page per running segment.

Items are emitted exactly as DynamoDB returns them (wire format, binary as
``bytes``), or as :class:`SegmentItem` with ``with_segments=True`` so that
later stages can name the segment an item came from. Per-segment figures
(items and read time, largest and slowest segments) are published in a
bounded number of metrics (:mod:`transforms.dynamodb.scan.segment_figures`).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import apache_beam as beam

from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.rate_limit import (
    check_rate_options,
    job_read_ceiling,
    read_share,
)
from transforms.dynamodb.scan.fn import (
    METRICS_NAMESPACE,
    SEGMENT_TOTALS,
    UNREAD_SEGMENTS,
    _ScanSegmentsFn,
    _ScanSettings,
)
from transforms.dynamodb.scan.pages import RetryPolicy
from transforms.dynamodb.scan.request import (
    ScanRequest,
    SegmentItem,
    SegmentScan,
    build_scan_request,
    scan_options,
)
from transforms.dynamodb.scan.restriction import validate_segments
from transforms.dynamodb.scan.segment_figures import SegmentFigures
from transforms.dynamodb.table_description import TableDescription, describe_table
from transforms.dynamodb.wire import dumps_item
from transforms.journal.journal import JournalRef
from transforms.runners.capabilities import (
    reading_processes,
    residuals_are_honoured,
    runner_capabilities,
)
from transforms.runners.distribute import Distribute
from transforms.runners.record_batches import Page, Unpage
from transforms.runners.tagged_outputs import par_do_with_outputs

__all__ = [
    "METRICS_NAMESPACE",
    "UNREAD_SEGMENTS",
    "ReadFromDynamoDB",
    "SegmentItem",
    "SegmentScan",
    "build_scan_request",
    "check_rate_options",
    "describe_table",
    "job_read_ceiling",
    "reading_processes",
    "residuals_are_honoured",
    "scan_options",
]

_LOGGER = logging.getLogger(__name__)


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
        interval; ignored (with a warning) unless the runner is known to keep
        residuals (see :mod:`transforms.runners.capabilities`).
      with_segments: emit :class:`SegmentItem` instead of bare items.
      start_keys: ``{segment: ExclusiveStartKey}`` for segments that resume
        where an earlier scan stopped (see ``report_unread_segments``).
      report_unread_segments: when a segment cannot be read on (a transient
        fault outlasted the retries), claim its rest and report it as an
        :class:`~transforms.dynamodb.scan.errors.UnreadSegment` in the PCollection
        ``self.unread_segments`` (set when the transform is applied), so
        the job finishes with everything it did read; by default the job fails.
      workers: expected worker count, used only when choosing segments.
      max_read_units_per_second: the job's read-capacity ceiling, enforced
        from the ``ConsumedCapacity`` of each page.
      read_capacity_fraction: or a ceiling as a share of the table's
        provisioned read capacity (not for on-demand tables).
      reading_processes: how many processes read at once; each gets this
        share of the ceiling, however many segments it reads. By default
        taken from the runner where it says (local runners: one process
        in-process and in multi-threading mode, ``direct_num_workers`` in
        multi-processing mode; the portable runner's LOOPBACK workers: one;
        the Dask runner: its scheduler's workers);
        elsewhere each segment being read gets ``ceiling / segments``, which
        never exceeds the ceiling and reaches it while every segment is read
        at once (see :mod:`transforms.dynamodb.rate_limit`).
      table_description: skip ``DescribeTable`` at construction by passing it.
      journal: a :class:`~transforms.journal.journal.JournalRef`: the pages
        each bundle claimed are recorded there once the runner has committed
        the bundle (see :mod:`transforms.journal`).
      decode_at_read: a :class:`~transforms.decode.wire_structs.DecodeAtRead`:
        items its struct decoder decodes come out as their ``KeyedRecord``
        instead of in wire format, for a ``DecodeItems`` of the same model
        to pass on; the rest stay wire items. Saves most of the CPU of
        parsing and decoding (see :mod:`transforms.decode.wire_structs`).
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
        journal: JournalRef | None = None,
        decode_at_read: DecodeAtRead | None = None,
    ):
        super().__init__()
        self._journal = journal
        self._decode_at_read = decode_at_read
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
        capabilities = runner_capabilities(pbegin.pipeline)
        every_pages, every_seconds = self._checkpoint_every_pages, self._checkpoint_every_seconds
        if (every_pages or every_seconds) and not capabilities.residuals:
            _LOGGER.warning(
                "Self-checkpoints are off: %s is not known to keep checkpoint residuals "
                "(with these options); each segment is read in one go, and "
                "runner-initiated checkpoints still apply",
                capabilities.runner,
            )
            every_pages = every_seconds = None
        share = None
        if self.max_read_units_per_second:
            processes = self._reading_processes or reading_processes(
                pbegin.pipeline, request.segment_count
            )
            share = read_share(self.max_read_units_per_second, processes, request.segment_count)
            if share.per_segment:
                _LOGGER.info(
                    "Read ceiling %.1f units/s, %.2f per segment being read (the runner does "
                    "not say how many processes read at once: pass reading_processes / "
                    "--reading-processes to share it per process)",
                    self.max_read_units_per_second,
                    share.units_per_second,
                )
            else:
                _LOGGER.info(
                    "Read ceiling %.1f units/s, %.1f per reading process (%d process(es))",
                    self.max_read_units_per_second,
                    share.units_per_second,
                    processes,
                )
        batches = capabilities.batches
        scan_fn = _ScanSegmentsFn(
            _ScanSettings(
                self._client_config,
                self._retry_policy,
                self._with_segments,
                every_pages,
                every_seconds,
                share,
                self._scan_id,
                self._report_unread,
                self._journal,
                self._decode_at_read,
                pages=batches,
            )
        )
        segments = pbegin | "Segments" >> Distribute(request.segment_scans(), into_splittable=True)
        with_figures = capabilities.metrics  # figures are metrics
        tags = (UNREAD_SEGMENTS, SEGMENT_TOTALS) if with_figures else (UNREAD_SEGMENTS,)
        main_type = Page if batches else None
        scans = par_do_with_outputs(
            segments, "ScanSegments", scan_fn, "items", *tags, main_type=main_type
        )
        if with_figures:
            _ = scans[SEGMENT_TOTALS] | "SegmentFigures" >> SegmentFigures()
        self.unread_segments = scans[UNREAD_SEGMENTS]
        if batches:  # the items of each page as one batch (see record_batches)
            return scans["items"] | "Items" >> beam.ParDo(Unpage())
        return scans["items"]
