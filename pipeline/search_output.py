"""How ``search`` prints its hits: readable lines for people, JSON lines for machines.

A text line is ``ID<TAB>SCORE<TAB>EXCERPT``: the excerpt shows the
document's fields as ``field: value``, those holding a word of the query
first (cut around the word), the others after, on one line of at most
``EXCERPT_WIDTH`` characters, with the document's characters as they are
(no ``\\u`` escapes). A JSON line is one object per hit:
``{"id": ..., "score": ..., "document": {...}}``, the document parsed from
its body (its text when the body is not JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from transforms.index import SearchHit

__all__ = ["EXCERPT_WIDTH", "excerpt", "hit_json", "hit_line", "hits_summary"]

EXCERPT_WIDTH = 200
_VALUE_WIDTH = 60
_MATCH_WIDTH = 100
_ELLIPSIS = "…"
_SEPARATOR = " · "
_MIN_CUT = 16


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace or control characters made one space."""
    cleaned = "".join(" " if ch.isspace() or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return " ".join(cleaned.split())


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + _ELLIPSIS


def _around(text: str, words: Sequence[str], width: int) -> str:
    """``text`` cut to ``width`` characters around the first of ``words`` it holds."""
    if len(text) <= width:
        return text
    folded = text.casefold()
    at = min((folded.find(word) for word in words if word in folded), default=0)
    start = max(0, min(at - width // 3, len(text) - width))
    cut = text[start : start + width]
    return (_ELLIPSIS if start else "") + cut + (_ELLIPSIS if start + width < len(text) else "")


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(field path, text)`` of every value in a JSON document, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _leaves(item, f"{path}[{position}]")
    elif value is not None:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = _one_line(text)
        if text:
            yield path, text


def _query_words(query: Sequence[str]) -> list[str]:
    words = (word.rstrip("*").strip("\"'()").casefold() for part in query for word in part.split())
    return [word for word in words if word]


def excerpt(body: str, query: Sequence[str], width: int = EXCERPT_WIDTH) -> str:
    """One readable line for the document ``body``; see the module docstring."""
    try:
        document = json.loads(body)
    except ValueError:
        return _shorten(_one_line(body), width)
    if not isinstance(document, (dict, list)):
        return _shorten(_one_line(str(document)), width)
    words = _query_words(query)
    starts = [re.compile(r"(?<!\w)" + re.escape(word)) for word in words]
    matching, others = [], []
    for path, text in _leaves(document):
        if any(start.search(text.casefold()) for start in starts):
            matching.append(f"{path}: {_around(text, words, _MATCH_WIDTH)}")
        else:
            others.append(f"{path}: {_shorten(text, _VALUE_WIDTH)}")
    return _joined(matching + others, width)


def _joined(parts: Sequence[str], width: int) -> str:
    """``parts`` joined by `` · `` while they fit in ``width``; the last one cut if it is
    worth it, else an ellipsis."""
    line = ""
    for part in parts:
        candidate = f"{line}{_SEPARATOR}{part}" if line else part
        if len(candidate) <= width:
            line = candidate
            continue
        room = width - len(line) - len(_SEPARATOR)
        if not line:
            return _shorten(part, width)
        if room >= _MIN_CUT:
            return f"{line}{_SEPARATOR}{_shorten(part, room)}"
        return f"{line} {_ELLIPSIS}"
    return line


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so that a line stays one line."""
    if not any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return text
    return json.dumps(text, ensure_ascii=False)[1:-1]


def hit_line(hit: SearchHit, query: Sequence[str]) -> str:
    """``ID<TAB>SCORE<TAB>EXCERPT`` for people."""
    return f"{_printable(hit.id)}\t{hit.score:.3g}\t{excerpt(hit.body, query)}"


def hit_json(hit: SearchHit) -> str:
    """One JSON object for machines: id, score and the whole document."""
    try:
        document = json.loads(hit.body)
    except ValueError:
        document = hit.body
    return json.dumps({"id": hit.id, "score": hit.score, "document": document}, ensure_ascii=False)


def hits_summary(shown: int, total: int | None) -> str:
    """``3 of 1,140 hits`` (or ``3 hits shown`` when the index cannot count them)."""
    if total is None:
        return f"{shown:,} hit(s) shown; this index does not count the rest"
    more = "; --limit N shows more" if total > shown else ""
    return f"{shown:,} of {total:,} hit(s){more}"
