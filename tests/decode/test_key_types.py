"""A key field that cannot hold its attribute's DynamoDB type is refused before a run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from dataclasses_json import LetterCase, config, dataclass_json

from transforms.decode.model_attributes import fields_for_attributes, key_type_conflicts


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


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class CamelKeyed:
    user_id: str
    sort_at: int


@dataclass_json
@dataclass
class Renamed:
    user_id: str
    other: str = field(metadata=config(field_name="user_key"))
    taken: str = field(default="", metadata=config(field_name="other"))


def test_a_key_attribute_spelled_as_a_python_field_name_is_that_field():
    """dataclasses-json reads a field from its Python name too (``userId`` or ``user_id``)."""
    assert fields_for_attributes(CamelKeyed, ["user_id", "sortAt"]) == ("user_id", "sort_at")
    assert fields_for_attributes(CamelKeyed, ["userId", "sort_at"]) == ("user_id", "sort_at")
    assert key_type_conflicts(CamelKeyed, ["user_id", "sort_at"], ["S", "S"]) == [
        "field CamelKeyed.sort_at is int, which cannot hold the table's key attribute "
        "sort_at (S, a string)"
    ]
    # another field's attribute name wins over a Python name
    assert fields_for_attributes(Renamed, ["other", "user_key"]) == ("taken", "other")
    with pytest.raises(ValueError, match=r"no field for the key attribute\(s\) userKey"):
        fields_for_attributes(Renamed, ["userKey"])
