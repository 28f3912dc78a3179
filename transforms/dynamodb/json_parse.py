"""JSON bytes to Python objects: orjson where it gives what ``json.loads`` gives.

:func:`loads` returns exactly what the standard library's ``json.loads``
returns for the same bytes, and raises where it raises, but parses with orjson
when that is installed: for a 1 MB Scan page it builds the same dicts, lists
and strings in about two thirds of the time.

orjson and ``json.loads`` agree on every text orjson accepts, except integers
beyond 64 bits, which orjson returns as floats. A text holding a run of 19 or
more digits (where such an integer can hide: the smallest is
-9223372036854775809) is therefore left to ``json.loads``, as is every text
orjson refuses (``NaN``, lone surrogates, a byte-order mark, invalid UTF-8,
deep nesting): ``json.loads`` then decides, with its own result or error.
Without orjson, :func:`loads` is ``json.loads``.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by tests that hide orjson
    orjson = None

__all__ = ["FAST_PARSER", "loads", "loads_noting_text"]

FAST_PARSER = "orjson" if orjson is not None else None
"""The parser :func:`loads` tries first, or None when only ``json`` is there."""

_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_DIGIT_RUN = b"0" * 19


def _has_long_digit_run(text: bytes) -> bool:
    """True if ``text`` holds 19 or more consecutive ASCII digits."""
    return _LONG_DIGIT_RUN in text.translate(_DIGITS_AS_ZERO)


if orjson is None:
    loads = json.loads

    def loads_noting_text(text: bytes) -> tuple[Any, bool]:
        """``(json.loads(text), False)``: the strings are not known to be Unicode text."""
        return json.loads(text), False

else:
    _orjson_loads = orjson.loads
    _OrjsonError = orjson.JSONDecodeError

    def loads(text: bytes) -> Any:
        """``json.loads(text)``, computed by orjson when the two agree."""
        if not _has_long_digit_run(text):
            try:
                return _orjson_loads(text)
            except _OrjsonError:
                pass
        return json.loads(text)

    def loads_noting_text(text: bytes) -> tuple[Any, bool]:
        """``(json.loads(text), text_known)``: ``text_known`` is True when orjson
        parsed it, which refuses lone surrogates, so every string is Unicode text."""
        if not _has_long_digit_run(text):
            try:
                return _orjson_loads(text), True
            except _OrjsonError:
                pass
        return json.loads(text), False
