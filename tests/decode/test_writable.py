"""Fields whose values ``to_json()`` cannot write are named before a job starts."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, NewType

import pytest
from dataclasses_json import cfg, config, dataclass_json

from pipeline.models import Work
from transforms.decode import check_writable, unwritable_fields


class Plain(enum.Enum):
    A = "a"


class Text(str, enum.Enum):
    A = "a"


Day = NewType("Day", date)


@dataclass_json
@dataclass
class Leaf:
    when: date
    stamp: datetime


@dataclass_json
@dataclass
class Node:
    """Refers to itself: checked once."""

    name: str
    children: list[Node] = field(default_factory=list)
    leaf: Leaf | None = None


@dataclass_json
@dataclass
class Mixed:
    id: str
    day: date | None = None
    days: list[Day] = field(default_factory=list)
    by_amount: dict[Decimal, int] = field(default_factory=dict)
    by_member: dict[Plain, int] = field(default_factory=dict)
    clock: time = field(default=time(1), metadata=config(encoder=time.isoformat))
    by_text: dict[Text, int] = field(default_factory=dict)
    by_number: dict[int, str] = field(default_factory=dict)
    either: date | str | None = None
    anything: Any = None
    ident: uuid.UUID | None = None
    amount: Decimal = Decimal(0)
    pair: tuple[int, str] = (0, "")
    tree: Node | None = None


PROBLEMS = [
    ("Mixed.day", "a date"),
    ("Mixed.days", "a date"),
    ("Mixed.by_amount", "map keys of type Decimal: JSON keys are strings"),
    ("Mixed.by_member", "map keys of type Plain: JSON keys are strings"),
    ("Leaf.when", "a date"),
]

# A value of each named field, to show that to_json() really refuses it.
REFUSED = {
    "day": date(2024, 2, 29),
    "days": [date(2024, 2, 29)],
    "by_amount": {Decimal(1): 1},
    "by_member": {Plain.A: 1},
    "tree": Node("n", leaf=Leaf(date(2024, 2, 29), datetime.now(timezone.utc))),
}
# Values of the fields left alone that to_json() writes.
WRITTEN = {
    "clock": time(2),
    "by_text": {Text.A: 1},
    "by_number": {1: "one"},
    "either": "text",
    "anything": [1, "a"],
    "ident": uuid.UUID(int=1),
    "pair": (1, "a"),
    "tree": Node("n", [Node("m")]),
}


def test_the_fields_to_json_cannot_write_are_named_nested_classes_included():
    assert unwritable_fields(Mixed) == PROBLEMS


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_named_field_is_refused_by_to_json(name):
    with pytest.raises(TypeError):
        dataclasses.replace(Mixed("m"), **{name: REFUSED[name]}).to_json()


def test_the_fields_left_alone_are_written_by_to_json():
    assert Mixed("m", **WRITTEN).to_json()


def test_the_error_names_each_field_and_the_fix():
    with pytest.raises(TypeError) as raised:
        check_writable(Mixed)
    message = str(raised.value)
    assert message.startswith(
        "to_json() cannot write the values of Mixed.day (a date), Mixed.days (a date), "
        "Mixed.by_amount (map keys of type Decimal: JSON keys are strings), "
    )
    assert message.endswith(
        "so no record holding one could be indexed: give each such field an encoder, "
        "field(metadata=dataclasses_json.config(encoder=...))"
    )


def test_a_model_without_such_fields_passes():
    assert unwritable_fields(Work) == []
    assert unwritable_fields(Node) == [("Leaf.when", "a date")]
    check_writable(Work)


@dataclass_json
@dataclass
class Dated:
    day: date | None = None
    days: list[date] = field(default_factory=list)
    by_day: dict[date, int] = field(default_factory=dict)


def test_a_global_encoder_makes_its_class_writable_wherever_it_is():
    """``to_json()`` applies dataclasses-json's global encoders by the class of each value."""
    assert [where for where, _ in unwritable_fields(Dated)] == [
        "Dated.day",
        "Dated.days",
        "Dated.by_day",
    ]
    cfg.global_config.encoders[date] = date.isoformat
    try:
        assert unwritable_fields(Dated) == []
        written = Dated(date(2024, 1, 2), [date(2024, 1, 3)], {date(2024, 1, 4): 1}).to_json()
        assert written == (
            '{"day": "2024-01-02", "days": ["2024-01-03"], "by_day": {"2024-01-04": 1}}'
        )
    finally:
        del cfg.global_config.encoders[date]
