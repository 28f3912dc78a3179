"""What an index holds: the table (name and, where known, ARN), its key attributes, the model.

A reindex writes this into the index it fills, and reads it back before
writing again, so that one index never mixes two tables::

    identity = IndexIdentity("works", ("id",), "pipeline.models:Work", table_arn=arn)
    refuse_other_table(uri, identity, force=False, action="replace it")   # ValueError
    with open_backend(uri) as index:
        write_identity(index, identity)

Where it is kept (each backend's ``metadata()`` / ``set_metadata()``):

* SQLite: the table ``index_metadata`` of the index file, one row per
  physical index table (``documents`` is the live one), the identity as a
  JSON object in the column ``meta``;
* Elasticsearch / OpenSearch: the index mapping's ``_meta``, under the key
  ``dynamodb_reindex`` (other ``_meta`` keys are left alone).

Two identities name the same table when their ARNs are equal; when either
ARN is unknown (an endpoint that reports none, an export without
``tableArn``), when their table names are equal. The model and the key
attributes are recorded, not compared: a reindex exists to change how
records are processed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from transforms.index import IndexBackend, open_backend

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "IndexIdentity",
    "changes_conflict",
    "read_identity",
    "refuse_other_table",
    "shown_uri",
    "table_conflict",
    "write_identity",
]


@dataclasses.dataclass(frozen=True)
class IndexIdentity:
    """The table an index holds, its key attributes (hash key first) and the model.

    ``current_to``: the moment (ISO 8601) the index holds the table as of, when
    it was filled from exports (a full export's ``exportTime``, then the last
    incremental export's ``exportToTime``); None when a run read the table itself.
    """

    table: str
    key_attributes: tuple[str, ...]
    model: str
    table_arn: str | None = None
    current_to: str | None = None

    def to_meta(self) -> dict[str, Any]:
        """The identity as a JSON object."""
        return {
            "table": self.table,
            "table_arn": self.table_arn,
            "key_attributes": list(self.key_attributes),
            "model": self.model,
            "current_to": self.current_to,
        }

    @classmethod
    def from_meta(cls, meta: Any) -> IndexIdentity | None:
        """The identity in ``meta`` (as written by ``to_meta``), or None if it holds none."""
        if not isinstance(meta, Mapping) or not isinstance(meta.get("table"), str):
            return None
        keys = meta.get("key_attributes")
        arn = meta.get("table_arn")
        current_to = meta.get("current_to")
        return cls(
            table=meta["table"],
            key_attributes=tuple(str(k) for k in keys) if isinstance(keys, list) else (),
            model=str(meta.get("model") or ""),
            table_arn=arn if isinstance(arn, str) and arn else None,
            current_to=current_to if isinstance(current_to, str) and current_to else None,
        )

    def same_table(self, other: IndexIdentity) -> bool:
        """True when both name one table (see the module docstring)."""
        if self.table_arn and other.table_arn:
            return self.table_arn == other.table_arn
        return self.table == other.table

    def describe(self) -> str:
        """``table 'works' (arn:aws:dynamodb:...)``, the ARN only when known."""
        arn = f" ({self.table_arn})" if self.table_arn else ""
        return f"table {self.table!r}{arn}"


def read_identity(index: IndexBackend) -> IndexIdentity | None:
    """The identity recorded in ``index``, or None (never written, or written by hand)."""
    return IndexIdentity.from_meta(index.metadata())


def write_identity(index: IndexBackend, identity: IndexIdentity) -> None:
    """Records ``identity`` in ``index``, replacing the one it held."""
    index.set_metadata(identity.to_meta())


def table_conflict(
    held: IndexIdentity | None,
    incoming: IndexIdentity,
    where: str,
    *,
    action: str | None,
    check: str = "--index and --table",
    same_key: bool = False,
) -> str | None:
    """One line when ``where`` holds another table than ``incoming``'s (with
    ``same_key``, or the same table under other key attributes, whose records
    would get other document ids), else None.

    ``action`` says what ``--force`` would do (e.g. ``"replace it"``; None
    where there is no ``--force``), ``check`` which options name the two sides.
    """
    if held is None:
        return None
    force = f", or pass --force to {action}" if action else ""
    if not held.same_table(incoming):
        return (
            f"the index {where} holds {held.describe()}, not {incoming.describe()}: "
            f"check {check}{force}"
        )
    held_key, incoming_key = tuple(held.key_attributes), tuple(incoming.key_attributes)
    if same_key and held_key and incoming_key and held_key != incoming_key:
        return (
            f"the index {where} holds {held.describe()} keyed by {', '.join(held_key)}, "
            f"not by {', '.join(incoming_key)}: its records would be written again under "
            f"other document ids; check {check} and the key attributes{force}"
        )
    return None


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def changes_conflict(
    held: IndexIdentity | None, since: str, until: str | None, where: str
) -> str | None:
    """One line when the changes made from ``since`` to ``until`` (an incremental
    export's window) do not follow what ``where`` holds: it is current to a
    moment before ``since`` (the changes in between would be missing), or after
    ``until`` (older states would replace newer ones). None when they follow,
    or when the index does not record the moment it is current to."""
    if held is None or held.current_to is None:
        return None
    current, start = _moment(held.current_to), _moment(since)
    if start > current:
        return (
            f"the index {where} holds the table as of {held.current_to}, but this incremental "
            f"export starts at {since}: the changes in between would be missing; apply the "
            "incremental export that starts there first, or pass --force"
        )
    if until is not None and _moment(until) < current:
        return (
            f"the index {where} holds the table as of {held.current_to}, after this "
            f"incremental export's end {until}: it would bring back older states; apply the "
            "exports in order, or pass --force"
        )
    return None


def shown_uri(uri: str) -> str:
    """``uri`` with any ``user:password@`` removed, fit for messages."""
    scheme, sep, rest = uri.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else uri


def refuse_other_table(
    uri: str,
    identity: IndexIdentity | None,
    *,
    force: bool,
    action: str | None,
    check: str = "--index and --table",
    same_key: bool = False,
) -> IndexIdentity | None:
    """``ValueError`` (one line) when the live index of ``uri`` holds another table
    (with ``same_key``, or the same table under other key attributes: for
    writes in place); else the identity the index holds (None when it records none).

    ``action`` is what ``--force`` would do. Nothing is refused when either
    side is unknown (an index written before indexes recorded their table);
    with ``force`` the conflict is only logged.
    """
    if identity is None:
        return None
    with open_backend(uri) as index:
        held = read_identity(index)
    problem = table_conflict(
        held, identity, shown_uri(uri), action=action, check=check, same_key=same_key
    )
    if problem and not force:
        raise ValueError(problem)
    if problem:
        _LOGGER.warning(
            "--force: the index %s holds %s; writing %s",
            shown_uri(uri),
            held.describe(),
            identity.describe(),
        )
    return held
