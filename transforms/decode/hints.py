"""A model's type hints as the decoder reads them.

Hints are resolved once per class (:func:`hints`), ``NewType`` aliases are
read as their base type (:func:`unwrap_new_type`), and both spellings of a
union, ``Union[A, B]`` and ``A | B``, are recognised (:data:`UNION_TYPES`).
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints

__all__ = ["UNION_TYPES", "hints", "is_optional", "unwrap_new_type"]

UNION_TYPES = (Union, types.UnionType)


def hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a class; a TypeError names the class when
    a hint cannot be resolved."""
    try:
        return get_type_hints(cls)
    except Exception as error:
        raise TypeError(f"cannot resolve the type hints of {cls.__qualname__}: {error}") from error


def unwrap_new_type(tp: Any) -> Any:
    """The base type of a (possibly nested) ``NewType``; other types as given."""
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


def is_optional(tp: Any) -> bool:
    """True for ``Any`` and for unions that include None."""
    return tp is Any or (get_origin(tp) in UNION_TYPES and type(None) in get_args(tp))
