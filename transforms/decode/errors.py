"""Decoding failures: :class:`DecodeError`, its attribute path, and its messages.

A failure is raised where the wire value is read, with an empty path; each
enclosing attribute, list position or map key adds its segment with
:func:`within` as the error leaves it, so the path is built only for items
that fail. Messages describe wire values briefly (:func:`describe`) and cut
long text to :data:`SHORT` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_origin

__all__ = [
    "SHORT",
    "DecodeError",
    "describe",
    "malformed",
    "short",
    "type_name",
    "undecodable",
    "unexpected",
    "within",
]


class DecodeError(ValueError):
    """An item does not fit the model.

    ``error_type`` is one short CamelCase kind (see :mod:`transforms.decode.decoder`),
    ``field`` the path of the failing attribute in the item's own names
    (``contributors[2].agent.bornYear``) or None for the item as a whole, and
    ``message`` says what was expected and what was found.
    """

    def __init__(self, error_type: str, message: str, field: str | None = None):
        super().__init__(error_type, message, field)
        self.error_type = error_type
        self.message = message
        self.field = field

    @property
    def field(self) -> str | None:
        """Attribute names joined by dots, list and set positions as ``[i]``."""
        if not self._segments:
            return None
        parts = []
        for segment in reversed(self._segments):
            if isinstance(segment, int):
                parts.append(f"[{segment}]")
            else:
                parts.append(f".{segment}" if parts else segment)
        return "".join(parts)

    @field.setter
    def field(self, path: str | None) -> None:
        self._segments: list[str | int] = [] if path is None else [path]

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.error_type}: {self.message}"
        return f"{self.error_type} at {self.field}: {self.message}"

    def __reduce__(self):
        return type(self), (self.error_type, self.message, self.field)


def within(error: DecodeError, segment: str | int) -> DecodeError:
    """Puts an attribute name, or an ``int`` list position, in front of the
    error's path as the error leaves that attribute or element."""
    error._segments.append(segment)
    return error


SHORT = 60


def short(text: str) -> str:
    """``text`` cut to :data:`SHORT` characters, ending in ``...`` when cut."""
    return text if len(text) <= SHORT else text[: SHORT - 3] + "..."


def describe(wire: Any) -> str:
    """A short description of a wire value, for messages: ``S 'abc'``; never
    fails, whatever the value holds."""
    try:
        return _description(wire)
    except (TypeError, ValueError):  # a payload of the wrong shape for its tag
        return f"malformed value {short(repr(wire))}"


def _description(wire: Any) -> str:
    if not isinstance(wire, Mapping) or len(wire) != 1:
        return f"malformed value {short(repr(wire))}"
    ((tag, payload),) = wire.items()
    if tag in ("S", "N"):
        return f"{tag} {short(repr(payload))}"
    if tag == "BOOL":
        return f"BOOL {payload!r}"
    if tag == "NULL":
        return "NULL"
    if tag == "B":
        return f"B of {len(payload)} bytes"
    if tag == "M":
        return f"M with keys {short(', '.join(map(str, payload)))}"
    if tag in ("L", "SS", "NS", "BS"):
        return f"{tag} of {len(payload)} elements"
    return f"unknown type {short(repr(tag))}"


def undecodable(where: str, tp: Any) -> TypeError:
    """The error for a field type the decoder cannot read; ``where`` is ``Class.field``."""
    return TypeError(
        f"{where}: cannot decode type {type_name(tp)}; give the field a decoder "
        "with dataclasses_json.config(decoder=...)"
    )


def type_name(tp: Any) -> str:
    """A type as messages name it: ``int``, ``list[str]``, ``Optional[int]``."""
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "").replace("collections.abc.", "")


def unexpected(wire: Any, expected: str, nullable: bool) -> None:
    """The wire value has none of the accepted tags: None for a NULL where
    allowed, otherwise the error."""
    if isinstance(wire, dict) and len(wire) == 1 and wire.get("NULL") is True:
        if nullable:
            return None
        raise DecodeError("NullNotAllowed", f"expected {expected}, got NULL")
    raise DecodeError("TypeMismatch", f"expected {expected}, got {describe(wire)}")


def malformed(wire: Any, error: Exception) -> DecodeError:
    """The error for a wire value whose shape broke a reader (``error``)."""
    described = describe(wire)
    if not described.startswith("malformed value"):
        described = f"malformed value {described}"
    return DecodeError("TypeMismatch", f"{described} ({error})")
