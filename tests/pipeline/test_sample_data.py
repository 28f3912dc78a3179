"""Tests of the sample data generator, the example model and table seeding.

Malformed items are checked against a small strict validator written here from
the model's type hints, independent of the generator: a good item has no
problem, a malformed one has exactly one, at its ``defect_field``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import types
import typing
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum

import pytest
from dataclasses_json import LetterCase

from pipeline.local.sample_data import (
    DEFECT_KINDS,
    MAX_PAYLOAD_BYTES,
    create_table,
    expected_records,
    generate_items,
    item_size,
    seed_table,
    work_to_item,
)
from pipeline.models import Work, WorkType, parse_datetime

_NULL = {"NULL": True}


# ------------------------------------------------ a strict reference check


def _type_problems(value: dict, type_: object, path: str) -> list[str]:
    """Paths in ``value`` (a wire-format value) that do not fit ``type_``."""
    args = typing.get_args(type_)
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        if value == _NULL:
            return []
        (type_,) = [a for a in args if a is not type(None)]
        return _type_problems(value, type_, path)
    ((tag, payload),) = value.items()
    if dataclasses.is_dataclass(type_):
        return _record_problems(payload, type_, path) if tag == "M" else [path]
    origin = typing.get_origin(type_)
    if origin is list:
        if tag != "L":
            return [path]
        return [
            problem
            for i, element in enumerate(payload)
            for problem in _type_problems(element, args[0], f"{path}[{i}]")
        ]
    if origin is set:
        ok = tag == "SS"
    elif type_ is str:
        ok = tag == "S"
    elif type_ is bool:
        ok = tag == "BOOL"
    elif type_ is int:
        ok = tag == "N" and Decimal(payload) == Decimal(payload).to_integral_value()
    elif type_ is Decimal:
        ok = tag == "N"
    elif type_ is bytes:
        ok = tag == "B"
    elif type_ is datetime:
        ok = tag == "S" and _parses_as_datetime(payload)
    elif isinstance(type_, type) and issubclass(type_, Enum):
        ok = tag == "S" and payload in {member.value for member in type_}
    else:
        raise AssertionError(f"no check for {type_!r}")
    return [] if ok else [path]


def _parses_as_datetime(text: str) -> bool:
    try:
        parse_datetime(text)
    except ValueError:
        return False
    return True


def _record_problems(attributes: dict, cls: type, path: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    problems = []
    for field in dataclasses.fields(cls):
        name = LetterCase.CAMEL(field.name)
        where = f"{path}.{name}" if path else name
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if name not in attributes:
            problems += [where] if required else []
        elif attributes[name] == _NULL and required:
            problems.append(where)
        else:
            problems += _type_problems(attributes[name], hints[field.name], where)
    return problems


def _scan_all(client, table_name: str) -> list[dict]:
    paginator = client.get_paginator("scan")
    return [item for page in paginator.paginate(TableName=table_name) for item in page["Items"]]


def _canonical(item: dict) -> dict:
    """String sets in sorted order: DynamoDB does not keep a set's order."""
    return {
        name: {"SS": sorted(value["SS"])} if "SS" in value else value
        for name, value in item.items()
    }


# ------------------------------------------------------------ the generator


def test_same_seed_gives_the_same_items():
    assert list(generate_items(300, seed=5)) == list(generate_items(300, seed=5))


def test_different_seeds_give_different_items():
    first = [s.item for s in generate_items(50, seed=1)]
    second = [s.item for s in generate_items(50, seed=2)]
    assert sum(a != b for a, b in zip(first, second, strict=True)) >= 45


def test_an_item_does_not_depend_on_count():
    assert list(generate_items(200, seed=3))[:120] == list(generate_items(120, seed=3))


def test_ids_are_unique_and_zero_padded_indexes():
    ids = [sample.id for sample in generate_items(1_000)]
    assert ids == [f"w{i:08d}" for i in range(1_000)]


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2])
def test_malformed_share_is_the_requested_fraction(fraction):
    count = 2_600
    samples = list(generate_items(count, malformed_fraction=fraction, seed=11))
    malformed = [s for s in samples if s.defect is not None]
    assert abs(len(malformed) - count * fraction) <= 1
    if len(malformed) >= len(DEFECT_KINDS):
        assert {s.defect for s in malformed} == set(DEFECT_KINDS)


def test_no_malformed_items_at_fraction_zero_and_only_malformed_at_one():
    assert all(s.defect is None for s in generate_items(500, malformed_fraction=0.0))
    assert all(s.defect is not None for s in generate_items(50, malformed_fraction=1.0))


def test_malformed_items_have_a_field_and_no_record_good_items_the_reverse():
    for sample in generate_items(600, malformed_fraction=0.1):
        if sample.defect is None:
            assert sample.defect_field is None and isinstance(sample.record, Work)
        else:
            assert sample.defect_field and sample.record is None


def test_items_vary_in_shape_and_size():
    samples = [s for s in generate_items(1_000) if s.defect is None]
    sizes = [item_size(s.item) for s in samples]
    assert max(sizes) > 3 * min(sizes)
    present = {name for s in samples for name in s.item}
    assert {"thumbnail", "languages", "price", "pageCount", "subtitle"} <= present
    assert any("contributors" not in s.item for s in samples)
    assert any(s.item.get("subtitle") == _NULL for s in samples)
    assert any(len(s.record.contributors) >= 3 for s in samples)
    assert {s.record.work_type for s in samples} == set(WorkType)


def test_numbers_are_canonical_as_dynamodb_returns_them():
    for sample in generate_items(500, malformed_fraction=0.0):
        if "price" in sample.item:
            text = sample.item["price"]["N"]
            assert not re.search(r"\.\d*0$|\.$", text), text


# ------------------------------------------------------- decoding the model


def test_good_items_decode_with_from_dict_to_their_record():
    samples = list(generate_items(800, malformed_fraction=0.05, seed=4))
    records = expected_records(samples)
    good = [s for s in samples if s.defect is None]
    assert set(records) == {s.id for s in good}
    for sample in good:
        assert records[sample.id] == sample.record


def test_decoded_values_have_the_model_types():
    records = expected_records(generate_items(400, malformed_fraction=0.0))
    for work in records.values():
        assert isinstance(work.work_type, WorkType)
        assert isinstance(work.modified_at, datetime)
        assert work.modified_at.tzinfo is not None
        assert work.price is None or isinstance(work.price, Decimal)
        assert work.page_count is None or type(work.page_count) is int
        assert work.thumbnail is None or type(work.thumbnail) is bytes
        assert isinstance(work.languages, set)
        for contributor in work.contributors:
            born = contributor.agent.born_year
            assert born is None or type(born) is int
        for event in work.production:
            assert all(type(period.year) is int for period in event.dates)


def test_good_items_are_what_work_to_item_writes_for_their_record():
    for sample in generate_items(300, malformed_fraction=0.0, seed=9):
        rewritten = work_to_item(sample.record)
        assert {k: v for k, v in sample.item.items() if v != _NULL} == {
            k: v for k, v in rewritten.items() if k in sample.item
        }


def test_records_round_trip_through_to_json():
    for sample in generate_items(300, malformed_fraction=0.0):
        assert Work.from_json(sample.record.to_json()) == sample.record


def test_work_json_is_stable_dates_iso_binary_base64_languages_sorted():
    work = Work(
        id="w1",
        title="Tides",
        work_type=WorkType.MAP,
        modified_at=datetime(2021, 3, 4, 12, 30, tzinfo=timezone.utc),
        languages={"lat", "eng", "fre"},
        thumbnail=b"\x89PNG\x00",
        price=Decimal("12.50"),
    )
    obj = work.to_dict(encode_json=True)
    assert obj["modifiedAt"] == "2021-03-04T12:30:00Z"
    assert obj["thumbnail"] == "iVBORwA="
    assert obj["languages"] == ["eng", "fre", "lat"]
    assert obj["price"] == "12.50"
    assert obj["workType"] == "map"
    assert Work.from_json(work.to_json()) == work


# ------------------------------------------------------------------ defects


def test_good_items_pass_the_strict_reference_check():
    for sample in generate_items(1_000, malformed_fraction=0.0, seed=2):
        assert _record_problems(sample.item, Work) == [], sample.id


def test_each_malformed_item_fails_strictly_exactly_at_its_field():
    samples = [s for s in generate_items(1_300, malformed_fraction=0.2, seed=6) if s.defect]
    assert {s.defect for s in samples} == set(DEFECT_KINDS)
    for sample in samples:
        assert _record_problems(sample.item, Work) == [sample.defect_field], sample


_FIELD_OF_KIND = {
    "title_not_string": r"title",
    "title_missing": r"title",
    "title_null": r"title",
    "modified_at_missing": r"modifiedAt",
    "modified_at_invalid": r"modifiedAt",
    "work_type_unknown": r"workType",
    "born_year_not_number": r"contributors\[\d+\]\.agent\.bornYear",
    "page_count_not_integer": r"pageCount",
    "year_not_number": r"production\[\d+\]\.dates\[\d+\]\.year",
    "subject_not_string": r"subjects\[\d+\]",
    "price_not_number": r"price",
    "identifier_missing_value": r"identifiers\[\d+\]\.value",
    "available_not_boolean": r"available",
}


def test_every_defect_kind_has_a_documented_field():
    assert set(_FIELD_OF_KIND) == set(DEFECT_KINDS)


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_defect_kind_is_reported_at_its_field(kind):
    samples = [s for s in generate_items(700, malformed_fraction=0.5, seed=8) if s.defect == kind]
    assert len(samples) >= 20
    for sample in samples:
        assert re.fullmatch(_FIELD_OF_KIND[kind], sample.defect_field), sample.defect_field


def test_nested_defects_land_at_varied_positions():
    fields = {
        s.defect_field
        for s in generate_items(3_000, malformed_fraction=0.5, seed=1)
        if s.defect in ("born_year_not_number", "year_not_number", "subject_not_string")
    }
    assert any(f.startswith("contributors[1]") for f in fields)
    assert any(re.match(r"production\[\d+\]\.dates\[[1-9]\]", f) for f in fields)
    assert any(re.match(r"subjects\[[1-9]\]", f) for f in fields)


def test_strict_decoder_detects_each_defect_at_its_field():
    """Uses the pipeline's own decoder; skipped only while that module is absent."""
    if importlib.util.find_spec("transforms.decode.decoder") is None:
        pytest.skip("transforms.decode.decoder does not exist yet")
    from transforms.decode.decoder import DecodeError, compile_decoder

    decode = compile_decoder(Work)
    samples = list(generate_items(1_300, malformed_fraction=0.2, seed=6))
    for sample in samples:
        if sample.defect is None:
            assert decode(sample.item) == sample.record
        else:
            with pytest.raises(DecodeError) as caught:
                decode(sample.item)
            assert caught.value.field == sample.defect_field, sample


# ------------------------------------------------------------------ sizes


def test_item_size_follows_dynamodb_rules():
    assert item_size({"id": {"S": "w1"}}) == 4
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"b": {"B": b"\x00" * 10}, "t": {"BOOL": True}}) == 11 + 2
    assert item_size({"s": {"S": "Zürich"}}) == 1 + 7
    assert item_size({"l": {"L": [{"S": "ab"}, {"NULL": True}]}}) == 1 + 3 + 3 + 2
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3


@pytest.mark.parametrize("payload_bytes", [5_000, 20_000, MAX_PAYLOAD_BYTES])
def test_payload_bytes_makes_items_exactly_that_large(payload_bytes):
    samples = list(generate_items(40, malformed_fraction=0.25, payload_bytes=payload_bytes))
    assert {item_size(s.item) for s in samples} == {payload_bytes}
    assert payload_bytes < 400 * 1024


def test_padded_good_items_still_decode_to_their_record():
    samples = list(generate_items(50, malformed_fraction=0.0, payload_bytes=20_000))
    records = expected_records(samples)
    for sample in samples:
        assert records[sample.id] == sample.record
        assert len(sample.record.notes[-1]) > 15_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 1, "malformed_fraction": 1.5},
        {"count": 1, "malformed_fraction": -0.1},
        {"count": 1, "payload_bytes": MAX_PAYLOAD_BYTES + 1},
        {"count": 10**8},
    ],
)
def test_invalid_arguments_raise_value_error_at_the_call(kwargs):
    with pytest.raises(ValueError):
        generate_items(**kwargs)


# ------------------------------------------------------------------ seeding


def _table_name() -> str:
    return f"sample-data-{uuid.uuid4().hex[:12]}"


def test_create_table_has_hash_key_id_and_on_demand_billing(dynamodb_client):
    name = _table_name()
    create_table(dynamodb_client, name)
    table = dynamodb_client.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_seeded_table_scans_back_exactly_the_generated_items(dynamodb_client):
    samples = list(generate_items(1_000, malformed_fraction=0.05, seed=21))
    name = _table_name()
    create_table(dynamodb_client, name)
    assert seed_table(dynamodb_client, name, (s.item for s in samples)) == 1_000
    scanned = {item["id"]["S"]: _canonical(item) for item in _scan_all(dynamodb_client, name)}
    assert scanned == {s.id: _canonical(s.item) for s in samples}


def test_seeded_large_items_scan_back_intact(dynamodb_client):
    samples = list(generate_items(60, payload_bytes=20_000, seed=3))
    near_limit = next(generate_items(1, payload_bytes=MAX_PAYLOAD_BYTES, seed=4)).item
    near_limit = {**near_limit, "id": {"S": "near-limit"}}
    name = _table_name()
    create_table(dynamodb_client, name)
    items = [s.item for s in samples] + [near_limit]
    assert seed_table(dynamodb_client, name, items, workers=1) == 61
    scanned = {item["id"]["S"]: _canonical(item) for item in _scan_all(dynamodb_client, name)}
    assert scanned == {item["id"]["S"]: _canonical(item) for item in items}


def test_seeding_the_same_items_twice_replaces_them(dynamodb_client):
    items = [s.item for s in generate_items(60, seed=5)]
    name = _table_name()
    create_table(dynamodb_client, name)
    seed_table(dynamodb_client, name, items)
    assert seed_table(dynamodb_client, name, items) == 60
    assert len(_scan_all(dynamodb_client, name)) == 60


class _FlakyBatchClient:
    """Leaves the last item of each request unprocessed for the first calls."""

    def __init__(self, failing_calls: int):
        self.failing_calls = failing_calls
        self.calls = 0
        self.request_sizes: list[int] = []
        self.stored: dict[str, dict] = {}

    def batch_write_item(self, RequestItems):
        ((table_name, requests),) = RequestItems.items()
        self.calls += 1
        self.request_sizes.append(len(requests))
        unprocessed = requests[-1:] if self.calls <= self.failing_calls else []
        for request in requests[: len(requests) - len(unprocessed)]:
            item = request["PutRequest"]["Item"]
            self.stored[item["id"]["S"]] = item
        return {"UnprocessedItems": {table_name: unprocessed} if unprocessed else {}}


@pytest.mark.parametrize("workers", [1, 3])
def test_seed_table_resends_unprocessed_items(workers):
    items = [s.item for s in generate_items(100)]
    client = _FlakyBatchClient(failing_calls=6)
    written = seed_table(client, "works", items, workers=workers, base_delay=0.0)
    assert written == 100
    assert client.stored == {item["id"]["S"]: item for item in items}
    assert max(client.request_sizes) == 25


def test_seed_table_sends_batches_of_the_requested_size():
    client = _FlakyBatchClient(failing_calls=0)
    seed_table(client, "works", [s.item for s in generate_items(23)], batch_size=10)
    assert client.request_sizes == [10, 10, 3]


def test_seed_table_gives_up_when_items_stay_unprocessed():
    client = _FlakyBatchClient(failing_calls=10**6)
    with pytest.raises(RuntimeError, match="1 of 25 items still unprocessed"):
        seed_table(
            client,
            "works",
            [s.item for s in generate_items(25)],
            workers=1,
            max_attempts=3,
            base_delay=0.0,
        )
    assert client.calls == 3


def test_seed_table_of_nothing_writes_nothing():
    client = _FlakyBatchClient(failing_calls=0)
    assert seed_table(client, "works", []) == 0
    assert client.calls == 0


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"batch_size": 26}, {"workers": 0}, {"max_attempts": 0}]
)
def test_seed_table_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        seed_table(_FlakyBatchClient(0), "works", [], **kwargs)
