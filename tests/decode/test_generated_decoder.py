"""The generated decoders give exactly what the step loop gives: equal values of
the same types, or the same DecodeError (kind, path, message), on generated
models with valid and malformed items and on models using every
dataclasses-json option; and nothing from the model is written into the source."""

import copy
import dataclasses
import linecache
import uuid
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import pytest
from dataclasses_json import CatchAll, LetterCase, Undefined, config, dataclass_json
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.decode.test_decoder import (
    Agent,
    Contributor,
    Level,
    Node,
    Role,
    Work,
    contributor,
    models_with_items,
    wire_positions,
    work_item,
)
from transforms.decode.compiler import Compiler, interpreted_decoder
from transforms.decode.decoder import DecodeError, compile_decoder, decoder_source


def outcome(decode, item):
    """What a decoder makes of an item: the value with its repr (which shows
    the types: list or tuple, int or Decimal...), or the error's parts."""
    try:
        value = decode(copy.deepcopy(item))
    except DecodeError as error:
        return ("error", error.error_type, error.field, error.message, str(error))
    return ("value", value, repr(value))


def assert_same_outcome(model, item, forbid_unknown=False):
    generated = compile_decoder(model, forbid_unknown=forbid_unknown)
    interpreted = interpreted_decoder(model, forbid_unknown)
    assert outcome(generated, item) == outcome(interpreted, item)


BAD_VALUES = [
    {"X": "not a DynamoDB type"},
    {"NULL": True},
    {"S": "x"},
    {"S": None},
    {"N": "1.5"},
    {"N": "abc"},
    {"N": "7"},
    {"N": None},
    {"BOOL": True},
    {"B": b"\x00"},
    {"L": [{"S": "a"}, {"N": "1"}]},
    {"L": "not a list"},
    {"M": {}},
    {"M": {"a": {"S": "x"}}},
    {"M": ["not", "a", "map"]},
    {"SS": ["a", "b"]},
    {"NS": ["1", "x"]},
    {"S": "x", "N": "1"},
    {},
    "plain text",
    [1, 2],
    None,
    7,
]


@st.composite
def broken_items(draw):
    """A generated model and a valid item of it, with one wire value
    replaced, one attribute removed or one unknown attribute added."""
    model, item = draw(models_with_items())
    positions = list(wire_positions(item))
    action = draw(st.sampled_from(["replace", "remove", "add"] if positions else ["add"]))
    if action == "add":
        item["zzUnknown"] = draw(st.sampled_from(BAD_VALUES[:3]))
        return model, item
    _path, container, key = draw(st.sampled_from(positions))
    if action == "remove" and isinstance(container, dict):
        del container[key]
    else:
        container[key] = copy.deepcopy(draw(st.sampled_from(BAD_VALUES)))
    return model, item


@settings(max_examples=150, deadline=None)
@given(models_with_items(), st.booleans())
def test_same_values_on_generated_models(model_and_item, forbid_unknown):
    model, item = model_and_item
    assert_same_outcome(model, item, forbid_unknown)


@settings(max_examples=300, deadline=None)
@given(broken_items(), st.booleans())
def test_same_errors_on_malformed_items(model_and_item, forbid_unknown):
    model, item = model_and_item
    assert_same_outcome(model, item, forbid_unknown)


# ---------------------------------------------------------------- every option


def _year(value):
    if not str(value).isdigit():
        raise ValueError(f"not a year: {value}")
    return int(value)


@dataclass_json(letter_case=LetterCase.CAMEL, undefined=Undefined.RAISE)
@dataclass
class Closed:
    first_name: str
    year: int = field(default=0, metadata=config(decoder=_year))


@dataclass_json(undefined=Undefined.INCLUDE)
@dataclass
class Collecting:
    a: str
    rest: CatchAll = None


@dataclass_json(undefined=Undefined.EXCLUDE)
@dataclass
class Open:
    a: str
    b: int = 0


@dataclass_json
@dataclass
class Everything:
    text: str = field(metadata=config(field_name='Text "quoted"\n;x'))
    when: datetime | None = None
    day: date | None = None
    ident: uuid.UUID | None = None
    level: Level | None = None
    kind: Literal["a", "b", 3] | None = None
    either: int | str | None = None
    pair: tuple[int, str] | None = None
    frozen: frozenset[str] | None = None
    by_number: dict[int, Role] | None = None
    anything: Any = None
    scale: InitVar[int] = 1
    derived: int = field(init=False, default=0)
    camel_case: str | None = field(default=None, metadata=config(letter_case=LetterCase.CAMEL))

    def __post_init__(self, scale):
        if scale < 0:
            raise ValueError("scale must not be negative")
        self.derived = scale * 2


@dataclass_json
@dataclass(init=False)
class ReversedInit:
    a: str
    b: int = 0

    def __init__(self, b=5, a="x"):
        self.a, self.b = a, b * 2


@dataclass_json
@dataclass(init=False)
class InitWithoutDefault:
    a: str
    b: int = 0

    def __init__(self, a, b):
        self.a, self.b = a, b


@dataclass_json
@dataclass(kw_only=True)
class KeywordOnly:
    a: str
    b: list[int] = field(default_factory=list)


class _Counting(type):
    calls = 0

    def __call__(cls, *args, **kwargs):
        _Counting.calls += 1
        return super().__call__(*args, **kwargs)


@dataclass_json
@dataclass
class Metaclassed(metaclass=_Counting):
    a: str
    b: int = 1


@dataclass_json
@dataclass
class OwnNew:
    a: str
    b: int = 1

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        instance.made_with = (args, kwargs)
        return instance


@dataclass_json
@dataclass
class Defaults:
    a: str
    shared: tuple = ()
    fresh: list[str] = field(default_factory=list)
    b: int = 3


class Inherited(Defaults):
    pass


POSITIONAL_CASES = [
    (ReversedInit, {"a": {"S": "y"}}),
    (ReversedInit, {"b": {"N": "2"}}),
    (ReversedInit, {}),
    (InitWithoutDefault, {"a": {"S": "y"}}),
    (InitWithoutDefault, {"a": {"S": "y"}, "b": {"N": "2"}}),
    (KeywordOnly, {"a": {"S": "y"}}),
    (KeywordOnly, {"a": {"S": "y"}, "b": {"L": [{"N": "1"}]}}),
    (Metaclassed, {"a": {"S": "y"}}),
    (OwnNew, {"a": {"S": "y"}}),
    (Defaults, {"a": {"S": "y"}}),
    (Defaults, {"a": {"S": "y"}, "fresh": {"L": [{"S": "z"}]}, "b": {"N": "4"}}),
    (Inherited, {"a": {"S": "y"}, "b": {"S": "wrong"}}),
]


@pytest.mark.parametrize("model, item", POSITIONAL_CASES)
def test_same_outcome_whether_or_not_arguments_go_by_position(model, item):
    assert_same_outcome(model, item)


@pytest.mark.parametrize(
    "model, positional",
    [
        (ReversedInit, True),
        (Defaults, True),
        (Inherited, True),
        (Work, True),
        (InitWithoutDefault, False),
        (KeywordOnly, False),
        (Metaclassed, False),
        (OwnNew, False),
        (Closed, True),
        (Open, False),
        (Collecting, False),
    ],
)
def test_arguments_go_by_position_only_where_that_binds_the_same(model, positional):
    source = generated(model)[model].source
    assert ("construct(**kwargs)" not in source) is positional


def test_absent_fields_get_their_defaults_and_fresh_factories():
    decode = compile_decoder(Defaults)
    first, second = decode({"a": {"S": "y"}}), decode({"a": {"S": "z"}})
    assert (first.shared, first.fresh, first.b) == ((), [], 3)
    assert first.fresh is not second.fresh
    assert compile_decoder(ReversedInit)({"a": {"S": "q"}}).b == 10
    calls = _Counting.calls
    compile_decoder(Metaclassed)({"a": {"S": "y"}})
    assert _Counting.calls == calls + 1


OPTION_CASES = [
    (Closed, {"firstName": {"S": "Ann"}, "year": {"S": "1999"}}),
    (Closed, {"first_name": {"S": "Ann"}}),
    (Closed, {"firstName": {"S": "Ann"}, "year": {"S": "MCM"}}),
    (Closed, {"firstName": {"S": "Ann"}, "extra": {"S": "x"}}),
    (Closed, {"year": {"N": "3"}}),
    (Collecting, {"a": {"S": "x"}, "n": {"N": "1"}, "l": {"L": [{"S": "y"}]}}),
    (Collecting, {"a": {"S": "x"}, "rest": {"M": {"k": {"S": "v"}}}, "z": {"N": "2"}}),
    (Collecting, {"a": {"S": "x"}, "rest": {"S": "not a map"}}),
    (Collecting, {"a": {"S": "x"}, "bad": {"X": "1"}}),
    (Open, {"a": {"S": "x"}, "c": {"S": "y"}}),
    (Open, {"a": {"S": "x"}, "b": {"S": "y"}}),
    (Everything, {'Text "quoted"\n;x': {"S": "t"}}),
    (Everything, {"text": {"S": "t"}}),
    (Everything, {}),
    (
        Everything,
        {
            'Text "quoted"\n;x': {"S": "t"},
            "when": {"S": "2024-01-02T03:04:05Z"},
            "day": {"N": "86400"},
            "ident": {"S": "12345678-1234-5678-1234-567812345678"},
            "level": {"N": "2.0"},
            "kind": {"N": "3"},
            "either": {"S": "3"},
            "pair": {"L": [{"N": "1"}, {"S": "a"}]},
            "frozen": {"SS": ["a", "b"]},
            "by_number": {"M": {"7": {"S": "editor"}}},
            "anything": {"M": {"l": {"L": [{"N": "1"}, {"BS": [b"x"]}]}}},
            "scale": {"N": "3"},
            "derived": {"S": "ignored"},
            "camelCase": {"S": "c"},
        },
    ),
    (Everything, {"text": {"S": "t"}, "scale": {"N": "-1"}}),
    (Everything, {"text": {"S": "t"}, "when": {"S": "yesterday"}}),
    (Everything, {"text": {"S": "t"}, "ident": {"S": "nope"}}),
    (Everything, {"text": {"S": "t"}, "level": {"N": "5"}}),
    (Everything, {"text": {"S": "t"}, "kind": {"S": "c"}}),
    (Everything, {"text": {"S": "t"}, "either": {"BOOL": True}}),
    (Everything, {"text": {"S": "t"}, "pair": {"L": [{"N": "1"}]}}),
    (Everything, {"text": {"S": "t"}, "by_number": {"M": {"x": {"S": "editor"}}}}),
    (Everything, {"text": {"S": "t"}, "camel_case": {"S": "python-named"}}),
    (Node, {"name": {"S": "a"}, "children": {"L": [{"M": {"name": {"N": "1"}}}]}}),
    (Node, {"name": {"S": "a"}, "children": {"SS": ["x"]}}),
    (Work, work_item()),
    (Work, work_item(contributors={"L": [contributor("A"), {"S": "x"}]})),
    (Work, work_item(tags={"L": [{"S": "a"}, {"N": "1"}]})),
    (Work, work_item(price={"N": "1e400"})),
    (Contributor, contributor("Ann", role="ghost")),
    (Agent, {"name": {"S": "A"}, "born_year": {"N": "1900"}}),
    (Agent, "not a map"),
    (Agent, None),
]


@pytest.mark.parametrize("forbid_unknown", [False, True])
@pytest.mark.parametrize("model, item", OPTION_CASES)
def test_same_outcome_with_every_option(model, item, forbid_unknown):
    assert_same_outcome(model, item, forbid_unknown)


def test_options_decode_as_expected():
    value = compile_decoder(Everything)(OPTION_CASES[14][1])
    assert (value.text, value.derived, value.level, value.kind) == ("t", 6, Level.HIGH, 3)
    assert value.camel_case == "c"


# ---------------------------------------------------------------- the source


def test_compile_decoder_runs_generated_code():
    code = compile_decoder(Work).__code__
    assert code.co_filename.startswith("<generated decoder")
    assert compile_decoder(Work).__qualname__ == "decode_Work"
    assert linecache.getline(code.co_filename, code.co_firstlineno).strip() == "def decode(attrs):"


def generated(model):
    compiler = Compiler(forbid_unknown=False)
    compiler.dataclass_decoder(model)
    return compiler.generated


def test_model_strings_are_never_source_text():
    source = generated(Everything)[Everything].source
    for spec in dataclasses.fields(Everything):
        assert spec.name not in source
    assert "quoted" not in source
    assert "'S'" not in source and '"' not in source
    listing = decoder_source(Everything)
    assert "#   attr_0 = 'Text \"quoted\"\\n;x'\n" in listing


@dataclass_json
@dataclass
class Renamed:
    some_other_name: str
    another: list[Agent] = field(default_factory=list)


@dataclass_json
@dataclass
class Shaped:
    label: str
    agents: list[Agent] = field(default_factory=list)


def test_source_depends_only_on_the_shape_of_the_fields():
    renamed, shaped = generated(Renamed)[Renamed], generated(Shaped)[Shaped]
    assert renamed.source == shaped.source
    assert renamed.listing() != shaped.listing()


def test_decoder_source_lists_every_class_reached():
    text = decoder_source(Work)
    for name in ("decode_Agent", "decode_Contributor", "decode_Work"):
        assert f"# {name}\n" in text
    assert text.count("def make(") == 3


def test_decoder_source_refuses_non_dataclass():
    with pytest.raises(TypeError):
        decoder_source(dict)
