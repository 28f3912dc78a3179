"""A model with sets and no encoder of its own for them: their order in a
document is the index's to choose."""

from dataclasses import dataclass, field

from dataclasses_json import dataclass_json


@dataclass_json
@dataclass
class Tagged:
    id: str
    tags: set[str]
    blobs: set[bytes] = field(default_factory=set)
    sizes: frozenset[int] = frozenset()
