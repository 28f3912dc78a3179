"""transforms.dynamodb.json_parse.loads gives exactly what json.loads gives:
the same values of the same types (floats to the bit), or the same error."""

import importlib
import json
import math
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transforms.dynamodb.json_parse as json_parse


def same(a, b) -> bool:
    """Equal, of the same types all the way down, floats compared bit for bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    return a == b


def outcome(loads, text):
    try:
        return "value", loads(text)
    except (ValueError, RecursionError) as error:
        return "error", type(error), str(error)


def assert_like_json(text: bytes) -> None:
    ours, theirs = outcome(json_parse.loads, text), outcome(json.loads, text)
    if ours[0] == "value" and theirs[0] == "value":
        assert same(ours[1], theirs[1]), text
    else:
        assert ours == theirs, text


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_values, st.booleans(), st.booleans())
def test_generated_documents(value, ensure_ascii, compact):
    separators = (",", ":") if compact else (", ", ": ")
    text = json.dumps(value, ensure_ascii=ensure_ascii, separators=separators)
    assert_like_json(text.encode("utf-8"))


_number_text = st.from_regex(
    r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)


@settings(max_examples=500, deadline=None)
@given(_number_text)
def test_numbers(text):
    assert_like_json(text.encode())
    assert_like_json(b'{"Count": ' + text.encode() + b"}")


@pytest.mark.parametrize(
    "text",
    [
        b"9223372036854775807",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551615",
        b"18446744073709551616",
        b"123456789012345678901234567890",
        b'{"N": 99999999999999999999, "s": "x"}',
        b'{"s": "1234567890123456789012345"}',
        b"1e400",
        b"-1e400",
        b"NaN",
        b"Infinity",
        b'"\\ud800"',
        b'"\\udc00\\ud800"',
        b"\xef\xbb\xbf{}",
        b'"\xff"',
        b'"\x01"',
        b'{"a": 1, "b": 2, "a": 3}',
        b"[" * 5000 + b"]" * 5000,
        b"",
        b"nul",
        b" {} ",
    ],
)
def test_edge_cases(text):
    assert_like_json(text)


def test_uses_orjson_when_installed():
    pytest.importorskip("orjson")
    assert json_parse.FAST_PARSER == "orjson"
    assert json_parse.loads is not json.loads


def test_without_orjson_it_is_json_loads(monkeypatch):
    monkeypatch.setitem(sys.modules, "orjson", None)
    try:
        reloaded = importlib.reload(json_parse)
        assert reloaded.FAST_PARSER is None
        assert reloaded.loads is json.loads
    finally:
        monkeypatch.undo()
        importlib.reload(json_parse)


@pytest.mark.parametrize(
    "text, known",
    [
        (b'{"S": "\\ud83d\\ude00 caf\\u00e9"}', True),
        (b'{"S": "a\\ud800"}', False),  # a lone surrogate: json.loads keeps it
        (b'{"N": NaN}', False),
        (b'{"n": 12345678901234567890}', False),  # left to json.loads
    ],
)
def test_loads_noting_text_says_when_every_string_is_known_to_be_text(text, known):
    pytest.importorskip("orjson")
    value, text_known = json_parse.loads_noting_text(text)
    assert json.dumps(value) == json.dumps(json.loads(text)) and text_known is known


def test_without_orjson_no_text_is_known(monkeypatch):
    monkeypatch.setitem(sys.modules, "orjson", None)
    try:
        reloaded = importlib.reload(json_parse)
        assert reloaded.loads_noting_text(b'{"S": "x"}') == ({"S": "x"}, False)
    finally:
        monkeypatch.undo()
        importlib.reload(json_parse)
