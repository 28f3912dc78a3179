"""The run journal of a reindex: what the run is, and how far each segment got.

A journal is a folder, written through Beam's ``FileSystems`` (local,
``gs://``, ``s3://``)::

    run.json                  the header: table, TotalSegments, segments, index,
                              build index, model, created, run id
    stage.json                how far a rebuild got after its scan: its build
                              ``verified``, or ``swapped`` in (absent before)
    positions/*.json          one record per committed bundle (append-only)
    dead-letters/*.jsonl      the dead letters of committed bundles, one part per bundle
    progress/*.json           this attempt's running counts, one file per worker process
    written/*.json            the keys of index writes whose bundle is not yet committed

Once every segment was read to its end and the dead letters were
consolidated, the run removes its journal (:meth:`RunJournal.remove`): the
dead-letter folder then holds the dead-letter files alone, as without a journal.

Position records are written by the scan's bundle finalizer
(:mod:`transforms.journal.commits`), that is once the runner has committed
everything the bundle produced; reading folds them into a
:class:`~transforms.journal.positions.SegmentState` per segment. Every file
is written whole or not at all (:mod:`transforms.journal.files`); records
of another run (a stale worker of a replaced journal) are ignored.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from datetime import datetime, timezone
from typing import Any

from apache_beam.io.filesystems import FileSystems

from transforms.journal.files import (
    TEMPORARY_SUFFIX,
    delete_matching,
    is_local,
    matching,
    read_json,
    write_json,
)
from transforms.journal.positions import PositionRecord, SegmentState, fold_positions

__all__ = [
    "SWAPPED",
    "VERIFIED",
    "JournalError",
    "JournalRef",
    "RunHeader",
    "RunJournal",
    "utc_now",
]

_LOGGER = logging.getLogger(__name__)

FORMAT = "reindex-journal/1"
HEADER = "run.json"
STAGE = "stage.json"
VERIFIED = "verified"
SWAPPED = "swapped"
STAGES = (VERIFIED, SWAPPED)
POSITIONS = "positions"
DEAD_LETTERS = "dead-letters"
PROGRESS = "progress"
WRITTEN = "written"
FOLDERS = (POSITIONS, DEAD_LETTERS, PROGRESS, WRITTEN)


class JournalError(ValueError):
    """A journal that cannot be read: missing header, corrupt file."""


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the microsecond: a run's ``created`` is the start
    time a resumed ``--catch-up`` reads the stream from, so it must not move
    back to a whole second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclasses.dataclass(frozen=True)
class RunHeader:
    """What a journaled run reads and writes; a resumed run must match it.

    ``segments`` is ``None`` for every segment. ``start_keys`` holds
    ``(segment, canonical key text)`` for segments that started from a key
    rather than their beginning. ``index`` is the index URI without
    credentials; ``build_index`` names the index being built when the run
    builds a new index to swap in (``None`` otherwise).
    """

    table: str
    total_segments: int
    segments: tuple[int, ...] | None
    index: str
    model: str
    run_id: str
    created: str
    build_index: str | None = None
    start_keys: tuple[tuple[int, str], ...] = ()

    @property
    def segment_list(self) -> tuple[int, ...]:
        return tuple(range(self.total_segments)) if self.segments is None else self.segments

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "table": self.table,
            "TotalSegments": self.total_segments,
            "segments": None if self.segments is None else list(self.segments),
            "index": self.index,
            "build_index": self.build_index,
            "model": self.model,
            "run_id": self.run_id,
            "created": self.created,
            "start_keys": {str(segment): key for segment, key in self.start_keys},
        }

    @classmethod
    def from_json(cls, obj: Any) -> RunHeader:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} header")
        segments = obj["segments"]
        return cls(
            table=obj["table"],
            total_segments=int(obj["TotalSegments"]),
            segments=None if segments is None else tuple(int(s) for s in segments),
            index=obj["index"],
            model=obj["model"],
            run_id=obj["run_id"],
            created=obj["created"],
            build_index=obj.get("build_index"),
            start_keys=tuple(
                sorted((int(segment), key) for segment, key in obj["start_keys"].items())
            ),
        )


@dataclasses.dataclass(frozen=True)
class JournalRef:
    """What workers need to write to a journal: picklable, no credentials.

    ``attempt_id`` tells apart the progress files of each invocation
    (a first run and each resume of it).
    """

    path: str
    run_id: str
    attempt_id: str

    def join(self, *parts: str) -> str:
        return FileSystems.join(self.path, *parts)


class RunJournal:
    """The journal folder at ``path`` (see the module docstring)."""

    def __init__(self, path: str):
        self.path = path

    def join(self, *parts: str) -> str:
        return FileSystems.join(self.path, *parts)

    @property
    def parts_folder(self) -> str:
        """Where committed bundles' dead letters are."""
        return self.join(DEAD_LETTERS)

    def exists(self) -> bool:
        return FileSystems.exists(self.join(HEADER))

    def read_header(self) -> RunHeader:
        """The header; :class:`JournalError` when there is none or it is corrupt."""
        path = self.join(HEADER)
        if not FileSystems.exists(path):
            raise JournalError(f"no run journal at {self.path}")
        try:
            return RunHeader.from_json(read_json(path))
        except (ValueError, KeyError, TypeError) as error:
            raise JournalError(f"{path} is not a run-journal header ({error})") from error

    def start(self, header: RunHeader) -> None:
        """Empties the journal and writes ``header``: a new run starts."""
        self.remove_files()
        write_json(self.join(HEADER), header.to_json())

    def mark_stage(self, header: RunHeader, stage: str) -> None:
        """Records that run ``header`` reached ``stage`` (one of :data:`STAGES`)."""
        if stage not in STAGES:
            raise ValueError(f"unknown run stage {stage!r}")
        write_json(self.join(STAGE), {"run": header.run_id, "stage": stage})

    def stage(self, header: RunHeader) -> str | None:
        """The last stage run ``header`` reached after its scan, or None."""
        path = self.join(STAGE)
        if not FileSystems.exists(path):
            return None
        try:
            obj = read_json(path)
            run, stage = obj["run"], obj["stage"]
        except (ValueError, KeyError, TypeError) as error:
            raise JournalError(f"{path} is not a run stage ({error})") from error
        if run != header.run_id:
            return None
        if stage not in STAGES:
            raise JournalError(f"{path} names an unknown run stage {stage!r}")
        return stage

    def remove_files(self) -> int:
        """Deletes everything the journal holds (an earlier run's header, records, parts)."""
        removed = delete_matching(self.join(HEADER)) + delete_matching(self.join(STAGE))
        for folder in FOLDERS:
            removed += delete_matching(self.join(folder, "*"))
        return removed

    def remove(self) -> None:
        """Deletes the journal: its files, then its folders where they are left empty.

        Files the journal does not own (``--journal`` naming a folder in use)
        are left alone, and so is the folder holding them.
        """
        self.remove_files()
        self.remove_temporary()
        if not is_local(self.path):
            return
        for folder in (*FOLDERS, ""):
            try:
                os.rmdir(os.path.join(self.path, folder))
            except OSError:
                pass

    def remove_temporary(self) -> int:
        """Deletes files left half-written by a process that stopped while writing."""
        return sum(
            delete_matching(self.join(folder, "*" + TEMPORARY_SUFFIX)) for folder in FOLDERS
        ) + delete_matching(self.join("*" + TEMPORARY_SUFFIX))

    def ref(self, header: RunHeader, attempt_id: str | None = None) -> JournalRef:
        return JournalRef(self.path, header.run_id, attempt_id or uuid.uuid4().hex)

    def records(self, run_id: str) -> list[PositionRecord]:
        """The position records of run ``run_id``; a corrupt record is a :class:`JournalError`."""
        records = []
        for path in matching(self.join(POSITIONS, "*.json")):
            try:
                obj = read_json(path)
                if obj.get("run") != run_id:
                    continue
                records.extend(PositionRecord.from_json(p) for p in obj["positions"])
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise JournalError(f"{path} is not a position record ({error})") from error
        return records

    def state(self, header: RunHeader) -> dict[int, SegmentState]:
        """Every segment's state, folded from the records (see :mod:`.positions`)."""
        return fold_positions(
            self.records(header.run_id), header.segment_list, dict(header.start_keys)
        )
