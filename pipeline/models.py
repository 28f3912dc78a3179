"""The example model: a library or museum catalogue record, ``Work``.

A ``Work`` is one catalogued item (a book, an article, a map, a recording...)
as stored in the DynamoDB table ``works``: one item per work, hash key ``id``.
The model is declared with dataclasses-json, the way a user of the pipeline
would declare theirs; the CLI refers to it as ``pipeline.models:Work``.

Attribute names in the table are the camelCase forms of the field names
(``letter_case=LetterCase.CAMEL``): ``work_type`` is stored as ``workType``,
``Agent.born_year`` as ``bornYear``, ``modified_at`` as ``modifiedAt``.

How each field is stored in DynamoDB's wire format:

=================  ===========================================================
field              attribute
=================  ===========================================================
``id``             ``S``, the table's hash key
``title``          ``S``, required
``subtitle``       ``S``, optional
``work_type``      ``S``, one of the :class:`WorkType` values
``contributors``   ``L`` of ``M`` (:class:`Contributor`, nested :class:`Agent`)
``production``     ``L`` of ``M`` (:class:`ProductionEvent`, :class:`Period`)
``subjects``       ``L`` of ``S``
``identifiers``    ``L`` of ``M`` (:class:`Identifier`)
``languages``      ``SS`` (absent when empty: DynamoDB has no empty sets)
``price``          ``N``, kept exactly as a ``Decimal``
``page_count``     ``N``, an integer
``available``      ``BOOL``
``modified_at``    ``S``, ISO-8601 with a UTC offset, e.g. ``2021-03-04T12:30:00Z``
``thumbnail``      ``B``, optional binary
``notes``          ``L`` of ``S``
=================  ===========================================================

Fields without a default are required. ``from_dict`` accepts the plain Python
values that ``boto3.dynamodb.types.TypeDeserializer`` produces (``Decimal``
numbers, ``Binary`` or ``bytes`` binaries, ``set`` string sets, ISO strings
for dates). ``to_json`` writes the date as the same ISO string, the thumbnail
as base64 and the languages as a sorted list, so the JSON of a record is
stable from run to run; ``from_json`` reads that form back.

dataclasses-json does not check types when decoding: ``Work.from_dict`` will
happily build a ``Work`` whose title is a number. The pipeline's strict
decoder is what rejects items that do not fit this model.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from dataclasses_json import LetterCase, config, dataclass_json

__all__ = [
    "Agent",
    "Contributor",
    "Identifier",
    "Period",
    "ProductionEvent",
    "Work",
    "WorkType",
    "decode_binary",
    "encode_binary",
    "format_datetime",
    "parse_datetime",
]


def format_datetime(value: datetime) -> str:
    """ISO-8601 text of an aware datetime; UTC is written with a ``Z``.

    Raises ``ValueError`` for a naive datetime: a catalogue timestamp without
    a zone is ambiguous.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: a UTC offset is required")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_datetime(value: Any) -> datetime:
    """The inverse of :func:`format_datetime`; a ``datetime`` passes through.

    Raises ``ValueError`` for text that is not an ISO-8601 date-time with a
    UTC offset (``"2021-13-45"``, ``"yesterday"``, a date without a zone), and
    ``TypeError`` for anything that is neither text nor a datetime.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"date-time {value!r} has no UTC offset")
    return parsed


def encode_binary(value: bytes | None) -> str | None:
    """Base64 text of a binary value, for JSON; ``None`` stays ``None``."""
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def decode_binary(value: Any) -> bytes | None:
    """``bytes`` from base64 text, ``bytes``, or boto3's ``Binary`` wrapper.

    Raises ``ValueError`` for text that is not valid base64 and ``TypeError``
    for other types.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as e:
            raise ValueError(f"not valid base64: {value[:40]!r}") from e
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "__bytes__"):
        return bytes(value)
    raise TypeError(f"expected binary or base64 text, got {type(value).__name__}")


def _sorted_strings(values: set[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


class WorkType(Enum):
    """What kind of thing a work is; stored as the lower-case value."""

    BOOK = "book"
    ARTICLE = "article"
    MAP = "map"
    RECORDING = "recording"
    MANUSCRIPT = "manuscript"
    PHOTOGRAPH = "photograph"
    SCORE = "score"


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class Identifier:
    """An identifier in a named scheme: ``isbn``, ``doi``, ``oclc``, ``viaf``..."""

    scheme: str
    value: str


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class Agent:
    """A person or organisation; ``born_year`` is stored as ``bornYear``."""

    label: str
    born_year: int | None = None
    identifiers: list[Identifier] = field(default_factory=list)


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class Contributor:
    """An agent's part in a work; ``role`` is e.g. ``author``, ``editor``."""

    agent: Agent
    role: str | None = None


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class Period:
    """A dated moment: a display label and the year it sorts by."""

    label: str
    year: int


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class ProductionEvent:
    """Where and when a work was made, published or printed."""

    place: str | None = None
    dates: list[Period] = field(default_factory=list)
    function: str | None = None


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass(frozen=False)
class Work:
    """One catalogue record; the table's hash key is ``id``.

    Required: ``id``, ``title``, ``work_type``, ``modified_at``. Everything
    else has a default, so an item may leave those attributes out.
    """

    id: str
    title: str
    work_type: WorkType
    modified_at: datetime = field(metadata=config(encoder=format_datetime, decoder=parse_datetime))
    subtitle: str | None = None
    contributors: list[Contributor] = field(default_factory=list)
    production: list[ProductionEvent] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)
    languages: set[str] = field(default_factory=set, metadata=config(encoder=_sorted_strings))
    price: Decimal | None = None
    page_count: int | None = None
    available: bool = True
    thumbnail: bytes | None = field(
        default=None, metadata=config(encoder=encode_binary, decoder=decode_binary)
    )
    notes: list[str] = field(default_factory=list)
