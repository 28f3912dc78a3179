"""A key field that cannot hold its attribute's DynamoDB type is refused before a run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from dataclasses_json import config, dataclass_json

from transforms.decode.model_attributes import key_type_conflicts


@dataclass_json
@dataclass
class Keyed:
    text: str
    whole: int
    exact: Decimal
    raw: bytes
    ident: uuid.UUID
    either: int | str
    parsed: int = field(metadata=config(decoder=int))


@pytest.mark.parametrize(
    "name, tag, fits",
    [
        ("text", "S", True),
        ("text", "N", False),
        ("text", "B", False),
        ("whole", "N", True),
        ("whole", "S", False),
        ("exact", "N", True),
        ("raw", "B", True),
        ("raw", "S", False),
        ("ident", "S", True),
        ("either", "S", True),
        ("parsed", "S", True),  # its own decoder reads what it is given
    ],
)
def test_a_key_field_must_hold_its_attributes_type(name, tag, fits):
    assert (key_type_conflicts(Keyed, [name], [tag]) == []) is fits


def test_each_conflict_names_the_field_its_type_and_the_attribute():
    assert key_type_conflicts(Keyed, ["text", "whole"], ["S", "S"]) == [
        "field Keyed.whole is int, which cannot hold the table's key attribute whole (S, a string)"
    ]
