"""``datetime`` and ``date``: ISO-8601 text (S) or epoch seconds (N).

Epoch numbers are read as dataclasses-json reads the numbers its ``to_json``
writes: ``datetime.fromtimestamp`` in the local time zone as of compiling,
``date.fromtimestamp`` for dates. Text that is not ISO-8601 and numbers out
of range are ``InvalidDate`` failures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone

from transforms.decode.errors import DecodeError, short
from transforms.decode.plans import Plan
from transforms.decode.scalars import parse_json_number

__all__ = [
    "date_plan",
    "datetime_plan",
    "local_timezone",
    "read_date_text",
    "read_datetime_text",
    "read_epoch",
]


def read_datetime_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (ValueError, TypeError) as error:
        raise DecodeError(
            "InvalidDate", f"expected ISO-8601 datetime, got S {short(repr(text))} ({error})"
        ) from None


def read_date_text(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (ValueError, TypeError) as error:
        raise DecodeError(
            "InvalidDate", f"expected ISO-8601 date, got S {short(repr(text))} ({error})"
        ) from None


def read_epoch(text: str, make: Callable, expected: str):
    """N text as epoch seconds passed to ``make``."""
    seconds = parse_json_number(text, expected)
    try:
        return make(seconds)
    except (OverflowError, OSError, ValueError) as error:
        raise DecodeError(
            "InvalidDate",
            f"expected {expected} epoch seconds, got N {short(repr(text))} ({error})",
        ) from None


def local_timezone():
    """The local zone as dataclasses-json uses it for epoch numbers."""
    return datetime.now(timezone.utc).astimezone().tzinfo


def datetime_plan() -> Plan:
    zone = local_timezone()

    def read_epoch_datetime(text):
        return read_epoch(
            text, lambda seconds: datetime.fromtimestamp(seconds, tz=zone), "datetime"
        )

    return Plan({"S": read_datetime_text, "N": read_epoch_datetime}, "datetime")


def date_plan() -> Plan:
    def read_epoch_date(text):
        return read_epoch(text, date.fromtimestamp, "date")

    return Plan({"S": read_date_text, "N": read_epoch_date}, "date")
