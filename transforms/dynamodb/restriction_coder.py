"""A deterministic JSON coder for restrictions, shared by the scan and export sources.

A subclass says how its restriction types become JSON objects and back;
this class makes the bytes canonical (sorted keys, no spaces) so that equal
restrictions encode equally, as a deterministic coder must.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apache_beam.coders import Coder

__all__ = ["JsonRestrictionCoder"]


class JsonRestrictionCoder(Coder):
    """Encodes a restriction as canonical UTF-8 JSON; subclasses map restrictions to objects.

    ``to_json`` returns a JSON-ready ``dict`` (``ValueError`` for a restriction
    it does not know); ``from_json`` rebuilds the restriction (``ValueError``
    for an object it does not recognise). Coders of one class are equal.
    """

    def to_json(self, restriction: Any) -> dict[str, Any]:
        raise NotImplementedError

    def from_json(self, obj: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def encode(self, restriction: Any) -> bytes:
        text = json.dumps(self.to_json(restriction), sort_keys=True, separators=(",", ":"))
        return text.encode("utf-8")

    def decode(self, encoded: bytes) -> Any:
        return self.from_json(json.loads(encoded.decode("utf-8")))

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self):
        return object

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))
