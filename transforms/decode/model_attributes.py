"""Which item attribute holds which model field, as dataclasses-json sees it.

A field's attribute name is its name passed through the class's
``letter_case`` and then the field's own ``config(letter_case=...)`` or
``config(field_name=...)`` (field settings win).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["attribute_names", "fields_for_attributes"]


def attribute_names(model: type) -> dict[str, str]:
    """``{field name: attribute name}`` for the fields of a dataclass model."""
    class_config = getattr(model, "dataclass_json_config", None) or {}
    names = {}
    for spec in dataclasses.fields(model):
        options = dict(class_config)
        options.update(spec.metadata.get("dataclasses_json", {}))
        letter_case = options.get("letter_case")
        names[spec.name] = spec.name if letter_case is None else letter_case(spec.name)
    return names


def fields_for_attributes(model: type, attributes: Sequence[str]) -> tuple[str, ...]:
    """The model fields holding ``attributes`` (e.g. the table's key).

    Raises ValueError naming the attributes the model does not hold, since a
    document id cannot be made without them.
    """
    by_attribute = {attr: name for name, attr in attribute_names(model).items()}
    missing = [attr for attr in attributes if attr not in by_attribute]
    if missing:
        raise ValueError(
            f"model {model.__qualname__} has no field for the key attribute(s) "
            f"{', '.join(missing)}; add them so documents get stable ids"
        )
    return tuple(by_attribute[attr] for attr in attributes)
