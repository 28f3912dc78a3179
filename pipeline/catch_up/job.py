"""Catching an index up with a table's writes, from the table's DynamoDB stream.

One catch-up:

1. notes the time, then reads the table's description (``NoStream`` if it
   has no enabled stream) and the stream's shards;
2. plans where to read each shard from: after a bookmark's positions
   (:func:`catch_up_from`, :func:`catch_up`) or from a start time
   (:func:`catch_up_since`), refusing gaps with ``StreamGap``;
3. reads every shard to its current end, parents first, collecting the
   distinct keys changed (plain Python: a sequential walk of the shards);
4. runs the reindex spine (:func:`pipeline.reindex.build_reindex`) with
   those keys as its source (:class:`~transforms.dynamodb.stream.StreamSource`):
   strongly consistent re-read → decode → upsert / delete, dead letters to
   ``DEAD_LETTERS/catch-up-<UTC time>.jsonl`` (no file when there are none);
5. returns the summary and the new bookmark, and writes it to
   ``bookmark_path`` when given, only once the pipeline succeeded and its
   counts add up (``summary.accounted_for``).

A catch-up that fails leaves the bookmark where it was, and running it
again applies the same keys again, which does no harm: each key's document
is made from the item as it is when re-read.

The guarantee (also in ``docs/catch-up.md``): when a catch-up returns, for
every key with a record at or before the new bookmark, the index holds the
document of the item as it was when re-read (a moment after that record was
read), or no document if the item was gone or no longer decoded. Keys
written later are applied by the next catch-up.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.beam_args import runner_with_metrics
from pipeline.errors import ReindexError, UsageError
from pipeline.reindex import ReindexConfig, build_reindex, check_writable_folder
from pipeline.summary import ReindexSummary, summarize
from transforms.dead_letters import model_name
from transforms.decode.model_attributes import fields_for_attributes
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.stream.bookmark import (
    Bookmark,
    BookmarkError,
    bookmark_exists,
    format_time,
    read_bookmark,
    write_bookmark,
)
from transforms.dynamodb.stream.clients import create_streams_client
from transforms.dynamodb.stream.positions import (
    DEFAULT_SAFETY_MARGIN,
    ReadPlan,
    reads_after,
    reads_since,
)
from transforms.dynamodb.stream.reader import StreamChanges, read_changes
from transforms.dynamodb.stream.reindex_source import StreamSource
from transforms.dynamodb.stream.shards import StreamDescription, describe_stream
from transforms.dynamodb.stream.table_stream import TableStream, describe_table_stream
from transforms.index import missing_index, open_backend
from transforms.index.identity import (
    IndexIdentity,
    refuse_other_table,
    shown_uri,
    write_identity,
)

__all__ = [
    "CatchUpConfig",
    "CatchUpResult",
    "catch_up",
    "catch_up_from",
    "catch_up_runner_args",
    "catch_up_since",
    "check_bookmark_folder",
    "check_covered_since",
    "require_stream",
]

_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CatchUpConfig:
    """What to catch up and where to; holds no credentials.

    ``model``: the dataclasses-json record class. ``index``: an index URI
    (``sqlite:///out/index.db``...). ``dead_letters``: a folder (local,
    ``gs://``, ``s3://``); each catch-up that dead-letters writes one
    ``catch-up-<UTC time>.jsonl`` file there. ``streams_endpoint_url``: the
    DynamoDB Streams endpoint (default: ``client_config.endpoint_url``).
    ``safety_margin``: how far before a start time records are applied.
    """

    table: str
    model: type
    index: str
    dead_letters: str
    client_config: DynamoDBClientConfig = dataclasses.field(default_factory=DynamoDBClientConfig)
    streams_endpoint_url: str | None = None
    forbid_unknown: bool = False
    batch_size: int | None = None
    batch_bytes: int | None = None
    safety_margin: timedelta = DEFAULT_SAFETY_MARGIN
    version_field: str | None = None
    """The model field with the record's version (search servers): the reindex's
    ``--version-field``, so that a catch-up never writes without the version."""

    def __post_init__(self):
        if self.dead_letters.endswith(".jsonl"):
            raise ValueError(
                f"the catch-up's dead letters go to a folder, one file per catch-up; "
                f"got the file {self.dead_letters!r}"
            )
        if self.safety_margin < timedelta(0):
            raise ValueError(f"safety_margin must not be negative, got {self.safety_margin}")


class CatchUpResult(NamedTuple):
    """The summary of a catch-up and the bookmark it reached."""

    summary: ReindexSummary
    bookmark: Bookmark


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def require_stream(config: CatchUpConfig) -> TableStream:
    """The table's enabled stream; ``NoStream`` (or a ``ScanError``) otherwise.

    Made with few retries, so that a wrong endpoint or region is reported in
    seconds: also the check to make before a long job that will catch up
    (a reindex), so that it fails before the scan rather than after.
    """
    quick = dataclasses.replace(
        config.client_config,
        max_attempts=min(config.client_config.max_attempts, 3),
        connect_timeout=5.0,
    )
    client = quick.create_client()
    try:
        return describe_table_stream(client, config.table, config.client_config.endpoint_url)
    finally:
        client.close()


def check_bookmark_folder(path: str) -> None:
    """Raises :class:`UsageError` when no bookmark can be written at ``path``
    (a folder, a folder that cannot be written, a file that is not a bookmark,
    such as the index or the model's source): said before anything is read,
    not once the changes are applied."""
    if os.path.isdir(path):
        raise UsageError(
            f"--bookmark {path!r} is a folder: give the bookmark's file, e.g. "
            f"{os.path.join(path, 'bookmark.json')}"
        )
    folder = FileSystems.split(path)[0] or "."
    check_writable_folder(folder, "the bookmark's folder", "the bookmark", "--bookmark")
    if FileSystems.exists(path):  # replaced once the changes are applied: only a bookmark
        try:
            read_bookmark(path)
        except (BookmarkError, OSError, UnicodeDecodeError) as error:
            raise UsageError(
                f"--bookmark {path} is a file that is not a bookmark ({error}); it would be "
                "overwritten: give the bookmark of an earlier catch-up, or a new file"
            ) from error


def _dead_letter_file(folder: str, moment: datetime) -> str:
    return FileSystems.join(folder, f"catch-up-{moment.strftime('%Y%m%dT%H%M%S%fZ')}.jsonl")


def _remove_if_empty(path: str) -> None:
    (result,) = FileSystems.match([path])
    if result.metadata_list and all(meta.size_in_bytes == 0 for meta in result.metadata_list):
        FileSystems.delete([path])


def _spine_config(config: CatchUpConfig, dead_letters: str) -> ReindexConfig:
    return ReindexConfig(
        table=config.table,
        model="",
        index=config.index,
        dead_letters=dead_letters,
        forbid_unknown=config.forbid_unknown,
        batch_size=config.batch_size,
        batch_bytes=config.batch_bytes,
        version_field=config.version_field,
    )


def _apply(source: StreamSource, config: CatchUpConfig, pipeline_args: Sequence[str], path: str):
    pipeline = beam.Pipeline(options=PipelineOptions(catch_up_runner_args(pipeline_args)))
    build_reindex(pipeline, _spine_config(config, path), config.model, source)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def _run(
    config: CatchUpConfig,
    plan_reads: Callable[[StreamDescription, datetime], ReadPlan],
    pipeline_args: Sequence[str],
    bookmark_path: str | None,
) -> CatchUpResult:
    read_at = _utc_now()
    started = time.monotonic()
    _LOGGER.info("catching up %s with its stream, into %s", config.table, config.index)
    stream = require_stream(config)
    fields_for_attributes(config.model, stream.key_attributes)
    continuing = bookmark_path is not None and bookmark_exists(bookmark_path)
    if continuing:  # the index its changes went to must still be there
        _refuse_missing_index(config)
    _refuse_other_table(config, tuple(stream.key_attributes))
    streams = create_streams_client(config.client_config, config.streams_endpoint_url)
    try:
        description = describe_stream(streams, stream.stream_arn)
        plan = plan_reads(description, read_at)
        changes: StreamChanges = read_changes(
            streams,
            stream.stream_arn,
            plan,
            table=config.table,
            stop_after=read_at + config.safety_margin,
        )
    finally:
        streams.close()
    _LOGGER.info(
        "read %d stream records of %s: %d keys changed",
        changes.records_read,
        config.table,
        len(changes.keys),
    )
    source = StreamSource(
        changes, config.table, stream.key_attributes, config.client_config, stream.stream_arn
    )
    result = None
    path = _dead_letter_file(config.dead_letters, read_at)
    if changes.keys:
        result = _apply(source, config, pipeline_args, path)
        _remove_if_empty(path)
    bookmark = Bookmark(config.table, stream.stream_arn, read_at, changes.positions)
    written = path if FileSystems.exists(path) else config.dead_letters  # none: the folder
    summary = summarize(
        result, source, _spine_config(config, written), time.monotonic() - started, index_count=None
    )
    if bookmark_path is not None:
        if summary.accounted_for:
            if not continuing:  # a bookmark has its index, made here if nothing changed
                _create_if_missing(config, tuple(stream.key_attributes))
            write_bookmark(bookmark_path, bookmark)
        else:
            _LOGGER.warning(
                "the bookmark at %s was not advanced: %s", bookmark_path, summary.problem()
            )
    return CatchUpResult(summary, bookmark)


def catch_up_runner_args(pipeline_args: Sequence[str]) -> list[str]:
    """``pipeline_args``, or on a runner that reports no metrics (Beam's Dask
    runner) the local engine's in this process: a catch-up counts what it
    applied with metrics, and reads only the changes."""
    return runner_with_metrics(pipeline_args, "The catch-up")


def _create_if_missing(config: CatchUpConfig, key_attributes: tuple[str, ...]) -> None:
    """Makes the index a first catch-up that changed nothing did not make, so that the
    index of a bookmark exists (see :func:`_refuse_missing_index`)."""
    if missing_index(config.index):
        identity = IndexIdentity(config.table, key_attributes, model_name(config.model))
        with open_backend(config.index) as index:
            write_identity(index, identity)


def _refuse_missing_index(config: CatchUpConfig) -> None:
    """A catch-up from a bookmark applies changes to the index they were applied to
    before: into no index at all (a mistyped URI, an index deleted by hand) it would
    make one of the changed items only."""
    missing = missing_index(config.index)
    if missing:
        raise ReindexError(
            f"{shown_uri(config.index)}: {missing}, though the bookmark says changes were "
            "applied to it: check --index, or reindex (with --catch-up, for a new bookmark)"
        )


def _refuse_other_table(config: CatchUpConfig, key_attributes: tuple[str, ...]) -> None:
    """Refuses an index that records another table, or this one under other key
    attributes: the catch-up would write its changes (and deletions) there."""
    identity = IndexIdentity(config.table, key_attributes, model_name(config.model))
    try:
        refuse_other_table(
            config.index, identity, force=False, action=None, check="--index", same_key=True
        )
    except ValueError as error:
        raise ReindexError(str(error)) from error


def check_covered_since(config: CatchUpConfig, start_time: datetime) -> None:
    """Raises :class:`StreamGap` at once, before anything is read, when the
    stream cannot hold every change since ``start_time`` (less the safety
    margin): enabled after it, or more than 24 hours ago."""
    stream = require_stream(config)
    streams = create_streams_client(config.client_config, config.streams_endpoint_url)
    try:
        description = describe_stream(streams, stream.stream_arn)
    finally:
        streams.close()
    _reads_since(config, start_time)(description, _utc_now())


def _reads_since(
    config: CatchUpConfig, start_time: datetime
) -> Callable[[StreamDescription, datetime], ReadPlan]:
    """The reads of every change since ``start_time`` (``StreamGap`` where the
    stream no longer or never held them), for a stream described at a time."""

    def plan(description: StreamDescription, now: datetime) -> ReadPlan:
        return reads_since(
            description, start_time, now, table=config.table, safety_margin=config.safety_margin
        )

    return plan


def catch_up_since(
    start_time: datetime,
    config: CatchUpConfig,
    pipeline_args: Sequence[str] = (),
    *,
    bookmark_path: str | None = None,
) -> CatchUpResult:
    """Applies every change made since ``start_time`` (an aware datetime).

    For a reindex that noted ``start_time`` before its first Scan (or an
    export's ``exportTime``): records created before ``start_time -
    config.safety_margin`` are skipped. ``StreamGap`` when that is more
    than 24 hours ago or before the stream was enabled; ``NoStream`` when
    the table has none. Writes the bookmark to ``bookmark_path`` if given.
    """
    if start_time.tzinfo is None or start_time.utcoffset() is None:
        raise ValueError(f"start_time {start_time!r} needs a time zone")
    if start_time > _utc_now():
        raise ValueError(
            f"--since {format_time(start_time)} is in the future: every change would be "
            "skipped and the bookmark set past them; give the time the last reindex started"
        )
    return _run(config, _reads_since(config, start_time), pipeline_args, bookmark_path)


def catch_up_from(
    bookmark: Bookmark,
    config: CatchUpConfig,
    pipeline_args: Sequence[str] = (),
    *,
    bookmark_path: str | None = None,
) -> CatchUpResult:
    """Applies every change after ``bookmark``; writes the new one to ``bookmark_path``.

    ``ValueError`` when the bookmark is of another table; ``StreamGap``
    when the stream no longer holds every record after it; ``NoStream``
    when the table has none.
    """
    if bookmark.table != config.table:
        raise ValueError(
            f"the bookmark is of table {bookmark.table!r}, not {config.table!r}: "
            "check --table and --bookmark"
        )

    def plan(description: StreamDescription, now: datetime) -> ReadPlan:
        return reads_after(
            description, bookmark, now, table=config.table, safety_margin=config.safety_margin
        )

    return _run(config, plan, pipeline_args, bookmark_path)


def catch_up(
    config: CatchUpConfig, bookmark_path: str, pipeline_args: Sequence[str] = ()
) -> CatchUpResult:
    """Reads the bookmark at ``bookmark_path``, applies every change after it, advances it.

    ``BookmarkNotFound`` / ``CorruptBookmark`` for a missing or unreadable
    bookmark; otherwise as :func:`catch_up_from`.
    """
    return catch_up_from(
        read_bookmark(bookmark_path), config, pipeline_args, bookmark_path=bookmark_path
    )
