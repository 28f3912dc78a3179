"""A scan reindex with a run journal: a fresh run, or ``--resume`` of one.

:func:`open_journaled_run` decides, before anything is read, what this
invocation does:

* ``--resume``: the journal's header must name the same table, TotalSegments,
  segments, index and model (otherwise one line names the difference); the
  run reads only the segments not done, each from its last committed key.
  No journal (a run removes its journal once it has finished) is an error.
* without ``--resume``: a new run. An existing journal is replaced (a warning
  says so when its run was not finished): the command always does what it
  says, a whole reindex, and a scheduled run is never blocked by the journal
  of one that was killed.

When the runner honours self-checkpoints and none is asked for, the scan
checkpoints every :data:`DEFAULT_CHECKPOINT_SECONDS`, so a killed run reads
again at most that long per segment in flight. After a successful pipeline
:meth:`JournaledRun.complete` consolidates the dead letters of every attempt.
The journal stays until the run has done what follows its scan: a rebuild's
verification, catch-up before the swap, swap and catch-up after it (each
stage recorded, :meth:`JournaledRun.mark`), an upsert's catch-up. Then
:meth:`JournaledRun.finish` removes it, once every segment was read to its
end: a ``--resume`` after that finds nothing to resume. A run stopped in
between resumes without reading: from the stage it reached.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid

from apache_beam.io.filesystems import FileSystems

from pipeline.errors import ReindexError
from pipeline.resume.progress import ProgressReporter
from pipeline.sources import resume_config
from pipeline.summary import ITEM_STAGES, ReindexSummary
from transforms.dead_letters import FILE_SUFFIX
from transforms.dynamodb.source import Check, ReindexSource, SourceReport
from transforms.dynamodb.wire import dumps_item
from transforms.index import normalize_uri
from transforms.index.identity import shown_uri
from transforms.journal import (
    SWAPPED,
    VERIFIED,
    JournalError,
    JournalRef,
    RunHeader,
    RunJournal,
    SegmentState,
    consolidate_dead_letters,
)
from transforms.journal.dead_letter_parts import count_part_letters
from transforms.journal.journal import utc_now
from transforms.runners.capabilities import capabilities_of

__all__ = [
    "DEFAULT_CHECKPOINT_SECONDS",
    "JournaledRun",
    "ResumeRefused",
    "default_journal_path",
    "forget_started_runs",
    "job_started",
    "last_started_run",
    "note_job_started",
    "open_journaled_run",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_SECONDS = 30.0
"""Self-checkpoint interval of a journaled scan when none is given."""

_STARTED: list[JournaledRun] = []
_JOBS_STARTED: list[bool] = []


def last_started_run() -> JournaledRun | None:
    """The journaled run this process started last (its header is written), if any."""
    return _STARTED[-1] if _STARTED else None


def note_job_started() -> None:
    """A reindex job (journaled or not) was handed to its runner."""
    _JOBS_STARTED.append(True)


def job_started() -> bool:
    return bool(_JOBS_STARTED)


def forget_started_runs() -> None:
    _STARTED.clear()
    _JOBS_STARTED.clear()


def default_journal_path(dead_letters: str) -> str:
    """``<dead-letters>/journal``; beside a single ``.jsonl`` file, ``<file>.journal``."""
    if dead_letters.endswith(FILE_SUFFIX):
        return dead_letters[: -len(FILE_SUFFIX)] + ".journal"
    return FileSystems.join(dead_letters.rstrip("/") or "/", "journal")


class ResumeRefused(ValueError):
    """``--resume`` cannot continue: no journal, or the journal of another command."""


def index_identity(uri: str) -> str:
    """The index URI as a journal records it: normalised, without credentials."""
    try:
        uri = normalize_uri(uri)
    except ValueError:
        pass
    return shown_uri(uri)


def _segments_text(segments: tuple[int, ...] | None) -> str:
    return "all segments" if segments is None else "segments " + ",".join(map(str, segments))


def check_header(header: RunHeader, config, path: str) -> None:
    """Raises :class:`ResumeRefused` naming the first way ``config`` differs from ``header``."""
    where = f"the journal at {path} was written for"
    if header.table != config.table:
        raise ResumeRefused(f"{where} table {header.table!r}, not {config.table!r}")
    if config.total_segments is not None and config.total_segments != header.total_segments:
        raise ResumeRefused(
            f"{where} TotalSegments {header.total_segments}, not {config.total_segments}"
        )
    segments = None if config.segments is None else tuple(config.segments)
    if segments != header.segments:
        raise ResumeRefused(
            f"{where} {_segments_text(header.segments)}, not {_segments_text(segments)}"
        )
    if index_identity(config.index) != header.index:
        raise ResumeRefused(f"{where} index {header.index}, not {index_identity(config.index)}")
    if config.model != header.model:
        raise ResumeRefused(f"{where} model {header.model}, not {config.model}")


class JournaledRun:
    """One invocation of a journaled scan reindex (see the module docstring).

    ``config`` is what to run: the journal's path filled in, and on resume
    only the segments left, each from its committed key. ``ref`` is what
    the workers write to.
    """

    def __init__(
        self,
        config,
        journal: RunJournal,
        ref: JournalRef,
        header: RunHeader | None,
        before: dict[int, SegmentState],
    ):
        self.config = config
        self.journal = journal
        self.ref = ref
        self.header = header
        self.before = before
        self._reporter: ProgressReporter | None = None
        self._started = time.monotonic()
        self.dead_letters_written = 0
        self.item_letters_written = 0  # of those, the letters of items (decode, index)
        self.build_index = header.build_index if header is not None else None
        """The index a rebuild fills (None: the run writes in place); in the header."""
        self.stage = journal.stage(header) if header is not None else None
        """How far the run got after its scan: ``VERIFIED``, ``SWAPPED`` or None."""

    @property
    def resumed(self) -> bool:
        return bool(self.before)

    @property
    def nothing_left(self) -> bool:
        """True when every segment was read to its end by earlier attempts."""
        return self.resumed and all(state.done for state in self.before.values())

    @property
    def items_before(self) -> int:
        return sum(state.items for state in self.before.values())

    def start(self, source: ReindexSource) -> None:
        """Writes the header of a new run (saying so when it replaces the journal of
        an unfinished one); starts the progress lines."""
        if self.header is None:
            _warn_if_replacing(self.journal)
            request = source.scan_request
            config = self.config
            self.header = RunHeader(
                table=config.table,
                total_segments=request.total_segments,
                segments=None if config.segments is None else tuple(config.segments),
                index=index_identity(config.index),
                model=config.model,
                run_id=self.ref.run_id,
                created=utc_now(),
                start_keys=tuple(config.start_keys or ()),
                build_index=self.build_index,
            )
            self.journal.start(self.header)
        _STARTED.append(self)
        interval = self.config.progress_interval
        if interval:
            self._reporter = ProgressReporter(
                self.ref,
                approximate_items=source.approximate_items,
                items_before=self.items_before,
                dead_letters_before=count_part_letters(self.ref) if self.resumed else 0,
                interval=interval,
            )
            self._reporter.start()

    def stop(self) -> None:
        """Stops the progress lines (a last one is printed)."""
        if self._reporter is not None:
            self._reporter.stop()
            self._reporter = None

    def state(self) -> dict[int, SegmentState]:
        return self.journal.state(self.header)

    def complete(self, pages_read: int = 0) -> int:
        """After a successful pipeline: the dead letters of all attempts, consolidated.

        The journal stays: :meth:`finish` removes it once the run has done
        what follows the scan (a rebuild's verification, swap and catch-ups,
        an upsert's catch-up), so that a run interrupted in between resumes
        without reading. Returns the number of dead letters written.
        """
        if self not in _STARTED:  # a resume with nothing to read: interrupted, it says so
            _STARTED.append(self)
        state = self.state()
        done = [segment for segment, s in state.items() if s.done]
        by_stage = consolidate_dead_letters(
            self.journal.parts_folder,
            self.header.run_id,
            self.config.dead_letters,
            read_segments=done,
        )
        written = by_stage.total()
        self.item_letters_written = sum(by_stage[stage] for stage in ITEM_STAGES)
        if pages_read and not any(s.pages for s in state.values()):
            _LOGGER.warning(
                "The runner did not finalize any bundle: the journal at %s records no "
                "position, so a resumed run would read every segment again",
                self.journal.path,
            )
        self.dead_letters_written = written
        return written

    def mark(self, stage: str) -> None:
        """Records that the run reached ``stage`` (``VERIFIED``, then ``SWAPPED``)."""
        self.journal.mark_stage(self.header, stage)
        self.stage = stage

    def finish(self) -> None:
        """Removes the journal if every segment was read to its end (see :meth:`complete`)."""
        if all(s.done for s in self.state().values()):
            self.journal.remove()

    def annotate(self, summary: ReindexSummary) -> ReindexSummary:
        """Adds what earlier attempts did to the summary of a resumed run, and the check
        that the journal held every dead letter the job counted."""
        counted = summary.item_dead_letters
        written = self.item_letters_written
        if written < counted or (written != counted and not self.resumed):
            summary.source.checks.append(
                Check(
                    f"dead letters written {written:,} == dead-lettered {counted:,}",
                    False,
                    f"the journal at {self.journal.path} lost dead letters while the run "
                    "wrote it (was it removed?): run the reindex again, without --resume",
                )
            )
        if self.resumed:
            done = sum(1 for state in self.before.values() if state.done)
            started = sum(1 for s in self.before.values() if s.started and not s.done)
            summary.source.head.insert(
                0,
                f"  resumed        {self.items_before:>10,}  items committed before: "
                f"{done} of {len(self.before)} segment(s) done, {started} continued from "
                f"their last committed key (journal {self.journal.path})",
            )
            summary.source.tail.append(
                f"  dead letters of every attempt, each once: "
                f"{self.dead_letters_written:,} in {self.config.dead_letters}"
            )
        return summary

    def summary_without_reading(self, index_count: int) -> ReindexSummary:
        """The summary of a resume that found every segment read: nothing is scanned."""
        count = len(self.before)
        report = SourceReport(
            title=(
                f"reindex of table {self.config.table!r}: every one of {count} segment(s) "
                "was read before; nothing left to scan"
            ),
            read_label="scanned",
            read=0,
            upserts=0,
            removals=0,
            head=[f"  scanned        {0:>10,}  (nothing left to read)"],
            checks=[Check(f"{count} of {count} segment(s) read to their end (journal)", True)],
        )
        summary = ReindexSummary(
            source=report,
            table=self.config.table,
            index=self.config.index,
            dead_letters_path=self.config.dead_letters,
            decoded=0,
            dead_lettered=0,
            dead_lettered_by_stage={},
            indexed=0,
            deleted=0,
            deleted_existing=0,
            index_count=index_count,
            elapsed_seconds=time.monotonic() - self._started,
        )
        return self.annotate(summary)


def open_journaled_run(config, options) -> JournaledRun | None:
    """What this invocation does with the journal; None for an export (no journal)."""
    if config.from_export:
        if config.resume:
            raise ResumeRefused(
                "--resume applies to a scan of the table: an export is read again whole"
            )
        return None
    if config.resume_from:  # the unread segments of an earlier run, narrowed once
        _LOGGER.warning(
            "--resume-from is deprecated: run the same command with --resume, which "
            "continues every segment from the run journal"
        )
        config = dataclasses.replace(resume_config(config), resume_from=None)
    path = config.journal or default_journal_path(config.dead_letters)
    journal = RunJournal(path)
    honoured = capabilities_of(options).residuals
    if config.resume:
        header, before = _resume_point(config, journal)
        config = dataclasses.replace(
            config,
            total_segments=header.total_segments,
            segments=tuple(s for s in header.segment_list if not before[s].done),
            start_keys=tuple(
                (s, dumps_item(state.next_start_key))
                for s, state in sorted(before.items())
                if not state.done and state.next_start_key is not None
            )
            or None,
        )
        ref = journal.ref(header)
    else:
        header, before = None, {}
        ref = JournalRef(path, uuid.uuid4().hex, uuid.uuid4().hex)
    if not honoured:
        _LOGGER.warning(
            "This runner drops self-checkpoint residuals: the journal records a segment "
            "only when the bundle reading it ends, so a resumed run reads the segments "
            "that were not finished again from their start"
        )
    elif config.checkpoint_every_pages is None and config.checkpoint_every_seconds is None:
        config = dataclasses.replace(config, checkpoint_every_seconds=DEFAULT_CHECKPOINT_SECONDS)
    return JournaledRun(dataclasses.replace(config, journal=path), journal, ref, header, before)


def _resume_point(config, journal: RunJournal) -> tuple[RunHeader, dict[int, SegmentState]]:
    try:
        header = journal.read_header()
    except JournalError as error:
        raise ResumeRefused(
            f"{error}: nothing to resume (a run removes its journal once it has finished; "
            "run the command without --resume to start one)"
        ) from error
    check_header(header, config, journal.path)
    journal.remove_temporary()
    try:
        return header, journal.state(header)
    except JournalError as error:
        raise ReindexError(str(error)) from error


def _warn_if_replacing(journal: RunJournal) -> None:
    try:
        if not journal.exists():
            return
        header = journal.read_header()
        state = journal.state(header)
        stage = journal.stage(header)
    except (JournalError, ValueError, OSError):
        return
    done = sum(1 for s in state.values() if s.done)
    items = sum(s.items for s in state.values())
    after = {
        VERIFIED: ", its new index verified",
        SWAPPED: ", its new index swapped in but not caught up",
    }.get(stage, "")
    _LOGGER.warning(
        "Replacing the journal at %s of an unfinished run of table %r (%d of %d segment(s) "
        "done, %d items committed%s): this run starts afresh; add --resume to continue it "
        "instead",
        journal.path,
        header.table,
        done,
        len(state),
        items,
        after,
    )
