"""The embedded index: one SQLite file with full-text search.

URI: ``sqlite:///PATH``, the SQLAlchemy convention. What follows the third
slash is the file's path, so ``sqlite:///out/index.db`` is ``out/index.db``
relative to the working directory and ``sqlite:////srv/index.db`` (four
slashes) is the absolute ``/srv/index.db``. A leading ``~`` is expanded; the
path is taken literally otherwise (no percent-decoding); a ``?`` is refused,
since a query string there is a mistake.
``sqlite://out/index.db`` (two slashes) would name a host and is rejected.
``SQLiteIndex.normalize_uri`` makes the path absolute, so worker processes
with another working directory write the same file.

Schema (contract: ``SELECT id, body FROM documents`` is the live index)::

    documents      (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)
    documents_fts  FTS5, contentless: the string values found anywhere in body

plus ``index_metadata``, what the index holds (``transforms.index.sqlite_metadata``).
``body`` is the record's JSON. ``rowid`` is declared so that it survives
``VACUUM``: it links a document to its full-text entry. Triggers keep
``documents_fts`` in step with every insert, update and delete, whoever makes
them; the text indexed is every JSON string value of the body (SQLite's
``json_tree``), not its keys, numbers or punctuation. ``documents_fts`` merges
its segments 16 at a time (``FTS_AUTOMERGE``), which costs less per document
written than FTS5's default of 4.

Several processes may write one file at once (Beam's multi-processing
DirectRunner runs two or more): the file is in WAL mode, each batch is one
transaction (one statement, or ``BEGIN IMMEDIATE``), and a busy writer
waits up to ``busy_timeout`` seconds. WAL needs a local file system, not a
network share.

Durability: the connection runs ``synchronous = FULL``, so a batch whose
``write_batch`` has returned is on disk (the WAL is synced at every commit)
and survives a crash of the process, the operating system or the machine's
power, as the backend contract promises. ``NORMAL``, the usual WAL setting,
would sync only at checkpoints and could lose the last batches on power
loss; measured with ``bench/sink.py``, ``FULL`` costs a few percent of the
sink's throughput (see ``bench/results/sink.md``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json serves without it
    orjson = None

from transforms.index import Document, IndexBackend, Refusal, SearchHit
from transforms.index.sqlite_metadata import read_meta, write_meta

_LOGGER = logging.getLogger(__name__)

__all__ = ["IndexSchemaError", "SQLiteIndex", "sqlite_path"]

_PREFIX = "sqlite://"
SCHEMA_VERSION = 1
DEFAULT_BUSY_TIMEOUT = 60.0
SYNCHRONOUS = "FULL"

FTS_AUTOMERGE = 16
FTS_CRISISMERGE = 64
"""FTS5 merges 16 segments of a level at a time, not 4 (a crisis merge at 64,
not 16): measured, 47 µs instead of 57 µs of CPU per document written in
batches of 500 into 100,000 documents, with the same query times
(``bench/sink.py`` shows both)."""

_TEXT_OF_NEW = "(SELECT group_concat(value, ' ') FROM json_tree(new.body) WHERE type = 'text')"
_TEXT_OF_OLD = "(SELECT group_concat(value, ' ') FROM json_tree(old.body) WHERE type = 'text')"

_SCHEMA = (
    """CREATE TABLE documents (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    )""",
    """CREATE VIRTUAL TABLE documents_fts USING fts5(
        text, content='', tokenize='unicode61 remove_diacritics 2'
    )""",
    f"INSERT INTO documents_fts (documents_fts, rank) VALUES ('automerge', {FTS_AUTOMERGE})",
    f"INSERT INTO documents_fts (documents_fts, rank) VALUES ('crisismerge', {FTS_CRISISMERGE})",
    f"""CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
        INSERT INTO documents_fts (rowid, text) VALUES (new.rowid, {_TEXT_OF_NEW});
    END""",
    f"""CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
        INSERT INTO documents_fts (documents_fts, rowid, text)
            VALUES ('delete', old.rowid, {_TEXT_OF_OLD});
    END""",
    f"""CREATE TRIGGER documents_fts_update AFTER UPDATE OF body ON documents BEGIN
        INSERT INTO documents_fts (documents_fts, rowid, text)
            VALUES ('delete', old.rowid, {_TEXT_OF_OLD});
        INSERT INTO documents_fts (rowid, text) VALUES (new.rowid, {_TEXT_OF_NEW});
    END""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

UPSERT = (
    "INSERT INTO documents (id, body) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET body = excluded.body WHERE body IS NOT excluded.body"
)

UPSERT_JSON_ARRAY = (
    "INSERT INTO documents (id, body) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) "
    "WHERE true "
    "ON CONFLICT (id) DO UPDATE SET body = excluded.body WHERE body IS NOT excluded.body"
)
"""``UPSERT`` for a whole batch given as one JSON array of ``[id, body]`` pairs."""

_SEARCH = (
    "SELECT d.id, bm25(documents_fts) AS rank, d.body "
    "FROM documents_fts JOIN documents AS d ON d.rowid = documents_fts.rowid "
    "WHERE documents_fts MATCH ? ORDER BY rank LIMIT ?"
)

_COUNT_MATCHES = (
    "SELECT count(*) "
    "FROM documents_fts JOIN documents AS d ON d.rowid = documents_fts.rowid "
    "WHERE documents_fts MATCH ?"
)


class IndexSchemaError(ValueError):
    """The file is a SQLite database, but not an index of this schema."""


def sqlite_path(uri: str) -> str:
    """The file path named by a ``sqlite:///PATH`` URI (see the module docstring)."""
    if not isinstance(uri, str) or uri[: len(_PREFIX)].lower() != _PREFIX:
        raise ValueError(f"{uri!r} is not a sqlite:/// URI")
    rest = uri[len(_PREFIX) :]
    if not rest.startswith("/"):
        raise ValueError(
            f"index URI {uri!r} names a host; use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    path = rest[1:]
    if not path or path.endswith("/"):
        raise ValueError(f"index URI {uri!r} names no file; expected sqlite:///PATH")
    if "?" in path:
        raise ValueError(
            f"index URI {uri!r} has a query string ({path[path.index('?') :]}); sqlite:///PATH "
            "takes none: everything after sqlite:/// is the file's path"
        )
    return os.path.expanduser(path)


def _match_expression(query: str) -> str:
    """FTS5 syntax that matches every word of ``query``, each taken literally.

    Every whitespace-separated word becomes a quoted phrase (``"`` doubled);
    a trailing ``*`` asks for a prefix match. Words without a letter or digit
    are dropped: they could only match nothing.
    """
    text = query.encode("utf-8", "ignore").decode("utf-8")
    text = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)
    phrases = []
    for word in text.split():
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if not any(ch.isalnum() for ch in word):
            continue
        phrases.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(phrases)


def _is_document_error(error: BaseException) -> bool:
    """True for errors caused by one document, not by the database."""
    if isinstance(error, (sqlite3.IntegrityError, sqlite3.DataError, UnicodeEncodeError)):
        return True
    return isinstance(error, sqlite3.OperationalError) and "JSON" in str(error)


def _reason(error: BaseException) -> str:
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    return f"{name}: {error}"


def _json_array(rows: list[tuple[str, str]]) -> str:
    """The JSON array of ``rows``: orjson's text (a third of ``json.dumps``'s
    time for a batch), or ``json.dumps``'s where orjson refuses a string
    (a lone surrogate); SQLite's JSON functions read both the same."""
    if orjson is not None:
        try:
            return orjson.dumps(rows).decode()
        except orjson.JSONEncodeError:
            pass
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


class SQLiteIndex(IndexBackend):
    """The embedded index in one SQLite file; see the module docstring.

    ``SQLiteIndex.open("sqlite:///out/index.db")`` or ``SQLiteIndex(path)``
    creates the file, its folder and the schema when missing.
    """

    DEFAULT_BATCH_SIZE = 2000
    """Each transaction of another process finds the pages it needs to read
    again (the file changed under its cache), so with worker processes
    sharing the file, fewer and larger transactions are faster: measured,
    a local reindex of 300,000 items on 2 CPUs took 19.3 to 20.6 s in
    batches of 2,000 against 22.5 to 24.0 s in batches of 500, and the same
    on one CPU. In one process the size changes nothing (``bench/sink.py``)."""

    table = "documents"
    _upsert = UPSERT
    _upsert_json_array = UPSERT_JSON_ARRAY
    _search = _SEARCH
    _count_matches = _COUNT_MATCHES
    _synchronous = SYNCHRONOUS

    def __init__(self, path: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT):
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:  # SQLite's message does not name the file
            raise type(error)(f"{error}: {self.path}") from error
        try:
            self._prepare(busy_timeout)
        except sqlite3.Error as error:
            self._conn.close()
            raise type(error)(f"{error}: {self.path}") from error
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def normalize_uri(cls, uri: str) -> str:
        return "sqlite:///" + os.path.abspath(sqlite_path(uri))

    @classmethod
    def open(cls, uri: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> SQLiteIndex:
        return cls(sqlite_path(uri), busy_timeout=busy_timeout)

    @classmethod
    def missing(cls, uri: str) -> str | None:
        path = sqlite_path(uri)
        return None if os.path.exists(path) else f"there is no index file {path}"

    def __repr__(self) -> str:
        return f"SQLiteIndex({self.path!r})"

    def _enter_wal_mode(self, busy_timeout: float) -> str:
        """Switches the file to WAL; retried, since the switch does not wait for locks."""
        deadline = time.monotonic() + busy_timeout
        delay = 0.005
        while True:
            try:
                return self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
            except sqlite3.DatabaseError as e:
                raise IndexSchemaError(f"{self.path} is not a SQLite database: {e}") from e
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _prepare(self, busy_timeout: float) -> None:
        mode = self._enter_wal_mode(busy_timeout)
        if mode.lower() != "wal":
            _LOGGER.warning(
                "%s: journal mode is %s, not WAL; writers will block readers", self.path, mode
            )
        self._conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        with self._write_transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            existing = self._conn.execute(  # a database of something else is not taken over
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite%'"
            ).fetchall()
            if version != 0 or existing:
                raise IndexSchemaError(
                    f"{self.path} is not an index of schema version {SCHEMA_VERSION} "
                    f"(user_version {version}, tables {[name for (name,) in existing]}); "
                    "choose another file"
                )
            for statement in _SCHEMA:
                self._conn.execute(statement)

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def write_batch(self, documents: Sequence[Document]) -> list[Refusal]:
        """Upserts ``documents`` in one transaction and one statement; see ``IndexBackend``.

        A document equal to the stored one is left untouched. When the batch
        fails because of some documents (malformed JSON body, value too big),
        it is written again one document per savepoint, and those documents
        are returned as refusals; other errors are raised.
        """
        refusals: list[Refusal] = []
        rows, positions = [], []
        for position, (doc_id, body) in enumerate(documents):
            if isinstance(doc_id, str) and isinstance(body, str):
                rows.append((doc_id, body))
                positions.append(position)
            else:
                reason = (
                    f"id and body must be str, not {type(doc_id).__name__}, {type(body).__name__}"
                )
                refusals.append(Refusal(position, str(doc_id), reason))
        if not rows:
            return refusals
        try:
            self._write_rows(rows)
            return refusals
        except (sqlite3.Error, UnicodeEncodeError) as e:
            if not _is_document_error(e):
                raise
            _LOGGER.info(
                "%s: batch of %d refused (%s); writing documents one by one",
                self.path,
                len(rows),
                _reason(e),
            )
        with self._write_transaction():
            for position, row in zip(positions, rows, strict=True):
                self._conn.execute("SAVEPOINT document")
                try:
                    self._conn.execute(self._upsert, row)
                except (sqlite3.Error, UnicodeEncodeError) as e:
                    self._conn.execute("ROLLBACK TO document")
                    if not _is_document_error(e):
                        raise
                    refusals.append(Refusal(position, row[0], _reason(e)))
                self._conn.execute("RELEASE document")
        refusals.sort(key=lambda refusal: refusal.position)
        return refusals

    def _write_rows(self, rows: list[tuple[str, str]]) -> None:
        """Writes all ``rows`` atomically: one statement when JSON can carry them exactly.

        The batch's JSON text is made before the file's write lock, which
        worker processes share, is taken, so that the lock is held only
        while SQLite writes. The statement runs without ``BEGIN`` and
        ``COMMIT``: on its own it is one transaction, which takes the write
        lock (waiting in the busy handler), writes and commits within one
        ``sqlite3_step``, during which Python's GIL is free. Two more
        statements would each take the GIL back while the lock is held, and
        with a busy interpreter each costs a GIL switch: measured, a local
        reindex of 300,000 items on 2 CPUs took 0.95x the time of a
        ``BEGIN IMMEDIATE`` transaction (paired runs, ``docs/performance.md``). One
        statement also skips the per-row binding of ``executemany``. JSON
        text cannot carry a NUL character through SQLite's JSON functions,
        so a batch with one is written by ``executemany`` in a transaction.
        """
        if any("\x00" in doc_id or "\x00" in body for doc_id, body in rows):
            with self._write_transaction():
                self._conn.executemany(self._upsert, rows)
        else:
            self._conn.execute(self._upsert_json_array, (_json_array(rows),))

    def delete(self, ids: Iterable[str]) -> int:
        with self._write_transaction():
            cursor = self._conn.executemany(
                "DELETE FROM documents WHERE id = ?", ((doc_id,) for doc_id in ids)
            )
        return cursor.rowcount

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM documents").fetchone()[0]

    def search(self, query: str, limit: int = 10, *, raw: bool = False) -> list[SearchHit]:
        """Documents matching every word of ``query``, best bm25 first.

        ``score`` is SQLite's ``bm25()`` negated, so higher is better. With
        ``raw=True`` the query is FTS5 syntax (``"a b" OR c*``, ``NEAR(...)``);
        a malformed one raises ``ValueError``.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        rows = self._matching(self._search, query, raw, limit)
        return [SearchHit(doc_id, -rank, body) for doc_id, rank, body in rows]

    def count_matches(self, query: str, *, raw: bool = False) -> int:
        rows = self._matching(self._count_matches, query, raw)
        return rows[0][0] if rows else 0

    def _matching(self, statement: str, query: str, raw: bool, *params) -> list[tuple]:
        """The rows of ``statement`` for the full-text ``query``; none for a query of no words."""
        expression = query if raw else _match_expression(query)
        if not expression.strip():
            return []
        try:
            return self._conn.execute(statement, (expression, *params)).fetchall()
        except sqlite3.OperationalError as e:
            if not raw:
                raise
            raise ValueError(f"bad full-text query {query!r}: {e}") from e

    def get(self, ids: Iterable[str]) -> dict[str, str]:
        """``{id: body}`` of the documents of this index with these ids, bodies as stored."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                self._conn.execute(
                    f"SELECT id, body FROM {self.table} WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def metadata(self) -> dict | None:
        """This index table's row of ``index_metadata`` (``transforms.index.sqlite_metadata``)."""
        return read_meta(self._conn, self.table)

    def set_metadata(self, meta: dict) -> None:
        with self._write_transaction():
            write_meta(self._conn, self.table, meta)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
