"""Decoding at read: a scan that decodes its items as it parses each page gives
the same records and dead letters as one that leaves decoding to DecodeItems.

Checked on page bodies (every item either its KeyedRecord, equal to what the
exact decoder makes of botocore's item, or botocore's item itself; the rest of
the body parsed the same), on real pages of the local DynamoDB server, and
through the Beam transforms with malformed items and small pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import apache_beam as beam
import botocore.parsers
import botocore.session
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from dataclasses_json import dataclass_json

from pipeline.local.sample_data import generate_items
from pipeline.models import Work
from tests.dynamodb.scan.test_scan_wire import REGION, every_type_item
from tests.runners import IN_PROCESS
from tests.tables import seeded_table
from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.transform import DecodeItems
from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.page_parse import split_scan_body
from transforms.dynamodb.scan.range_end import RangeEnd
from transforms.dynamodb.scan.source import ReadFromDynamoDB
from transforms.dynamodb.wire import dumps_item, item_to_json, key_of

_SCAN = botocore.session.get_session().get_service_model("dynamodb").operation_model("Scan")
_PARSER = botocore.parsers.create_parser("json")


def botocore_response(body: bytes) -> dict:
    response = _PARSER.parse({"body": body, "headers": {}, "status_code": 200}, _SCAN.output_shape)
    response.pop("ResponseMetadata", None)
    return response


@dataclass_json
@dataclass
class _EveryType:
    """The attributes of ``every_type_item`` a model can name (not ``l``, ``m``)."""

    s: str
    n: Decimal
    b: bytes
    ss: set[str]
    ns: frozenset[int]
    bs: set[bytes]
    bool: bool
    B: str
    null: str | None = "absent"


def sample_items(count: int, malformed: float, seed: int) -> list[dict]:
    return [
        sample.item for sample in generate_items(count, malformed_fraction=malformed, seed=seed)
    ]


def check_page(body: bytes, decode_at_read: DecodeAtRead) -> tuple[int, int]:
    """Asserts the contract on one body; returns (records, wire items)."""
    split = split_scan_body(body, decode_at_read.decoder())
    want = botocore_response(body)
    assert split is not None
    items, rest = split
    assert botocore_response(rest) == {k: v for k, v in want.items() if k != "Items"}
    assert len(items) == len(want["Items"])
    decode = compile_decoder(decode_at_read.model)
    records = 0
    for got, item in zip(items, want["Items"], strict=True):
        if type(got) is KeyedRecord:
            records += 1
            assert got.key == key_of(item, decode_at_read.key_attributes)
            assert got.record == decode(item) and repr(got.record) == repr(decode(item))
        else:
            assert got == item
    return records, len(items) - records


def test_a_page_comes_as_records_and_botocore_items_for_the_rest():
    items = sample_items(300, malformed=0.3, seed=4)
    body = json.dumps(
        {
            "Items": [item_to_json(item) for item in items],
            "Count": len(items),
            "ScannedCount": len(items),
            "LastEvaluatedKey": {"id": {"S": "w9"}, "b": {"B": "AAE="}},
            "ConsumedCapacity": {"TableName": "works", "CapacityUnits": 12.5},
        }
    ).encode()
    records, wire = check_page(body, DecodeAtRead(Work, ("id",)))
    assert records > 150 and wire > 30


def _decodes(item: dict) -> bool:
    try:
        compile_decoder(Work)(item)
    except DecodeError:
        return False
    return True


def test_items_the_struct_decoder_steps_aside_from_are_the_refused_ones():
    items = sample_items(200, malformed=0.4, seed=8)
    body = json.dumps({"Items": [item_to_json(item) for item in items], "Count": 200}).encode()
    got, _ = split_scan_body(body, DecodeAtRead(Work, ("id",)).decoder())
    for element, item in zip(got, items, strict=True):
        assert (type(element) is KeyedRecord) == _decodes(item)


def test_a_model_without_a_struct_decoder_leaves_pages_as_they_are():
    from tests.decode.test_generated_decoder import Closed

    assert DecodeAtRead(Closed).decoder() is None


def test_a_page_with_null_is_left_to_botocore():
    body = b'{"Items": [{"id": {"S": "a"}, "x": null}], "Count": 1}'
    assert split_scan_body(body, DecodeAtRead(Work, ("id",)).decoder()) is None


@pytest.mark.parametrize("key", [("id", "S"), ("k", "B")], ids=["hash-S", "hash-B"])
def test_real_pages_of_every_type(dynamodb_server, dynamodb_client, key):
    name, kind = key
    make = (
        (lambda i: {"id": {"S": f"w{i}"}})
        if kind == "S"
        else (lambda i: {"k": {"B": bytes([i, 0])}})
    )
    items = [every_type_item(i, make(i)) for i in range(30)]
    table = seeded_table(dynamodb_client, "decode-at-read", items, hash_key=key)
    config = DynamoDBClientConfig(region_name=REGION, endpoint_url=dynamodb_server.endpoint_url)
    plain = DynamoDBClientConfig(
        region_name=REGION, endpoint_url=dynamodb_server.endpoint_url, fast_scan_parse=False
    )
    decode_at_read = DecodeAtRead(_EveryType, (name,))
    fast_client = config.create_client(decode_at_read.decoder())
    plain_client = plain.create_client()
    start, seen = None, 0
    while True:
        kwargs = {"TableName": table, "Limit": 7}
        if start:
            kwargs["ExclusiveStartKey"] = start
        fast, want = fast_client.scan(**kwargs), plain_client.scan(**kwargs)
        assert fast.get("LastEvaluatedKey") == want.get("LastEvaluatedKey")
        for got, item in zip(fast["Items"], want["Items"], strict=True):
            assert type(got) is KeyedRecord
            assert got.key == key_of(item, (name,))
            assert got.record == compile_decoder(_EveryType)(item)
        seen += len(fast["Items"])
        start = want.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == len(items)


def test_the_transforms_give_the_same_records_and_dead_letters(dynamodb_server, dynamodb_client):
    items = sample_items(240, malformed=0.25, seed=6)
    table = seeded_table(dynamodb_client, "decode-at-read-beam", items)
    expected_records, expected_letters = _expected(items)
    assert len(expected_letters) > 20
    for decode_at_read in (None, DecodeAtRead(Work, ("id",))):
        with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
            read = p | ReadFromDynamoDB(
                table,
                total_segments=3,
                page_size=17,
                endpoint_url=dynamodb_server.endpoint_url,
                region_name=REGION,
                with_segments=True,
                decode_at_read=decode_at_read,
            )
            decoded = read | DecodeItems(
                Work, table=table, key_attributes=("id",), items_carry_segment=True, with_keys=True
            )
            records = decoded.records | "Records" >> beam.Map(_record_line)
            letters = decoded.dead_letters | "Letters" >> beam.Map(_letter_line)
            assert_that(records, equal_to(expected_records), label="records")
            assert_that(letters, equal_to(expected_letters), label="letters")


def _record_line(keyed: KeyedRecord) -> tuple[str, str]:
    return dumps_item(keyed.key), keyed.record.to_json()


def _letter_line(letter: dict) -> tuple:
    return (
        letter["stage"],
        letter["table"] is not None,
        dumps_item(letter["key"]),
        dumps_item(letter["item"]),
        letter["error_type"],
        letter["field"],
        letter["error"],
        letter["model"],
        letter["segment"] in range(3) and letter["total_segments"] == 3,
    )


def _expected(items: list[dict]) -> tuple[list, list]:
    """The record and dead-letter lines DecodeItems makes of ``items``."""
    records, letters = [], []
    for item in items:
        key = key_of(item, ("id",))
        try:
            record = compile_decoder(Work)(item)
        except DecodeError as error:
            letters.append(
                (
                    "decode",
                    True,
                    dumps_item(key),
                    dumps_item(item),
                    error.error_type,
                    error.field,
                    error.message,
                    "pipeline.models:Work",
                    True,
                )
            )
            continue
        records.append((dumps_item(key), record.to_json()))
    return records, letters


def test_decode_items_refuses_records_of_another_model():
    keyed = KeyedRecord({"id": {"S": "a"}}, object())
    with pytest.raises(TypeError, match="decode_at_read"):
        with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
            _ = p | beam.Create([keyed]) | DecodeItems(Work, key_attributes=("id",))


def test_a_retried_range_ends_at_a_record_key():
    keyed = [KeyedRecord({"id": {"S": f"w{i}"}}, None) for i in range(5)]
    assert RangeEnd({"id": {"S": "w2"}}, {"id": {"S": "w3"}}).cut(keyed) == 3
    assert RangeEnd({"id": {"S": "gone"}}, {"id": {"S": "w3"}}).cut(keyed) == 3
    assert RangeEnd.key_after(keyed[1:2], None, {"id": {"S": "w0"}}) == {"id": {"S": "w1"}}
    assert RangeEnd.key_after([], None, {"id": {"S": "w0"}}) is None
