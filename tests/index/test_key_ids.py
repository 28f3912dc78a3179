"""Document ids from the key attributes' wire values: every decodable key type indexes.

A model may hold its key in a ``UUID``, an ``Enum``, a ``datetime``, ``bytes``...;
the id is made from the item's raw key, the same id a ``str`` or number field
gives, so existing indexes keep their ids. Index-stage dead letters count
towards ``--max-dead-letter-fraction`` like decode ones.
"""

import base64
import uuid
from dataclasses import dataclass
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from dataclasses_json import dataclass_json
from hypothesis import given
from hypothesis import strategies as st

from tests.key_type_models import BytesKeyed, DatetimeKeyed, EnumKeyed, UuidKeyed
from tests.reindex_runs import cli, dead_letters, index_rows, reindex_args, summary_count
from tests.runners import reindex_counters, run_pipeline
from tests.tables import seeded_table
from transforms import DecodeItems, WriteToIndex
from transforms.decode.decoder import compile_decoder
from transforms.index import document_id, key_document_id


@dataclass_json
@dataclass
class StrKey:
    id: str


@dataclass_json
@dataclass
class IntKey:
    id: int


@dataclass_json
@dataclass
class DecimalKey:
    id: Decimal


_NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(lambda n: f"{n}.000"),
    st.integers(min_value=1, max_value=999).map(lambda n: f"{n}e2"),
)
_DECIMAL_TEXT = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30, places=8
).map(str)


@given(st.text())
def test_s_keys_keep_the_ids_a_str_field_gives(text):
    item = {"id": {"S": text}}
    record = compile_decoder(StrKey)(item)
    assert key_document_id(item, ("id",)) == document_id([record.id]) == text


@given(_NUMBER_TEXT)
def test_n_keys_keep_the_ids_an_int_field_gives(text):
    item = {"id": {"N": text}}
    record = compile_decoder(IntKey)(item)
    assert key_document_id(item, ("id",)) == document_id([record.id])


@given(_DECIMAL_TEXT)
def test_n_keys_keep_the_ids_a_decimal_field_gives(text):
    item = {"id": {"N": text}}
    record = compile_decoder(DecimalKey)(item)
    assert key_document_id(item, ("id",)) == document_id([record.id])


def test_composite_wire_key_id_matches_the_values():
    key = {"pk": {"S": "w1"}, "sk": {"N": "2.0"}}
    assert key_document_id(key, ("pk", "sk")) == document_id(["w1", 2]) == '["w1",2]'


_UUIDS = [uuid.UUID(int=n * 7919 + 1) for n in range(5)]
_CASES = {
    "uuid": (UuidKeyed, [{"S": str(u)} for u in _UUIDS], [str(u) for u in _UUIDS]),
    "enum": (EnumKeyed, [{"S": v} for v in ("fiction", "poetry")], ["fiction", "poetry"]),
    "datetime": (
        DatetimeKeyed,
        [{"S": "2026-11-28T12:00:00+00:00"}, {"N": "1700000000"}],
        ["2026-11-28T12:00:00+00:00", "1700000000"],
    ),
    "bytes": (
        BytesKeyed,
        [{"B": b"\x00\x01"}, {"B": b"\xff"}],
        ["b64:" + base64.b64encode(b).decode() for b in (b"\x00\x01", b"\xff")],
    ),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_every_decodable_key_type_indexes_under_its_wire_id(tmp_path, case):
    model, keys, ids = _CASES[case]
    items = [{"id": key, "title": {"S": f"title {n}"}} for n, key in enumerate(keys)]
    path = tmp_path / "index.db"

    def build(p):
        decoded = (
            p | beam.Create(items) | DecodeItems(model, key_attributes=("id",), with_keys=True)
        )
        written = decoded.records | WriteToIndex(f"sqlite:///{path}", key_attributes=("id",))
        assert_that(written.indexed, equal_to(ids), label="Ids")
        assert_that(written.dead_letters, equal_to([]), label="NoDeadLetters")

    result = run_pipeline(build)
    assert sorted(index_rows(path)) == sorted(ids)
    assert reindex_counters(result)["indexed"] == len(ids)


@pytest.fixture(scope="module")
def uuid_table(dynamodb_client):
    keys = [uuid.UUID(int=n * 104729 + 3) for n in range(40)]
    items = [{"id": {"S": str(k)}, "title": {"S": f"book {n}"}} for n, k in enumerate(keys)]
    return seeded_table(dynamodb_client, "uuidkeys", items), {str(k) for k in keys}


def test_cli_indexes_a_uuid_keyed_table(dynamodb_server, uuid_table, tmp_path):
    table, ids = uuid_table
    done = cli(
        *reindex_args(
            dynamodb_server.endpoint_url, table, tmp_path, model="tests.key_type_models:UuidKeyed"
        ),
        "--max-dead-letter-fraction",
        "0.05",
        "--runner=FnApiRunner",
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert set(index_rows(tmp_path / "index.db")) == ids
    assert summary_count(done.stdout, "indexed") == 40
    assert dead_letters(tmp_path / "dead") == []


@pytest.fixture(scope="module")
def poisoned_table(dynamodb_client):
    items = [
        {"id": {"S": f"p{n:02d}"}, "title": {"S": ("poison " if n % 10 == 0 else "") + str(n)}}
        for n in range(40)
    ]
    return seeded_table(dynamodb_client, "poison", items)


def test_cli_index_dead_letters_count_towards_the_threshold(
    dynamodb_server, poisoned_table, tmp_path
):
    done = cli(
        *reindex_args(
            dynamodb_server.endpoint_url,
            poisoned_table,
            tmp_path,
            model="tests.key_type_models:PoisonTitles",
        ),
        "--max-dead-letter-fraction",
        "0.05",
        "--upsert",  # written in place, so the index can be read back; a rebuild is not swapped
        "--runner=FnApiRunner",
    )
    assert done.returncode == 4, (done.stdout[-1500:], done.stderr[-1500:])
    assert "4 of 40 items (10.0%) were dead-lettered (decode 0, index 4)" in done.stderr
    letters = dead_letters(tmp_path / "dead")
    assert sorted(letter["key"]["id"]["S"] for letter in letters) == ["p00", "p10", "p20", "p30"]
    assert {letter["error_type"] for letter in letters} == {"EncodeError"}
    assert {letter["field"] for letter in letters} == {"title"}  # the field whose encoder raised
    assert len(index_rows(tmp_path / "index.db")) == 36
