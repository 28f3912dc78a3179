"""``Union`` and ``Optional``: NULL where None is a member, else the first member that fits.

``Optional[T]`` is T's plan that also accepts NULL. For other unions the
members' plans are merged tag by tag: a tag only one member accepts goes to
that member; a tag several accept is tried on each in declaration order, and
a value that none decodes is a ``TypeMismatch`` naming every member's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transforms.decode.errors import DecodeError, describe
from transforms.decode.plans import Plan

__all__ = ["first_that_decodes", "union_plan"]


def first_that_decodes(
    candidates: list[tuple[str, Callable | None]], expected: str, tag: str
) -> Callable:
    """Payload function trying each Union member accepting ``tag``, in order."""

    def read(payload):
        failures = []
        for name, read_member in candidates:
            if read_member is None:
                return payload
            try:
                return read_member(payload)
            except DecodeError as error:
                failures.append(f"as {name}: {error}")
        raise DecodeError(
            "TypeMismatch",
            f"expected {expected}, got {describe({tag: payload})}; " + "; ".join(failures),
        )

    return read


def union_plan(args: tuple[Any, ...], where: str, plan: Callable[[Any, str], Plan]) -> Plan:
    """The plan of ``Union[args]``; ``plan`` reads each member type."""
    members = [arg for arg in args if arg is not type(None)]
    nullable = len(members) < len(args)
    if len(members) == 1:
        member_plan = plan(members[0], where)
        return member_plan.or_null() if nullable and not member_plan.nullable else member_plan
    plans = [plan(member, where) for member in members]
    expected = " | ".join(member_plan.expected for member_plan in plans)
    handlers: dict[str, Callable | None] = {}
    for member_plan in plans:
        for tag in member_plan.handlers:
            if tag in handlers:
                continue
            candidates = [
                (other.expected, other.handlers[tag]) for other in plans if tag in other.handlers
            ]
            if len(candidates) == 1:
                handlers[tag] = candidates[0][1]
            else:
                handlers[tag] = first_that_decodes(candidates, expected, tag)
    nullable = nullable or any(member_plan.nullable for member_plan in plans)
    return Plan(handlers, expected + (" or NULL" if nullable else ""), nullable)
