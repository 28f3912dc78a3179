"""The output folder of a local run (``run_local.sh --out DIR``), cleaned without risk.

A run writes the SQLite index (``index.db`` and its ``-wal``/``-shm``
files), the dead letters (``dead-letters/``) and a marker file, ``.local-run``,
that identifies the folder as a run's output. Before the next run,
:func:`prepare_run_folder` removes only those outputs; anything else in the
folder stays. A folder that is not empty is used only when it has the marker
or holds nothing but those outputs (a folder of a run from before the
marker), so ``--out .`` in a checkout is refused instead of wiped.
"""

from __future__ import annotations

import fnmatch
import os
import shutil

__all__ = ["MARKER", "RunFolderError", "prepare_run_folder"]

MARKER = ".local-run"
INDEX_FILE = "index.db"
DEAD_LETTERS = "dead-letters"
_INDEX_FILES = (INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm", f"{INDEX_FILE}-journal")
_DEAD_LETTER_PATTERNS = ("dead-letters-*.jsonl", "beam-temp-dead-letters-*")
_MARKER_TEXT = (
    "This folder holds the output of run_local.sh (python -m pipeline.local.run).\n"
    "The next run into it replaces index.db* and dead-letters/; other files are kept.\n"
)


class RunFolderError(ValueError):
    """The folder cannot take a local run's output; the message says why."""


def _is_output(name: str) -> bool:
    return name in _INDEX_FILES or name in (MARKER, DEAD_LETTERS)


def prepare_run_folder(folder: str) -> None:
    """Makes ``folder`` ready for a run and marks it as a run's output folder.

    Creates it when missing. In a folder of an earlier run, removes the index
    files and the dead-letter files that run wrote, and nothing else. Raises
    :class:`RunFolderError` for a file, and for a non-empty folder that is
    not a run's output folder, before touching anything.
    """
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise RunFolderError(f"--out {folder} is a file, not a folder")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    if names and MARKER not in names and not all(_is_output(name) for name in names):
        raise RunFolderError(
            f"--out {folder} is not empty and is not the output folder of an earlier run "
            f"(no {MARKER} file): choose a new or empty folder"
        )
    for name in _INDEX_FILES:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            os.remove(path)
    dead_letters = os.path.join(folder, DEAD_LETTERS)
    if os.path.isdir(dead_letters) and not os.path.islink(dead_letters):
        for name in os.listdir(dead_letters):
            if not any(fnmatch.fnmatch(name, pattern) for pattern in _DEAD_LETTER_PATTERNS):
                continue
            path = os.path.join(dead_letters, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, MARKER), "w", encoding="utf-8") as marker:
        marker.write(_MARKER_TEXT)
