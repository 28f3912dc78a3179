"""Per-segment figures of a scan in a bounded number of metrics.

A Beam counter per segment would make as many metrics as segments – up to a
million – more than runners accept or show. Instead, in namespace
``dynamodb``:

* the scan DoFn updates the Distributions ``segment_items`` and
  ``segment_read_ms`` (count, sum, min and max over the segments read:
  items, and milliseconds spent reading them, throttling and rate-limit
  waits included) when it reads a segment's last page, with the segment's
  totals: a checkpointed segment's residuals carry the items and seconds of
  the parts before them (``SegmentRestriction.items_before`` and
  ``seconds_before``), so nothing is summed per segment after the read;
* it also emits the totals as a :class:`SegmentTotal`, and
  :class:`SegmentFigures` publishes the ``shown`` largest and slowest
  segments as counters ``largest_segment_<segment>`` (items) and
  ``slowest_segment_<segment>`` (milliseconds): ``2 * shown`` counters
  whatever the segment count.

Both top lists come from one combine without a default value (a combine
with one, such as ``Top.Of``, adds stages that compute and join it; on the
local engine every stage costs a bundle per worker), the only shuffle the
figures take.

:func:`segment_figures` reads them back from a pipeline result.
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

__all__ = [
    "SHOWN",
    "SegmentDistributions",
    "SegmentFigures",
    "SegmentSummary",
    "SegmentTotal",
    "segment_figures",
]

NAMESPACE = "dynamodb"
SHOWN = 5
_LARGEST = "largest_segment_"
_SLOWEST = "slowest_segment_"
_TOP_COUNTER = re.compile(rf"({_LARGEST}|{_SLOWEST})(\d+)$")


class SegmentTotal(NamedTuple):
    """What a whole read of ``segment`` gave: ``items``, in ``seconds``."""

    segment: int
    items: int
    seconds: float


class SegmentDistributions:
    """The two Distributions, updated once per segment read to its end."""

    def __init__(self):
        self._items = Metrics.distribution(NAMESPACE, "segment_items")
        self._read_ms = Metrics.distribution(NAMESPACE, "segment_read_ms")

    def update(self, total: SegmentTotal) -> None:
        self._items.update(total.items)
        self._read_ms.update(round(total.seconds * 1000))


class _TopSegments(beam.CombineFn):
    """The ``shown`` largest and slowest segments of :class:`SegmentTotal` s: two
    lists of ``(value, segment)``, largest first (ties: lower segment)."""

    def __init__(self, shown: int):
        self._shown = shown

    def _top(self, entries: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        return heapq.nlargest(self._shown, entries, key=lambda entry: (entry[0], -entry[1]))

    def create_accumulator(self) -> tuple[list, list]:
        return [], []

    def add_input(self, top, total: SegmentTotal):
        segment, items, seconds = total
        largest, slowest = top
        largest.append((items, segment))
        slowest.append((round(seconds * 1000), segment))
        if len(largest) > 4 * self._shown:
            return self._top(largest), self._top(slowest)
        return top

    def merge_accumulators(self, tops):
        tops = list(tops)
        return (
            self._top(entry for largest, _ in tops for entry in largest),
            self._top(entry for _, slowest in tops for entry in slowest),
        )

    def extract_output(self, top):
        largest, slowest = top
        return self._top(largest), self._top(slowest)


def _publish_top(top: tuple[list[tuple[int, int]], list[tuple[int, int]]]) -> Iterator[None]:
    largest, slowest = top
    for prefix, entries in ((_LARGEST, largest), (_SLOWEST, slowest)):
        for value, segment in entries:
            Metrics.counter(NAMESPACE, f"{prefix}{segment}").inc(value)
    return iter(())


class SegmentFigures(beam.PTransform):
    """Publishes the top lists of a PCollection of :class:`SegmentTotal` (see the module)."""

    def __init__(self, shown: int = SHOWN):
        super().__init__()
        self._shown = shown

    def expand(self, totals: beam.PCollection) -> beam.pvalue.PDone:
        _ = (
            totals
            | "Top" >> beam.CombineGlobally(_TopSegments(self._shown)).without_defaults()
            | "PublishTop" >> beam.FlatMap(_publish_top)
        )
        return beam.pvalue.PDone(totals.pipeline)


@dataclasses.dataclass(frozen=True)
class SegmentSummary:
    """The published figures: segments counted, item and read-time ranges, the top lists."""

    segments: int = 0
    items_min: int = 0
    items_max: int = 0
    items_sum: int = 0
    read_ms_min: int = 0
    read_ms_max: int = 0
    read_ms_sum: int = 0
    largest: tuple[tuple[int, int], ...] = ()
    """``(segment, items)``, largest first."""
    slowest: tuple[tuple[int, int], ...] = ()
    """``(segment, milliseconds)``, slowest first."""


def _committed(result):
    return result.committed if result.committed is not None else result.attempted


def segment_figures(result) -> SegmentSummary:
    """The figures :class:`SegmentFigures` published in a finished pipeline's metrics."""
    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    distributions = {}
    for found in metrics["distributions"]:
        value = _committed(found)
        if value is not None and value.count:
            distributions[found.key.metric.name] = value
    top: dict[str, dict[int, int]] = {_LARGEST: {}, _SLOWEST: {}}
    for found in metrics["counters"]:
        match = _TOP_COUNTER.match(found.key.metric.name)
        if match:
            table = top[match.group(1)]
            segment = int(match.group(2))
            table[segment] = table.get(segment, 0) + (_committed(found) or 0)
    items, read_ms = distributions.get("segment_items"), distributions.get("segment_read_ms")
    if items is None:
        return SegmentSummary()
    return SegmentSummary(
        segments=items.count,
        items_min=items.min,
        items_max=items.max,
        items_sum=items.sum,
        read_ms_min=read_ms.min if read_ms else 0,
        read_ms_max=read_ms.max if read_ms else 0,
        read_ms_sum=read_ms.sum if read_ms else 0,
        largest=tuple(sorted(top[_LARGEST].items(), key=lambda kv: (-kv[1], kv[0]))),
        slowest=tuple(sorted(top[_SLOWEST].items(), key=lambda kv: (-kv[1], kv[0]))),
    )
