"""Reading a stream's shards to their current end: the distinct keys changed.

:func:`read_changes` follows a :class:`~transforms.dynamodb.stream.positions.ReadPlan`,
shard by shard in lineage order (parents first). Each shard is read with
``GetShardIterator`` (``AFTER_SEQUENCE_NUMBER`` the plan's position, or
``TRIM_HORIZON``) and ``GetRecords`` until:

* a **closed** shard: ``NextShardIterator`` is absent (the shard's end): the
  shard is ``finished``;
* an **open** shard: a call returns no record (its current end), or
  ``NextShardIterator`` is absent (it closed meanwhile: ``finished``);
* either: a record created after ``stop_after``: that record and the later
  ones are left for the next catch-up, so a busy table does not keep the
  read going.

Each record read moves the shard's position to its sequence number; its
``dynamodb.Keys`` is collected unless the record was created before the
plan's ``skip_before``. Only keys are used, so any stream view type
(``KEYS_ONLY`` included) will do. Keys are distinct by the item they
name (``{"N": "1E+2"}`` and ``{"N": "100"}`` are one key, as their
document ids are one id), in the order first seen.

``TrimmedDataAccessException`` (the position is older than the stream's
retention) and a required shard gone from the stream are
:class:`~transforms.dynamodb.stream.errors.StreamGap`. An expired iterator
(they last 15 minutes) is fetched again from the position reached.
Throttling (``LimitExceededException``), 5xx and connection errors are
retried by botocore.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from transforms.dynamodb.stream.bookmark import ShardPosition
from transforms.dynamodb.stream.errors import StreamGap
from transforms.dynamodb.stream.positions import ReadPlan, ShardRead
from transforms.dynamodb.wire import Key, dumps_item
from transforms.index.documents import key_document_id

__all__ = ["GET_RECORDS_LIMIT", "StreamChanges", "read_changes"]

_LOGGER = logging.getLogger(__name__)

GET_RECORDS_LIMIT = 1000
"""Records per ``GetRecords`` call: the API's maximum."""

_MAX_ITERATOR_RENEWALS = 5


@dataclasses.dataclass
class StreamChanges:
    """What reading the stream found.

    ``keys``: the distinct keys changed (wire format), first seen first.
    ``records_read``: records returned by ``GetRecords`` and passed;
    ``records_before_start`` of them were older than the start time (not
    applied). ``positions``: every listed shard's new position.
    """

    keys: list[Key] = dataclasses.field(default_factory=list)
    records_read: int = 0
    records_before_start: int = 0
    shards_read: int = 0
    positions: dict[str, ShardPosition] = dataclasses.field(default_factory=dict)


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class _ShardGone(Exception):
    pass


def _iterator(client, stream_arn: str, read: ShardRead, after: str | None, table: str) -> str:
    request: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": read.shard.shard_id}
    if after is None:
        request["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
        request["SequenceNumber"] = after
    try:
        return client.get_shard_iterator(**request)["ShardIterator"]
    except ClientError as error:
        code = _error_code(error)
        if code == "TrimmedDataAccessException":
            raise StreamGap(table, _trimmed(read, after)) from error
        if code == "ResourceNotFoundException":
            raise _ShardGone() from error
        raise


def _gone(read: ShardRead) -> str:
    where = f"after sequence number {read.after}" if read.after else "from its start"
    return (
        f"shard {read.shard.shard_id} left the stream before its records {where} could "
        "be read (trimmed: a stream keeps records 24 hours)"
    )


def _trimmed(read: ShardRead, after: str | None) -> str:
    where = f"after sequence number {after}" if after else "from its start"
    return (
        f"the records of shard {read.shard.shard_id} {where} were trimmed "
        "(TrimmedDataAccessException: a stream keeps records 24 hours)"
    )


def _read_shard(
    client,
    stream_arn: str,
    read: ShardRead,
    keys: dict[str, Key],
    changes: StreamChanges,
    *,
    table: str,
    stop_after: datetime | None,
    limit: int,
) -> ShardPosition:
    position = read.after
    iterator = _iterator(client, stream_arn, read, position, table)
    renewals = 0
    while True:
        try:
            response = client.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as error:
            code = _error_code(error)
            if code == "TrimmedDataAccessException":
                raise StreamGap(table, _trimmed(read, position)) from error
            if code == "ExpiredIteratorException" and renewals < _MAX_ITERATOR_RENEWALS:
                renewals += 1
                iterator = _iterator(client, stream_arn, read, position, table)
                continue
            if code == "ResourceNotFoundException":
                raise _ShardGone() from error
            raise
        records = response.get("Records") or []
        stopped = False
        for record in records:
            data = record["dynamodb"]
            created = data.get("ApproximateCreationDateTime")
            if stop_after is not None and created is not None and created > stop_after:
                stopped = True
                break
            position = data["SequenceNumber"]
            changes.records_read += 1
            if read.skip_before is not None and created is not None:
                if created < read.skip_before:
                    changes.records_before_start += 1
                    continue
            key = data["Keys"]
            keys.setdefault(_identity(key), key)
        iterator = response.get("NextShardIterator")
        if stopped:
            return ShardPosition(position, finished=False)
        if not iterator:
            return ShardPosition(position, finished=True)
        if not records and not read.shard.closed:
            return ShardPosition(position, finished=False)


def _identity(key: Key) -> str:
    """What names the item of ``key``: its document id (in attribute-name order)."""
    try:
        return key_document_id(key, sorted(key))
    except ValueError:  # not S, N or B: only its exact text can tell it apart
        return dumps_item(key)


def read_changes(
    client,
    stream_arn: str,
    plan: ReadPlan,
    *,
    table: str,
    stop_after: datetime | None = None,
    limit: int = GET_RECORDS_LIMIT,
) -> StreamChanges:
    """Reads every shard of ``plan`` (see the module's description).

    ``client`` is a ``dynamodbstreams`` client. ``positions`` of the result
    holds ``plan.carried`` and the position reached in each shard read; a
    shard that left the stream before it could be read is dropped when it
    was not required, and is a ``StreamGap`` otherwise.
    """
    changes = StreamChanges(positions=dict(plan.carried))
    keys: dict[str, Key] = {}
    for read in plan.reads:
        try:
            position = _read_shard(
                client,
                stream_arn,
                read,
                keys,
                changes,
                table=table,
                stop_after=stop_after,
                limit=limit,
            )
        except _ShardGone:
            if read.required:
                raise StreamGap(table, _gone(read)) from None
            _LOGGER.info("shard %s left the stream before it was read", read.shard.shard_id)
            continue
        changes.shards_read += 1
        changes.positions[read.shard.shard_id] = position
    changes.keys = list(keys.values())
    return changes
