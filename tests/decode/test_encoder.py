"""Tests of transforms.decode.encoder: the text is byte-identical to ``to_json()``
of the record with its sets in order (``sets_in_order``)."""

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

import pytest
from dataclasses_json import CatchAll, LetterCase, Undefined, cfg, config, dataclass_json
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.decode.test_decoder import Agent, Contributor, Role, Work, models_with_items, work_item
from transforms.decode.decoder import compile_decoder
from transforms.decode.encoder import compile_encoder, failing_field, in_order, sets_in_order


class Shade(str, Enum):
    DARK = "dark"
    LIGHT = "light"


class Rank(IntEnum):
    LOW = 1
    HIGH = 2


class Kind(Enum):
    BOOK = "book"
    WEIGHT = 1.5
    PAIR = (1, 2)
    PRICE = Decimal("2.50")


@dataclass_json
@dataclass
class Box:
    value: Any = None


def assert_same_text(record):
    assert compile_encoder(type(record))(record) == sets_in_order(record).to_json()


# ---------------------------------------------------------------- records


def test_matches_to_json_on_a_realistic_record():
    work = compile_decoder(Work)(work_item(pageCount={"N": "412"}))
    assert_same_text(work)


def test_letter_case_keys():
    assert compile_encoder(Agent)(Agent("Ann", 1961)) == '{"name": "Ann", "bornYear": 1961}'


def test_nested_dataclasses_use_their_own_keys():
    assert_same_text(Contributor(Agent("Ann", 1961), Role.EDITOR))


def test_field_name_override():
    @dataclass_json
    @dataclass
    class Renamed:
        title: str = field(metadata=config(field_name="dc:title"))

    assert compile_encoder(Renamed)(Renamed("x")) == '{"dc:title": "x"}'


def test_field_letter_case_override():
    @dataclass_json(letter_case=LetterCase.CAMEL)
    @dataclass
    class Mixed:
        first_name: str
        last_name: str = field(metadata=config(letter_case=LetterCase.PASCAL))

    assert_same_text(Mixed("a", "b"))


def test_exclude_sees_the_unconverted_value():
    @dataclass_json
    @dataclass
    class Priced:
        price: Decimal = field(metadata=config(exclude=lambda value: value == 0))
        note: str | None = field(default=None, metadata=config(exclude=lambda v: v is None))

    assert compile_encoder(Priced)(Priced(Decimal("0"))) == "{}"
    assert_same_text(Priced(Decimal("0.5"), "n"))


def test_exclude_on_nested_dataclass_sees_a_dict():
    @dataclass_json
    @dataclass
    class Holder:
        agent: Agent = field(
            metadata=config(exclude=lambda value: value == {"name": "x", "bornYear": None})
        )

    assert compile_encoder(Holder)(Holder(Agent("x"))) == "{}"
    assert_same_text(Holder(Agent("y")))


def test_custom_encoder_gets_the_raw_value():
    @dataclass_json
    @dataclass
    class Stamped:
        at: datetime = field(metadata=config(encoder=datetime.isoformat))

    record = Stamped(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert compile_encoder(Stamped)(record) == '{"at": "2024-01-02T03:04:05+00:00"}'


def test_global_config_encoder():
    @dataclass(frozen=True)
    class Money:
        cents: int

    cfg.global_config.encoders[Money] = lambda money: f"{money.cents / 100:.2f}"
    try:

        @dataclass_json
        @dataclass
        class Priced:
            price: Money

        assert_same_text(Priced(Money(250)))
    finally:
        del cfg.global_config.encoders[Money]


def test_undefined_include_writes_catch_all_entries():
    @dataclass_json(undefined=Undefined.INCLUDE)
    @dataclass
    class Collecting:
        a: str
        rest: CatchAll = None

    record = Collecting("x", {"n": Decimal(1), "l": [b"y"]})
    assert_same_text(record)
    assert_same_text(Collecting("x"))


def test_fields_sharing_a_key_fail_like_to_json():
    @dataclass_json(letter_case=LetterCase.CAMEL)
    @dataclass
    class Clash:
        a_b: int
        aB: int

    record = Clash(1, 2)
    with pytest.raises(ValueError, match="Multiple fields"):
        record.to_json()
    with pytest.raises(ValueError, match="Multiple fields"):
        compile_encoder(Clash)(record)


# ---------------------------------------------------------------- values


def value_id(value) -> str:
    """A test id that is the same in every process: a set's repr follows the hash seed."""
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({', '.join(sorted(map(repr, value)))})"
    return repr(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("12.50"),
        Decimal("1E+2"),
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5))),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Role.AUTHOR,
        Shade.DARK,
        Rank.HIGH,
        Kind.WEIGHT,
        Kind.PAIR,
        Kind.PRICE,
        b"\x00\xff",
        bytearray(b"ab"),
        {"b", "a"},
        frozenset({1, 2}),
        (1, "a"),
        [1.5, None, True],
        {"k": [Decimal(1)], 2: {"x": Role.EDITOR}},
        {1.5: "float key", None: "null key", True: "bool key"},
        "non-ascii é ☃ \U0001f600",
        float("nan"),
        float("inf"),
        -0.0,
        10**30,
        Agent("nested", 1),
    ],
    ids=value_id,
)
def test_value_written_like_to_json(value):
    assert_same_text(Box(value))


@pytest.mark.parametrize("value", [date(2024, 1, 2), {Decimal(1): "x"}, {Role.AUTHOR: 1}, object()])
def test_value_refused_like_to_json(value):
    record = Box(value)
    with pytest.raises(TypeError):
        record.to_json()
    with pytest.raises(TypeError):
        compile_encoder(Box)(record)


def test_value_not_matching_its_annotation_is_written_by_its_runtime_type():
    agent = Agent(name=Decimal("1.5"), born_year="1961")
    assert_same_text(agent)


def test_subclass_record_is_written_with_its_own_fields():
    @dataclass_json
    @dataclass
    class Extended(Agent):
        alias: str = "a"

    record = Extended("x", 1, "y")
    assert compile_encoder(Agent)(record) == record.to_json()


# ---------------------------------------------------------------- sets


def unsorted_strings() -> set[str]:
    """A set of strings whose own order (this process's hashes) is not sorted."""
    for size in range(3, 50):
        values = {f"t{number}" for number in range(size)}
        if list(values) != sorted(values):
            return values
    raise AssertionError("no set of strings iterates out of order")


@dataclass_json
@dataclass(frozen=True)
class Tagged:
    tags: Any
    raw: Any = field(
        default=None, metadata=config(encoder=lambda value: value and sorted(value)[:1])
    )


def test_set_elements_are_written_sorted_whatever_the_sets_own_order():
    tags = unsorted_strings()
    text = compile_encoder(Tagged)(Tagged(tags))
    assert text == '{"tags": [' + ", ".join(f'"{tag}"' for tag in sorted(tags)) + '], "raw": null}'
    assert compile_encoder(Box)(Box([tags, {"k": frozenset(tags)}])) == (
        sets_in_order(Box([tags, {"k": frozenset(tags)}])).to_json()
    )


SET_TEXT = """
import sys
sys.path.insert(0, sys.argv[1])
from dataclasses import dataclass
from typing import Any
from dataclasses_json import dataclass_json
from transforms.decode.encoder import compile_encoder

@dataclass_json
@dataclass
class Tagged:
    tags: Any

record = Tagged({f"tag {n}" for n in range(40)})
print(record.to_json())
print(compile_encoder(Tagged)(record))
"""


def test_a_set_of_strings_is_written_the_same_in_every_process():
    """A string's hash, and so a set's order, changes with the process; the
    set's text must not (a rebuild's sample is written in another process
    than the documents)."""
    from tests.reindex_runs import ROOT

    to_json, encoded = set(), set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", SET_TEXT, str(ROOT)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        first, second = done.stdout.splitlines()
        to_json.add(first)
        encoded.add(second)
    assert len(encoded) == 1
    assert len(to_json) > 1  # to_json() itself writes the set in each process's order


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"b", "a", "c"}, ["a", "b", "c"]),
        ({b"\x01", b"\x00"}, [b"\x00", b"\x01"]),
        ({3, Decimal("1.5"), 2.0}, [Decimal("1.5"), 2.0, 3]),
        ({Decimal("NaN"), Decimal(2), Decimal(1)}, [Decimal(1), Decimal(2), Decimal("NaN")]),
        ({Shade.LIGHT, Shade.DARK}, [Shade.DARK, Shade.LIGHT]),
        ({"a", 1}, ["a", 1]),  # by repr: "'a'" < "1"
        (frozenset(), []),
    ],
    ids=value_id,
)
def test_in_order(values, expected):
    assert list(map(repr, in_order(values))) == list(map(repr, expected))  # NaN != NaN


def test_sets_in_order_copies_only_what_holds_a_set():
    tags = unsorted_strings()
    record = Tagged(tags, raw={"z", "y"})
    ordered = sets_in_order(record)
    assert ordered is not record and record.tags is tags  # the frozen record is not changed
    assert ordered.tags == sorted(tags) and ordered.raw is record.raw  # the encoder's value: raw
    plain = Box([1, {"k": (2, "x")}, Agent("a", 1)])
    assert sets_in_order(plain) is plain


# ---------------------------------------------------------------- compiling


def test_compile_encoder_is_cached_per_model():
    assert compile_encoder(Work) is compile_encoder(Work)


def test_compile_encoder_refuses_non_dataclass():
    with pytest.raises(TypeError):
        compile_encoder(dict)


# ---------------------------------------------------------------- generated


@settings(max_examples=100, deadline=None)
@given(models_with_items())
def test_matches_to_json_on_generated_models(model_and_item):
    model, item = model_and_item
    assert_same_text(compile_decoder(model)(item))


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.decimals(allow_nan=False),
    st.just(Decimal("NaN")),
    st.datetimes(timezones=st.just(timezone.utc)),
    st.uuids(),
    st.sampled_from([*Role, *Shade, *Rank, Kind.BOOK, Kind.WEIGHT, Kind.PRICE]),
    st.binary(max_size=4),
)
keys = st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none())
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
        st.dictionaries(keys, inner, max_size=3),
        st.builds(Box, inner),
        st.builds(Agent, st.text(max_size=3), st.none() | st.integers()),
    ),
    max_leaves=12,
)


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Configured:
    plain_value: Any
    maybe_skipped: Any = field(
        default=None, metadata=config(exclude=lambda value: value is None or value == 0)
    )
    as_text: Any = field(default=None, metadata=config(encoder=repr))
    renamed: Any = field(default=None, metadata=config(field_name="other-name"))


@settings(max_examples=150, deadline=None)
@given(st.builds(Configured, values, values, values, values))
def test_matches_to_json_on_generated_values(record):
    assert_same_text(record)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_value_of_a_plain_record_is_written_like_to_json(value):
    """Written directly where the text writer knows the type, through the tree elsewhere."""
    assert_same_text(Box(value))
    assert_same_text(Box([value, Box(value), {"key": value}]))


def test_configured_record_text():
    record = Configured(1, 2, 3, 4)
    assert compile_encoder(Configured)(record) == (
        '{"plainValue": 1, "maybeSkipped": 2, "asText": "3", "other-name": 4}'
    )


def _refuse_seven(value: int) -> int:
    if value == 7:
        raise ValueError("not seven")
    return value


@dataclass_json
@dataclass
class _Part:
    n: int = field(metadata=config(encoder=_refuse_seven))


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class _Whole:
    part_list: list[_Part]
    by_name: dict[str, _Part]
    when: date | None = None


@pytest.mark.parametrize(
    "record, where",
    [
        (_Whole([_Part(1), _Part(7)], {}), "partList[1].n"),
        (_Whole([], {"a": _Part(1), "b": _Part(7)}), "byName.b.n"),
        (_Whole([], {}, date(2024, 1, 2)), "when"),
        (_Whole([_Part(1)], {"a": _Part(2)}), None),
    ],
    ids=["list", "map", "unwritable_value", "none"],
)
def test_the_field_a_record_cannot_be_written_by_is_found(record, where):
    """For its dead letter: the path, in JSON keys, of the value that refuses."""
    assert failing_field(record) == where
    if where is not None:
        with pytest.raises(Exception):  # noqa: B017 - whatever the encoder raises
            compile_encoder(_Whole)(record)


def test_a_global_encoder_of_int_or_str_applies_wherever_to_json_applies_it():
    """dataclasses-json applies a global encoder to every value of its class,
    in lists and optional fields too; the encoder writes what to_json() does."""
    cfg.global_config.encoders[int] = lambda value: f"#{value}"
    try:

        @dataclass_json
        @dataclass
        class Counted:
            id: str
            count: int = 0
            sizes: list[int] = field(default_factory=list)
            best: int | None = None
            tags: set[str] = field(default_factory=set)

        record = Counted("r1", 2, [3, 4], 5, {"b", "a"})
        written = compile_encoder(Counted)(record)
        assert written == sets_in_order(record).to_json()
        assert written == (
            '{"id": "r1", "count": "#2", "sizes": ["#3", "#4"], "best": "#5", "tags": ["a", "b"]}'
        )
    finally:
        del cfg.global_config.encoders[int]
