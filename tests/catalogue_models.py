"""A model whose fields are stored under awkward attribute names (bad-input tests).

Dots, dashes, spaces and DynamoDB reserved words (``size``, ``status``,
``name``) are all legal attribute names; the table's hash key is ``item-id``.
"""

from dataclasses import dataclass, field

from dataclasses_json import config, dataclass_json


@dataclass_json
@dataclass
class OddlyNamed:
    item_id: str = field(metadata=config(field_name="item-id"))
    first_name: str = field(metadata=config(field_name="first.name"))
    name: str = ""
    size: int = 0
    status: str | None = None
    ratio: float = field(default=0.0, metadata=config(field_name="ratio %"))
