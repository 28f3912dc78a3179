"""One physical table of the embedded index, for building a new index behind the live one.

URI: ``sqlite+table:///PATH?table=documents__20261128120000`` (the path as in
``sqlite:///PATH``). The table has the schema of ``documents`` (with its own
FTS5 table ``<table>_fts`` and triggers) in the same file, so that
:mod:`transforms.index.alias` can make it the live ``documents`` in one
transaction. Writes, counts, deletes and searches go to that table only;
``sqlite:///PATH`` keeps serving the live index meanwhile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from transforms.index.sqlite import (
    _COUNT_MATCHES,
    _SCHEMA,
    _SEARCH,
    DEFAULT_BUSY_TIMEOUT,
    UPSERT,
    UPSERT_JSON_ARRAY,
    SQLiteIndex,
    sqlite_path,
)

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "SCHEME",
    "SQLiteTableIndex",
    "check_table_name",
    "table_schema",
    "table_triggers",
    "table_uri",
]

SCHEME = "sqlite+table"
LIVE_TABLE = "documents"
_TABLE = re.compile(r"^documents__[0-9a-z_]{1,64}$")
_TRIGGER_NAME = re.compile(r"CREATE TRIGGER (\w+)")


def check_table_name(name: str) -> str:
    """``name`` if it names a build table: ``documents__`` then lowercase letters, digits, _."""
    if not isinstance(name, str) or not _TABLE.match(name):
        raise ValueError(
            f"invalid index table name {name!r}: expected documents__ followed by "
            "lowercase letters, digits or _ (e.g. documents__20261128120000)"
        )
    return name


def _renamed(statement: str, table: str) -> str:
    return statement.replace(LIVE_TABLE, table)


def table_schema(table: str) -> list[str]:
    """The statements creating ``table`` like ``documents``: table, FTS5 table, triggers."""
    return [_renamed(s, table) for s in _SCHEMA if not s.lstrip().upper().startswith("PRAGMA")]


def table_triggers(table: str) -> list[tuple[str, str]]:
    """``(trigger name, CREATE TRIGGER statement)`` keeping ``table``'s full-text index in step."""
    return [
        (_TRIGGER_NAME.search(s).group(1), s)
        for s in table_schema(table)
        if s.lstrip().startswith("CREATE TRIGGER")
    ]


def table_uri(path: str, table: str) -> str:
    return f"{SCHEME}:///{path}?table={check_table_name(table)}"


def _parse(uri: str) -> tuple[str, str]:
    prefix = SCHEME + "://"
    if not isinstance(uri, str) or uri[: len(prefix)].lower() != prefix:
        raise ValueError(f"{uri!r} is not a {SCHEME}:/// URI")
    location, separator, query = uri[len(prefix) :].rpartition("?table=")
    if not separator:
        raise ValueError(f"index URI {uri!r} names no table; expected {SCHEME}:///PATH?table=NAME")
    return sqlite_path("sqlite://" + location), check_table_name(query)


class SQLiteTableIndex(SQLiteIndex):
    """The table ``table`` of the index file at ``path``, created with its full-text index.

    The file itself is prepared as for :class:`SQLiteIndex` (schema of the
    live ``documents`` included), so that the table can later be swapped in.
    """

    def __init__(self, path: str, table: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT):
        self.table = check_table_name(table)
        self._upsert = _renamed(UPSERT, self.table)
        self._upsert_json_array = _renamed(UPSERT_JSON_ARRAY, self.table)
        self._search = _renamed(_SEARCH, self.table)
        self._count_matches = _renamed(_COUNT_MATCHES, self.table)
        super().__init__(path, busy_timeout=busy_timeout)

    @classmethod
    def normalize_uri(cls, uri: str) -> str:
        path, table = _parse(uri)
        return table_uri(SQLiteIndex.normalize_uri("sqlite:///" + path)[len("sqlite:///") :], table)

    @classmethod
    def open(cls, uri: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> SQLiteTableIndex:
        path, table = _parse(uri)
        return cls(path, table, busy_timeout=busy_timeout)

    @classmethod
    def missing(cls, uri: str) -> str | None:
        return SQLiteIndex.missing("sqlite:///" + _parse(uri)[0])

    def __repr__(self) -> str:
        return f"SQLiteTableIndex({self.path!r}, {self.table!r})"

    def _prepare(self, busy_timeout: float) -> None:
        super()._prepare(busy_timeout)
        with self._write_transaction():
            exists = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table,)
            ).fetchone()
            if not exists:
                for statement in table_schema(self.table):
                    self._conn.execute(statement)

    def delete(self, ids: Iterable[str]) -> int:
        with self._write_transaction():
            cursor = self._conn.executemany(
                f"DELETE FROM {self.table} WHERE id = ?", ((doc_id,) for doc_id in ids)
            )
        return cursor.rowcount

    def count(self) -> int:
        return self._conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
