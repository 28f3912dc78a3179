"""Per-segment figures in a bounded number of metrics, whatever the segment count.

A counter per segment would make a million metrics for a million segments;
the scan publishes two distributions and the largest and slowest few
segments instead, summed per segment across checkpoints.
"""

import collections
import random

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from tests.fault_proxy import FaultProxy
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.scan.reindex_source import _per_segment_lines
from transforms.dynamodb.scan.segment_figures import (
    SHOWN,
    SegmentSummary,
    SegmentTotal,
    _TopSegments,
    segment_figures,
)


@pytest.fixture(scope="module")
def table_300(dynamodb_client):
    items = [{"id": {"S": f"s{i:03d}"}, "v": {"N": str(i)}} for i in range(300)]
    return seeded_table(dynamodb_client, "figures", items)


def _true_counts(client, table, total):
    counts = {}
    for segment in range(total):
        pages = client.get_paginator("scan").paginate(
            TableName=table, Segment=segment, TotalSegments=total
        )
        counts[segment] = sum(page["Count"] for page in pages)
    return counts


def _scan(endpoint_url, table, **read):
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = pipeline | ReadFromDynamoDB(
        table, endpoint_url=endpoint_url, region_name="us-east-1", **read
    )
    result = pipeline.run()
    result.wait_until_finish()
    return result


@pytest.mark.parametrize(
    "total, read",
    [(64, {}), (4, {"page_size": 5, "checkpoint_every_pages": 1})],
    ids=["64 segments", "checkpointed after every page"],
)
def test_figures_are_bounded_and_exact_per_segment(
    dynamodb_server, dynamodb_client, table_300, total, read
):
    result = _scan(dynamodb_server.endpoint_url, table_300, total_segments=total, **read)
    metrics = result.metrics().query(MetricsFilter().with_namespace("dynamodb"))
    names = sorted(c.key.metric.name for c in metrics["counters"])
    per_segment = [name for name in names if "segment_" in name and name != "unread_segments"]
    assert len(per_segment) <= 2 * SHOWN, per_segment
    counts = _true_counts(dynamodb_client, table_300, total)
    figures = segment_figures(result)
    assert figures.segments == total
    assert figures.items_sum == 300
    assert (figures.items_min, figures.items_max) == (min(counts.values()), max(counts.values()))
    expected = sorted(counts.values(), reverse=True)[:SHOWN]
    assert [items for _, items in figures.largest] == expected
    assert all(counts[segment] == items for segment, items in figures.largest)
    assert 0 < len(figures.slowest) <= SHOWN
    assert figures.read_ms_max >= figures.slowest[0][1] >= figures.slowest[-1][1]


def test_a_checkpointed_segments_read_time_counts_every_part(dynamodb_server, table_300):
    """Each Scan answered 50 ms late, a checkpoint after every page: a segment's
    read time is at least 50 ms per page of it, not its last part's."""
    late = 0.05
    with FaultProxy(
        dynamodb_server.endpoint_url, {"slow": 1.0}, max_faults=None, slow_seconds=late
    ) as proxy:
        result = _scan(
            proxy.url, table_300, total_segments=3, page_size=40, checkpoint_every_pages=1
        )
    pages = collections.Counter(segment for segment, _ in proxy.scans)
    assert len(pages) == 3 and min(pages.values()) >= 2, pages
    figures = segment_figures(result)
    assert figures.segments == 3
    assert len(figures.slowest) == 3
    for segment, read_ms in figures.slowest:
        assert read_ms >= pages[segment] * late * 1000, (segment, read_ms, pages)
    assert figures.read_ms_min >= min(pages.values()) * late * 1000


def test_the_figures_take_one_shuffle():
    """The totals come from the restriction that reads a segment's last page, so
    only the top lists' combine groups anything; no per-segment sum."""
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = pipeline | ReadFromDynamoDB(
        "t", total_segments=4, endpoint_url="http://127.0.0.1:9", region_name="us-east-1"
    )
    transforms = pipeline.to_runner_api().components.transforms.values()
    shuffles = [t.unique_name for t in transforms if t.spec.urn == "beam:transform:group_by_key:v1"]
    assert len(shuffles) == 1, shuffles
    assert "SegmentFigures/Top" in shuffles[0]


def _summary(figures):
    """The scan's lines of a run with these per-segment ``figures``."""
    text = "\n".join(_per_segment_lines(figures))
    return text


def test_summary_shows_ranges_and_the_largest_and_slowest_segments():
    figures = SegmentSummary(
        segments=1000,
        items_min=80,
        items_max=130,
        items_sum=100_000,
        read_ms_min=400,
        read_ms_max=4100,
        read_ms_sum=1_200_000,
        largest=((3, 130), (7, 129)),
        slowest=((7, 4100), (3, 3900)),
    )
    text = _summary(figures)
    assert "per segment    1,000 segments: 80-130 items (mean 100), read in 0.4-4.1 s" in text
    assert "largest        3:130  7:129" in text
    assert "slowest        7:4.1 s  3:3.9 s" in text
    assert len(text.splitlines()) == 3


def test_top_segments_are_exact_and_bounded_whatever_the_merging():
    """Largest and slowest from any split of the per-segment totals into accumulators."""
    rng = random.Random(7)
    totals = [SegmentTotal(s, rng.randrange(50), rng.randrange(5000) / 1000) for s in range(2000)]
    combine = _TopSegments(SHOWN)
    accumulators = []
    for start in range(0, len(totals), 300):
        accumulator = combine.create_accumulator()
        for total in totals[start : start + 300]:
            accumulator = combine.add_input(accumulator, total)
            assert max(map(len, accumulator)) <= 4 * SHOWN + 1
        accumulators.append(accumulator)
    largest, slowest = combine.extract_output(combine.merge_accumulators(accumulators))

    def top(value):
        ranked = sorted(((value(t), t.segment) for t in totals), key=lambda e: (-e[0], e[1]))
        return ranked[:SHOWN]

    assert largest == top(lambda t: t.items)
    assert slowest == top(lambda t: round(t.seconds * 1000))
