"""Lines of the run summary whose figures come from several steps."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.core import RestrictionProvider

from pipeline.summary import ReindexSummary, counter_totals
from tests.runners import IN_PROCESS
from transforms.dynamodb.source import SourceReport


def _summary(deleted: int, existing: int, removed: int) -> ReindexSummary:
    return ReindexSummary(
        source=SourceReport("catch-up", "records", 100, 50, deleted),
        table="works",
        index="x",
        dead_letters_path="unused",
        decoded=50 - removed,
        dead_lettered=removed,
        dead_lettered_by_stage={"decode": removed} if removed else {},
        indexed=50 - removed,
        deleted=deleted,
        deleted_existing=existing,
        index_count=None,
        elapsed_seconds=1.0,
        undecodable_removed=removed,
    )


def _deleted_line(summary: ReindexSummary) -> str:
    return next(line for line in summary.render().splitlines() if "deleted    " in line)


def test_the_deleted_line_counts_the_removals_of_undecodable_items_it_includes():
    assert _deleted_line(_summary(43, 40, 0)).endswith("43  (40 were in the index)")
    assert _deleted_line(_summary(43, 67, 30)).endswith(
        "43  (67 were in the index; 30 of the removals were of items that no longer decode)"
    )


class _RangeProvider(RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, element)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()


class _OneAtATime(beam.DoFn):
    """Counts each position of its range, and checkpoints after each: a bundle each."""

    def process(
        self,
        element,
        tracker=beam.DoFn.RestrictionParam(_RangeProvider()),
    ):
        position = tracker.current_restriction().start
        if tracker.try_claim(position):
            Metrics.counter("test", "positions").inc()
            tracker.defer_remainder()


def test_the_counters_of_thousands_of_bundles_are_read():
    """Beam's local runner nests its metrics once per bundle: 1,500 bundles pass
    Python's default recursion limit when they are read."""
    pipeline = beam.Pipeline(options=PipelineOptions(IN_PROCESS))
    _ = pipeline | beam.Create([1500]) | beam.ParDo(_OneAtATime())
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_totals(result)[("test", "positions")] == 1500


def test_documents_the_index_kept_at_their_version_are_said():
    """With --version-field a document the index holds at a newer or equal version counts
    as indexed but is not rewritten: the summary says how many."""
    summary = _summary(deleted=0, existing=0, removed=0)
    assert "kept as the index held them" not in summary.render()
    summary.version_conflicts = 7
    line = next(line for line in summary.render().splitlines() if "of which" in line)
    assert line == (
        "  of which                7  kept as the index held them: its version was newer or "
        "the same (--version-field)"
    )
