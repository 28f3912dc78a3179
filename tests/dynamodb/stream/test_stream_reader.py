"""Reading shards with ``GetShardIterator``/``GetRecords``, request by request (``Stubber``).

Each test lays out the exact requests the reader must make, in order: the
iterator type and position per shard, parents before children, and where
the reading of each shard stops.
"""

from datetime import timedelta

import pytest
from botocore.stub import Stubber

from tests.stream_responses import (
    LEFT,
    MIDDLE,
    RIGHT,
    ROOT,
    STREAM_ARN,
    at,
    record,
    split_pages,
    streams_client,
)
from transforms.dynamodb.stream.bookmark import Bookmark, ShardPosition
from transforms.dynamodb.stream.errors import StreamGap
from transforms.dynamodb.stream.positions import ReadPlan, ShardRead, reads_after, reads_since
from transforms.dynamodb.stream.reader import read_changes
from transforms.dynamodb.stream.shards import Shard, stream_from_pages

OPEN = Shard("shardId-00000001764406800000-c3c3c3c3", None, "4400000000000000000001")


def seq(n: int, prefix: str = "44") -> str:
    return f"{prefix}{n:020d}"


def iterator(stub, shard_id, name, after=None):
    params = {"StreamArn": STREAM_ARN, "ShardId": shard_id}
    if after is None:
        params["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
    stub.add_response("get_shard_iterator", {"ShardIterator": name}, params)


def records(stub, name, found, following=None):
    response = {"Records": found}
    if following is not None:
        response["NextShardIterator"] = following
    stub.add_response("get_records", response, {"ShardIterator": name, "Limit": 1000})


def error(stub, operation, code):
    stub.add_client_error(operation, service_error_code=code, service_message=code)


def read(client, plan, **options):
    return read_changes(client, STREAM_ARN, plan, table="works", **options)


def test_shards_are_read_parents_first_each_to_its_end():
    stream = stream_from_pages(split_pages())
    last_of_middle = "2200000000000000000150"
    plan = reads_after(
        stream,
        Bookmark(
            "works",
            STREAM_ARN,
            at(-30),
            {
                ROOT: ShardPosition("1100000000000000000099", finished=True),
                MIDDLE: ShardPosition(last_of_middle),
            },
        ),
        at(0),
        table="works",
    )
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, MIDDLE, "m1", after=last_of_middle)
        records(stub, "m1", [record(seq(151, "22"), "w1", at(-20))], "m2")
        records(stub, "m2", [], "m3")  # a closed shard goes on past an empty page
        records(stub, "m3", [record(seq(188, "22"), "w2", at(-19))])  # its end: no iterator
        iterator(stub, LEFT, "l1")
        records(stub, "l1", [record(seq(200, "33"), "w1", at(-10))], "l2")
        records(stub, "l2", [record(seq(202, "33"), "w3", at(-9))], "l3")
        records(stub, "l3", [], "l4")  # an open shard stops at its first empty page
        iterator(stub, RIGHT, "r1")
        records(stub, "r1", [], "r2")
        changes = read(client, plan)
        stub.assert_no_pending_responses()
    assert changes.keys == [{"id": {"S": "w1"}}, {"id": {"S": "w2"}}, {"id": {"S": "w3"}}]
    assert changes.records_read == 4 and changes.records_before_start == 0
    assert changes.shards_read == 3
    assert changes.positions == {
        ROOT: ShardPosition("1100000000000000000099", finished=True),
        MIDDLE: ShardPosition(seq(188, "22"), finished=True),
        LEFT: ShardPosition(seq(202, "33"), finished=False),
        RIGHT: ShardPosition(None, finished=False),
    }


def test_records_before_the_start_move_the_position_but_are_not_applied():
    plan = ReadPlan((ShardRead(OPEN, skip_before=at(-5), required=False),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, OPEN.shard_id, "o1")
        records(
            stub,
            "o1",
            [
                record(seq(1), "old", at(-9)),
                record(seq(2), "w1", at(-5)),
                record(seq(3), "w2", at(-1)),
            ],
            "o2",
        )
        records(stub, "o2", [], "o3")
        changes = read(client, plan)
    assert changes.keys == [{"id": {"S": "w1"}}, {"id": {"S": "w2"}}]
    assert changes.records_read == 3 and changes.records_before_start == 1
    assert changes.positions == {OPEN.shard_id: ShardPosition(seq(3))}


def test_records_created_after_the_read_began_are_left_for_the_next_catch_up():
    closed = Shard(OPEN.shard_id, None, seq(1), seq(9))
    plan = ReadPlan((ShardRead(closed),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, closed.shard_id, "o1")
        records(stub, "o1", [record(seq(1), "w1", at(-2))], "o2")
        records(stub, "o2", [record(seq(2), "w2", at(-1)), record(seq(3), "w3", at(1))], "o3")
        changes = read(client, plan, stop_after=at(0))
        stub.assert_no_pending_responses()
    assert changes.keys == [{"id": {"S": "w1"}}, {"id": {"S": "w2"}}]
    assert changes.positions == {closed.shard_id: ShardPosition(seq(2), finished=False)}


def test_a_position_already_trimmed_is_a_gap():
    plan = ReadPlan((ShardRead(OPEN, after=seq(5)),), {})
    client = streams_client()
    with Stubber(client) as stub:
        error(stub, "get_shard_iterator", "TrimmedDataAccessException")
        with pytest.raises(StreamGap) as caught:
            read(client, plan)
    message = str(caught.value)
    assert f"shard {OPEN.shard_id} after sequence number {seq(5)} were trimmed" in message
    assert "reindex" in message


def test_records_trimmed_while_reading_are_a_gap():
    plan = ReadPlan((ShardRead(OPEN, after=seq(5)),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, OPEN.shard_id, "o1", after=seq(5))
        records(stub, "o1", [record(seq(6), "w1", at(-1))], "o2")
        error(stub, "get_records", "TrimmedDataAccessException")
        with pytest.raises(StreamGap, match=f"after sequence number {seq(6)} were trimmed"):
            read(client, plan)


def test_an_expired_iterator_is_fetched_again_from_the_position_reached():
    plan = ReadPlan((ShardRead(OPEN),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, OPEN.shard_id, "o1")
        records(stub, "o1", [record(seq(1), "w1", at(-1))], "o2")
        error(stub, "get_records", "ExpiredIteratorException")
        iterator(stub, OPEN.shard_id, "o3", after=seq(1))
        records(stub, "o3", [record(seq(2), "w2", at(-1))], "o4")
        records(stub, "o4", [], "o5")
        changes = read(client, plan)
        stub.assert_no_pending_responses()
    assert changes.keys == [{"id": {"S": "w1"}}, {"id": {"S": "w2"}}]


def test_a_shard_gone_before_it_is_read_is_a_gap_only_when_its_records_are_needed():
    client = streams_client()
    with Stubber(client) as stub:
        error(stub, "get_shard_iterator", "ResourceNotFoundException")
        with pytest.raises(StreamGap, match="left the stream before its records after"):
            read(client, ReadPlan((ShardRead(OPEN, after=seq(5)),), {}))
        error(stub, "get_shard_iterator", "ResourceNotFoundException")
        since = ReadPlan((ShardRead(OPEN, skip_before=at(-1), required=False),), {})
        changes = read(client, since)
    assert changes.positions == {} and changes.shards_read == 0


def test_skipping_uses_the_margin_given_by_the_plan():
    plan = ReadPlan((ShardRead(OPEN, skip_before=at(0) - timedelta(seconds=60)),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, OPEN.shard_id, "o1")
        records(
            stub,
            "o1",
            [record(seq(1), "w0", at(-1.5)), record(seq(2), "w1", at(-0.5))],
            "o2",
        )
        records(stub, "o2", [], "o3")
        changes = read(client, plan)
    assert changes.keys == [{"id": {"S": "w1"}}]


def test_since_a_start_time_the_split_stream_is_read_whole_parents_first():
    stream = stream_from_pages(split_pages())
    plan = reads_since(stream, at(-60), at(0), table="works")
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, ROOT, "a1")
        records(stub, "a1", [record(seq(50, "11"), "old", at(-200))])
        iterator(stub, MIDDLE, "b1")
        records(stub, "b1", [record(seq(120, "22"), "w1", at(-30))])
        iterator(stub, LEFT, "c1")
        records(stub, "c1", [], "c2")
        iterator(stub, RIGHT, "d1")
        records(stub, "d1", [record(seq(210, "33"), "w2", at(-5))], "d2")
        records(stub, "d2", [], "d3")
        changes = read(client, plan)
        stub.assert_no_pending_responses()
    assert changes.keys == [{"id": {"S": "w1"}}, {"id": {"S": "w2"}}]
    assert changes.records_before_start == 1
    assert changes.positions == {
        ROOT: ShardPosition(seq(50, "11"), finished=True),
        MIDDLE: ShardPosition(seq(120, "22"), finished=True),
        LEFT: ShardPosition(None),
        RIGHT: ShardPosition(seq(210, "33")),
    }


def test_keys_naming_one_item_in_two_number_texts_are_one_key():
    """A server that keeps number text as written gives ``1E+2`` and ``100`` for one
    item: one key to re-read, as they make one document id."""

    def numbered(sequence_number: str, number: str) -> dict:
        found = record(sequence_number, "unused", at(-1))
        found["dynamodb"]["Keys"] = {"n": {"N": number}, "s": {"S": "x"}}
        return found

    plan = ReadPlan((ShardRead(OPEN),), {})
    client = streams_client()
    with Stubber(client) as stub:
        iterator(stub, OPEN.shard_id, "o1")
        found = [numbered(seq(1), "1E+2"), numbered(seq(2), "100"), numbered(seq(3), "100.5")]
        records(stub, "o1", found, "o2")
        records(stub, "o2", [], "o3")
        changes = read(client, plan)
    assert changes.keys == [
        {"n": {"N": "1E+2"}, "s": {"S": "x"}},
        {"n": {"N": "100.5"}, "s": {"S": "x"}},
    ]
    assert changes.records_read == 3
