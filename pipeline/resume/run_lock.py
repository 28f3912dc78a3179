"""One run at a time per dead-letter location, per run journal and per embedded index.

Two runs that share a journal would remove each other's positions and dead
letters: the first to finish consolidates and removes the journal, parts
of the other included, and the other then writes no dead letters at all.
Two runs writing one dead-letter folder replace each other's files. A run
therefore holds an exclusive ``flock`` (:func:`run_lock`) on
``<journal>.lock`` for the whole run (the default journal's, beside the
dead letters, and that of ``--journal`` too) and a second run that finds
one held is refused in one line. The operating system releases the lock
when the process ends, however it ends, so a killed run never blocks the
next one or its ``--resume``.

A reindex also holds ``<index file>.lock`` (:func:`index_lock`): two runs
writing one embedded index would each swap in their own build, or a
rebuild would swap out what an upsert wrote meanwhile.

Only local paths are locked: object stores and search servers have no
locks, and a journal on one is shared at the caller's risk (the docs say so).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from transforms.journal.files import is_local
from transforms.journal.journal import utc_now

__all__ = ["RunLocked", "index_lock", "run_lock"]


class RunLocked(RuntimeError):
    """Another run holds the journal's lock."""


SHARED_DEAD_LETTERS = "two runs sharing it would lose each other's dead letters"


@contextlib.contextmanager
def run_lock(
    journal_path: str,
    what: str | None = None,
    other: str = "--journal",
    why: str = SHARED_DEAD_LETTERS,
) -> Iterator[None]:
    """Holds the lock of the journal at ``journal_path`` while the block runs.

    Raises :class:`RunLocked` naming ``what`` is shared (default: the journal),
    the holder (process id and start time), ``why`` two runs must not share it,
    and the option (``other``) that gives this run its own. The lock file is
    removed on the way out, and so is the folder made for it if the run left
    it empty.
    """
    what = what or f"the journal {journal_path}"
    if not is_local(journal_path):
        yield
        return
    lock_path = journal_path.rstrip("/" + os.sep) + ".lock"
    folder = os.path.dirname(os.path.abspath(lock_path))
    created = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # an unwritable folder: the run's own checks say so in its words
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
            raise RunLocked(
                f"another run is using {what} ({holder or 'starting'}): {why}; wait for "
                f"it to end, or give this run another {other}"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"process {os.getpid()} since {utc_now()}".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
    finally:
        os.close(descriptor)
        if created:  # a run refused before it wrote anything leaves no folder behind
            with contextlib.suppress(OSError):
                os.rmdir(folder)


@contextlib.contextmanager
def index_lock(uri: str) -> Iterator[None]:
    """Holds the lock of the embedded index at ``uri`` (``<file>.lock``) while the
    block runs: two reindexes of one index would each swap in their own build,
    and a rebuild would swap out what an upsert wrote meanwhile. Search-server
    indexes are not locked (the docs say so)."""
    if not uri.lower().startswith("sqlite:///"):
        yield
        return
    from transforms.index.sqlite import sqlite_path

    path = os.path.realpath(sqlite_path(uri))
    with run_lock(
        path,
        f"the index {uri}",
        other="--index",
        why="two reindexes of one index would each put their own build in place, or "
        "replace what the other wrote",
    ):
        yield
