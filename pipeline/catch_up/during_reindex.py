"""``reindex --catch-up``: the writes made while a reindex runs, caught up from the stream.

A reindex reads each item once, at some moment between its start and its
end; an item written meanwhile may be indexed in its old state, or (with a
rebuild) be missing from the new index. With ``--catch-up``:

1. before the first Scan, the table's stream is checked (``NoStream`` if it
   has none) and the start time noted (with ``--resume``: the interrupted
   run's start, from its journal); from an export, the start time is the
   export's ``exportTime`` (an incremental export's ``exportToTime``);
2. the reindex runs;
3. a rebuild, once verified and before the swap, catches up the new index
   with every change since the start time (less the safety margin): the
   changed keys are re-read with strongly consistent reads and upserted or
   deleted (:mod:`pipeline.catch_up.job`);
4. after the swap, a second catch-up applies what changed during the first
   one and the swap to the live index, and writes the bookmark for
   ``python -m pipeline catch-up``.

With ``--upsert`` there is no swap: one catch-up into the live index after
the job, which writes the bookmark; it starts at the bookmark already at
``--bookmark`` when that is older than the start (a delete made before the
start reaches an index written in place only through a catch-up). The run
journal is kept until the last catch-up has written the bookmark: a run
stopped during a catch-up or the swap resumes with ``--resume`` at the
stage it reached, and one stopped after the swap catches the live index up
from the start time. A scan that outlasted the stream's 24-hour retention
is refused as a gap (``StreamGap``): the live index is left as it was.
The guarantee: when the command returns, the index equals a consistent
read of the table at the time the last catch-up read the stream's end, for
every key (changed keys re-read; unchanged ones read by the reindex itself).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from pipeline.catch_up.job import (
    CatchUpConfig,
    CatchUpResult,
    catch_up_from,
    catch_up_since,
    check_bookmark_folder,
    check_covered_since,
)
from pipeline.errors import ReindexError
from pipeline.reindex import ReindexConfig, RunHooks, load_model, run_reindex
from pipeline.resume import default_journal_path
from pipeline.sources import client_config
from pipeline.summary import ReindexSummary
from transforms.dynamodb.stream.bookmark import (
    Bookmark,
    bookmark_exists,
    parse_time,
    read_bookmark,
)
from transforms.dynamodb.stream.errors import StreamCatchUpError
from transforms.index.rebuild import IndexRebuild
from transforms.journal import JournalError, RunJournal

__all__ = ["reindex_with_catch_up"]

_LOGGER = logging.getLogger(__name__)


class _CatchUps(RunHooks):
    """Catches the build up before the swap and the live index after it; or,
    with ``--upsert``, the live index after the job."""

    def __init__(
        self,
        catch: CatchUpConfig,
        start_time: datetime,
        bookmark: str,
        pipeline_args: Sequence[str],
    ):
        self._catch = catch
        self._start_time = start_time
        self._bookmark = bookmark
        self._args = list(pipeline_args)
        self.results: list[CatchUpResult] = []

    def before_swap(self, rebuild: IndexRebuild, summary: ReindexSummary) -> None:
        into_build = dataclasses.replace(self._catch, index=rebuild.build_uri)
        result = catch_up_since(self._start_time, into_build, self._args)
        self.results.append(result)
        if not result.summary.accounted_for:
            raise ReindexError(
                f"the catch-up of the new index does not add up ({result.summary.problem()}); "
                "the live index was left as it was"
            )

    def after_swap(self, rebuild: IndexRebuild | None, summary: ReindexSummary) -> None:
        if not self.results:  # resumed after the swap: from the start, as nothing is known
            self._since_start()
            return
        first = self.results[-1]
        self.results.append(
            catch_up_from(first.bookmark, self._catch, self._args, bookmark_path=self._bookmark)
        )

    def after_upsert(self, summary: ReindexSummary) -> None:
        """From the bookmark already at ``--bookmark`` when it holds changes the
        index has not had yet (an upsert overwrites and adds, but a delete
        made before the start is applied only by a catch-up); else, or when the
        stream no longer holds them, from the start time."""
        earlier = _bookmark_of(self._bookmark, self._catch.table)
        if earlier is None or earlier.read_at >= self._start_time:
            self._since_start()
            return
        try:
            result = catch_up_from(earlier, self._catch, self._args, bookmark_path=self._bookmark)
        except StreamCatchUpError as error:
            _LOGGER.warning(
                "The changes after the bookmark %s cannot be read (%s): catching up from this "
                "run's start; deletes made before it are not applied (a rebuild applies them)",
                self._bookmark,
                error,
            )
            self._since_start()
            return
        self.results.append(result)

    def _since_start(self) -> None:
        self.results.append(
            catch_up_since(self._start_time, self._catch, self._args, bookmark_path=self._bookmark)
        )


def _bookmark_of(path: str, table: str) -> Bookmark | None:
    """The bookmark at ``path`` if there is one of ``table``."""
    if not bookmark_exists(path):
        return None
    bookmark = read_bookmark(path)
    return bookmark if bookmark.table == table else None


def _start(config: ReindexConfig) -> tuple[str, datetime]:
    """The table and the start time: now, for a scan (for ``--resume``, when the
    interrupted run started, from its journal); for a reindex from an export,
    the export's table and its ``exportTime``."""
    if not config.from_export:
        started = _journal_start(config) if config.resume else None
        return config.table, started or datetime.now(timezone.utc)
    from transforms.dynamodb.export.manifest import read_export_manifest

    manifest = read_export_manifest(config.from_export, verify_checksums=False)
    table = config.table or manifest.table_name
    # a full export holds the table as of its exportTime, an incremental one as of exportToTime
    time_field = "exportToTime" if manifest.incremental else "exportTime"
    exported = manifest.export_to_time if manifest.incremental else manifest.export_time
    if not exported or not table:
        raise ReindexError(
            f"the export at {config.from_export!r} names no "
            f"{time_field if table else 'table'}, which --catch-up needs"
        )
    moment = datetime.fromisoformat(exported.replace("Z", "+00:00"))
    return table, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _journal_start(config: ReindexConfig) -> datetime | None:
    """When the run that ``--resume`` continues started (its journal header's
    ``created``), or None when there is no journal to read (the reindex then
    refuses to resume, saying why)."""
    journal = RunJournal(config.journal or default_journal_path(config.dead_letters))
    try:
        created = journal.read_header().created
    except JournalError:
        return None
    return parse_time(created)


def catch_up_config_of(config: ReindexConfig, table: str) -> CatchUpConfig:
    """The catch-ups' configuration of the reindex ``config`` of ``table``: its index,
    dead letters, client, decoding, batches and versions."""
    return CatchUpConfig(
        table=table,
        model=load_model(config.model),
        index=config.index,
        dead_letters=config.dead_letters,
        client_config=client_config(config),
        forbid_unknown=config.forbid_unknown,
        batch_size=config.batch_size,
        batch_bytes=config.batch_bytes,
        version_field=config.version_field,
    )


def reindex_with_catch_up(
    config: ReindexConfig,
    bookmark: str,
    pipeline_args: Sequence[str],
    *,
    safety_margin: float | None = None,
) -> ReindexSummary:
    """Runs the reindex of ``config`` and catches it up from the table's stream
    (see the module docstring); the bookmark goes to ``bookmark``.

    ``summary.catch_ups`` holds the catch-ups' summaries, in order.
    ``safety_margin``: seconds before the start time whose changes are applied
    too (default: the stream package's 60 s).
    """
    check_bookmark_folder(bookmark)
    table, start_time = _start(config)
    catch = catch_up_config_of(config, table)
    if safety_margin is not None:
        catch = dataclasses.replace(catch, safety_margin=timedelta(seconds=safety_margin))
    check_covered_since(catch, start_time)  # NoStream, StreamGap before the scan, not after it
    hooks = _CatchUps(catch, start_time, bookmark, pipeline_args)
    summary = run_reindex(config, list(pipeline_args), hooks)
    summary.catch_ups = [result.summary for result in hooks.results]
    return summary
