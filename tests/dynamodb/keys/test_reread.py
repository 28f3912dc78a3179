"""Strongly consistent re-reads of changed keys: batching, retries, gone keys."""

import pytest
from botocore.stub import Stubber

from tests.stream_responses import dynamodb_client
from tests.tables import create_table, unique_name
from transforms.dynamodb.keys.reread import Reread, RereadIncomplete, reread_keys


def key(n):
    return {"id": {"S": f"w{n:03d}"}}


def item(n, title="t"):
    return {**key(n), "title": {"S": title}}


def request(keys):
    return {"RequestItems": {"works": {"Keys": keys, "ConsistentRead": True}}}


def answer(items, unprocessed=None):
    response = {"Responses": {"works": items}, "UnprocessedKeys": {}}
    if unprocessed:
        response["UnprocessedKeys"] = {"works": {"Keys": unprocessed, "ConsistentRead": True}}
    return response


def test_keys_go_100_to_a_consistent_batch_get_and_absent_ones_are_gone():
    client = dynamodb_client()
    keys = [key(n) for n in range(150)]
    present = [item(n) for n in range(150) if n % 3]
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", answer(present[:66]), request(keys[:100]))
        stub.add_response("batch_get_item", answer(present[66:]), request(keys[100:]))
        results = list(reread_keys(client, "works", keys, key_attributes=("id",)))
        stub.assert_no_pending_responses()
    assert [r.key for r in results] == keys
    assert [r.item for r in results] == [item(n) if n % 3 else None for n in range(150)]


def test_unprocessed_keys_are_sent_again_after_a_growing_backoff():
    client = dynamodb_client()
    keys = [key(n) for n in range(4)]
    delays = []
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", answer([item(0)], keys[1:]), request(keys))
        stub.add_response("batch_get_item", answer([item(1)], keys[2:]), request(keys[1:]))
        stub.add_response("batch_get_item", answer([item(3)]), request(keys[2:]))
        results = list(
            reread_keys(client, "works", keys, key_attributes=("id",), sleep=delays.append)
        )
        stub.assert_no_pending_responses()
    assert results == [
        Reread(key(0), item(0)),
        Reread(key(1), item(1)),
        Reread(key(2), None),
        Reread(key(3), item(3)),
    ]
    assert len(delays) == 2 and 0 <= delays[0] <= 0.05 and 0 <= delays[1] <= 0.1


def test_keys_still_unprocessed_after_every_attempt_raise():
    client = dynamodb_client()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("batch_get_item", answer([], [key(1)]))
        with pytest.raises(RereadIncomplete, match=r"1 of 1 keys .* after 3 BatchGetItem"):
            list(
                reread_keys(
                    client,
                    "works",
                    [key(1)],
                    key_attributes=("id",),
                    max_attempts=3,
                    sleep=lambda _: None,
                )
            )


def test_keys_naming_one_item_are_read_once():
    client = dynamodb_client()
    one, same = {"n": {"N": "1"}}, {"n": {"N": "1.0"}}
    with Stubber(client) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {"nums": [{"n": {"N": "1"}, "x": {"S": "a"}}]}},
            {"RequestItems": {"nums": {"Keys": [one], "ConsistentRead": True}}},
        )
        results = list(reread_keys(client, "nums", [one, same], key_attributes=("n",)))
    assert results == [Reread(one, {"n": {"N": "1"}, "x": {"S": "a"}})]


def test_a_composite_key_is_matched_whole_on_the_local_server(dynamodb_client):
    name = create_table(dynamodb_client, unique_name("reread"), ("pk", "S"), range_key=("sk", "N"))
    for sk in (1, 2):
        dynamodb_client.put_item(
            TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": str(sk)}, "v": {"S": f"v{sk}"}}
        )
    keys = [{"pk": {"S": "a"}, "sk": {"N": str(sk)}} for sk in (2, 3, 1)]
    results = list(reread_keys(dynamodb_client, name, keys, key_attributes=("pk", "sk")))
    assert [(r.key["sk"]["N"], r.item and r.item["v"]["S"]) for r in results] == [
        ("2", "v2"),
        ("3", None),
        ("1", "v1"),
    ]
