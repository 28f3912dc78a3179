"""Where to read each shard from, and the gaps that make a catch-up impossible.

Two starting points:

* a **start time** (:func:`reads_since`): every shard from its trim horizon,
  records created before ``start_time - safety_margin`` skipped;
* a **bookmark** (:func:`reads_after`): each shard after its last applied
  sequence number; shards that appeared since, from their trim horizon.

A stream keeps records for 24 hours; older ones may be trimmed at any
moment. What is decidable without reading is checked here, and a gap
raises :class:`~transforms.dynamodb.stream.errors.StreamGap`:

* the start time (less the margin) is more than 24 hours ago: records the
  catch-up needs may already be trimmed;
* the stream was created after the start time (less the margin): the writes
  before it are in no stream;
* the bookmark names another stream than the table's current one (the stream
  was disabled and enabled again, or the table re-created);
* a shard the bookmark had not read to its end is no longer in the stream;
* a shard the bookmark does not know descends from no shard it knows: its
  ancestors came and were trimmed after the bookmark was written;
* a shard the bookmark had found empty, in a bookmark older than 24 hours.

What is not decidable here is decided by DynamoDB while reading: reading
after a sequence number that has been trimmed fails with
``TrimmedDataAccessException`` (:mod:`transforms.dynamodb.stream.reader`).

The functions are pure: they take the stream's description and the time,
so they are tested against recorded ``DescribeStream`` responses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta

from transforms.dynamodb.stream.bookmark import Bookmark, ShardPosition, format_time
from transforms.dynamodb.stream.errors import NoStream, StreamGap
from transforms.dynamodb.stream.shards import Shard, StreamDescription

__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "RETENTION",
    "ReadPlan",
    "ShardRead",
    "check_retention",
    "check_stream_status",
    "reads_after",
    "reads_since",
]

RETENTION = timedelta(hours=24)
"""How long DynamoDB Streams keeps a record."""

DEFAULT_SAFETY_MARGIN = timedelta(seconds=60)
"""Read this much before the start time: ``ApproximateCreationDateTime`` is
rounded down to the second, and the clock of the machine that noted the start
time may be off from DynamoDB's."""


@dataclasses.dataclass(frozen=True)
class ShardRead:
    """How to read one shard.

    ``after``: read the records after this sequence number; ``None``: from
    the trim horizon. ``skip_before``: records created before this time are
    read (the position moves past them) but not applied. ``required``: the
    records after the position are needed, so if the shard has gone from the
    stream by the time it is read, that is a gap.
    """

    shard: Shard
    after: str | None = None
    skip_before: datetime | None = None
    required: bool = True


@dataclasses.dataclass(frozen=True)
class ReadPlan:
    """The shards to read, parents first, and the positions carried over unread."""

    reads: tuple[ShardRead, ...]
    carried: Mapping[str, ShardPosition]


_USABLE_STATUSES = frozenset({"ENABLED", "ENABLING"})


def check_stream_status(stream: StreamDescription, table: str) -> None:
    """``NoStream`` unless the stream is enabled (or being enabled)."""
    if stream.status not in _USABLE_STATUSES:
        raise NoStream(table, disabled=True)


def check_retention(
    start_time: datetime, now: datetime, safety_margin: timedelta, table: str
) -> None:
    """``StreamGap`` if records from ``start_time - safety_margin`` may be trimmed by ``now``."""
    oldest_needed = start_time - safety_margin
    if oldest_needed < now - RETENTION:
        raise StreamGap(
            table,
            f"the changes since {format_time(start_time)} (less a {_seconds(safety_margin)} "
            f"margin) are older than the stream's 24-hour retention at {format_time(now)}: "
            "some may already be trimmed",
        )


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g} s"


def reads_since(
    stream: StreamDescription,
    start_time: datetime,
    now: datetime,
    *,
    table: str,
    safety_margin: timedelta = DEFAULT_SAFETY_MARGIN,
) -> ReadPlan:
    """Every shard from its trim horizon, skipping records before the start time.

    ``start_time`` and ``now`` are aware datetimes. Raises ``StreamGap`` when
    records from ``start_time - safety_margin`` on may be missing from the
    stream (see the module's description).
    """
    check_stream_status(stream, table)
    check_retention(start_time, now, safety_margin, table)
    oldest_needed = start_time - safety_margin
    if stream.created is not None and stream.created > oldest_needed:
        raise StreamGap(
            table,
            f"its stream was enabled at {format_time(stream.created)}, after "
            f"{format_time(oldest_needed)} (the start {format_time(start_time)} less the "
            f"{_seconds(safety_margin)} safety margin): the writes made before it are in no "
            f"stream (a reindex started after {format_time(stream.created + safety_margin)} "
            "is covered)",
        )
    reads = tuple(
        ShardRead(shard, after=None, skip_before=oldest_needed, required=False)
        for shard in stream.shards
    )
    return ReadPlan(reads, {})


def reads_after(
    stream: StreamDescription,
    bookmark: Bookmark,
    now: datetime,
    *,
    table: str,
    safety_margin: timedelta = DEFAULT_SAFETY_MARGIN,
) -> ReadPlan:
    """Each shard after the bookmark's position; shards that appeared since, whole.

    Finished shards are not read again: their positions are carried over.
    Bookmarked shards that are no longer listed are dropped when finished
    and are a gap otherwise. Raises ``StreamGap`` (see the module's description).
    """
    check_stream_status(stream, table)
    if bookmark.stream_arn != stream.stream_arn:
        raise StreamGap(
            table,
            f"the bookmark is of the stream {bookmark.stream_arn}, but the table's stream "
            f"is now {stream.stream_arn} (the stream was disabled and enabled again, or "
            "the table re-created)",
        )
    listed = stream.shard_ids
    for shard_id, position in sorted(bookmark.shards.items()):
        if shard_id not in listed and not position.finished:
            where = (
                f"up to sequence number {position.sequence_number}"
                if position.sequence_number
                else "while it was empty"
            )
            raise StreamGap(
                table,
                f"shard {shard_id}, which the bookmark had read {where} but not to its end, "
                "is no longer in the stream: its later records were trimmed (a stream keeps "
                "records 24 hours)",
            )
    stale = bookmark.read_at < now - RETENTION + safety_margin
    known = set(bookmark.shards)
    reads: list[ShardRead] = []
    carried: dict[str, ShardPosition] = {}
    for shard in stream.shards:
        position = bookmark.shards.get(shard.shard_id)
        if position is None:
            if shard.parent_shard_id is None or shard.parent_shard_id not in known:
                parent = shard.parent_shard_id or "none"
                raise StreamGap(
                    table,
                    f"shard {shard.shard_id} is newer than the bookmark, but its parent "
                    f"({parent}) is neither in the bookmark nor in the stream: the shards "
                    "in between were trimmed",
                )
            known.add(shard.shard_id)
            reads.append(ShardRead(shard, after=None))
        elif position.finished:
            carried[shard.shard_id] = position
        elif position.sequence_number is None:
            if stale:
                raise StreamGap(
                    table,
                    f"shard {shard.shard_id} was empty when the bookmark was written at "
                    f"{format_time(bookmark.read_at)}, more than 24 hours ago: records it "
                    "took since may already be trimmed",
                )
            reads.append(ShardRead(shard, after=None))
        else:
            reads.append(ShardRead(shard, after=position.sequence_number))
    return ReadPlan(tuple(reads), carried)
