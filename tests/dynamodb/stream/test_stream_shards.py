"""Shard listing and lineage against recorded ``DescribeStream`` responses.

Request shapes are checked with botocore's ``Stubber``: the pages are asked
for with ``ExclusiveStartShardId`` set to the previous ``LastEvaluatedShardId``.
"""

import itertools

import pytest
from botocore.stub import Stubber

from tests.stream_responses import (
    LEFT,
    MIDDLE,
    RIGHT,
    ROOT,
    STREAM_ARN,
    STREAM_CREATED,
    TRIMMED,
    split_pages,
    streams_client,
)
from transforms.dynamodb.stream.shards import (
    Shard,
    describe_stream,
    lineage_order,
    stream_from_pages,
)


def test_pages_are_followed_with_exclusive_start_shard_id():
    client = streams_client()
    first, second = split_pages()
    with Stubber(client) as stub:
        stub.add_response("describe_stream", first, {"StreamArn": STREAM_ARN, "Limit": 100})
        stub.add_response(
            "describe_stream",
            second,
            {"StreamArn": STREAM_ARN, "Limit": 100, "ExclusiveStartShardId": ROOT},
        )
        stream = describe_stream(client, STREAM_ARN)
        stub.assert_no_pending_responses()
    assert [shard.shard_id for shard in stream.shards] == [ROOT, MIDDLE, LEFT, RIGHT]
    assert stream.status == "ENABLED" and stream.view_type == "KEYS_ONLY"
    assert stream.created == STREAM_CREATED and stream.table == "works"


def test_a_repeated_last_evaluated_shard_id_is_an_error_not_a_loop():
    client = streams_client()
    first, _ = split_pages()
    with Stubber(client) as stub:
        stub.add_response("describe_stream", first)
        stub.add_response("describe_stream", first)
        with pytest.raises(RuntimeError, match=r"LastEvaluatedShardId .* twice"):
            describe_stream(client, STREAM_ARN)


def test_closed_and_open_shards():
    stream = stream_from_pages(split_pages())
    closed = {shard.shard_id: shard.closed for shard in stream.shards}
    assert closed == {ROOT: True, MIDDLE: True, LEFT: False, RIGHT: False}
    root = stream.shards[0]
    assert root.starting_sequence_number == "1100000000000000000001"
    assert root.ending_sequence_number == "1100000000000000000099"


def test_a_shard_whose_parent_was_trimmed_is_a_root():
    stream = stream_from_pages(split_pages())
    assert stream.trimmed_parents() == {ROOT: TRIMMED}
    assert [s.shard_id for s in stream.shards if stream.is_root(s)] == [ROOT]


def test_split_children_follow_their_parent_in_sequence_order():
    stream = stream_from_pages(split_pages())
    by_id = {shard.shard_id: shard for shard in stream.shards}
    assert by_id[LEFT].parent_shard_id == by_id[RIGHT].parent_shard_id == MIDDLE
    assert [s.shard_id for s in stream.shards][2:] == [LEFT, RIGHT]


def test_lineage_order_does_not_depend_on_the_listing_order():
    shards = list(stream_from_pages(split_pages()).shards)
    orders = {tuple(s.shard_id for s in lineage_order(p)) for p in itertools.permutations(shards)}
    assert orders == {(ROOT, MIDDLE, LEFT, RIGHT)}


def test_every_parent_comes_before_its_children_in_a_wider_tree():
    shards = [
        Shard("c", "b", "30"),
        Shard("e", "d", "50"),
        Shard("b", "a", "20", "29"),
        Shard("d", None, "40", "49"),
        Shard("f", "b", "31"),
        Shard("a", "gone", "10", "19"),
    ]
    ordered = [s.shard_id for s in lineage_order(shards)]
    for shard in shards:
        if shard.parent_shard_id in ordered:
            assert ordered.index(shard.parent_shard_id) < ordered.index(shard.shard_id)
    assert ordered == ["a", "b", "c", "f", "d", "e"]


def test_a_shard_listed_twice_is_kept_once_and_a_cycle_does_not_hang():
    assert [s.shard_id for s in lineage_order([Shard("a"), Shard("a", "x")])] == ["a"]
    cycle = [Shard("x", "y", "2"), Shard("y", "x", "1")]
    assert [s.shard_id for s in lineage_order(cycle)] == ["y", "x"]
