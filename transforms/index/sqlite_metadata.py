"""The metadata table of the embedded index: what each physical index table holds.

Schema::

    index_metadata (index_table TEXT PRIMARY KEY, meta TEXT NOT NULL)

``index_table`` names a physical index table of the file (``documents`` is
the live index, ``documents__YYYYMMDDhhmmss`` a build or a retired one);
``meta`` is a JSON object (``transforms.index.identity``). A row follows its
table when :mod:`transforms.index.alias` renames it, in the same
transaction, so ``SELECT meta FROM index_metadata WHERE index_table =
'documents'`` always describes the live index. The functions take an open
connection and leave transactions to the caller.
"""

from __future__ import annotations

import json
import sqlite3

__all__ = ["METADATA_TABLE", "drop_meta", "read_meta", "rename_meta", "write_meta"]

METADATA_TABLE = "index_metadata"

_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {METADATA_TABLE} "
    "(index_table TEXT PRIMARY KEY, meta TEXT NOT NULL)"
)


def _exists(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (METADATA_TABLE,)
    ).fetchone()
    return row is not None


def read_meta(conn: sqlite3.Connection, table: str) -> dict | None:
    """The JSON object recorded for ``table``, or None."""
    if not _exists(conn):
        return None
    row = conn.execute(
        f"SELECT meta FROM {METADATA_TABLE} WHERE index_table = ?", (table,)
    ).fetchone()
    if row is None:
        return None
    try:
        meta = json.loads(row[0])
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def write_meta(conn: sqlite3.Connection, table: str, meta: dict) -> None:
    """Records ``meta`` for ``table``, replacing what was recorded."""
    conn.execute(_SCHEMA)
    conn.execute(
        f"INSERT INTO {METADATA_TABLE} (index_table, meta) VALUES (?, ?) "
        "ON CONFLICT (index_table) DO UPDATE SET meta = excluded.meta",
        (table, json.dumps(meta, ensure_ascii=False, sort_keys=True)),
    )


def rename_meta(conn: sqlite3.Connection, source: str, target: str) -> None:
    """Moves the row of ``source`` to ``target`` (dropping any row ``target`` had)."""
    if not _exists(conn):
        return
    conn.execute(f"DELETE FROM {METADATA_TABLE} WHERE index_table = ?", (target,))
    conn.execute(
        f"UPDATE {METADATA_TABLE} SET index_table = ? WHERE index_table = ?", (target, source)
    )


def drop_meta(conn: sqlite3.Connection, table: str) -> None:
    """Forgets ``table`` (it was dropped)."""
    if _exists(conn):
        conn.execute(f"DELETE FROM {METADATA_TABLE} WHERE index_table = ?", (table,))
