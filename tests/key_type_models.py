"""Models whose key fields are not ``str`` or numbers, and one whose encoder refuses
some records: document ids must come from the raw key, and index-stage dead
letters count like decode ones.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from dataclasses_json import config, dataclass_json


@dataclass_json
@dataclass
class UuidKeyed:
    id: UUID
    title: str


class Shelf(enum.Enum):
    FICTION = "fiction"
    POETRY = "poetry"
    ESSAYS = "essays"


@dataclass_json
@dataclass
class EnumKeyed:
    id: Shelf
    title: str


@dataclass_json
@dataclass
class DatetimeKeyed:
    id: datetime
    title: str


@dataclass_json
@dataclass
class BytesKeyed:
    id: bytes
    title: str


def _refuse_poison(title: str) -> str:
    if title.startswith("poison"):
        raise ValueError(f"refusing to encode {title!r}")
    return title


@dataclass_json
@dataclass
class PoisonTitles:
    """Titles starting with ``poison`` cannot be encoded: those records become
    index-stage dead letters."""

    id: str
    title: str = field(metadata=config(encoder=_refuse_poison))
