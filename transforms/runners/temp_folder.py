"""A temporary folder of the command's own, removed with all it holds when it ends.

Beam leaves folders in the system's temporary folder at every run, most of
them empty (``beam-pipeline-temp*`` of each pipeline object, ``tmp*`` of each
environment it describes, ``beam-temp*`` of the portable job service), so a
reindex scheduled every day would strew several a day. For the command's
life, :func:`private_temp_folder` points :mod:`tempfile` and ``TMPDIR``
(which the local engine's worker processes inherit) at a folder of its own,
``dynamodb-reindex-*`` inside the system's, and removes it when the command
ends, however it ends; a process killed outright leaves that one folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

__all__ = ["private_temp_folder", "temp_folder_at"]

PREFIX = "dynamodb-reindex-"


@contextlib.contextmanager
def temp_folder_at(folder: str) -> Iterator[str]:
    """``tempfile`` and ``TMPDIR`` name ``folder`` until the block ends, then what they
    named before."""
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


@contextlib.contextmanager
def private_temp_folder() -> Iterator[str]:
    """A new folder that ``tempfile`` and ``TMPDIR`` name until the block ends, then removed."""
    folder = tempfile.mkdtemp(prefix=PREFIX)
    try:
        with temp_folder_at(folder):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
