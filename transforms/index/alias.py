"""Zero-downtime reindex: build a new physical index, verify it, then swap it in atomically.

::

    swap = prepare_swap("elasticsearch+http://localhost:9200/works")
    ...  # the job writes to swap.build_uri
    result = swap.complete(expected=documents_written, keep=1)
    print(result.render())

Readers keep using the live name the whole time; it changes what it points
to in one atomic step, and only after the new index holds exactly the
documents the job wrote.

**Elasticsearch / OpenSearch.** The URI's index is the alias, e.g. ``works``.
The job writes into ``works-YYYYMMDDhhmmss`` (UTC; the next free second if
that name is taken). ``complete`` refreshes it and counts; if the count is
``expected`` one ``_aliases`` request removes the alias from the indexes it
pointed to (``must_exist``, so a concurrent swap makes this one fail instead
of leaving two targets) and adds it to the new index, and marks the old ones
with the alias ``works-retired``. Of the retired indexes the ``keep`` newest
are kept for rollback and the others deleted. An existing *index* named
``works`` cannot become an alias and is refused before the job starts.

**SQLite.** The live index is always the table ``documents`` (the contract).
The job writes into the table ``documents__YYYYMMDDhhmmss`` of the same file
(``sqlite+table:///PATH?table=...``). ``complete`` checks its count and, in
one ``BEGIN IMMEDIATE`` transaction, renames the live ``documents`` (and its
FTS5 table and triggers) to the name it was built under and the new table to
``documents``. Readers see the old or the new index, never a mix; full-text
search follows, since ``documents_fts`` is renamed with it. The table
``index_generations`` records which table is live and which are retired,
oldest pruned beyond ``keep``. Build tables are stamped when the build
starts, and later than every table already in the file, so that names sort
in build order (also when two builds start within one second or the clock
went back); the plain ``documents`` retired by the first swap is named just
before the build that replaces it.
An empty ``documents`` that never was a
generation and records nothing (the schema a new file starts with) is
dropped rather than retired, so, as on a search server, the first swap
leaves nothing to roll back to.

When verification fails nothing moves: the new index is left for inspection
(it is never counted among the retired ones, so pruning and rollback ignore
it) and the result says why. :func:`rollback` points the alias back at the
newest retired index.

``complete(expected)`` verifies the count and swaps in one step;
``swap()`` swaps without counting, for a caller that verified the build
itself (``transforms.index.rebuild``). ``prepare_swap(..., build_name=NAME)``
reopens a build made earlier (it must exist and never have been live)
instead of creating one, and ``body`` gives a new search-server index its
``settings`` and ``mappings`` (``transforms.index.index_config``). A SQLite
index's ``index_metadata`` rows (``transforms.index.sqlite_metadata``)
follow their tables through every rename, drop and rollback.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from transforms.index import IndexOptionError, backend_class, normalize_uri, open_backend
from transforms.index.search_server import SearchServerIndex, parse_server_uri
from transforms.index.sqlite import SQLiteIndex, sqlite_path
from transforms.index.sqlite_metadata import drop_meta, read_meta, rename_meta
from transforms.index.sqlite_table import (
    LIVE_TABLE,
    SQLiteTableIndex,
    check_table_name,
    table_schema,
    table_triggers,
    table_uri,
)

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "AliasSwap",
    "RolledBack",
    "SwapResult",
    "check_alias",
    "concrete_index_advice",
    "live_index",
    "prepare_swap",
    "rollback",
]

STAMP_FORMAT = "%Y%m%d%H%M%S"
RETIRED_SUFFIX = "-retired"
GENERATIONS_TABLE = "index_generations"
_STAMP = r"\d{14}"


@dataclasses.dataclass(frozen=True)
class SwapResult:
    """What ``AliasSwap.complete`` did.

    ``swapped``: the alias now points at ``new_index``. ``found`` is the
    count verified against ``expected`` (``None``: verified by the caller);
    ``previous`` what the alias pointed
    to before; ``kept`` the retired indexes kept for rollback, newest first;
    ``deleted`` those pruned; ``leftovers`` indexes neither live nor retired
    (builds never made live after a failed verification or a crashed run,
    indexes rolled back from), left for you to inspect or delete.
    """

    alias: str
    new_index: str
    swapped: bool
    expected: int | None
    found: int | None
    previous: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    leftovers: tuple[str, ...] = ()
    reason: str | None = None

    def render(self) -> str:
        found = "not counted" if self.found is None else f"{self.found:,}"
        if self.swapped:
            was = ", ".join(self.previous) or "nothing"
            verified = (
                f"holds {found} documents"
                if self.expected is None
                else f"verified {found} documents == {self.expected:,} written"
            )
            lines = [
                f"  alias          {self.alias} -> {self.new_index} (was {was}); {verified}",
                f"  kept           {', '.join(self.kept) or 'none'} (for rollback)"
                + (f"; deleted {', '.join(self.deleted)}" if self.deleted else ""),
            ]
        else:
            lines = [
                f"  alias          NOT MOVED: {self.alias} stays where it was; {self.reason}",
                f"  new index      {self.new_index} holds {found} documents (left for inspection)",
            ]
        if self.leftovers:
            lines.append(
                f"  left over      {', '.join(self.leftovers)} (neither live nor kept for "
                "rollback: a build that was not swapped in, or an index rolled back from; "
                "delete it once no run is building it)"
            )
        return "\n".join(lines)


def _stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def _free_name(prefix: str, now: datetime, taken) -> str:
    """``prefix + stamp``, moving on a second while ``taken(name)``."""
    for seconds in range(3600):
        name = prefix + _stamp(now + timedelta(seconds=seconds))
        if not taken(name):
            return name
    raise RuntimeError(f"no free index name starting with {prefix!r}")


class AliasSwap(abc.ABC):
    """A new physical index being built behind ``alias``; write to ``build_uri``."""

    alias: str
    build_name: str
    build_uri: str

    @abc.abstractmethod
    def complete(
        self, expected: int | None, *, keep: int = 1, abort_reason: str | None = None
    ) -> SwapResult:
        """Verifies the build holds ``expected`` documents, swaps, prunes to ``keep`` retired.

        With ``abort_reason`` (the run itself did not add up) nothing is
        moved whatever the count, and the result carries that reason.
        ``expected=None`` skips the count (the caller verified the build).
        """

    def swap(self, *, keep: int = 1) -> SwapResult:
        """Makes the build live without counting it (the caller verified it); see ``complete``."""
        return self.complete(None, keep=keep)

    @abc.abstractmethod
    def count(self) -> int:
        """The documents the build holds now (after a refresh)."""

    @abc.abstractmethod
    def abandon(self) -> None:
        """Deletes the new index (the run failed before it could be verified)."""


def _check_keep(keep: int) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be an int >= 0, got {keep!r}")


# -- Elasticsearch / OpenSearch ---------------------------------------------------------------


def concrete_index_advice(alias: str, now: datetime) -> str:
    """One line: ``alias`` is an index, and how to write into it or turn it into an alias."""
    clone = f"{alias}-{_stamp(now)}"
    return (
        f"{alias!r} is an index, not an alias, and a rebuild swaps an alias: write into it in "
        f"place with --upsert, or make it an alias once, keeping its documents, settings and "
        f"mappings: PUT /{alias}/_block/write; POST /{alias}/_clone/{clone}; "
        f'PUT /{clone}/_settings {{"index.blocks.write": null}}; '
        f'POST /_aliases {{"actions": [{{"add": {{"index": "{clone}", "alias": "{alias}"}}}}, '
        f'{{"remove_index": {{"index": "{alias}"}}}}]}}'
    )


class _ServerAliasSwap(AliasSwap):
    def __init__(
        self,
        uri: str,
        alias: str,
        now: datetime,
        *,
        build_name: str | None = None,
        body: dict[str, Any] | None = None,
    ):
        self.uri = uri
        self.alias = alias
        self.retired_alias = alias + RETIRED_SUFFIX
        with self._open() as server:
            kind = server.kind_of(alias)
            if kind == "index":
                raise ValueError(concrete_index_advice(alias, now))
            if build_name is None:
                self.build_name = _free_name(
                    f"{alias}-", now, lambda name: server.kind_of(name) != "missing"
                )
                server.create_index(self.build_name, body)
            else:
                self.build_name = self._reopened(server, build_name)
        self.build_uri = str(parse_server_uri(uri).with_index(self.build_name))
        _LOGGER.info("building %s behind alias %s", self.build_name, alias)

    def _reopened(self, server: SearchServerIndex, name: str) -> str:
        if not self._ours([name]):
            raise ValueError(f"{name!r} is not a build of alias {self.alias!r}")
        if server.kind_of(name) != "index":
            raise ValueError(f"there is no index {name!r} to go on building")
        placed = set(server.alias_targets(self.alias)) | set(
            server.alias_targets(self.retired_alias)
        )
        if name in placed:
            raise ValueError(f"{name!r} has been live behind {self.alias!r}: it is not a build")
        return name

    def count(self) -> int:
        with self._open() as server:
            return server.count_of(self.build_name)

    def _open(self) -> SearchServerIndex:
        return open_backend(self.uri)

    def abandon(self) -> None:
        with self._open() as server:
            if server.kind_of(self.build_name) == "index":
                server.delete_index(self.build_name)

    def _ours(self, names) -> list[str]:
        pattern = re.compile(re.escape(self.alias) + "-" + _STAMP + "$")
        return [name for name in names if pattern.match(name)]

    def complete(
        self, expected: int | None, *, keep: int = 1, abort_reason: str | None = None
    ) -> SwapResult:
        _check_keep(keep)
        with self._open() as server:
            found = server.count_of(self.build_name)
            previous = tuple(t for t in server.alias_targets(self.alias) if t != self.build_name)
            reason = abort_reason
            if reason is None and expected is not None and found != expected:
                reason = (
                    f"verification failed: {self.build_name} holds {found:,} documents, "
                    f"but {expected:,} were written"
                )
            if reason is None:
                actions = [
                    {"remove": {"index": old, "alias": self.alias, "must_exist": True}}
                    for old in previous
                ]
                properties = server.alias_properties(self.alias)  # its filter, routing...
                actions.append(
                    {"add": {"index": self.build_name, "alias": self.alias, **properties}}
                )
                actions += [
                    {"add": {"index": old, "alias": self.retired_alias}} for old in previous
                ]
                try:
                    server.update_aliases(actions)
                except Exception as error:
                    reason = _unless_applied(server, self.alias, self.build_name, error)
            if reason is not None:
                return SwapResult(
                    self.alias,
                    self.build_name,
                    False,
                    expected,
                    found,
                    previous,
                    leftovers=self._leftovers(server),
                    reason=reason,
                )
            retired = sorted(self._ours(server.alias_targets(self.retired_alias)), reverse=True)
            kept, deleted = tuple(retired[:keep]), tuple(retired[keep:])
            for name in deleted:
                server.delete_index(name)
            _LOGGER.info("alias %s -> %s; kept %s", self.alias, self.build_name, kept)
            return SwapResult(
                self.alias,
                self.build_name,
                True,
                expected,
                found,
                previous,
                kept,
                deleted,
                self._leftovers(server),
            )

    def _leftovers(self, server: SearchServerIndex) -> tuple[str, ...]:
        placed = set(server.alias_targets(self.alias)) | set(
            server.alias_targets(self.retired_alias)
        )
        ours = self._ours(server.indexes_matching(f"{self.alias}-*"))
        return tuple(name for name in ours if name not in placed and name != self.build_name)


def _unless_applied(server, alias: str, build_name: str, error: Exception) -> str | None:
    """Why the alias update that raised ``error`` did not swap; None when it was applied
    all the same (its answer lost: a timeout, a dropped connection)."""
    try:
        applied = server.alias_targets(alias) == [build_name]
    except Exception as again:
        return (
            f"the alias update failed ({error}), and whether the server applied it could "
            f"not be read ({again}): check which index the alias {alias!r} names"
        )
    return None if applied else f"the alias update was refused: {error}"


def _rollback_server(uri: str, alias: str) -> RolledBack:
    retired_alias = alias + RETIRED_SUFFIX
    pattern = re.compile(re.escape(alias) + "-" + _STAMP + "$")
    with open_backend(uri) as server:
        retired = sorted(
            (n for n in server.alias_targets(retired_alias) if pattern.match(n)), reverse=True
        )
        if not retired:
            raise ValueError(f"no retired index to roll back to behind alias {alias!r}")
        current = server.alias_targets(alias)
        target = retired[0]
        properties = server.alias_properties(alias)
        actions = [{"remove": {"index": c, "alias": alias, "must_exist": True}} for c in current]
        actions += [
            {"add": {"index": target, "alias": alias, **properties}},
            {"remove": {"index": target, "alias": retired_alias}},
        ]
        try:
            server.update_aliases(actions)
        except Exception as error:
            if _unless_applied(server, alias, target, error) is not None:
                raise
        return RolledBack(target, tuple(current))


# -- SQLite ----------------------------------------------------------------------------------

_GENERATIONS_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {GENERATIONS_TABLE} (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('live', 'retired')),
    changed_at TEXT NOT NULL
)"""


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _rename_index(conn: sqlite3.Connection, source: str, target: str) -> None:
    """Renames table ``source`` (with its FTS5 table, triggers and metadata) to ``target``."""
    for trigger, _ in table_triggers(source):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute(f"ALTER TABLE {source} RENAME TO {target}")
    conn.execute(f"ALTER TABLE {source}_fts RENAME TO {target}_fts")
    for _, statement in table_triggers(target):
        conn.execute(statement)
    rename_meta(conn, source, target)


def _drop_index(conn: sqlite3.Connection, name: str) -> None:
    """Drops table ``name`` with its FTS5 table and metadata."""
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"DROP TABLE IF EXISTS {name}_fts")
    drop_meta(conn, name)


def _live_generation(conn: sqlite3.Connection) -> str | None:
    """The build table the generations table records as live, or None."""
    row = conn.execute(f"SELECT name FROM {GENERATIONS_TABLE} WHERE state = 'live'").fetchone()
    return row[0] if row else None


def _is_placeholder(conn: sqlite3.Connection) -> bool:
    """True when the live ``documents`` is empty and records nothing: the schema
    created with the file, not an index worth keeping for rollback."""
    empty = conn.execute(f"SELECT 1 FROM {LIVE_TABLE} LIMIT 1").fetchone() is None
    return empty and read_meta(conn, LIVE_TABLE) is None


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=60.0, isolation_level=None)


_TABLE_PREFIX = f"{LIVE_TABLE}__"


def _table_stamp(name: str) -> datetime | None:
    """The build stamp in a table name ``documents__YYYYMMDDhhmmss``, else None."""
    match = re.fullmatch(re.escape(_TABLE_PREFIX) + f"({_STAMP})", name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=timezone.utc)


def _next_table_name(now: datetime, taken: set[str]) -> str:
    """``documents__`` + the stamp of ``now``, or of the second after the newest table
    stamp in ``taken`` when that is later: names sort in build order even when two
    builds start within a second or the clock went back."""
    start = now.astimezone(timezone.utc).replace(microsecond=0)
    for stamp in filter(None, map(_table_stamp, taken)):
        start = max(start, stamp + timedelta(seconds=1))
    return _TABLE_PREFIX + _stamp(start)


def _earlier_table_name(name: str, taken: set[str]) -> str:
    """The newest free table name that sorts before ``name``: for the plain ``documents``
    retired by the first swap, built before the index that replaces it."""
    stamp = _table_stamp(name)
    for seconds in range(1, 3601):
        earlier = _TABLE_PREFIX + _stamp(stamp - timedelta(seconds=seconds))
        if earlier not in taken:
            return earlier
    raise RuntimeError(f"no free index table name before {name!r}")


class _SQLiteAliasSwap(AliasSwap):
    def __init__(self, uri: str, now: datetime, *, build_name: str | None = None):
        self.path = sqlite_path(normalize_uri(uri))
        self.alias = LIVE_TABLE
        SQLiteIndex(self.path).close()
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the name is taken as it is chosen
            try:
                taken = _tables(conn)
                if GENERATIONS_TABLE in taken:  # the live index is named after its build
                    taken |= {
                        name for (name,) in conn.execute(f"SELECT name FROM {GENERATIONS_TABLE}")
                    }
                if build_name is None:
                    self.build_name = _next_table_name(now, taken)
                    for statement in table_schema(self.build_name):
                        conn.execute(statement)
                else:
                    self.build_name = self._reopened(conn, taken, build_name)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
        self.build_uri = table_uri(self.path, self.build_name)
        SQLiteTableIndex(self.path, self.build_name).close()
        _LOGGER.info("building table %s in %s", self.build_name, self.path)

    def _reopened(self, conn: sqlite3.Connection, taken: set[str], name: str) -> str:
        if not re.match(f"{LIVE_TABLE}__{_STAMP}$", name):
            raise ValueError(f"{name!r} is not a build table of {self.path}")
        if (
            GENERATIONS_TABLE in taken
            and conn.execute(
                f"SELECT 1 FROM {GENERATIONS_TABLE} WHERE name = ?", (name,)
            ).fetchone()
        ):
            raise ValueError(f"{name!r} has been live in {self.path}: it is not a build")
        if name not in taken:
            raise ValueError(f"{self.path} has no table {name!r} to go on building")
        return name

    def count(self) -> int:
        conn = _connect(self.path)
        try:
            return conn.execute(f"SELECT count(*) FROM {self.build_name}").fetchone()[0]
        finally:
            conn.close()

    def complete(
        self, expected: int | None, *, keep: int = 1, abort_reason: str | None = None
    ) -> SwapResult:
        _check_keep(keep)
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = self._swap(conn, expected, abort_reason)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if not result.swapped:
                conn.execute("ROLLBACK")
                return dataclasses.replace(result, leftovers=self._leftovers(conn))
            conn.execute("COMMIT")
            kept, deleted = self._prune(conn, keep)
            return dataclasses.replace(
                result, kept=kept, deleted=deleted, leftovers=self._leftovers(conn)
            )
        finally:
            conn.close()

    def abandon(self) -> None:
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            _drop_index(conn, self.build_name)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _swap(
        self, conn: sqlite3.Connection, expected: int | None, reason: str | None
    ) -> SwapResult:
        tables = _tables(conn)
        found = conn.execute(f"SELECT count(*) FROM {self.build_name}").fetchone()[0]
        if reason is None and expected is not None and found != expected:
            reason = (
                f"verification failed: table {self.build_name} holds {found:,} documents, "
                f"but {expected:,} were written"
            )
        if reason is not None:
            return SwapResult(self.alias, self.build_name, False, expected, found, reason=reason)
        conn.execute(_GENERATIONS_SCHEMA)
        now = _now_text()
        live = _live_generation(conn)
        previous: tuple[str, ...] = ()
        if LIVE_TABLE in tables and live is None and _is_placeholder(conn):
            _drop_index(conn, LIVE_TABLE)
        elif LIVE_TABLE in tables:
            retired = live or _earlier_table_name(self.build_name, tables)
            check_table_name(retired)
            _rename_index(conn, LIVE_TABLE, retired)
            conn.execute(
                f"INSERT INTO {GENERATIONS_TABLE} (name, state, changed_at) "
                "VALUES (?, 'retired', ?) ON CONFLICT (name) "
                "DO UPDATE SET state = 'retired', changed_at = excluded.changed_at",
                (retired, now),
            )
            previous = (retired,)
        _rename_index(conn, self.build_name, LIVE_TABLE)
        conn.execute(
            f"INSERT INTO {GENERATIONS_TABLE} (name, state, changed_at) VALUES (?, 'live', ?)",
            (self.build_name, now),
        )
        return SwapResult(self.alias, self.build_name, True, expected, found, previous)

    def _prune(
        self, conn: sqlite3.Connection, keep: int
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            retired = [
                name
                for (name,) in conn.execute(
                    f"SELECT name FROM {GENERATIONS_TABLE} WHERE state = 'retired' "
                    "ORDER BY changed_at DESC, name DESC"
                )
            ]
            for name in retired[keep:]:
                check_table_name(name)
                _drop_index(conn, name)
                conn.execute(f"DELETE FROM {GENERATIONS_TABLE} WHERE name = ?", (name,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return tuple(retired[:keep]), tuple(retired[keep:])

    def _leftovers(self, conn: sqlite3.Connection) -> tuple[str, ...]:
        pattern = re.compile(f"{LIVE_TABLE}__{_STAMP}$")
        known = set()
        if GENERATIONS_TABLE in _tables(conn):
            known = {name for (name,) in conn.execute(f"SELECT name FROM {GENERATIONS_TABLE}")}
        return tuple(
            sorted(
                name
                for name in _tables(conn)
                if pattern.match(name) and name not in known and name != self.build_name
            )
        )


def _rollback_sqlite(uri: str) -> RolledBack:
    path = sqlite_path(uri)
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if GENERATIONS_TABLE not in _tables(conn):
                raise ValueError(f"{path} has no retired index to roll back to")
            row = conn.execute(
                f"SELECT name FROM {GENERATIONS_TABLE} WHERE state = 'retired' "
                "ORDER BY changed_at DESC, name DESC LIMIT 1"
            ).fetchone()
            live = _live_generation(conn)
            if row is None or live is None:
                raise ValueError(f"{path} has no retired index to roll back to")
            target, current = check_table_name(row[0]), check_table_name(live)
            _rename_index(conn, LIVE_TABLE, current)
            _rename_index(conn, target, LIVE_TABLE)
            conn.execute(f"DELETE FROM {GENERATIONS_TABLE} WHERE name = ?", (current,))
            conn.execute(
                f"UPDATE {GENERATIONS_TABLE} SET state = 'live', changed_at = ? WHERE name = ?",
                (_now_text(), target),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return RolledBack(target, (current,))
    finally:
        conn.close()


# -- entry points ----------------------------------------------------------------------------


def prepare_swap(
    uri: str,
    alias: str | None = None,
    *,
    now: datetime | None = None,
    build_name: str | None = None,
    body: dict[str, Any] | None = None,
) -> AliasSwap:
    """Creates the new physical index behind the live one named by ``uri``.

    ``alias`` may repeat the live name (the URI's index for a search server,
    ``documents`` for SQLite); anything else is a ``ValueError``, so that a
    typo never builds behind the wrong name. ``build_name`` reopens that
    earlier build instead; ``body`` holds a new search-server index's
    ``settings`` and ``mappings`` (SQLite takes none).
    """
    now = now or datetime.now(timezone.utc)
    check_alias(uri, alias)
    if issubclass(backend_class(uri), SearchServerIndex):
        live = parse_server_uri(normalize_uri(uri)).index
        return _ServerAliasSwap(normalize_uri(uri), live, now, build_name=build_name, body=body)
    if body:
        raise IndexOptionError(
            "a SQLite index has a fixed schema: it takes no settings or mappings"
        )
    return _SQLiteAliasSwap(uri, now, build_name=build_name)


def check_alias(uri: str, alias: str | None) -> None:
    """Raises :class:`IndexOptionError` unless ``uri`` can be swapped behind
    ``alias`` (None, or the live name it repeats); touches no index."""
    cls = backend_class(uri)
    if issubclass(cls, SearchServerIndex):
        live = parse_server_uri(normalize_uri(uri)).index
        if alias and alias != live:
            raise IndexOptionError(
                f"--swap-alias {alias!r} differs from the index in {uri!r} ({live!r}); "
                "name the alias in the URI"
            )
    elif cls is SQLiteIndex:
        if alias and alias != LIVE_TABLE:
            raise IndexOptionError(
                f"the live table of a SQLite index is always {LIVE_TABLE!r}; got alias {alias!r}"
            )
    else:
        raise IndexOptionError(f"alias swaps are not supported for {uri!r}")


def live_index(uri: str) -> str | None:
    """The physical index the live name of ``uri`` points at now (a SQLite
    build table, a search server's index behind the alias), or None."""
    cls = backend_class(uri)
    if issubclass(cls, SearchServerIndex):
        location = parse_server_uri(normalize_uri(uri))
        with open_backend(str(location)) as server:
            if server.kind_of(location.index) != "alias":
                return None
            targets = server.alias_targets(location.index)
        return targets[0] if len(targets) == 1 else None
    if cls is SQLiteIndex:
        path = sqlite_path(normalize_uri(uri))
        if not os.path.exists(path):
            return None
        conn = _connect(path)
        try:
            return _live_generation(conn) if GENERATIONS_TABLE in _tables(conn) else None
        finally:
            conn.close()
    return None


class RolledBack(NamedTuple):
    """What :func:`rollback` did: ``restored`` is live again; ``replaced`` (what was
    live) is neither live nor kept, a leftover for you to inspect or delete."""

    restored: str
    replaced: tuple[str, ...]


def rollback(uri: str) -> RolledBack:
    """Points the live name of ``uri`` back at the newest retired index.

    The index it leaves stops being live and is not retired: it shows up as
    a leftover for you to inspect or delete.
    """
    cls = backend_class(uri)
    if issubclass(cls, SearchServerIndex):
        location = parse_server_uri(normalize_uri(uri))
        return _rollback_server(str(location), location.index)
    if cls is SQLiteIndex:
        return _rollback_sqlite(normalize_uri(uri))
    raise ValueError(f"rollback is not supported for {uri!r}")
