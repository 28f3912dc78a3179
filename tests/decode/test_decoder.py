"""Tests of transforms.decode.decoder: per-type decoding, failures with their paths,
dataclasses-json configuration, and equality with ``from_dict`` on generated
models and items."""

import collections.abc
import dataclasses
import enum
import json
import keyword
import pickle
import re
import typing
import uuid
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, NewType

import pytest
from boto3.dynamodb.types import TypeDeserializer
from dataclasses_json import CatchAll, LetterCase, Undefined, cfg, config, dataclass_json
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from transforms.decode.compiler import interpreted_decoder
from transforms.decode.decoder import DecodeError, compile_decoder

# ---------------------------------------------------------------- models


class Role(Enum):
    AUTHOR = "author"
    EDITOR = "editor"
    TRANSLATOR = "translator"


class Level(Enum):
    LOW = 1
    HIGH = 2


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Agent:
    name: str
    born_year: int | None = None


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Contributor:
    agent: Agent
    role: Role


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Work:
    id: str
    title: str
    contributors: list[Contributor]
    subjects: list[str]
    identifiers: dict[str, str]
    price: Decimal
    available: bool
    tags: set[str]
    subtitle: str | None = None
    page_count: int | None = None


@dataclass_json
@dataclass
class Node:
    name: str
    children: list["Node"] = field(default_factory=list)


class PlainDeserializer(TypeDeserializer):
    """boto3's deserializer with binary values as ``bytes``: ``from_dict``
    cannot decode boto3's ``Binary`` into a bytes field (it iterates it)."""

    def _deserialize_b(self, value):
        return value


def deserialize(item):
    """The plain item ``from_dict`` is compared against."""
    deserializer = PlainDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def contributor(name, role="author", born_year=None):
    agent = {"name": {"S": name}}
    if born_year is not None:
        agent["bornYear"] = {"N": born_year}
    return {"M": {"agent": {"M": agent}, "role": {"S": role}}}


def work_item(**overrides):
    item = {
        "id": {"S": "w1"},
        "title": {"S": "Dune"},
        "contributors": {
            "L": [
                contributor("Frank Herbert", born_year="1920"),
                contributor("Jane Doe", role="editor"),
                contributor("Ann Roe", role="translator", born_year="1961"),
            ]
        },
        "subjects": {"L": [{"S": "sf"}, {"S": "desert"}]},
        "identifiers": {"M": {"isbn": {"S": "9780441013593"}}},
        "price": {"N": "9.99"},
        "available": {"BOOL": True},
        "tags": {"SS": ["classic", "spice"]},
        "subtitle": {"NULL": True},
    }
    item.update(overrides)
    return item


_SINGLE_FIELD_MODELS: dict = {}


def single_field_model(tp, **field_options):
    """A dataclasses-json model whose only field, ``value``, has type ``tp``."""
    key = (tp, repr(tp), tuple(sorted(field_options.items(), key=repr)))
    if key not in _SINGLE_FIELD_MODELS:
        spec = field(**field_options) if field_options else dataclasses.MISSING
        fields = [("value", tp)] if spec is dataclasses.MISSING else [("value", tp, spec)]
        model = dataclass_json(dataclasses.make_dataclass("Single", fields))
        _SINGLE_FIELD_MODELS[key] = model
    return _SINGLE_FIELD_MODELS[key]


def decode_value(tp, wire):
    return compile_decoder(single_field_model(tp))({"value": wire}).value


def decode_failure(tp, wire) -> DecodeError:
    with pytest.raises(DecodeError) as failure:
        decode_value(tp, wire)
    return failure.value


# ---------------------------------------------------------------- scalars


def test_str_from_s():
    assert decode_value(str, {"S": "héllo"}) == "héllo"


def test_str_refuses_n():
    error = decode_failure(str, {"N": "3"})
    assert (error.error_type, error.field) == ("TypeMismatch", "value")
    assert error.message == "expected str, got N '3'"


def test_int_from_n():
    assert decode_value(int, {"N": "1950"}) == 1950


def test_negative_int_from_n():
    assert decode_value(int, {"N": "-42"}) == -42


def test_int_accepts_integral_number_text():
    assert decode_value(int, {"N": "3.0"}) == 3
    assert decode_value(int, {"N": "1E+2"}) == 100


def test_int_refuses_fraction():
    error = decode_failure(int, {"N": "3.5"})
    assert error.error_type == "InvalidNumber"
    assert error.message == "expected int, got N '3.5' (not an integer)"


def test_int_refuses_text():
    error = decode_failure(int, {"S": "abc"})
    assert (error.error_type, error.message) == ("TypeMismatch", "expected int, got S 'abc'")


def test_int_refuses_bool():
    assert decode_failure(int, {"BOOL": True}).error_type == "TypeMismatch"


def test_int_keeps_large_values_exact():
    assert decode_value(int, {"N": "12345678901234567890123456789012345678"}) == (
        12345678901234567890123456789012345678
    )


def test_float_from_n():
    assert decode_value(float, {"N": "0.1"}) == 0.1
    assert decode_value(float, {"N": "3"}) == 3.0


def test_float_refuses_overflow():
    error = decode_failure(float, {"N": "1e400"})
    assert error.error_type == "InvalidNumber"
    assert "out of range" in error.message


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-Infinity", "inf"])
def test_float_refuses_non_finite_text(text):
    assert decode_failure(float, {"N": text}).error_type == "InvalidNumber"


@pytest.mark.parametrize("text", ["1_000", " 1", "1 ", "", "abc", "1e", "--1", "\u0663"])
def test_number_refuses_text_dynamodb_never_returns(text):
    for tp in (int, float, Decimal):
        assert decode_failure(tp, {"N": text}).error_type == "InvalidNumber", (tp, text)


def test_decimal_keeps_38_digits():
    text = "1234567890.1234567890123456789012345678"
    value = decode_value(Decimal, {"N": text})
    assert value == Decimal(text)
    assert str(value) == text


def test_decimal_keeps_exponent():
    assert str(decode_value(Decimal, {"N": "9.90"})) == "9.90"


def test_decimal_refuses_nan():
    assert decode_failure(Decimal, {"N": "NaN"}).error_type == "InvalidNumber"


def test_bool_from_bool():
    assert decode_value(bool, {"BOOL": False}) is False


def test_bool_refuses_number_and_text():
    assert decode_failure(bool, {"N": "1"}).error_type == "TypeMismatch"
    assert decode_failure(bool, {"S": "false"}).error_type == "TypeMismatch"


def test_bytes_stay_bytes():
    value = decode_value(bytes, {"B": b"\x00\xff"})
    assert type(value) is bytes
    assert value == b"\x00\xff"


def test_bytes_refuse_text():
    assert decode_failure(bytes, {"S": "AP8="}).error_type == "TypeMismatch"


@pytest.mark.parametrize(
    "tp, wire, message",
    [
        (str, {"S": 5}, "malformed value S 5 (S holds int, not str)"),
        (str, {"S": {"S": "x"}}, "malformed value S {'S': 'x'} (S holds dict, not str)"),
        (str | None, {"S": None}, "expected str or NULL, got S None"),
        (bool, {"BOOL": "yes"}, "malformed value BOOL 'yes' (BOOL holds str, not bool)"),
        (bool, {"BOOL": 1}, "malformed value BOOL 1 (BOOL holds int, not bool)"),
        (bytes, {"B": "AP8="}, "malformed value B of 4 bytes (B holds str, not bytes)"),
        (set[str], {"SS": "en"}, "malformed value SS of 2 elements (a set holds str, not a list)"),
        (
            list[str],
            {"SS": {"en": 1}},
            "malformed value SS of 1 elements (a set holds dict, not a list)",
        ),
        (Any, {"S": 5}, "malformed value S 5 (S holds int, not str)"),
        (Any, {"SS": "xy"}, "malformed value SS of 2 elements (a set holds str, not a list)"),
        (str | None, {"NULL": "no"}, "expected str or NULL, got NULL"),
    ],
    ids=[
        "int",
        "map",
        "none",
        "text_bool",
        "int_bool",
        "text_binary",
        "set_of_text",
        "set_of_map",
        "any_int",
        "any_set_of_text",
        "null_text",
    ],
)
def test_a_payload_of_the_wrong_json_type_is_refused(tp, wire, message):
    """botocore hands any JSON value on as the payload; only the right type is a value."""
    error = decode_failure(tp, wire)
    assert (error.error_type, error.message, error.field) == ("TypeMismatch", message, "value")


def test_a_wrong_payload_deep_in_a_map_names_its_place():
    error = decode_failure(dict[str, str], {"M": {"M": {"S": {"S": "x"}}, "ok": {"S": "y"}}})
    assert (error.error_type, error.field) == ("TypeMismatch", "value.M")


def test_uuid_from_s():
    text = "12345678-1234-5678-1234-567812345678"
    assert decode_value(uuid.UUID, {"S": text}) == uuid.UUID(text)


def test_invalid_uuid_is_invalid_value():
    assert decode_failure(uuid.UUID, {"S": "not-a-uuid"}).error_type == "InvalidValue"


def test_new_type_decodes_as_its_base():
    UserId = NewType("UserId", int)
    assert decode_value(UserId, {"N": "7"}) == 7


def test_str_subclass_keeps_its_class():
    class Isbn(str):
        pass

    value = decode_value(Isbn, {"S": "978"})
    assert type(value) is Isbn


# ---------------------------------------------------------------- NULL and Optional


def test_null_into_optional_gives_none():
    assert decode_value(int | None, {"NULL": True}) is None


def test_optional_still_decodes_values():
    assert decode_value(int | None, {"N": "5"}) == 5


def test_typing_module_spellings():
    assert decode_value(typing.Optional[int], {"NULL": True}) is None  # noqa: UP045
    assert decode_value(typing.Union[int, str], {"S": "a"}) == "a"  # noqa: UP007
    assert decode_value(typing.List[int], {"L": [{"N": "1"}]}) == [1]  # noqa: UP006
    assert decode_value(typing.Dict[str, int], {"M": {"a": {"N": "1"}}}) == {"a": 1}  # noqa: UP006
    assert decode_value(typing.Set[str], {"SS": ["a"]}) == {"a"}  # noqa: UP006
    assert decode_value(typing.FrozenSet[str], {"SS": ["a"]}) == frozenset({"a"})  # noqa: UP006
    assert decode_value(typing.Tuple[int, ...], {"L": [{"N": "1"}]}) == (1,)  # noqa: UP006


def test_null_into_required_field_is_null_not_allowed():
    error = decode_failure(str, {"NULL": True})
    assert (error.error_type, error.field) == ("NullNotAllowed", "value")


def test_optional_refuses_other_types():
    error = decode_failure(int | None, {"S": "x"})
    assert error.message == "expected int or NULL, got S 'x'"


def test_null_into_any_gives_none():
    assert decode_value(Any, {"NULL": True}) is None


# ---------------------------------------------------------------- dates


def test_datetime_from_iso_text():
    value = decode_value(datetime, {"S": "2024-01-02T03:04:05+00:00"})
    assert value == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_datetime_from_iso_text_with_z():
    value = decode_value(datetime, {"S": "2024-01-02T03:04:05Z"})
    assert value == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_datetime_from_epoch_matches_from_json():
    model = single_field_model(datetime)
    for text in ("1700000000", "1700000000.25", "-86400"):
        expected = model.from_json(f'{{"value": {text}}}').value
        value = compile_decoder(model)({"value": {"N": text}}).value
        assert value == expected
        assert value.utcoffset() == expected.utcoffset()


def test_datetime_round_trips_through_to_json():
    model = single_field_model(datetime)
    record = model(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc))
    epoch = repr(record.to_dict()["value"].timestamp())
    assert compile_decoder(model)({"value": {"N": epoch}}) == record


def test_invalid_datetime_text_is_invalid_date():
    error = decode_failure(datetime, {"S": "2024-13-01"})
    assert (error.error_type, error.field) == ("InvalidDate", "value")


def test_datetime_epoch_out_of_range_is_invalid_date():
    assert decode_failure(datetime, {"N": "1e20"}).error_type == "InvalidDate"


def test_datetime_refuses_bool():
    assert decode_failure(datetime, {"BOOL": True}).error_type == "TypeMismatch"


def test_date_from_iso_text():
    assert decode_value(date, {"S": "2024-02-29"}) == date(2024, 2, 29)


def test_invalid_date_text_is_invalid_date():
    assert decode_failure(date, {"S": "2023-02-29"}).error_type == "InvalidDate"


def test_date_from_epoch_is_local_date():
    assert decode_value(date, {"N": "86400"}) == date.fromtimestamp(86400)


# ---------------------------------------------------------------- Enum and Literal


def test_enum_from_value():
    assert decode_value(Role, {"S": "editor"}) is Role.EDITOR


def test_enum_with_int_values_from_n():
    assert decode_value(Level, {"N": "2"}) is Level.HIGH


def test_enum_outside_values_is_invalid_enum():
    error = decode_failure(Role, {"S": "reviewer"})
    assert error.error_type == "InvalidEnum"
    assert "'author'" in error.message
    assert "got S 'reviewer'" in error.message


def test_enum_refuses_member_name():
    assert decode_failure(Role, {"S": "AUTHOR"}).error_type == "InvalidEnum"


def test_enum_honours_missing_hook():
    class Colour(Enum):
        RED = "red"

        @classmethod
        def _missing_(cls, value):
            return cls.RED if str(value).lower() == "red" else None

    assert decode_value(Colour, {"S": "RED"}) is Colour.RED


def test_literal_accepts_listed_values():
    assert decode_value(Literal["a", "b"], {"S": "b"}) == "b"
    assert decode_value(Literal[1, 2], {"N": "2"}) == 2


def test_literal_refuses_other_values():
    assert decode_failure(Literal["a", "b"], {"S": "c"}).error_type == "InvalidEnum"


# ---------------------------------------------------------------- collections


def test_list_from_l():
    assert decode_value(list[int], {"L": [{"N": "1"}, {"N": "2"}]}) == [1, 2]


def test_bare_list_holds_plain_values():
    value = decode_value(list, {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]})
    assert value == [Decimal(1), "a", None]


def test_list_from_string_set_keeps_wire_order():
    assert decode_value(list[str], {"SS": ["b", "a", "c"]}) == ["b", "a", "c"]


def test_list_of_optional_accepts_null_elements():
    assert decode_value(list[int | None], {"L": [{"N": "1"}, {"NULL": True}]}) == [1, None]


def test_tuple_from_l():
    assert decode_value(tuple[int, ...], {"L": [{"N": "1"}, {"N": "2"}]}) == (1, 2)


def test_fixed_tuple_decodes_each_position():
    value = decode_value(tuple[int, str], {"L": [{"N": "1"}, {"S": "a"}]})
    assert value == (1, "a")


def test_fixed_tuple_of_wrong_length_is_invalid_value():
    assert decode_failure(tuple[int, str], {"L": [{"N": "1"}]}).error_type == "InvalidValue"


def test_abstract_sequence_gives_tuple_like_dataclasses_json():
    assert decode_value(collections.abc.Sequence[str], {"L": [{"S": "a"}]}) == ("a",)


def test_set_from_string_set():
    assert decode_value(set[str], {"SS": ["a", "b"]}) == {"a", "b"}


def test_set_from_number_set():
    assert decode_value(set[int], {"NS": ["1", "2"]}) == {1, 2}


def test_set_from_binary_set():
    value = decode_value(set[bytes], {"BS": [b"a", b"b"]})
    assert value == {b"a", b"b"}
    assert all(type(element) is bytes for element in value)


def test_frozenset_from_string_set():
    value = decode_value(frozenset[str], {"SS": ["a"]})
    assert value == frozenset({"a"})
    assert type(value) is frozenset


def test_set_from_l():
    assert decode_value(set[str], {"L": [{"S": "a"}, {"S": "a"}]}) == {"a"}


def test_bare_set_from_number_set_holds_decimals():
    assert decode_value(set, {"NS": ["1.5"]}) == {Decimal("1.5")}


def test_set_of_int_refuses_string_set():
    error = decode_failure(set[int], {"SS": ["1"]})
    assert (error.error_type, error.field) == ("TypeMismatch", "value")


def test_dict_from_m():
    assert decode_value(dict[str, int], {"M": {"a": {"N": "1"}}}) == {"a": 1}


def test_dict_with_int_keys():
    keys = {"7": {"S": "x"}, "-3": {"S": "y"}, "+4": {"S": "z"}, "12345678901234567890": {"S": "w"}}
    assert decode_value(dict[int, str], {"M": keys}) == {
        7: "x",
        -3: "y",
        4: "z",
        12345678901234567890: "w",
    }


@pytest.mark.parametrize(
    "tp, key, message",
    [
        (dict[int, str], "seven", "expected int, got map key 'seven' (not written as an integer)"),
        (dict[int, str], "1.0", "expected int, got map key '1.0' (not written as an integer)"),
        (dict[int, str], "1e0", "expected int, got map key '1e0' (not written as an integer)"),
        (dict[int, str], " 1", "expected int, got map key ' 1' (not written as an integer)"),
        (dict[int, str], "1_0", "expected int, got map key '1_0' (not written as an integer)"),
        (dict[Decimal, str], "x", "expected Decimal, got map key 'x' (not a number)"),
        (dict[uuid.UUID, str], "zz", "expected UUID, got map key 'zz'"),
    ],
    ids=["int", "int-point", "int-exponent", "int-space", "int-underscore", "Decimal", "UUID"],
)
def test_a_map_key_that_does_not_decode_is_called_a_map_key(tp, key, message):
    with pytest.raises(DecodeError) as failure:
        decode_value(tp, {"M": {key: {"S": "x"}}})
    assert (failure.value.field, failure.value.message) == (f"value.{key}", message)


UUID_1 = uuid.UUID("abcdef12-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    "tp, keys, same",
    [
        (dict[int, str], ["1", "01", "+1"], "1"),
        (dict[Decimal, str], ["1.5", "1.50"], "Decimal('1.5')"),
        (dict[float, str], ["2", "2.0"], "2.0"),
        (dict[uuid.UUID, str], [str(UUID_1), str(UUID_1).upper()], repr(UUID_1)),
    ],
    ids=["int", "Decimal", "float", "UUID"],
)
def test_dict_refuses_two_keys_that_decode_to_one(tp, keys, same):
    """One entry would silently replace the other: the item is refused instead."""
    wire = {"M": {key: {"S": f"value of {key}"} for key in keys}}
    error = decode_failure(tp, wire)
    assert error.error_type == "InvalidValue"
    assert error.field == f"value.{keys[1]}"
    assert f"map keys {keys[0]!r} and {keys[1]!r} are the same key {same}" in str(error)


def test_dict_of_any_holds_plain_values():
    value = decode_value(dict[str, Any], {"M": {"n": {"N": "2"}, "b": {"B": b"x"}}})
    assert value == {"n": Decimal(2), "b": b"x"}
    assert type(value["b"]) is bytes


def test_dict_refuses_list():
    assert decode_failure(dict[str, str], {"L": []}).error_type == "TypeMismatch"


# ---------------------------------------------------------------- Union and Any


def test_union_first_member_that_decodes_wins():
    assert decode_value(int | str, {"N": "3"}) == 3
    assert decode_value(int | str, {"S": "3"}) == "3"
    assert decode_value(int | float, {"N": "3.5"}) == 3.5
    assert type(decode_value(float | int, {"N": "3"})) is float


def test_union_of_dataclasses_takes_the_one_that_fits():
    value = decode_value(Agent | Contributor, contributor("Ann"))
    assert value == Contributor(Agent("Ann"), Role.AUTHOR)


def test_union_fitting_no_member_is_type_mismatch():
    error = decode_failure(int | str, {"BOOL": True})
    assert (error.error_type, error.field) == ("TypeMismatch", "value")


def test_union_failing_in_every_member_names_each_failure():
    error = decode_failure(int | Level, {"N": "3.5"})
    assert error.error_type == "TypeMismatch"
    assert "as int:" in error.message
    assert "as Level:" in error.message


def test_any_gets_plain_values():
    wire = {"M": {"l": {"L": [{"N": "1"}, {"SS": ["a"]}]}, "ok": {"BOOL": True}}}
    assert decode_value(Any, wire) == {"l": [Decimal(1), {"a"}], "ok": True}


# ---------------------------------------------------------------- defaults and fields


def test_missing_attribute_takes_default():
    work = compile_decoder(Work)(work_item())
    assert work.page_count is None


def test_missing_attribute_takes_fresh_default_factory():
    decode = compile_decoder(Node)
    first, second = decode({"name": {"S": "a"}}), decode({"name": {"S": "b"}})
    assert first.children == [] and first.children is not second.children


def test_missing_required_attribute_is_missing_field():
    item = work_item()
    del item["title"]
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(item)
    assert (failure.value.error_type, failure.value.field) == ("MissingField", "title")


def test_field_without_init_is_not_read():
    @dataclass_json
    @dataclass
    class Counted:
        name: str
        length: int = field(init=False)

        def __post_init__(self):
            self.length = len(self.name)

    value = compile_decoder(Counted)({"name": {"S": "abc"}, "length": {"S": "x"}})
    assert value.length == 3


def test_init_var_is_read_from_its_attribute():
    @dataclass_json
    @dataclass
    class Scaled:
        value: int
        factor: InitVar[int] = 1

        def __post_init__(self, factor):
            self.value *= factor

    decode = compile_decoder(Scaled)
    assert decode({"value": {"N": "2"}, "factor": {"N": "3"}}).value == 6
    assert decode({"value": {"N": "2"}}).value == 2


def test_post_init_refusal_is_invalid_value():
    @dataclass_json
    @dataclass
    class Positive:
        n: int

        def __post_init__(self):
            if self.n <= 0:
                raise ValueError("n must be positive")

    with pytest.raises(DecodeError) as failure:
        compile_decoder(Positive)({"n": {"N": "-1"}})
    assert failure.value.error_type == "InvalidValue"
    assert "n must be positive" in failure.value.message


class _Negative(Exception):
    pass


@dataclass_json
@dataclass
class _Checked:
    amount: int

    def __post_init__(self):
        assert self.amount >= 0, "amount is negative"
        if self.amount == 13:
            raise _Negative("unlucky")
        if self.amount == 7:
            {}["missing"]


@dataclass_json
@dataclass
class _Prices:
    prices: list[_Checked]


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
@pytest.mark.parametrize(
    "amount, reason",
    [
        ("-1", "AssertionError: amount is negative"),
        ("13", "_Negative: unlucky"),
        ("7", "KeyError: 'missing'"),
    ],
)
def test_any_post_init_refusal_is_invalid_value_at_its_path(generated, amount, reason):
    """Whatever a nested model's ``__post_init__`` raises, the item is refused
    at the path of that model, the exception named."""
    decode = compile_decoder(_Prices) if generated else interpreted_decoder(_Prices)
    item = {"prices": {"L": [{"M": {"amount": {"N": "1"}}}, {"M": {"amount": {"N": amount}}}]}}
    with pytest.raises(DecodeError) as failure:
        decode(item)
    assert failure.value.error_type == "InvalidValue"
    assert failure.value.field == "prices[1]"
    assert reason in failure.value.message


class _ByName(Enum):
    OPEN = "open"

    @classmethod
    def _missing_(cls, value):
        return cls[value.upper()]  # KeyError for an unknown name, AttributeError for a number


class _Permission(enum.IntFlag):
    READ = 4
    WRITE = 2
    RUN = 1


@dataclass_json
@dataclass
class _Closed:
    status: _ByName
    history: list[_ByName]
    permission: _Permission
    one: Literal[1, 2, True]
    zero: Literal[0, False]
    first: Literal[1, 1.0]


_CLOSED = {
    "status": {"S": "OPEN"},
    "history": {"L": [{"S": "open"}]},
    "permission": {"N": "6"},
    "one": {"N": "1"},
    "zero": {"N": "0"},
    "first": {"N": "1"},
}


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_closed_sets_read_each_value_from_its_own_wire_type(generated):
    """``1`` and ``True`` (``0`` and ``False``) are distinct Literal values; a Flag
    takes any combination of its members; an Enum's ``_missing_`` is asked."""
    decode = compile_decoder(_Closed) if generated else interpreted_decoder(_Closed)
    record = decode(_CLOSED)
    assert record.status is _ByName.OPEN and record.history == [_ByName.OPEN]
    assert record.permission == _Permission.READ | _Permission.WRITE
    assert (type(record.one), type(record.zero), type(record.first)) == (int, int, int)
    assert record.to_json() == _Closed.from_dict(json.loads(record.to_json())).to_json()
    flags = decode(
        {**_CLOSED, "one": {"BOOL": True}, "zero": {"BOOL": False}, "permission": {"N": "0"}}
    )
    assert (flags.one, flags.zero, flags.permission) == (True, False, _Permission(0))
    assert type(flags.one) is bool and type(flags.zero) is bool


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
@pytest.mark.parametrize(
    "attribute, value, field",
    [
        ("status", {"S": "shut"}, "status"),
        ("history", {"L": [{"S": "open"}, {"S": "shut"}]}, "history[1]"),
        ("history", {"L": [{"N": "1"}]}, "history[0]"),
        ("permission", {"N": "6.5"}, "permission"),
        ("one", {"BOOL": False}, "one"),
    ],
)
def test_closed_sets_refuse_what_their_hooks_refuse(generated, attribute, value, field):
    decode = compile_decoder(_Closed) if generated else interpreted_decoder(_Closed)
    with pytest.raises(DecodeError) as failure:
        decode({**_CLOSED, attribute: value})
    assert (failure.value.error_type, failure.value.field) == ("InvalidEnum", field)


def test_two_fields_of_one_attribute_name_are_refused_up_front():
    @dataclass_json(letter_case=LetterCase.CAMEL)
    @dataclass
    class Clashing:
        user_id: str = ""
        userId: str = ""

    with pytest.raises(TypeError, match="'user_id' and 'userId' are both the attribute 'userId'"):
        compile_decoder(Clashing)


def test_map_keys_of_an_enum_of_other_values_are_refused_up_front():
    class Pair(Enum):
        A = (1, 2)

    @dataclass_json
    @dataclass
    class Keyed:
        values: dict[Pair, int]

    with pytest.raises(TypeError, match=r"Keyed\.values: cannot decode map keys of type .*Pair:"):
        compile_decoder(Keyed)


class _Color(Enum):
    RED = "red"


@dataclass_json
@dataclass
class _LooseDefaults:
    id: str
    price: Decimal = 0
    ratio: float = 0
    color: _Color = "red"
    tags: set[str] = field(default_factory=list)
    count: int = 0.0
    share: float | None = 1
    words: list[str] = field(default_factory=list)


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_defaults_not_of_the_field_type_are_converted_as_from_dict_converts(generated):
    """An absent attribute gives from_dict's value, so the record's JSON has the
    field's type whether the item had the attribute or not."""
    decode = compile_decoder(_LooseDefaults) if generated else interpreted_decoder(_LooseDefaults)
    record = decode({"id": {"S": "x"}})
    assert record == _LooseDefaults.from_dict({"id": "x"})
    assert repr(record) == repr(_LooseDefaults.from_dict({"id": "x"}))
    assert record.to_json() == _LooseDefaults.from_dict({"id": "x"}).to_json()
    assert (type(record.price), type(record.ratio), type(record.tags)) == (Decimal, float, set)
    assert decode({"id": {"S": "y"}}).tags is not record.tags  # a fresh value each time


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_a_default_that_does_not_convert_refuses_the_items_without_the_attribute(generated):
    @dataclass_json
    @dataclass
    class Wrong:
        count: int = "many"

    decode = compile_decoder(Wrong) if generated else interpreted_decoder(Wrong)
    assert decode({"count": {"N": "2"}}).count == 2
    with pytest.raises(DecodeError) as failure:
        decode({})
    assert (failure.value.error_type, failure.value.field) == ("InvalidValue", "count")
    assert "default 'many' does not convert" in failure.value.message


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class _Camel:
    first_name: str
    nick_name: str = ""
    inner: _Checked | None = None


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
@pytest.mark.parametrize(
    "item, field",
    [
        ({"first_name": {"N": "1"}}, "first_name"),
        ({"firstName": {"N": "1"}}, "firstName"),
        ({"firstName": {"S": "a"}, "nick_name": {"N": "1"}}, "nick_name"),
        ({"firstName": {"S": "a"}, "inner": {"M": {"amount": {"S": "x"}}}}, "inner.amount"),
    ],
)
def test_a_failure_names_the_attribute_the_item_gave(generated, item, field):
    """An item may give a field under its Python name: the path names what it gave."""
    decode = compile_decoder(_Camel) if generated else interpreted_decoder(_Camel)
    with pytest.raises(DecodeError) as failure:
        decode(item)
    assert failure.value.field == field


def test_recursive_model():
    item = {"name": {"S": "a"}, "children": {"L": [{"M": {"name": {"S": "b"}}}]}}
    assert compile_decoder(Node)(item) == Node("a", [Node("b")])


def test_recursive_model_error_path():
    inner = {"M": {"name": {"S": "c"}, "children": {"L": [{"M": {"name": {"N": "1"}}}]}}}
    item = {"name": {"S": "a"}, "children": {"L": [{"M": {"name": {"S": "b"}}}, inner]}}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Node)(item)
    assert failure.value.field == "children[1].children[0].name"


# ---------------------------------------------------------------- names and config


def test_camel_case_attribute_names():
    work = compile_decoder(Work)(work_item(pageCount={"N": "412"}))
    assert work.page_count == 412


def test_python_field_name_accepted_when_mapped_name_absent():
    item = work_item(page_count={"N": "412"})
    work = compile_decoder(Work)(item)
    assert work.page_count == 412 == Work.from_dict(deserialize(item)).page_count


def test_field_name_override():
    @dataclass_json
    @dataclass
    class Renamed:
        title: str = field(metadata=config(field_name="dc:title"))

    assert compile_decoder(Renamed)({"dc:title": {"S": "x"}}).title == "x"


def test_field_letter_case_override():
    @dataclass_json(letter_case=LetterCase.CAMEL)
    @dataclass
    class Mixed:
        first_name: str
        last_name: str = field(metadata=config(letter_case=LetterCase.PASCAL))

    value = compile_decoder(Mixed)({"firstName": {"S": "a"}, "LastName": {"S": "b"}})
    assert value == Mixed("a", "b")


def test_nested_class_uses_its_own_letter_case():
    @dataclass_json(letter_case=LetterCase.KEBAB)
    @dataclass
    class Inner:
        born_year: int

    @dataclass_json(letter_case=LetterCase.CAMEL)
    @dataclass
    class Outer:
        main_agent: Inner

    item = {"mainAgent": {"M": {"born-year": {"N": "1"}}}}
    assert compile_decoder(Outer)(item) == Outer(Inner(1)) == Outer.from_dict(deserialize(item))


def test_exclude_does_not_affect_decoding():
    @dataclass_json
    @dataclass
    class Hidden:
        secret: str = field(metadata=config(exclude=lambda value: True))

    assert compile_decoder(Hidden)({"secret": {"S": "s"}}).secret == "s"


def test_custom_decoder_gets_the_plain_value():
    @dataclass_json
    @dataclass
    class Stamped:
        at: datetime = field(metadata=config(decoder=datetime.fromisoformat))
        cents: int = field(metadata=config(decoder=lambda value: int(value * 100)))

    item = {"at": {"S": "2024-01-02T03:04:05"}, "cents": {"N": "1.25"}}
    value = compile_decoder(Stamped)(item)
    assert (
        value == Stamped(datetime(2024, 1, 2, 3, 4, 5), 125) == Stamped.from_dict(deserialize(item))
    )


def test_custom_decoder_skipped_when_value_has_the_field_type():
    @dataclass_json
    @dataclass
    class Shouting:
        word: str = field(metadata=config(decoder=str.upper))

    item = {"word": {"S": "quiet"}}
    assert compile_decoder(Shouting)(item) == Shouting.from_dict(deserialize(item))


@dataclass_json
@dataclass
class _Defaulted:
    id: str
    tags: list[str] = field(
        default_factory=lambda: ["d"],
        metadata=config(decoder=lambda tags: [tag.upper() for tag in tags]),
    )
    word: str = field(default="quiet", metadata=config(decoder=str.upper))
    note: str | None = field(default=None, metadata=config(decoder=str.upper))
    size: int = field(default="7", metadata=config(decoder=int))  # type: ignore[assignment]


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_an_absent_field_with_a_decoder_gets_its_default_decoded_as_from_dict_does(generated):
    """dataclasses-json passes the default through the field's decoder unless
    it is None or of exactly the field's type."""
    decode = compile_decoder(_Defaulted) if generated else interpreted_decoder(_Defaulted)
    record = decode({"id": {"S": "1"}})
    assert record == _Defaulted.from_dict({"id": "1"}) == _Defaulted("1", ["D"], "quiet", None, 7)
    assert record.to_json() == _Defaulted.from_dict({"id": "1"}).to_json()
    given = decode({"id": {"S": "1"}, "tags": {"L": [{"S": "x"}]}, "size": {"N": "3"}})
    assert (given.tags, given.size) == (["X"], 3)


def test_a_default_its_decoder_refuses_is_the_items_failure():
    @dataclass_json
    @dataclass
    class Refusing:
        id: str
        count: int = field(default="many", metadata=config(decoder=int))  # type: ignore[assignment]

    with pytest.raises(DecodeError) as failure:
        compile_decoder(Refusing)({"id": {"S": "1"}})
    assert (failure.value.error_type, failure.value.field) == ("DecoderFailed", "count")
    assert "refused its default 'many'" in failure.value.message


def test_custom_decoder_failure_is_decoder_failed_with_path():
    def parse_year(text):
        return int(text)

    @dataclass_json
    @dataclass
    class Dated:
        years: list[int] = field(
            metadata=config(decoder=lambda items: [parse_year(i) for i in items])
        )

    with pytest.raises(DecodeError) as failure:
        compile_decoder(Dated)({"years": {"L": [{"S": "1999"}, {"S": "MCMXCIX"}]}})
    assert (failure.value.error_type, failure.value.field) == ("DecoderFailed", "years")
    assert "ValueError" in failure.value.message


def test_global_config_decoder_applies_to_field_type():
    Cents = NewType("Cents", int)
    cfg.global_config.decoders[Cents] = lambda value: int(Decimal(value) * 100)
    try:

        @dataclass_json
        @dataclass
        class Priced:
            price: Cents

        assert compile_decoder(Priced)({"price": {"N": "1.5"}}).price == 150
    finally:
        del cfg.global_config.decoders[Cents]


@dataclass_json
@dataclass
class Queued:
    queue: collections.deque[int]
    bare: collections.deque
    ordered: typing.OrderedDict[str, int]
    nested: list[collections.OrderedDict]


QUEUED_ITEM = {
    "queue": {"L": [{"N": "3"}, {"N": "1"}]},
    "bare": {"L": [{"S": "b"}, {"S": "a"}]},
    "ordered": {"M": {"z": {"N": "1"}, "a": {"N": "2"}}},
    "nested": {"L": [{"M": {"k": {"S": "v"}}}]},
}


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_deques_and_ordered_dicts_decode_as_from_dict_builds_them(generated):
    decode = compile_decoder(Queued) if generated else interpreted_decoder(Queued)
    record = decode(QUEUED_ITEM)
    expected = Queued.from_dict(deserialize(QUEUED_ITEM))
    assert repr(record) == repr(expected)
    assert type(record.queue) is collections.deque and list(record.queue) == [3, 1]
    assert type(record.ordered) is collections.OrderedDict and list(record.ordered) == ["z", "a"]
    assert type(record.nested[0]) is collections.OrderedDict
    assert record.to_json() == expected.to_json()
    with pytest.raises(DecodeError) as failure:
        decode({**QUEUED_ITEM, "ordered": {"M": {"z": {"S": "one"}}}})
    assert failure.value.field == "ordered.z"


_Label = NewType("_Label", str)


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_a_global_decoder_reaches_a_field_only_through_its_declared_type(generated):
    """As in dataclasses-json: a field declared as a string (postponed
    annotations) or a NewType takes no global decoder of its resolved type;
    values of that type inside a collection or an Optional do."""
    cfg.global_config.decoders[Decimal] = lambda value: Decimal(value).quantize(Decimal("0.01"))
    cfg.global_config.decoders[str] = lambda value: f"<{value}>"
    try:

        @dataclass_json
        @dataclass
        class Priced:
            pk: _Label
            price: "Decimal"
            prices: "list[Decimal]"
            maybe: "Decimal | None"
            declared: Decimal

        item = {
            "pk": {"S": "g1"},
            "price": {"N": "1.005"},
            "prices": {"L": [{"N": "2.005"}]},
            "maybe": {"N": "3.005"},
            "declared": {"S": "4.005"},
        }
        decode = compile_decoder(Priced) if generated else interpreted_decoder(Priced)
        record = decode(item)
        assert record == Priced.from_dict(deserialize(item))
        assert (record.pk, record.price, record.prices) == (
            "g1",
            Decimal("1.005"),
            [Decimal("2.00")],
        )
        assert (record.maybe, record.declared) == (Decimal("3.00"), Decimal("4.00"))
    finally:
        del cfg.global_config.decoders[Decimal]
        del cfg.global_config.decoders[str]


def test_undefined_raise_refuses_unknown_attributes():
    @dataclass_json(undefined=Undefined.RAISE)
    @dataclass
    class Closed:
        a: str

    with pytest.raises(DecodeError) as failure:
        compile_decoder(Closed)({"a": {"S": "x"}, "b": {"S": "y"}})
    assert (failure.value.error_type, failure.value.field) == ("UnknownField", "b")


def test_undefined_exclude_ignores_unknown_attributes():
    @dataclass_json(undefined=Undefined.EXCLUDE)
    @dataclass
    class Open:
        a: str
        b: int = 0

    item = {"a": {"S": "x"}, "c": {"S": "y"}}
    assert compile_decoder(Open)(item) == Open("x") == Open.from_dict(deserialize(item))


def test_undefined_include_collects_unknown_attributes():
    @dataclass_json(undefined=Undefined.INCLUDE)
    @dataclass
    class Collecting:
        a: str
        rest: CatchAll = None

    item = {"a": {"S": "x"}, "n": {"N": "1"}, "l": {"L": [{"S": "y"}]}}
    value = compile_decoder(Collecting)(item)
    assert value.rest == {"n": Decimal(1), "l": ["y"]}
    assert value == Collecting.from_dict(deserialize(item))


def test_undefined_include_without_unknown_attributes_keeps_default():
    @dataclass_json(undefined=Undefined.INCLUDE)
    @dataclass
    class Collecting:
        a: str
        rest: CatchAll = None

    item = {"a": {"S": "x"}}
    assert compile_decoder(Collecting)(item) == Collecting.from_dict(deserialize(item))


# ---------------------------------------------------------------- unknown attributes


def test_unknown_attributes_are_ignored_by_default():
    assert compile_decoder(Work)(work_item(extra={"S": "x"})).id == "w1"


def test_forbid_unknown_refuses_unknown_attribute():
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work, forbid_unknown=True)(work_item(extra={"S": "x"}))
    assert (failure.value.error_type, failure.value.field) == ("UnknownField", "extra")


def test_forbid_unknown_applies_to_nested_classes():
    item = work_item()
    item["contributors"]["L"][1]["M"]["agent"]["M"]["nickname"] = {"S": "J"}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work, forbid_unknown=True)(item)
    assert failure.value.field == "contributors[1].agent.nickname"


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "interpreted"])
def test_forbid_unknown_refuses_a_field_given_under_both_of_its_names(generated):
    """``bornYear`` is read; ``born_year`` beside it would be silently ignored."""
    item = work_item()
    agent = item["contributors"]["L"][2]["M"]["agent"]["M"]
    agent["born_year"] = {"N": "1900"}
    decode = (
        compile_decoder(Work, forbid_unknown=True)
        if generated
        else interpreted_decoder(Work, forbid_unknown=True)
    )
    with pytest.raises(DecodeError) as failure:
        decode(item)
    assert (failure.value.error_type, failure.value.field) == (
        "UnknownField",
        "contributors[2].agent.born_year",
    )
    assert "given besides its attribute 'bornYear' of Agent: it would be ignored" in str(
        failure.value
    )
    del agent["bornYear"]  # the Python name alone is read, as dataclasses-json reads it
    assert decode(item).contributors[2].agent.born_year == 1900
    assert compile_decoder(Work)(work_item() | {"born_year": {"N": "1"}}).id == "w1"


def test_forbid_unknown_accepts_items_with_only_known_attributes():
    assert compile_decoder(Work, forbid_unknown=True)(work_item()).title == "Dune"


# ---------------------------------------------------------------- paths and messages


def test_error_path_through_list_and_nested_maps():
    item = work_item()
    item["contributors"]["L"][2]["M"]["agent"]["M"]["bornYear"] = {"S": "1961"}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(item)
    error = failure.value
    assert error.field == "contributors[2].agent.bornYear"
    assert (error.error_type, error.message) == (
        "TypeMismatch",
        "expected int or NULL, got S '1961'",
    )


def test_invalid_number_path_in_nested_list():
    item = work_item()
    item["contributors"]["L"][0]["M"]["agent"]["M"]["bornYear"] = {"N": "1920.5"}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(item)
    assert (failure.value.error_type, failure.value.field) == (
        "InvalidNumber",
        "contributors[0].agent.bornYear",
    )


def test_missing_field_path_in_nested_class():
    item = work_item()
    del item["contributors"]["L"][1]["M"]["agent"]["M"]["name"]
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(item)
    assert (failure.value.error_type, failure.value.field) == (
        "MissingField",
        "contributors[1].agent.name",
    )


def test_invalid_enum_path():
    item = work_item()
    item["contributors"]["L"][1]["M"]["role"] = {"S": "ghost"}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(item)
    assert (failure.value.error_type, failure.value.field) == (
        "InvalidEnum",
        "contributors[1].role",
    )


def test_error_path_names_map_key():
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(
            work_item(identifiers={"M": {"isbn": {"S": "1"}, "oclc": {"N": "2"}}})
        )
    assert failure.value.field == "identifiers.oclc"


def test_error_path_names_set_position():
    error = decode_failure(set[int], {"NS": ["1", "2", "x"]})
    assert (error.error_type, error.field) == ("InvalidNumber", "value[2]")


def test_error_path_in_list_of_lists():
    error = decode_failure(list[list[int]], {"L": [{"L": []}, {"L": [{"N": "1"}, {"S": "2"}]}]})
    assert error.field == "value[1][1]"


def test_message_truncates_long_values():
    error = decode_failure(int, {"S": "x" * 500})
    assert len(error.message) < 100
    assert error.message.endswith("...")


def test_error_text_has_kind_path_and_message():
    error = decode_failure(int, {"S": "abc"})
    assert str(error) == "TypeMismatch at value: expected int, got S 'abc'"
    assert isinstance(error, ValueError)


def test_decode_error_pickles_with_its_path():
    error = decode_failure(int, {"S": "abc"})
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.error_type, copy.field, copy.message) == (
        error.error_type,
        error.field,
        error.message,
    )


def test_malformed_wire_value_is_type_mismatch():
    for wire in ({}, {"X": "1"}, "plain", [1]):
        assert decode_failure(int, wire).error_type == "TypeMismatch", wire


def test_item_that_is_not_a_map_is_type_mismatch():
    with pytest.raises(DecodeError) as failure:
        compile_decoder(Work)(["not", "an", "item"])
    assert (failure.value.error_type, failure.value.field) == ("TypeMismatch", None)


# ---------------------------------------------------------------- compiling


def test_compile_decoder_is_cached_per_model_and_strictness():
    assert compile_decoder(Work) is compile_decoder(Work)
    assert compile_decoder(Work) is not compile_decoder(Work, forbid_unknown=True)


def test_compile_decoder_refuses_non_dataclass():
    with pytest.raises(TypeError):
        compile_decoder(dict)


def test_unsupported_field_type_fails_when_compiling():
    class Opaque:
        pass

    @dataclass_json
    @dataclass
    class Holder:
        thing: Opaque

    with pytest.raises(TypeError, match=r"Holder\.thing"):
        compile_decoder(Holder)


def test_set_of_unhashable_dataclass_fails_when_compiling():
    @dataclass_json
    @dataclass
    class Holder:
        agents: set[Agent]

    with pytest.raises(TypeError, match="hashable"):
        compile_decoder(Holder)


# ---------------------------------------------------------------- equality with from_dict


def test_matches_from_dict_on_a_realistic_item():
    item = work_item(pageCount={"N": "412"})
    assert compile_decoder(Work)(item) == Work.from_dict(deserialize(item))


def test_from_dict_cannot_decode_boto3_binary_into_bytes():
    item = {"value": {"B": b"\x01"}}
    model = single_field_model(bytes)
    with pytest.raises(TypeError):
        model.from_dict({"value": TypeDeserializer().deserialize(item["value"])})
    assert compile_decoder(model)(item) == model.from_dict(deserialize(item))


class Colour(Enum):
    RED = "red"
    GREEN = "green"


class Size(Enum):
    SMALL = 1
    LARGE = 2


LETTER_CASES = [None, LetterCase.CAMEL, LetterCase.KEBAB, LetterCase.PASCAL, LetterCase.SNAKE]
RESERVED = {"schema", "to_json", "from_json", "to_dict", "from_dict"}
NAMES = st.from_regex(r"[a-z]{1,6}(_[a-z]{1,6}){0,2}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name) and name not in RESERVED
)

# A type spec is a leaf name or a tuple (constructor, argument spec).
LEAVES = ["str", "int", "float", "decimal", "bool", "bytes", "colour", "size", "any"]
LEAF_TYPES = {
    "str": str,
    "int": int,
    "float": float,
    "decimal": Decimal,
    "bool": bool,
    "bytes": bytes,
    "colour": Colour,
    "size": Size,
    "any": Any,
}


def type_specs(depth=2):
    leaf = st.sampled_from(LEAVES)
    if depth == 0:
        return leaf
    inner = type_specs(depth - 1)
    return st.one_of(
        leaf,
        leaf,
        st.tuples(st.just("optional"), inner),
        st.tuples(st.just("list"), inner),
        st.tuples(st.just("dict"), inner),
        st.tuples(st.just("set"), st.sampled_from(["str", "int", "bytes"])),
        st.tuples(st.just("model"), model_specs(depth - 1)),
    )


@st.composite
def model_specs(draw, depth=2):
    """(letter case, [(field name, type spec, has default)])."""
    letter_case = draw(st.sampled_from(LETTER_CASES))
    names = draw(
        st.lists(
            NAMES,
            min_size=1,
            max_size=5,
            unique_by=lambda name: (letter_case or (lambda n: n))(name).lower(),
        )
    )
    fields = [(name, draw(type_specs(depth)), draw(st.booleans())) for name in names]
    return letter_case, fields


def build_type(spec):
    if isinstance(spec, str):
        return LEAF_TYPES[spec]
    kind, argument = spec
    if kind == "model":
        return build_model(argument)
    inner = build_type(argument)
    return {
        "optional": lambda: inner | None,
        "list": lambda: list[inner],
        "dict": lambda: dict[str, inner],
        "set": lambda: set[inner],
    }[kind]()


_MODEL_COUNTER = iter(range(10**9))


def build_model(model_spec):
    letter_case, fields = model_spec
    ordered = sorted(fields, key=lambda spec: spec[2])
    dataclass_fields = []
    for name, spec, has_default in ordered:
        tp = build_type(spec)
        if has_default:
            dataclass_fields.append((name, tp | None, field(default=None)))
        else:
            dataclass_fields.append((name, tp))
    model = dataclasses.make_dataclass(f"Generated{next(_MODEL_COUNTER)}", dataclass_fields)
    return dataclass_json(letter_case=letter_case)(model)


def wire_values(spec):
    """Valid wire values for a type spec."""
    if spec == "str":
        return st.text(max_size=8).map(lambda s: {"S": s})
    if spec == "int":
        return st.integers(-(10**15), 10**15).map(lambda n: {"N": str(n)})
    if spec == "float":
        # DynamoDB's range: magnitudes from 1e-130 to below 1e126.
        return (
            st.floats(min_value=-1e100, max_value=1e100)
            .filter(lambda x: x == 0 or abs(x) > 1e-100)
            .map(lambda x: {"N": repr(x)})
        )
    if spec == "decimal":
        return st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False).map(
            lambda d: {"N": str(d)}
        )
    if spec == "bool":
        return st.booleans().map(lambda b: {"BOOL": b})
    if spec == "bytes":
        return st.binary(max_size=8).map(lambda b: {"B": b})
    if spec == "colour":
        return st.sampled_from(Colour).map(lambda c: {"S": c.value})
    if spec == "size":
        return st.sampled_from(Size).map(lambda s: {"N": str(s.value)})
    if spec == "any":
        return st.one_of(wire_values("str"), wire_values("decimal"), st.just({"NULL": True}))
    kind, argument = spec
    if kind == "optional":
        return st.one_of(st.just({"NULL": True}), wire_values(argument))
    if kind == "list":
        return st.lists(wire_values(argument), max_size=3).map(lambda values: {"L": values})
    if kind == "dict":
        return st.dictionaries(st.text(max_size=4), wire_values(argument), max_size=3).map(
            lambda values: {"M": values}
        )
    if kind == "set":
        if argument == "str":
            return st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True).map(
                lambda values: {"SS": values}
            )
        if argument == "int":
            return st.lists(st.integers(-1000, 1000), min_size=1, max_size=3, unique=True).map(
                lambda values: {"NS": [str(n) for n in values]}
            )
        return st.lists(st.binary(max_size=4), min_size=1, max_size=3, unique=True).map(
            lambda values: {"BS": values}
        )
    return model_items(argument).map(lambda attrs: {"M": attrs})


@st.composite
def model_items(draw, model_spec):
    """A valid attribute map for a model spec; defaulted fields may be absent."""
    letter_case, fields = model_spec
    attrs = {}
    for name, spec, has_default in fields:
        if has_default and draw(st.booleans()):
            continue
        attr = letter_case(name) if letter_case else name
        attrs[attr] = draw(wire_values(spec))
    return attrs


@st.composite
def models_with_items(draw):
    model_spec = draw(model_specs())
    model = build_model(model_spec)
    return model, draw(model_items(model_spec))


@settings(max_examples=200, deadline=None)
@given(models_with_items())
def test_matches_from_dict_on_generated_models(model_and_item):
    model, item = model_and_item
    assert compile_decoder(model)(item) == model.from_dict(deserialize(item))


def wire_positions(attrs, prefix=None):
    """``(path, container, key)`` of every wire value of an attribute map,
    the path written as DecodeError.field writes it."""
    for name, wire in attrs.items():
        path = name if prefix is None else f"{prefix}.{name}"
        yield path, attrs, name
        yield from inner_positions(wire, path)


def inner_positions(wire, path):
    ((tag, payload),) = wire.items()
    if tag == "M":
        yield from wire_positions(payload, path)
    elif tag == "L":
        for index, element in enumerate(payload):
            element_path = f"{path}[{index}]"
            yield element_path, payload, index
            yield from inner_positions(element, element_path)


@settings(max_examples=100, deadline=None)
@given(models_with_items(), st.data())
def test_failure_names_the_broken_value_on_generated_models(model_and_item, data):
    model, item = model_and_item
    positions = list(wire_positions(item))
    assume(positions)
    path, container, key = data.draw(st.sampled_from(positions))
    container[key] = {"X": "not a DynamoDB type"}
    with pytest.raises(DecodeError) as failure:
        compile_decoder(model)(item)
    assert (failure.value.error_type, failure.value.field) == ("TypeMismatch", path)


@pytest.mark.parametrize(
    "tp, wire",
    [(str, {"B": 5}), (list[str], {"SS": None}), (str, {"M": 3}), (str, {"L": 7})],
    ids=["binary_int", "set_null", "map_int", "list_int"],
)
def test_a_malformed_value_of_another_tag_is_a_type_mismatch_with_its_path(tp, wire):
    error = decode_failure(tp, wire)
    assert (error.error_type, error.field) == ("TypeMismatch", "value")
    assert "malformed value" in error.message, error.message


@dataclass
class _Mutable:
    x: int


@pytest.mark.parametrize(
    "tp, fix",
    [
        (set[_Mutable], "declare it with @dataclass(frozen=True), or make the field a list"),
        (frozenset[list], "make the field a list"),
    ],
    ids=["dataclass", "list"],
)
def test_a_set_of_unhashable_elements_is_refused_with_the_fix(tp, fix):
    with pytest.raises(TypeError, match="are not hashable; " + re.escape(fix) + "$"):
        compile_decoder(single_field_model(tp))
