"""Models the command refuses before it creates anything: a field the decoder
cannot read, and fields whose values ``to_json()`` cannot write."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from dataclasses_json import dataclass_json


@dataclass_json
@dataclass
class Prices:
    by_amount: dict[Decimal, str] = field(default_factory=dict)


@dataclass_json
@dataclass
class Dated:
    id: str
    day: date | None = None
    prices: Prices | None = None


@dataclass_json
@dataclass
class WithCallable:
    id: str
    hook: Callable[[int], int] | None = None


@dataclass_json
@dataclass
class NeedsIsbn:
    """A wrong model for the sample table: no item has an ``isbn``."""

    id: str
    isbn: str


@dataclass_json
@dataclass
class IntKeyed:
    """The sample table's key ``id`` is a string."""

    id: int
    title: str = ""


@dataclass_json
@dataclass
class ManyUnusable:
    """Several fields the command cannot use: each is named at once."""

    id: str
    hook: Callable[[], None] | None = None
    other: Callable[[int], None] | None = None
    day: date | None = None
    prices: Prices | None = None
