"""Amazon Ion text, as DynamoDB exports write it, read into DynamoDB wire format.

An Ion export has one value per line, each preceded by the version marker::

    $ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Id:103.,
                    PageCount:6d2,InPublication:false,Cover:{{aGVsbG8=}}}}

DynamoDB maps its types to Ion as: S string, N decimal, B blob, BOOL bool,
NULL null, L list, M struct, and SS / NS / BS lists annotated
``$dynamodb_SS`` / ``$dynamodb_NS`` / ``$dynamodb_BS``. :func:`parse_ion_line`
reads that text (the full Ion text grammar minus timestamps and
s-expressions, which DynamoDB never writes) and returns the top-level struct
with every value in wire format, so ``{"Item": {"M": {...}}}`` and the rest of
the pipeline sees exactly what a scan would return. Numbers are written as
DynamoDB returns them: plain notation, no exponent, no trailing zeros
(``6d2`` -> ``"600"``, ``1.50`` -> ``"1.5"``).

Pure Python, so no Ion library is needed on the workers.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import re
from typing import Any, NoReturn

__all__ = ["IonSyntaxError", "number_text", "parse_ion_line"]

_SET_ANNOTATIONS = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9_]*\.?[0-9_]*(?:[dDeE][-+]?[0-9_]+)?)"
)
_NULL_TYPES = re.compile(
    r"null(?:\.(?:null|bool|int|float|decimal|timestamp|string|symbol|blob|clob|struct|list|sexp))?"
)
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "v": "\v",
    '"': '"',
    "'": "'",
    "?": "?",
    "\\": "\\",
    "/": "/",
}
_NUMBER_CONTEXT = decimal.Context(prec=200)


class IonSyntaxError(ValueError):
    """Text that is not Ion, or Ion that DynamoDB does not write; says where."""

    def __init__(self, reason: str, position: int):
        super().__init__(f"{reason} at character {position}")
        self.position = position


def number_text(value: decimal.Decimal) -> str:
    """DynamoDB's text of a number: plain notation, no trailing zeros."""
    if not value.is_finite():
        raise ValueError(f"DynamoDB numbers are finite, got {value}")
    if value.is_zero():
        return "0"
    return format(_NUMBER_CONTEXT.normalize(value), "f")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> NoReturn:
        raise IonSyntaxError(reason, self.pos)

    def skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r\n\v\f":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    self.fail("unclosed comment")
                self.pos = end + 2
            else:
                return

    def skip_whitespace(self) -> None:
        """Whitespace only: inside a lob's ``{{ }}``, where ``//`` is base64, not a comment."""
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t\r\n\v\f":
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.pos += 1

    # -- symbols and strings ------------------------------------------------

    def quoted(self, quote: str) -> str:
        """A ``"string"`` or ``'symbol'`` starting at the opening quote."""
        text = self.text
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(text):
                self.fail("unclosed string")
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                out.append(self.escape())
            elif char == "\n" and quote == '"':
                self.fail("newline in a string")
            else:
                out.append(char)
                self.pos += 1

    def escape(self) -> str:
        text = self.text
        char = text[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char == "\n":
            return ""
        if char == "\r":
            if text.startswith("\n", self.pos):
                self.pos += 1
            return ""
        width = {"x": 2, "u": 4, "U": 8}.get(char)
        if width is None:
            self.fail(f"unknown escape \\{char}")
        digits = text[self.pos : self.pos + width]
        if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
            self.fail(f"bad \\{char} escape")
        self.pos += width
        code = int(digits, 16)
        if 0xD800 <= code < 0xDC00 and text.startswith("\\u", self.pos):
            low = int(text[self.pos + 2 : self.pos + 6], 16)
            if 0xDC00 <= low < 0xE000:
                self.pos += 6
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        return chr(code)

    def long_string(self) -> str:
        """Adjacent ``'''...'''`` segments, concatenated."""
        parts = []
        while self.text.startswith("'''", self.pos):
            self.pos += 3
            out = []
            while not self.text.startswith("'''", self.pos):
                if self.pos >= len(self.text):
                    self.fail("unclosed long string")
                if self.text[self.pos] == "\\":
                    out.append(self.escape())
                else:
                    out.append(self.text[self.pos])
                    self.pos += 1
            self.pos += 3
            parts.append("".join(out))
            self.skip_space()
        return "".join(parts)

    def symbol(self) -> str | None:
        """An identifier or a ``'quoted symbol'`` here, or None."""
        char = self.peek()
        if char == "'" and not self.text.startswith("'''", self.pos):
            return self.quoted("'")
        match = _IDENTIFIER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return match.group()
        return None

    # -- values ---------------------------------------------------------------

    def annotations(self) -> list[str]:
        found = []
        while True:
            start = self.pos
            name = self.symbol()
            if name is None or not self.text.startswith("::", self._after_space()):
                self.pos = start
                return found
            self.pos = self._after_space() + 2
            found.append(name)

    def _after_space(self) -> int:
        saved = self.pos
        self.skip_space()
        after, self.pos = self.pos, saved
        return after

    def value(self) -> dict[str, Any]:
        annotations = self.annotations()
        char = self.peek()
        set_type = next((_SET_ANNOTATIONS[a] for a in annotations if a in _SET_ANNOTATIONS), None)
        if char == "{" and self.text.startswith("{{", self.pos):
            return self.lob()
        if char == "{":
            return {"M": self.struct()}
        if char == "[":
            values = self.sequence()
            if set_type is None:
                return {"L": values}
            return {set_type: [self.set_member(set_type, v) for v in values]}
        if char == '"':
            return {"S": self.quoted('"')}
        if self.text.startswith("'''", self.pos):
            return {"S": self.long_string()}
        if char == "(":
            self.fail("s-expressions are not DynamoDB values")
        return self.scalar()

    def set_member(self, set_type: str, value: dict[str, Any]) -> Any:
        expected = set_type[0]
        ((tag, payload),) = value.items()
        if tag != expected:
            self.fail(f"a {set_type} set holds a {tag} value")
        return payload

    def lob(self) -> dict[str, Any]:
        self.pos += 2
        self.skip_whitespace()
        if self.text.startswith('"', self.pos) or self.text.startswith("'''", self.pos):
            text = self.quoted('"') if self.text[self.pos] == '"' else self.long_string()
            try:
                payload = text.encode("latin-1")
            except UnicodeEncodeError:
                self.fail("a clob holds only characters below 256")
        else:
            end = self.text.find("}}", self.pos)
            if end < 0:
                self.fail("unclosed blob")
            encoded = re.sub(r"\s+", "", self.text[self.pos : end])
            try:
                payload = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                self.fail("bad base64 in a blob")
            self.pos = end
        self.skip_whitespace()
        if not self.text.startswith("}}", self.pos):
            self.fail("expected '}}'")
        self.pos += 2
        return {"B": payload}

    def struct(self) -> dict[str, Any]:
        self.expect("{")
        fields: dict[str, Any] = {}
        while self.peek() != "}":
            if self.peek() == '"':
                name = self.quoted('"')
            elif self.text.startswith("'''", self.pos):
                name = self.long_string()
            else:
                name = self.symbol()
                if name is None:
                    self.fail("expected a field name")
            self.expect(":")
            fields[name] = self.value()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                self.fail("expected ',' or '}'")
        self.pos += 1
        return fields

    def sequence(self) -> list[dict[str, Any]]:
        self.expect("[")
        values = []
        while self.peek() != "]":
            values.append(self.value())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                self.fail("expected ',' or ']'")
        self.pos += 1
        return values

    def scalar(self) -> dict[str, Any]:
        text = self.text
        null = _NULL_TYPES.match(text, self.pos)
        if null and not _continues(text, null.end()):
            self.pos = null.end()
            return {"NULL": True}
        for word, value in (("true", True), ("false", False)):
            if text.startswith(word, self.pos) and not _continues(text, self.pos + len(word)):
                self.pos += len(word)
                return {"BOOL": value}
        match = _NUMBER.match(text, self.pos)
        if not match or not match.group() or _continues(text, match.end()):
            self.fail("expected a value DynamoDB writes")
        self.pos = match.end()
        return {"N": self.number(match.group())}

    def number(self, token: str) -> str:
        digits = token.replace("_", "")
        body = digits.lstrip("+-")
        try:
            if body[:2].lower() == "0x":
                value = decimal.Decimal(int(digits, 16))
            elif body[:2].lower() == "0b":
                value = decimal.Decimal(int(digits, 2))
            else:
                value = decimal.Decimal(digits.replace("d", "e").replace("D", "e"))
            return number_text(value)
        except (decimal.InvalidOperation, ValueError):
            self.fail(f"bad number {token!r}")


def _continues(text: str, position: int) -> bool:
    """True if the token before ``position`` runs on (``true_x``, ``12ab``)."""
    return position < len(text) and (text[position].isalnum() or text[position] in "_$.")


def parse_ion_line(text: str) -> dict[str, dict[str, Any]]:
    """The top-level struct of one export line, each field in wire format.

    ``$ion_1_0 {Item:{id:"w1"}}`` gives ``{"Item": {"M": {"id": {"S": "w1"}}}}``.
    Raises :class:`IonSyntaxError` for anything else.
    """
    parser = _Parser(text)
    while True:
        start = parser.pos
        if parser.symbol() == "$ion_1_0" and parser.peek() != ":":
            continue
        parser.pos = start
        break
    if parser.peek() != "{":
        parser.fail("expected a struct")
    fields = parser.struct()
    if parser.peek():
        parser.fail("text after the value")
    return fields
