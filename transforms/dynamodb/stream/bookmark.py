"""The bookmark: how far the index has caught up with the table's stream.

A bookmark names the table and its stream, and for every shard of the
stream the last sequence number applied: every record of the shard up to
and including it has been applied to the index (its key re-read and the
result indexed), or was older than the start time it was read from. A
closed shard read to its end is ``finished``. ``read_at`` is when the read
that reached these positions started: the records after them are younger.

It is one JSON object, written through Beam's ``FileSystems`` (a local path,
``s3://...``, ``gs://...``)::

    {"format": "dynamodb-stream-bookmark/1",
     "table": "works",
     "stream_arn": "arn:aws:dynamodb:...:table/works/stream/2026-11-01T00:00:00.000",
     "read_at": "2026-11-30T03:02:50.123456Z",
     "shards": {"shardId-00000001700000000000-0a1b2c3d":
                    {"sequence_number": "4100000000000012345678", "finished": false}}}

``sequence_number`` is ``null`` for a shard that held no record when it was
read. Writing is atomic: a local bookmark is written to a temporary file
beside it and renamed over it; on object stores an object appears whole
when its upload completes. A reader therefore sees the old bookmark or the
new one, never a part.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

__all__ = [
    "BOOKMARK_FORMAT",
    "Bookmark",
    "BookmarkError",
    "BookmarkNotFound",
    "CorruptBookmark",
    "ShardPosition",
    "bookmark_exists",
    "format_time",
    "parse_time",
    "read_bookmark",
    "write_bookmark",
]

BOOKMARK_FORMAT = "dynamodb-stream-bookmark/1"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class BookmarkError(ValueError):
    """A bookmark that cannot be used; the message names the file."""


class BookmarkNotFound(BookmarkError):
    """No bookmark at the path."""


class CorruptBookmark(BookmarkError):
    """The file is not a bookmark (bad JSON, missing or mistyped fields)."""


def format_time(moment: datetime) -> str:
    """UTC text of an aware datetime, microseconds kept: ``2026-11-30T03:02:50.123456Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: a time zone is required")
    return moment.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The aware datetime of ISO-8601 text with a zone (``Z`` or an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


@dataclasses.dataclass(frozen=True)
class ShardPosition:
    """Where a shard has been applied up to.

    ``sequence_number``: the last record read (applied, or older than the
    start time); ``None`` when none was. ``finished``: the shard is closed
    and was read to its end.
    """

    sequence_number: str | None = None
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"sequence_number": self.sequence_number, "finished": self.finished}


@dataclasses.dataclass(frozen=True)
class Bookmark:
    """The table, its stream, when the read started and each shard's position."""

    table: str
    stream_arn: str
    read_at: datetime
    shards: Mapping[str, ShardPosition]

    def to_json(self) -> str:
        """The bookmark's JSON text, keys sorted, shards by id."""
        obj = {
            "format": BOOKMARK_FORMAT,
            "table": self.table,
            "stream_arn": self.stream_arn,
            "read_at": format_time(self.read_at),
            "shards": {
                shard_id: self.shards[shard_id].to_json() for shard_id in sorted(self.shards)
            },
        }
        return json.dumps(obj, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, path: str = "the bookmark") -> Bookmark:
        """Parses :meth:`to_json`'s text; ``CorruptBookmark`` names ``path`` and the fault."""
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise CorruptBookmark(f"{path} is not a bookmark: not JSON ({error})") from error
        try:
            return cls._from_object(obj)
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptBookmark(f"{path} is not a bookmark: {error}") from error

    @classmethod
    def _from_object(cls, obj: Any) -> Bookmark:
        if not isinstance(obj, dict):
            raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
        if obj.get("format") != BOOKMARK_FORMAT:
            raise ValueError(f"format is {obj.get('format')!r}, expected {BOOKMARK_FORMAT!r}")
        for name in ("table", "stream_arn", "read_at"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise ValueError(f"{name!r} must be a non-empty string")
        shards = obj.get("shards")
        if not isinstance(shards, dict):
            raise TypeError("'shards' must be an object")
        positions = {}
        for shard_id, position in shards.items():
            if not isinstance(position, dict):
                raise TypeError(f"shard {shard_id!r}: expected an object")
            number = position.get("sequence_number")
            if number is not None and (not isinstance(number, str) or not number.isdigit()):
                raise ValueError(f"shard {shard_id!r}: sequence_number {number!r} is not digits")
            finished = position.get("finished", False)
            if not isinstance(finished, bool):
                raise TypeError(f"shard {shard_id!r}: finished must be true or false")
            positions[shard_id] = ShardPosition(number, finished)
        return cls(obj["table"], obj["stream_arn"], parse_time(obj["read_at"]), positions)


def bookmark_exists(path: str) -> bool:
    return FileSystems.exists(path)


def read_bookmark(path: str) -> Bookmark:
    """The bookmark at ``path``; ``BookmarkNotFound`` or ``CorruptBookmark`` otherwise."""
    if not FileSystems.exists(path):
        raise BookmarkNotFound(f"no bookmark at {path}")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        text = stream.read()
    return Bookmark.from_json(text, path)


def _is_local(path: str) -> bool:
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def _write(path: str, data: bytes, *, sync: bool) -> None:
    with FileSystems.create(
        path, mime_type="application/json", compression_type=CompressionTypes.UNCOMPRESSED
    ) as stream:
        stream.write(data)
        if sync:
            stream.flush()
            os.fsync(stream.fileno())


def write_bookmark(path: str, bookmark: Bookmark) -> None:
    """Writes ``bookmark`` to ``path`` atomically (see the module's description)."""
    data = bookmark.to_json().encode("utf-8")
    if not _is_local(path):
        _write(path, data, sync=False)
        return
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        _write(temporary, data, sync=True)
        FileSystems.rename([temporary], [path])
    except BaseException:
        if FileSystems.exists(temporary):
            FileSystems.delete([temporary])
        raise
