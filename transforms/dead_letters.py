"""Dead letters: records of what could not be decoded or indexed, and why.

A dead letter is a plain dict with the keys of the DESIGN.md contract::

    {"stage": "decode", "table": "works", "segment": 3, "total_segments": 8,
     "key": {"id": {"S": "w17"}}, "item": {"id": {"S": "w17"}, ...},
     "error_type": "TypeMismatch", "error": "expected int, got S 'abc'",
     "field": "production[0].dates[1].year", "model": "pipeline.models:Work",
     "at": "2026-11-28T12:00:00Z"}

plus ``document`` (the record's JSON text that the index refused) for stage
``index``. In a PCollection, ``item`` and ``key`` are DynamoDB wire format with
binary values as ``bytes``; in the files they are JSON with binary values as
base64 (``transforms.dynamodb.wire``), and reading restores the ``bytes``.

Files: ``WriteDeadLetters(PATH)`` writes ``PATH/dead-letters-SSSSS-of-NNNNN.jsonl``,
one JSON object per line, through Beam's ``FileSystems`` (local paths, ``gs://``,
``s3://``). At least one file is written even with no dead letters, so "none"
can be told from "not written". Files of an earlier run that this run did not
write again are removed, so the folder holds exactly this run's dead letters.
On a runner that computes side inputs again in each task or drops what
``finish_bundle`` emits (Beam's Dask runner), where Beam's file sinks lose or
repeat work, one file is written through a ``GroupByKey`` instead::

    decoded.dead_letters | WriteDeadLetters("out/dead-letters")
    for dl in read_dead_letters("out/dead-letters"):   # a file, folder or glob
        ...
    replay = p | ReadDeadLetters("out/dead-letters")
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.metrics import Metrics

from transforms.dead_letter_threshold import thresholds_upstream
from transforms.dynamodb.wire import dumps_item, item_from_json, item_to_json
from transforms.runners.capabilities import runner_capabilities

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "FIELDS",
    "CorruptDeadLetter",
    "DeadLetterCounters",
    "DeadLetterSourceNotFound",
    "ReadDeadLetters",
    "WriteDeadLetters",
    "dead_letter",
    "dead_letter_files",
    "dumps_dead_letter",
    "letter_identity",
    "loads_dead_letter",
    "model_name",
    "read_dead_letters",
]

FIELDS = (
    "stage",
    "table",
    "segment",
    "total_segments",
    "key",
    "item",
    "error_type",
    "error",
    "field",
    "model",
    "at",
)
"""The keys every dead letter has, in the order they are written."""

METRICS_NAMESPACE = "reindex"
FILE_PREFIX = "dead-letters"
FILE_SUFFIX = ".jsonl"


def without_letters(path: str) -> bytes:
    """The content of a dead-letter file at ``path`` that holds no dead letter: empty,
    but one blank line (which readers skip) on S3, where Beam's writer cannot make
    an empty object (S3 refuses a multipart upload of no parts)."""
    return b"\n" if path.lower().startswith("s3://") else b""


SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
_OWN_FILES = f"{FILE_PREFIX}-*-of-*{FILE_SUFFIX}"
_GLOB_CHARS = frozenset("*?[")


class CorruptDeadLetter(ValueError):
    """A dead-letter line that is not a dead letter; names the file and line."""

    def __init__(self, reason: str, path: str | None = None, line_number: int | None = None):
        self.reason = reason
        self.path = path
        self.line_number = line_number
        where = f"{path}:{line_number}: " if path is not None else ""
        super().__init__(f"{where}corrupt dead letter: {reason}")


class DeadLetterSourceNotFound(FileNotFoundError):
    """No dead-letter file matches the given file, folder or glob."""


def model_name(cls: type) -> str:
    """The ``module:Class`` name of a model class, e.g. ``pipeline.models:Work``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dead_letter(
    stage: str,
    *,
    error_type: str,
    error: str,
    item: Mapping[str, Any] | None = None,
    field: str | None = None,
    table: str | None = None,
    key: Mapping[str, Any] | None = None,
    segment: int | None = None,
    total_segments: int | None = None,
    model: type | str | None = None,
    document: str | None = None,
) -> dict[str, Any]:
    """A dead-letter record, stamped with the current UTC time.

    ``item`` and ``key`` are wire format (``bytes`` allowed) and are kept as
    given, not copied. ``model`` is a class or its ``module:Class`` name.
    ``document`` is the record's JSON text; the key is present when given and
    always for stage ``index``. Raises ``ValueError`` for a value of the wrong
    type (``error`` not a string, ``segment`` not an int...).
    """
    if not isinstance(stage, str) or not stage:
        raise ValueError(f"stage must be a non-empty str, got {stage!r}")
    letter = {
        "stage": stage,
        "table": table,
        "segment": segment,
        "total_segments": total_segments,
        "key": key,
        "item": item,
        "error_type": error_type,
        "error": error,
        "field": field,
        "model": model_name(model) if isinstance(model, type) else model,
        "at": _utc_now(),
    }
    if document is not None or stage == "index":
        letter["document"] = document
    try:
        _check(letter)
    except CorruptDeadLetter as e:
        raise ValueError(f"invalid dead letter: {e.reason}") from e
    return letter


def _check(letter: Any) -> None:
    """Raises ``CorruptDeadLetter`` when ``letter`` breaks the record contract."""
    if not isinstance(letter, dict):
        raise CorruptDeadLetter(f"expected a JSON object, got {type(letter).__name__}")
    missing = [name for name in FIELDS if name not in letter]
    if missing:
        raise CorruptDeadLetter(f"missing keys {missing}")
    for name in ("stage", "error_type", "error", "at"):
        if not isinstance(letter[name], str):
            raise CorruptDeadLetter(f"{name!r} must be a string, got {letter[name]!r}")
    for name in ("table", "field", "model", "document"):
        if letter.get(name) is not None and not isinstance(letter[name], str):
            raise CorruptDeadLetter(f"{name!r} must be a string or null, got {letter[name]!r}")
    for name in ("segment", "total_segments"):
        value = letter[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CorruptDeadLetter(f"{name!r} must be an integer or null, got {value!r}")
    for name in ("item", "key"):
        if letter[name] is not None and not isinstance(letter[name], Mapping):
            raise CorruptDeadLetter(f"{name!r} must be an object or null, got {letter[name]!r}")


def dumps_dead_letter(letter: Mapping[str, Any]) -> str:
    """One line of JSON (no newline) for a dead letter; binaries as base64.

    Raises ``CorruptDeadLetter`` for a dict that is not a dead letter.
    NaN and the infinities, which no DynamoDB value holds but a malformed
    one may, are written as Python's ``json`` writes them (``NaN``), so that
    the dead letter is kept: its reader restores them.
    """
    _check(dict(letter))
    obj = dict(letter)
    for name in ("item", "key"):
        if obj[name] is not None:
            obj[name] = item_to_json(obj[name])
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a malformed value holding NaN or an infinity: kept as Python reads it
        return json.dumps(obj, ensure_ascii=False, allow_nan=True, separators=(",", ":"))


def loads_dead_letter(line: str | bytes) -> dict[str, Any]:
    """The dead letter of one JSON line, ``item`` and ``key`` with ``bytes`` again.

    Raises ``CorruptDeadLetter`` for anything else.
    """
    try:
        letter = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptDeadLetter(f"not JSON ({e})") from e
    _check(letter)
    for name in ("item", "key"):
        if letter[name] is not None:
            try:
                letter[name] = item_from_json(letter[name])
            except (ValueError, TypeError, AttributeError) as e:
                raise CorruptDeadLetter(f"{name!r} is not a wire-format item ({e})") from e
    return letter


def _has_glob(pattern: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in pattern)


def _matching(pattern: str) -> list[str]:
    (result,) = FileSystems.match([pattern])
    return sorted(meta.path for meta in result.metadata_list)


def _is_folder(path: str) -> bool:
    if path.endswith(("/", "\\")):
        return True
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem) and os.path.isdir(path)


def dead_letter_files(pattern: str) -> list[str]:
    """The dead-letter files named by ``pattern``, sorted.

    ``pattern`` is a glob (``out/dl/*.jsonl``), a folder (every ``*.jsonl``
    directly inside) or one file. Raises ``DeadLetterSourceNotFound`` when
    nothing matches: a folder without ``.jsonl`` files was never written to.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"expected a dead-letter file, folder or glob, got {pattern!r}")
    if _has_glob(pattern):
        paths = _matching(pattern)
        tried = pattern
    else:
        folder_glob = FileSystems.join(pattern, "*" + FILE_SUFFIX)
        paths = _matching(folder_glob) or _matching(pattern)
        tried = f"{pattern} or {folder_glob}"
    paths = [path for path in paths if not _is_folder(path)]
    if not paths:
        raise DeadLetterSourceNotFound(f"no dead-letter files found at {tried}")
    return paths


def _read_stream(stream: IO[bytes], path: str) -> Iterator[dict[str, Any]]:
    for line_number, line in enumerate(iter(stream.readline, b""), start=1):
        if not line.strip(b"\r\n"):
            continue
        try:
            yield loads_dead_letter(line)
        except CorruptDeadLetter as e:
            raise CorruptDeadLetter(e.reason, path, line_number) from e


def _read_file(path: str) -> Iterator[dict[str, Any]]:
    with FileSystems.open(path) as stream:
        yield from _read_stream(stream, path)


def read_dead_letters(pattern: str) -> Iterator[dict[str, Any]]:
    """Every dead letter in the files named by ``pattern`` (see ``dead_letter_files``).

    Files are read in name order and line by line. Raises
    ``DeadLetterSourceNotFound`` when nothing matches and ``CorruptDeadLetter``
    (with ``path`` and ``line_number``) at the first line that is not a dead letter.
    """
    for path in dead_letter_files(pattern):
        yield from _read_file(path)


class DeadLetterCounters:
    """The job's metrics of dead letters: ``dead_letters`` and ``dead_letters_<stage>``.

    Made in a DoFn's ``setup``; :meth:`count` counts one letter.
    """

    def __init__(self) -> None:
        self._total = Metrics.counter(METRICS_NAMESPACE, "dead_letters")
        self._by_stage: dict[str, Any] = {}

    def count(self, letter: Mapping[str, Any]) -> None:
        stage = letter["stage"]
        counter = self._by_stage.get(stage)
        if counter is None:
            counter = self._by_stage[stage] = Metrics.counter(
                METRICS_NAMESPACE, f"dead_letters_{stage}"
            )
        self._total.inc()
        counter.inc()


class _CountAndEncode(beam.DoFn):
    """Counts dead letters (in total and per stage) and turns them into JSON lines,
    each keyed by its identity (:func:`letter_identity`) and ``at``."""

    def setup(self) -> None:
        self._counters = DeadLetterCounters()

    def process(self, letter: dict[str, Any]) -> Iterator[tuple[str, tuple[str, str]]]:
        line = dumps_dead_letter(letter)
        self._counters.count(letter)
        yield letter_identity(letter), (letter["at"], line)


def letter_identity(letter: Mapping[str, Any]) -> str:
    """What makes two dead letters the same failure: the stage, table and key of
    the item, or, without a key, everything but the time ``at``."""
    if letter["key"] is not None:
        return json.dumps([letter["stage"], letter["table"], dumps_item(letter["key"])])
    return dumps_dead_letter(dict(letter, at=""))


class _KeepLatest(beam.DoFn):
    """One line per identity, the latest (by ``at``, then text); counts the others
    in ``reindex/dead_letters_repeated``."""

    def setup(self) -> None:
        self._repeated = Metrics.counter(METRICS_NAMESPACE, "dead_letters_repeated")

    def process(self, grouped: tuple[str, Iterable[tuple[str, str]]]) -> Iterator[str]:
        _, versions = grouped
        versions = list(versions)
        if len(versions) > 1:
            self._repeated.inc(len(versions) - 1)
        yield max(versions)[1]


def _remove_stale_files(written: list[str], folder: str) -> Iterator[str]:
    """Deletes dead-letter files in ``folder`` that this run did not write."""
    kept = {posixpath.basename(path.replace("\\", "/")) for path in written}
    pattern = FileSystems.join(folder, _OWN_FILES)
    stale = [
        path
        for path in _matching(pattern)
        if posixpath.basename(path.replace("\\", "/")) not in kept
    ]
    if stale:
        _LOGGER.info("removing %d dead-letter files of an earlier run from %s", len(stale), folder)
        FileSystems.delete(stale)
    yield from sorted(written)


class _OncePerFailure(beam.PTransform):
    """Keyed lines to one line per failure (see ``WriteDeadLetters``)."""

    def expand(self, keyed_lines: beam.PCollection) -> beam.PCollection:
        return (
            keyed_lines | "Group" >> beam.GroupByKey() | "KeepLatest" >> beam.ParDo(_KeepLatest())
        )


def _write_file(group: tuple[int, Any], path: str) -> str:
    """Writes the lines of one group (``None`` marks a file that must exist) to ``path``."""
    lines = [line for line in group[1] if line is not None]
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    out = FileSystems.create(temporary)
    try:
        for line in lines:
            out.write(line.encode("utf-8") + b"\n")
        if not lines:
            out.write(without_letters(path))
    finally:
        out.close()
    FileSystems.rename([temporary], [path])
    return path


class WriteDeadLetters(beam.PTransform):
    """Writes dead-letter dicts as JSON lines to ``PATH/dead-letters-SSSSS-of-NNNNN.jsonl``.

    ``path`` is a folder (local, ``gs://``, ``s3://``...; created as needed),
    or, when it ends in ``.jsonl``, the one file to write (a single shard).
    ``num_shards=0`` lets the runner choose. Counts every dead letter in the
    Beam counters ``reindex/dead_letters`` and ``reindex/dead_letters_<stage>``.

    A failure is written once: letters of the same stage, table and item key
    (or, without a key, equal but for ``at``) are one failure read more than
    once – a runner that retries a scan restriction may read some items
    again (see :mod:`transforms.dynamodb.scan.restriction`) – and only the latest is
    written; the others are counted in ``reindex/dead_letters_repeated``.
    Returns the PCollection of the file names written (at least one, empty
    when there are no dead letters). A ``DecodeItems(max_dead_letter_fraction=...)``
    whose dead letters come here has its check run after the files are
    written (:mod:`transforms.dead_letter_threshold`), so a job failed for too
    many dead letters keeps them all.
    when there are no dead letters). Where Beam's file sinks are not reliable
    (see the module docstring), one file is written whatever ``num_shards``.
    """

    def __init__(self, path: str, *, num_shards: int = 0):
        super().__init__()
        if not isinstance(path, str) or not path:
            raise ValueError(f"dead-letter path must be a non-empty string, got {path!r}")
        if _has_glob(path):
            raise ValueError(f"dead-letter path {path!r} must be a folder, not a glob")
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 0:
            raise ValueError(f"num_shards must be an int >= 0, got {num_shards!r}")
        self._single_file = path.endswith(FILE_SUFFIX)
        self._folder = path
        self._prefix = FileSystems.join(path, FILE_PREFIX)
        self._num_shards = num_shards
        # a blank first line keeps a file with no dead letter from being empty where
        # an empty file cannot be written (S3)
        self._blank_header = "" if without_letters(path) else None

    def expand(self, dead_letters: beam.PCollection) -> beam.PCollection:
        capabilities = runner_capabilities(dead_letters.pipeline)
        if not (capabilities.side_inputs_computed_once and capabilities.finish_bundle_outputs):
            return self._write_one_file(dead_letters)
        if self._single_file:
            written = (
                dead_letters
                | "Encode" >> beam.ParDo(_CountAndEncode())
                | "Once" >> _OncePerFailure()
                | "Write"
                >> beam.io.WriteToText(
                    self._folder,
                    shard_name_template="",
                    num_shards=1,
                    header=self._blank_header,
                )
            )
        else:
            written = (
                dead_letters
                | "Encode" >> beam.ParDo(_CountAndEncode())
                | "Once" >> _OncePerFailure()
                | "Write"
                >> beam.io.WriteToText(
                    self._prefix,
                    file_name_suffix=FILE_SUFFIX,
                    shard_name_template=SHARD_TEMPLATE,
                    num_shards=self._num_shards,
                    header=self._blank_header,
                )
                | "AllWritten" >> beam.combiners.ToList()
                | "RemoveStale" >> beam.FlatMap(_remove_stale_files, self._folder)
            )
        for number, threshold in enumerate(thresholds_upstream(dead_letters)):
            threshold.enforce_after(written, self._folder, f"Threshold{number}")
        return written

    def _write_one_file(self, dead_letters: beam.PCollection) -> beam.PCollection:
        """Every line into one file, through a ``GroupByKey``: no side input, no finish_bundle."""
        path = self._folder if self._single_file else f"{self._prefix}-00000-of-00001{FILE_SUFFIX}"
        lines = (
            dead_letters
            | "Encode" >> beam.ParDo(_CountAndEncode())
            | "Once" >> _OncePerFailure()
            | "ToTheFile" >> beam.Map(lambda line: (0, line))
        )
        always = dead_letters.pipeline | "EvenWithout" >> beam.Create([(0, None)])
        written = (
            (lines, always)
            | "Together" >> beam.Flatten()
            | "ByFile" >> beam.GroupByKey()
            | "Write" >> beam.Map(_write_file, path)
        )
        if self._single_file:
            return written
        return written | "RemoveStale" >> beam.FlatMap(
            lambda path, folder: _remove_stale_files([path], folder), self._folder
        )


def _read_matched(readable: fileio.ReadableFile) -> Iterator[dict[str, Any]]:
    with readable.open() as stream:
        yield from _read_stream(stream, readable.metadata.path)


class ReadDeadLetters(beam.PTransform):
    """Reads dead letters back for replay: a PCollection of dead-letter dicts.

    ``pattern`` is a file, a folder or a glob, as for ``read_dead_letters``;
    ``item`` and ``key`` come back in wire format with ``bytes``. With
    ``validate=True`` a pattern that matches nothing raises
    ``DeadLetterSourceNotFound`` while the pipeline is built. Files are read
    in parallel; a corrupt line fails the pipeline with ``CorruptDeadLetter``.
    """

    def __init__(self, pattern: str, *, validate: bool = True):
        super().__init__()
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"expected a dead-letter file, folder or glob, got {pattern!r}")
        self._pattern = pattern
        self._validate = validate

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if self._validate:
            dead_letter_files(self._pattern)
        return (
            pbegin
            | "Pattern" >> beam.Create([self._pattern])
            | "Match" >> beam.FlatMap(dead_letter_files)
            | "Spread" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Parse" >> beam.FlatMap(_read_matched)
        )
