"""Where each shard is read from, and the gaps refused, on the recorded split stream."""

import dataclasses
from datetime import timedelta

import pytest

from tests.stream_responses import (
    LEFT,
    MIDDLE,
    RIGHT,
    ROOT,
    STREAM_ARN,
    STREAM_CREATED,
    TRIMMED,
    at,
    split_pages,
)
from transforms.dynamodb.stream.bookmark import Bookmark, ShardPosition
from transforms.dynamodb.stream.errors import NoStream, StreamGap
from transforms.dynamodb.stream.positions import reads_after, reads_since
from transforms.dynamodb.stream.shards import stream_from_pages

MARGIN = timedelta(seconds=60)
NOW = at(0)


@pytest.fixture
def stream():
    return stream_from_pages(split_pages())


def plan_since(stream, start, now=NOW):
    return reads_since(stream, start, now, table="works", safety_margin=MARGIN)


def plan_after(stream, bookmark, now=NOW):
    return reads_after(stream, bookmark, now, table="works", safety_margin=MARGIN)


def bookmark(read_at=at(-60), arn=STREAM_ARN, **shards):
    return Bookmark("works", arn, read_at, shards)


def where(plan):
    return [(r.shard.shard_id, r.after) for r in plan.reads]


def test_since_a_start_time_every_shard_is_read_whole_parents_first(stream):
    plan = plan_since(stream, at(-120))
    assert where(plan) == [(ROOT, None), (MIDDLE, None), (LEFT, None), (RIGHT, None)]
    assert {r.skip_before for r in plan.reads} == {at(-121)}
    assert not any(r.required for r in plan.reads) and plan.carried == {}


def test_a_start_time_beyond_the_24_hour_retention_is_a_gap(stream):
    with pytest.raises(StreamGap, match="older than the stream's 24-hour retention") as caught:
        plan_since(stream, at(-24 * 60 - 5))
    assert "reindex" in str(caught.value)
    with pytest.raises(StreamGap):  # within 24 h, but not with the margin
        plan_since(stream, at(-24 * 60 + 0.5))
    plan_since(stream, at(-24 * 60 + 1.5))


def test_a_stream_enabled_after_the_start_time_is_a_gap(stream):
    late = dataclasses.replace(stream, created=at(-30))
    with pytest.raises(StreamGap, match="its stream was enabled at 2026-11-29T11:30:00"):
        plan_since(late, at(-31))
    assert plan_since(late, at(-28)).reads
    assert STREAM_CREATED < at(-24 * 60 + 2)  # the recorded stream predates the starts above


def test_a_disabled_stream_is_no_stream(stream):
    for plan in (lambda s: plan_since(s, at(-5)), lambda s: plan_after(s, bookmark())):
        with pytest.raises(NoStream, match=r"stream is disabled.*update-table --table-name works"):
            plan(dataclasses.replace(stream, status="DISABLED"))


def test_after_a_bookmark_each_shard_resumes_and_new_children_are_read_whole(stream):
    plan = plan_after(
        stream,
        bookmark(
            **{
                ROOT: ShardPosition("1100000000000000000099", finished=True),
                MIDDLE: ShardPosition("2200000000000000000150"),
            }
        ),
    )
    assert where(plan) == [(MIDDLE, "2200000000000000000150"), (LEFT, None), (RIGHT, None)]
    assert all(r.required and r.skip_before is None for r in plan.reads)
    assert plan.carried == {ROOT: ShardPosition("1100000000000000000099", True)}


def test_a_finished_shard_that_was_trimmed_is_dropped_and_its_child_read(stream):
    plan = plan_after(
        stream,
        bookmark(**{TRIMMED: ShardPosition("0900000000000000000500", finished=True)}),
    )
    assert where(plan) == [(ROOT, None), (MIDDLE, None), (LEFT, None), (RIGHT, None)]
    assert plan.carried == {}


def test_another_stream_arn_is_a_gap(stream):
    other = STREAM_ARN.replace("2026-11-28T09:00:00.000", "2026-11-01T00:00:00.000")
    with pytest.raises(StreamGap) as caught:
        plan_after(stream, bookmark(arn=other, **{ROOT: ShardPosition("1100000000000000000010")}))
    message = str(caught.value)
    assert other in message and STREAM_ARN in message and "enabled again" in message


def test_an_unfinished_shard_gone_from_the_stream_is_a_gap(stream):
    with pytest.raises(StreamGap, match=f"shard {TRIMMED}, which the bookmark had read up to"):
        plan_after(stream, bookmark(**{TRIMMED: ShardPosition("0900000000000000000400")}))


def test_a_new_shard_of_unknown_lineage_is_a_gap(stream):
    with pytest.raises(StreamGap, match=f"shard {ROOT} is newer than the bookmark"):
        plan_after(
            stream,
            bookmark(**{"shardId-00000001700000000000-99999999": ShardPosition("1", True)}),
        )


def test_an_empty_shard_in_a_bookmark_older_than_the_retention_is_a_gap(stream):
    positions = {
        ROOT: ShardPosition("1100000000000000000099", True),
        MIDDLE: ShardPosition("2200000000000000000188", True),
        LEFT: ShardPosition(None),
        RIGHT: ShardPosition("3300000000000000000230"),
    }
    recent = plan_after(stream, bookmark(read_at=at(-60), **positions))
    assert where(recent) == [(LEFT, None), (RIGHT, "3300000000000000000230")]
    with pytest.raises(StreamGap, match=f"shard {LEFT} was empty when the bookmark was written"):
        plan_after(stream, bookmark(read_at=at(-24 * 60), **positions))
