"""Dead letters: the record contract, JSON lines, and writing/reading through Beam."""

import json
import os
import re
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from boto3.dynamodb.types import Binary

from tests.runners import reindex_counters, run_pipeline
from transforms.dead_letters import (
    FIELDS,
    CorruptDeadLetter,
    DeadLetterSourceNotFound,
    ReadDeadLetters,
    WriteDeadLetters,
    dead_letter,
    dumps_dead_letter,
    loads_dead_letter,
    model_name,
    read_dead_letters,
)

ITEM = {
    "id": {"S": "w17"},
    "thumb": {"B": b"\x00\xff\x10"},
    "shots": {"BS": [b"\x01", b"\x02"]},
    "nested": {"M": {"raw": {"B": b"\xfe"}, "list": {"L": [{"B": b"\x00"}, {"N": "3"}]}}},
    "year": {"S": "abc"},
}
KEY = {"id": {"S": "w17"}}


class Work:
    pass


def _decode_letter(**overrides):
    args = dict(
        error_type="TypeMismatch",
        error="expected int, got S 'abc'",
        item=ITEM,
        field="year",
        table="works",
        key=KEY,
        segment=3,
        total_segments=8,
        model=Work,
    )
    args.update(overrides)
    return dead_letter("decode", **args)


def _write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def test_record_has_exactly_the_contract_keys_in_order():
    letter = _decode_letter()
    assert tuple(letter) == FIELDS
    assert letter["model"] == "tests.test_dead_letters:Work"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", letter["at"])
    assert (letter["segment"], letter["total_segments"], letter["field"]) == (3, 8, "year")


def test_unknown_context_is_null_not_missing():
    letter = dead_letter("decode", error_type="E", error="boom")
    assert all(letter[name] is None for name in ("table", "segment", "key", "item", "model"))
    assert "document" not in letter


def test_index_stage_always_carries_document():
    assert dead_letter("index", error_type="E", error="x")["document"] is None
    assert dead_letter("index", error_type="E", error="x", document='{"a":1}')["document"] == (
        '{"a":1}'
    )


def test_model_name_is_module_colon_qualname():
    assert model_name(Work) == "tests.test_dead_letters:Work"


def test_json_line_has_binary_as_base64():
    obj = json.loads(dumps_dead_letter(_decode_letter()))
    assert obj["item"]["thumb"] == {"B": "AP8Q"}
    assert obj["item"]["nested"]["M"]["raw"] == {"B": "/g=="}
    assert obj["key"] == {"id": {"S": "w17"}}


def test_binary_round_trip_restores_bytes():
    letter = _decode_letter(error="line\u2028separator and \n newline, ünïcode")
    line = dumps_dead_letter(letter)
    assert "\n" not in line
    assert loads_dead_letter(line) == letter


@pytest.mark.parametrize(
    "value",
    [
        {"M": {"S": "v"}},  # a map whose one key is "S": what a server sent for {"": {"S": "v"}}
        {"M": {"k": "v", "j": {"S": "w"}}},
        {"L": ["a", {"N": "1"}]},
        {"S": 5},
        {"S": {"S": "x"}},
        {"BOOL": "yes"},
        {"S": "a", "N": "1"},
        "bare",
        {"L": {"not": "a list"}},
    ],
    ids=[
        "m_of_text",
        "m_mixed",
        "l_mixed",
        "s_int",
        "s_map",
        "bool_text",
        "two_tags",
        "bare",
        "l_map",
    ],
)
def test_a_malformed_value_is_written_and_read_back_as_it_was(value):
    """A dead letter carries whatever the item held: the decoder refused it,
    and writing it must not fail the job."""
    letter = _decode_letter(item={"id": {"S": "w1"}, "odd": value})
    assert loads_dead_letter(dumps_dead_letter(letter)) == letter


def test_bytes_inside_a_malformed_value_are_written_as_base64():
    letter = _decode_letter(item={"id": {"S": "w1"}, "odd": {"M": {"B": b"\x00\xff"}}})
    obj = json.loads(dumps_dead_letter(letter))
    assert obj["item"]["odd"] == {"M": {"B": "AP8="}}


@pytest.mark.parametrize(
    "binary",
    [bytearray(b"\x01\xff"), memoryview(b"\x01\xff"), Binary(b"\x01\xff")],
    ids=["bytearray", "memoryview", "boto3_Binary"],
)
def test_binaries_of_other_types_are_written_as_base64_and_read_back_as_bytes(binary):
    """Items built by hand (boto3's TypeSerializer passes a bytearray on, its resource
    layer makes Binary) carry binaries of other types: their dead letters are kept."""
    item = {"id": {"S": "w1"}, "b": {"B": binary}, "bs": {"BS": [binary]}, "n": {"N": "x"}}
    letter = _decode_letter(item=item)
    back = loads_dead_letter(dumps_dead_letter(letter))
    assert back["item"]["b"] == {"B": b"\x01\xff"} and back["item"]["bs"] == {"BS": [b"\x01\xff"]}


def test_values_json_has_no_type_for_are_written_as_text():
    letter = _decode_letter(item={"id": {"S": "w1"}, "n": {"N": Decimal("1.50")}})
    assert loads_dead_letter(dumps_dead_letter(letter))["item"]["n"] == {"N": "1.50"}


def test_a_nan_in_a_malformed_value_is_written_and_read_back():
    """No DynamoDB value holds one, a malformed one may: the dead letter is kept."""
    letter = _decode_letter(item={"id": {"S": "w1"}, "n": {"N": float("nan")}})
    back = loads_dead_letter(dumps_dead_letter(letter))
    assert back["item"]["n"]["N"] != back["item"]["n"]["N"]  # NaN
    assert dumps_dead_letter(back) == dumps_dead_letter(letter)


def test_arguments_of_the_wrong_type_are_refused():
    with pytest.raises(ValueError, match="'segment' must be an integer or null"):
        _decode_letter(segment="3")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"stage": "decode"}', "missing keys"),
    ],
)
def test_loads_rejects_what_is_not_a_dead_letter(line, reason):
    with pytest.raises(CorruptDeadLetter, match=reason):
        loads_dead_letter(line)


def test_loads_rejects_bad_base64_in_item():
    obj = json.loads(dumps_dead_letter(_decode_letter()))
    obj["item"]["thumb"] = {"B": "not base64!"}
    with pytest.raises(CorruptDeadLetter, match="'item' is not a wire-format item"):
        loads_dead_letter(json.dumps(obj))


def test_corrupt_line_error_names_file_and_line(tmp_path):
    path = tmp_path / "dl.jsonl"
    good = dumps_dead_letter(_decode_letter())
    _write_lines(path, [good, good, '{"stage": "decode", "trunc'])
    with pytest.raises(CorruptDeadLetter) as caught:
        list(read_dead_letters(str(path)))
    assert (caught.value.path, caught.value.line_number) == (str(path), 3)
    assert f"{path}:3:" in str(caught.value)


def test_reads_a_folder_of_jsonl_files_in_name_order(tmp_path):
    letters = [_decode_letter(segment=n) for n in range(4)]
    _write_lines(tmp_path / "b.jsonl", [dumps_dead_letter(x) for x in letters[2:]])
    _write_lines(tmp_path / "a.jsonl", [dumps_dead_letter(x) for x in letters[:2]])
    _write_lines(tmp_path / "notes.txt", ["not a dead letter"])
    (tmp_path / "sub.jsonl").mkdir()
    assert list(read_dead_letters(str(tmp_path))) == letters


def test_reads_a_glob(tmp_path):
    letters = [_decode_letter(segment=n) for n in range(3)]
    for n, letter in enumerate(letters):
        _write_lines(tmp_path / f"part-{n}.jsonl", [dumps_dead_letter(letter)])
    _write_lines(tmp_path / "other-9.jsonl", [dumps_dead_letter(_decode_letter(segment=9))])
    assert list(read_dead_letters(str(tmp_path / "part-*.jsonl"))) == letters


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(DeadLetterSourceNotFound, match="no dead-letter files found"):
        list(read_dead_letters(str(tmp_path / "nowhere")))
    with pytest.raises(DeadLetterSourceNotFound, match=re.escape(str(tmp_path))):
        list(read_dead_letters(str(tmp_path)))


def test_write_dead_letters_through_a_pipeline_reads_back_equal(tmp_path):
    letters = [_decode_letter(segment=n, key={"id": {"S": f"w{n}"}}) for n in range(50)]
    letters.append(dead_letter("index", error_type="IndexRefused", error="no", document="{}"))
    folder = str(tmp_path / "dl")

    result = run_pipeline(lambda p: p | beam.Create(letters) | WriteDeadLetters(folder))

    names = os.listdir(folder)
    assert names and all(
        re.fullmatch(r"dead-letters-\d{5}-of-\d{5}\.jsonl", name) for name in names
    )
    back = list(read_dead_letters(folder))
    key = dumps_dead_letter
    assert sorted(map(key, back)) == sorted(map(key, letters))
    assert reindex_counters(result) == {
        "dead_letters": 51,
        "dead_letters_decode": 50,
        "dead_letters_index": 1,
    }


def test_no_dead_letters_still_writes_an_empty_file(tmp_path):
    folder = tmp_path / "dl"
    run_pipeline(lambda p: p | beam.Create([]) | WriteDeadLetters(str(folder)))
    assert [f.read_text() for f in folder.glob("dead-letters-*.jsonl")] == [""]
    assert list(read_dead_letters(str(folder))) == []


def test_rewrite_removes_files_of_an_earlier_run(tmp_path):
    folder = str(tmp_path / "dl")
    first = [_decode_letter(segment=n) for n in range(6)]
    run_pipeline(lambda p: p | beam.Create(first) | WriteDeadLetters(folder, num_shards=3))
    run_pipeline(lambda p: p | beam.Create(first[:1]) | WriteDeadLetters(folder, num_shards=1))
    assert os.listdir(folder) == ["dead-letters-00000-of-00001.jsonl"]
    assert list(read_dead_letters(folder)) == first[:1]


def test_read_dead_letters_transform_restores_bytes(tmp_path):
    letters = [_decode_letter(segment=n) for n in range(5)]
    _write_lines(tmp_path / "a.jsonl", [dumps_dead_letter(x) for x in letters[:3]])
    _write_lines(tmp_path / "b.jsonl", [dumps_dead_letter(x) for x in letters[3:]])

    def build(p):
        read = p | ReadDeadLetters(str(tmp_path))
        assert_that(read, equal_to(letters))

    run_pipeline(build)


def test_read_dead_letters_transform_fails_early_when_nothing_matches(tmp_path):
    with pytest.raises(DeadLetterSourceNotFound):
        beam.Pipeline(runner="FnApiRunner") | ReadDeadLetters(str(tmp_path / "none-*.jsonl"))
