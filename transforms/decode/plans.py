"""Plans: how one Python type is read from the wire, and the converter of a plan.

A :class:`Plan` maps each wire tag the type accepts to a payload function.
Decoders try a plan's first tag directly (:meth:`Plan.primary`) and fall back
to the full converter (:func:`converter`), which also turns NULL into None
where allowed and raises the right :class:`~transforms.decode.errors.DecodeError`
for anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from transforms.decode.errors import unexpected

__all__ = ["ABSENT", "Item", "Plan", "Wire", "converter", "none"]

Wire = Mapping[str, Any]
Item = Mapping[str, Wire]

ABSENT = object()
"""An absent attribute whose field keeps its dataclass default."""


class Plan:
    """How one Python type is read from the wire.

    ``handlers`` maps each accepted tag to a function of the payload, or to
    None when the payload is the value itself. NULL is accepted, as None, only
    when ``nullable``. ``expected`` names the type in messages.
    """

    __slots__ = ("expected", "handlers", "nullable")

    def __init__(self, handlers: dict[str, Callable | None], expected: str, nullable: bool = False):
        self.handlers = handlers
        self.expected = expected
        self.nullable = nullable

    def or_null(self) -> Plan:
        return Plan(self.handlers, f"{self.expected} or NULL", True)

    def primary(self) -> tuple[str, Callable | None]:
        """The first accepted tag and its payload function: the fast path
        that decoders try before the full converter."""
        for tag, read in self.handlers.items():
            return tag, read
        return "NULL", none


def none(payload: Any) -> None:
    """The value of NULL, whose payload is always true."""
    if payload is not True:
        raise TypeError(f"NULL holds {payload!r}, not true")
    return None


def converter(plan: Plan) -> Callable[[Wire], Any]:
    """The function wire value -> Python value for a plan; the function keeps
    the plan as its attribute ``plan``."""
    handlers, expected, nullable = plan.handlers, plan.expected, plan.nullable
    if len(handlers) == 1:
        ((tag, read),) = handlers.items()

        def convert(wire):
            try:
                payload = wire.get(tag)
            except AttributeError:
                payload = None
            if payload is None:
                return unexpected(wire, expected, nullable)
            return payload if read is None else read(payload)

        convert.plan = plan
        return convert

    def convert(wire):
        try:
            ((tag, payload),) = wire.items()
            read = handlers[tag]
        except (KeyError, TypeError, ValueError, AttributeError):
            return unexpected(wire, expected, nullable)
        return payload if read is None else read(payload)

    convert.plan = plan
    return convert
