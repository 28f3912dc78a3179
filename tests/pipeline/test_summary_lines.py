"""Lines of the run summary whose figures come from several steps."""

from __future__ import annotations

from pipeline.summary import ReindexSummary
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
        "43  (67 were in the index, counting the 30 removals of items that no longer decode)"
    )
