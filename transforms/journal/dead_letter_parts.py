"""Dead letters that are durable per bundle, and their consolidation at the end.

``WriteDeadLetterParts(ref)`` writes the dead letters of each bundle to a
part file of its own in ``finish_bundle`` (spooled until then: in memory up
to 8 MiB, then in a local temporary file), before the runner commits the
bundle, so the dead letters of every committed page are on disk when the
scan's bundle finalizer records its position
(:mod:`transforms.journal.commits`). Parts are named
``<journal>/dead-letters/<run id>-<time>-<random>.jsonl`` and hold one dead
letter per line, exactly as the final files do.

:func:`consolidate_dead_letters` is run once by the launcher when a run (or
its last resume) has read everything: it reads the parts of every attempt
and writes the dead-letter files (``dead-letters-SSSSS-of-NNNNN.jsonl``, or
the one ``.jsonl`` file asked for), so ``read_dead_letters(folder)`` and the
CLI see exactly one dead letter per problem even when a page was read twice
(a bundle written but not yet recorded when the run stopped). Identity of a
dead letter:

* stage ``scan`` (an unread segment): table and segment; dropped once the
  segment was read to its end by a later attempt;
* any other with a ``key``: stage, table and key;
* without a key (a document the index refused): its whole content but ``at``.

Of letters with the same identity the one with the latest ``at`` is kept.
The letters are held in memory on the launcher while they are consolidated.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.dead_letters import (
    FILE_PREFIX,
    FILE_SUFFIX,
    CorruptDeadLetter,
    DeadLetterCounters,
    dumps_dead_letter,
    without_letters,
)
from transforms.journal.files import matching, open_to_read, writing_atomically
from transforms.journal.journal import DEAD_LETTERS, JournalRef
from transforms.journal.progress import process_progress

__all__ = ["WriteDeadLetterParts", "consolidate_dead_letters", "count_part_letters"]

_LOGGER = logging.getLogger(__name__)

SCAN_STAGE = "scan"
LETTERS_PER_FILE = 100_000


SPOOL_BYTES = 8 * 2**20
"""A bundle's letters are held in memory up to this size, then in a local temporary file."""


class _WritePartFn(beam.DoFn):
    """Counts a bundle's dead letters and spools them; writes them as one part in
    ``finish_bundle``. Memory stays bounded however many letters a bundle holds (a
    wrong model dead-letters every item a bundle reads)."""

    def __init__(self, ref: JournalRef):
        self._ref = ref

    def setup(self) -> None:
        self._counters = DeadLetterCounters()
        self._progress = process_progress(self._ref)
        self._spool = None
        self._letters = 0

    def start_bundle(self) -> None:
        self._discard()

    def process(self, letter: dict[str, Any]) -> None:
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._spool.write(dumps_dead_letter(letter).encode("utf-8") + b"\n")
        self._letters += 1
        self._counters.count(letter)

    def finish_bundle(self) -> None:
        spool, letters = self._spool, self._letters
        if spool is None:
            return
        name = f"{self._ref.run_id}-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}{FILE_SUFFIX}"
        try:
            spool.seek(0)
            with writing_atomically(self._ref.join(DEAD_LETTERS, name)) as stream:
                shutil.copyfileobj(spool, stream)
        finally:
            self._discard()
        self._progress.add(dead_letters=letters)

    def teardown(self) -> None:
        self._discard()

    def _discard(self) -> None:
        """Drops the spool (written, or of a failed bundle)."""
        if getattr(self, "_spool", None) is not None:
            self._spool.close()
        self._spool = None
        self._letters = 0


class WriteDeadLetterParts(beam.PTransform):
    """Writes dead-letter dicts as per-bundle part files of the journal ``ref``.

    Counts them in the Beam counters ``reindex/dead_letters`` and
    ``reindex/dead_letters_<stage>``, as ``WriteDeadLetters`` does. Apply it
    to each branch that produces dead letters, with no ``Flatten`` before it:
    a flatten of branches from different stages is materialised by the
    runner, and the parts would then be written after the scan's bundles
    were committed rather than with them.
    """

    def __init__(self, ref: JournalRef):
        super().__init__()
        self._ref = ref

    def expand(self, dead_letters: beam.PCollection) -> beam.PCollection:
        return dead_letters | "WriteParts" >> beam.ParDo(_WritePartFn(self._ref))


def _identity(letter: dict[str, Any]) -> tuple:
    stage = letter.get("stage")
    if stage == SCAN_STAGE:
        return (
            SCAN_STAGE,
            letter.get("table"),
            letter.get("segment"),
            letter.get("total_segments"),
        )
    if letter.get("key") is not None:
        return (stage, letter.get("table"), json.dumps(letter["key"], sort_keys=True))
    content = {name: value for name, value in letter.items() if name != "at"}
    return (stage, None, json.dumps(content, sort_keys=True))


def _part_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of each line of the part at ``path`` that is not blank,
    read as a stream (a part holds a whole bundle's letters)."""
    with open_to_read(path) as stream:
        for line_number, raw in enumerate(stream, start=1):
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.strip():
                yield line_number, line


def _parse(line: str, path: str, line_number: int) -> dict[str, Any]:
    try:
        letter = json.loads(line)
    except ValueError as error:
        raise CorruptDeadLetter(f"not JSON ({error})", path, line_number) from error
    if not isinstance(letter, dict):
        raise CorruptDeadLetter("expected a JSON object", path, line_number)
    return letter


class _Kept(NamedTuple):
    """Where the letter kept for one failure is: its time, part and line, and its stage."""

    at: str
    part: int
    line_number: int
    stage: str | None


def consolidate_dead_letters(
    parts_folder: str,
    run_id: str,
    destination: str,
    *,
    read_segments: Iterable[int] = (),
) -> collections.Counter:
    """Writes the de-duplicated dead letters of run ``run_id``'s parts to ``destination``.

    ``destination`` is a folder (``dead-letters-SSSSS-of-NNNNN.jsonl`` files;
    dead-letter files of an earlier run are removed) or a ``.jsonl`` file.
    ``read_segments``: segments read to their end, whose ``scan`` letters
    (unread) are dropped. Returns how many dead letters were written, by
    stage (``.total()`` for all); at least one file is written even when
    there are none.

    Two passes over the parts: the first keeps, per failure, a digest of its
    identity and where its latest letter is (about 200 bytes a letter, not the
    letter); the second copies those lines, in the parts' order, to the files.
    """
    read = set(read_segments)
    parts = matching(FileSystems.join(parts_folder, f"{run_id}-*{FILE_SUFFIX}"))
    kept: dict[bytes, _Kept] = {}
    for part, path in enumerate(parts):
        for line_number, line in _part_lines(path):
            letter = _parse(line, path, line_number)
            if letter.get("stage") == SCAN_STAGE and letter.get("segment") in read:
                continue
            identity = hashlib.blake2b(repr(_identity(letter)).encode(), digest_size=16).digest()
            at = str(letter.get("at") or "")
            if identity not in kept or at >= kept[identity].at:
                kept[identity] = _Kept(at, part, line_number, letter.get("stage"))
    chosen: dict[int, set[int]] = collections.defaultdict(set)
    for where in kept.values():
        chosen[where.part].add(where.line_number)
    lines = (
        line
        for part, path in enumerate(parts)
        if part in chosen
        for line_number, line in _part_lines(path)
        if line_number in chosen[part]
    )
    _write_files(destination, lines, len(kept))
    return collections.Counter(where.stage for where in kept.values())


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rpartition("/")[2]


def _write_lines(path: str, lines: Iterator[str], count: int) -> None:
    """The next ``count`` of ``lines`` into the file ``path``, written atomically."""
    with writing_atomically(path) as stream:
        for _ in range(count):
            stream.write(next(lines).encode("utf-8") + b"\n")
        if not count:
            stream.write(without_letters(path))


def _write_files(destination: str, lines: Iterable[str], count: int) -> None:
    lines = iter(lines)
    if destination.endswith(FILE_SUFFIX):
        _write_lines(destination, lines, count)
        return
    shards = max(1, -(-count // LETTERS_PER_FILE))
    pattern = FileSystems.join(destination, f"{FILE_PREFIX}-*-of-*{FILE_SUFFIX}")
    earlier = matching(pattern)
    if earlier:
        logging.getLogger("transforms.dead_letters").info(
            "replacing %d dead-letter file(s) of an earlier run", len(earlier)
        )
    written = set()
    for number in range(shards):
        name = f"{FILE_PREFIX}-{number:05d}-of-{shards:05d}{FILE_SUFFIX}"
        in_shard = min(LETTERS_PER_FILE, count - number * LETTERS_PER_FILE)
        _write_lines(FileSystems.join(destination, name), lines, in_shard)
        written.add(name)
    stale = [path for path in earlier if _basename(path) not in written]
    if stale:
        FileSystems.delete(stale)


def count_part_letters(ref: JournalRef) -> int:
    """How many dead letters the parts of ``ref``'s run hold so far (duplicates included)."""
    parts = matching(ref.join(DEAD_LETTERS, f"{ref.run_id}-*{FILE_SUFFIX}"))
    return sum(_newlines(path) for path in parts)


def _newlines(path: str) -> int:
    with open_to_read(path) as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(2**20), b""))
