"""Small files of the run journal, through Beam's ``FileSystems``.

Every journal file is written whole or not at all: a local file is written
to a temporary name beside it (``*.tmp``), synced and renamed; on object
stores (``gs://``, ``s3://``) an object appears whole when its upload
completes, so it is written in place. Readers never see a part of a file,
and list only the names they own, never a temporary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

__all__ = [
    "TEMPORARY_SUFFIX",
    "delete_matching",
    "is_local",
    "matching",
    "open_to_read",
    "read_bytes",
    "read_json",
    "write_atomically",
    "write_json",
    "writing_atomically",
]

TEMPORARY_SUFFIX = ".tmp"


def is_local(path: str) -> bool:
    """True for a path on this machine's file system."""
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def write_atomically(path: str, data: bytes, *, sync: bool = True) -> None:
    """Writes ``data`` to ``path`` so that a reader sees all of it or nothing.

    ``sync`` also makes a local file durable before it is renamed into place
    (off for files that only inform, such as progress counts).
    """
    with writing_atomically(path, sync=sync) as stream:
        stream.write(data)


@contextlib.contextmanager
def writing_atomically(path: str, *, sync: bool = True) -> Iterator[BinaryIO]:
    """A stream to write ``path`` by parts; readers see the file only whole, once the
    block has ended without an error (see :func:`write_atomically`)."""
    if not is_local(path):
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            yield stream
        return
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
    try:
        with FileSystems.create(
            temporary, compression_type=CompressionTypes.UNCOMPRESSED
        ) as stream:
            yield stream
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
        FileSystems.rename([temporary], [path])
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path: str, obj: Any, *, sync: bool = True) -> None:
    """``obj`` as compact JSON, written atomically (see :func:`write_atomically`)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    write_atomically(path, text.encode("utf-8"), sync=sync)


def open_to_read(path: str) -> BinaryIO:
    """The file at ``path`` as a binary stream, as written (no decompression)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with open_to_read(path) as stream:
        return stream.read()


def read_json(path: str) -> Any:
    """The JSON object at ``path``; ``ValueError`` when it is not JSON."""
    return json.loads(read_bytes(path).decode("utf-8"))


def matching(pattern: str) -> list[str]:
    """The files matching the glob ``pattern`` (``*`` never crosses ``/``), sorted."""
    try:
        (result,) = FileSystems.match([pattern])
    except Exception:  # BeamIOError: the folder does not exist yet
        return []
    return sorted(meta.path for meta in result.metadata_list)


def delete_matching(pattern: str) -> int:
    """Deletes the files matching ``pattern``; returns how many there were."""
    paths = matching(pattern)
    if paths:
        FileSystems.delete(paths)
    return len(paths)
