"""Which item attribute holds which model field, as dataclasses-json sees it.

A field's attribute name is its name passed through the class's
``letter_case`` and then the field's own ``config(letter_case=...)`` or
``config(field_name=...)`` (field settings win).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from transforms.decode.compiler import Compiler
from transforms.decode.errors import type_name
from transforms.decode.hints import hints
from transforms.decode.models import field_options

__all__ = ["attribute_names", "fields_for_attributes", "key_type_conflicts"]

_TYPE_NAMES = {"S": "a string", "N": "a number", "B": "binary"}


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

    An attribute spelled as a field's Python name is that field's, as
    dataclasses-json reads it, unless another field's attribute name is
    spelled so. Raises ValueError naming the attributes the model does not
    hold, since a document id cannot be made without them.
    """
    names = attribute_names(model)
    by_attribute = {attr: name for name, attr in names.items()}
    for name in names:
        by_attribute.setdefault(name, name)
    missing = [attr for attr in attributes if attr not in by_attribute]
    if missing:
        raise ValueError(
            f"model {model.__qualname__} has no field for the key attribute(s) "
            f"{', '.join(missing)}; add them so documents get stable ids"
        )
    return tuple(by_attribute[attr] for attr in attributes)


def key_type_conflicts(model: type, attributes: Sequence[str], types: Sequence[str]) -> list[str]:
    """One line per key field of ``model`` whose type cannot hold its attribute's
    DynamoDB type (``types``: S, N or B per attribute), since then every item of
    the table would fail to decode. A field with a decoder of its own is not checked.
    """
    specs = {spec.name: spec for spec in dataclasses.fields(model)}
    field_hints = hints(model)
    class_config = getattr(model, "dataclass_json_config", None) or {}
    compiler = Compiler(forbid_unknown=False)
    conflicts = []
    for attribute, name, tag in zip(
        attributes, fields_for_attributes(model, attributes), types, strict=True
    ):
        options = field_options(specs[name], class_config, compiler.global_decoders)
        if options.get("decoder") is not None:
            continue
        tp = field_hints[name]
        if tag not in compiler.plan(tp, f"{model.__qualname__}.{name}", as_field=True).handlers:
            conflicts.append(
                f"field {model.__qualname__}.{name} is {type_name(tp)}, which cannot hold the "
                f"table's key attribute {attribute} ({tag}, {_TYPE_NAMES.get(tag, tag)})"
            )
    return conflicts
