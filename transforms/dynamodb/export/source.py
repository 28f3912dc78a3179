"""``ReadFromDynamoDBExport``: a DynamoDB export to S3 as a splittable DoFn.

An export costs no read capacity and cannot throttle the table, so it is the
way to reindex the largest tables. This source reads a finished export
through Beam's ``FileSystems`` (``s3://``, ``gs://`` or a local copy) and
emits the same items as :class:`~transforms.dynamodb.scan.source.ReadFromDynamoDB`
(wire format, binary as ``bytes``), so ``DecodeItems`` and ``WriteToIndex``
follow unchanged::

    items = p | ReadFromDynamoDBExport("s3://bucket/exports/AWSDynamoDB/0170-ab12cd/")
    decoded = items | DecodeItems(Work, key_attributes=("id",))

The manifests are read and checked when the transform is built (see
:mod:`transforms.dynamodb.export.manifest`). Each data file is one element (a
:class:`DataFileRead`), spread over the workers
(:class:`~transforms.runners.distribute.Distribute`) and read by a splittable DoFn
whose initial restriction is the whole file, so no runner needs to split an
initial restriction. Inside a file each line is claimed before its item is
emitted, so a checkpoint resumes at the next line
(:mod:`transforms.dynamodb.export.restriction`). At the end of each file its item count
and MD5 are compared with the manifest.

Incremental exports also remove items, and integrity problems need a place
to go other than a failed job; ``.with_outputs()`` gives all three streams::

    read = p | ReadFromDynamoDBExport(uri).with_outputs()
    read.items           # Item of a full export, NewImage of an incremental one
    read.removed_keys    # keys of items deleted in an incremental export's period
    read.dead_letters    # integrity problems (stage "export"), each naming its file

Without ``.with_outputs()`` an integrity problem fails the pipeline with
:class:`ExportIntegrityError`, and an incremental export is refused (its
removals would have nowhere to go). With it, everything that could be read is
emitted and each problem becomes a dead letter: a truncated file gives its
complete lines and a ``TruncatedDataFile`` dead letter, never a silent gap.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider

from transforms.dead_letters import dead_letter
from transforms.dynamodb.export.files import (
    CorruptDataFile,
    DataFileReader,
    TruncatedDataFile,
    filesystem_for,
    filesystem_options,
)
from transforms.dynamodb.export.manifest import (
    ExportDataFile,
    ExportManifest,
    ExportManifestError,
    read_export_manifest,
)
from transforms.dynamodb.export.records import CorruptRecord, ExportRecord, record_parser
from transforms.dynamodb.export.restriction import (
    DataFileRestriction,
    DataFileTracker,
    EndOfFile,
    ExportRestrictionCoder,
)
from transforms.dynamodb.progress_log import ProgressLog
from transforms.dynamodb.scan.request import SegmentItem
from transforms.dynamodb.wire import Key
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.distribute import Distribute
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs

__all__ = [
    "METRICS_NAMESPACE",
    "STAGE",
    "DataFileRead",
    "ExportIntegrityError",
    "ExportReadResult",
    "ReadFromDynamoDBExport",
    "first_record_keys",
]

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "dynamodb_export"
STAGE = "export"


class ExportIntegrityError(ValueError):
    """A data file does not match its manifest (count, MD5, truncation, bad line)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message

    def __reduce__(self):
        return (type(self), (self.error_type, self.message))


class ExportReadResult(NamedTuple):
    """What ``ReadFromDynamoDBExport(...).with_outputs()`` returns."""

    items: beam.PCollection
    removed_keys: beam.PCollection
    dead_letters: beam.PCollection


@dataclasses.dataclass(frozen=True)
class DataFileRead:
    """One data file of an export and what reading and checking it needs.

    The element of the source's splittable DoFn: small, so that an export of
    thousands of files does not travel with each of them.
    """

    data_file: ExportDataFile
    file_count: int
    root: str
    output_format: str
    incremental: bool
    table_name: str | None
    average_item_bytes: float

    @classmethod
    def all_of(cls, manifest: ExportManifest) -> list[DataFileRead]:
        """One per data file of ``manifest``, in manifest order."""
        return [
            cls(
                data_file,
                len(manifest.files),
                manifest.root,
                manifest.output_format,
                manifest.incremental,
                manifest.table_name,
                manifest.average_item_bytes,
            )
            for data_file in manifest.files
        ]


class _ExportRestrictionProvider(RestrictionProvider):
    """The restriction of a :class:`DataFileRead`: all lines of its file."""

    def initial_restriction(self, read: DataFileRead) -> DataFileRestriction:
        return DataFileRestriction(read.data_file.index, expected_lines=read.data_file.item_count)

    def create_tracker(self, restriction) -> DataFileTracker:
        return DataFileTracker(restriction)

    def split(self, read: DataFileRead, restriction):
        yield restriction

    def restriction_coder(self):
        return ExportRestrictionCoder()

    def restriction_size(self, read: DataFileRead, restriction) -> float:
        """Estimated bytes left; pure and thread safe."""
        return restriction.remaining_lines * read.average_item_bytes


class _ExportMetrics:
    """The source's Beam metrics, and a per-process progress log line."""

    def __init__(self):
        self.items = Metrics.counter(METRICS_NAMESPACE, "items")
        self.upserts = Metrics.counter(METRICS_NAMESPACE, "upserts")
        self.removals = Metrics.counter(METRICS_NAMESPACE, "removals")
        self.files = Metrics.counter(METRICS_NAMESPACE, "files")
        self.compressed_bytes = Metrics.counter(METRICS_NAMESPACE, "compressed_bytes")
        self.integrity_errors = Metrics.counter(METRICS_NAMESPACE, "integrity_errors")
        self.checkpoints = Metrics.counter(METRICS_NAMESPACE, "checkpoints")
        self._progress = ProgressLog(_LOGGER, "export")

    def record(self, upsert: bool) -> None:
        self.items.inc()
        (self.upserts if upsert else self.removals).inc()
        self._progress.add(1)


class _FileProblem(NamedTuple):
    error_type: str
    message: str


def _end_of_file_problem(
    data_file: ExportDataFile, items_in_file: int, reader: DataFileReader
) -> _FileProblem | None:
    """What is wrong with a file read to its end, by the manifest; None if nothing."""
    if items_in_file != data_file.item_count:
        return _FileProblem(
            "CountMismatch",
            f"{data_file.path} holds {items_in_file:,} items, but manifest-files.json "
            f"lists {data_file.item_count:,} for it",
        )
    expected = data_file.expected_md5
    if expected is not None and reader.md5 != expected:
        return _FileProblem(
            "ChecksumMismatch",
            f"{data_file.path} has MD5 {reader.md5.hex()}, but manifest-files.json "
            f"lists {expected.hex()} for it: the file is corrupt or was changed",
        )
    return None


class _ReadDataFilesFn(TaggedOutputsDoFn):
    """Reads the lines of one data-file restriction; see the module docstring."""

    REMOVED_KEYS = "removed_keys"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        with_segments: bool,
        report_problems: bool,
        checkpoint_every_lines: int | None,
        options: dict[str, Any],
    ):
        self._with_segments = with_segments
        self._report_problems = report_problems
        self._checkpoint_every_lines = checkpoint_every_lines
        self._options = options
        self._metrics = None
        self._filesystem = None

    def setup(self):
        self._metrics = _ExportMetrics()

    def _problem(self, read: DataFileRead, problem: _FileProblem) -> Iterator[Any]:
        if not self._report_problems:
            raise ExportIntegrityError(problem.error_type, problem.message)
        _LOGGER.error("export integrity: %s: %s", problem.error_type, problem.message)
        self._metrics.integrity_errors.inc()
        yield self.tagged(
            self.DEAD_LETTERS,
            dead_letter(
                STAGE,
                error_type=problem.error_type,
                error=problem.message,
                table=read.table_name,
                segment=read.data_file.index,
                total_segments=read.file_count,
            ),
        )

    def _emit(self, read: DataFileRead, record: ExportRecord):
        upsert = record.item is not None
        self._metrics.record(upsert)
        if not upsert:
            return self.tagged(self.REMOVED_KEYS, record.keys)
        if self._with_segments:
            return SegmentItem(read.data_file.index, read.file_count, record.item)
        return record.item

    def process(
        self,
        read: DataFileRead,
        tracker=beam.DoFn.RestrictionParam(_ExportRestrictionProvider()),
    ):
        restriction: DataFileRestriction = tracker.current_restriction()
        if restriction.empty:
            return
        data_file = read.data_file
        if self._filesystem is None:
            self._filesystem = filesystem_for(read.root, self._options)
        reader = DataFileReader(data_file.path, self._filesystem)
        try:
            stream = reader.open()
        except Exception:
            if self._filesystem.exists(data_file.path):
                raise
            if tracker.try_claim(EndOfFile(restriction.start_line)):
                yield from self._problem(
                    read,
                    _FileProblem(
                        "MissingDataFile",
                        f"{data_file.path} is listed in manifest-files.json "
                        f"({data_file.item_count:,} items) but does not exist",
                    ),
                )
            return
        parse = record_parser(read.output_format, read.incremental)
        start = restriction.start_line
        items_in_file = 0
        lines = 0
        claimed = 0
        problem = None
        try:
            for number, line in reader.lines(stream):
                lines = number + 1
                blank = not line.strip()
                if number < start:
                    items_in_file += not blank
                    continue
                if not tracker.try_claim(number):
                    return
                if blank:
                    continue
                items_in_file += 1
                try:
                    record = parse(line)
                except CorruptRecord as error:
                    yield from self._problem(
                        read,
                        _FileProblem("CorruptLine", f"{data_file.path} line {lines}: {error}"),
                    )
                else:
                    yield self._emit(read, record)
                claimed += 1
                if self._checkpoint_every_lines and claimed >= self._checkpoint_every_lines:
                    self._metrics.checkpoints.inc()
                    tracker.defer_remainder()
                    return
        except TruncatedDataFile as error:
            problem = _FileProblem(
                "TruncatedDataFile",
                f"{error}; {items_in_file:,} complete items were read of the "
                f"{data_file.item_count:,} that manifest-files.json lists",
            )
        except CorruptDataFile as error:
            problem = _FileProblem(
                "CorruptDataFile",
                f"{error}; {items_in_file:,} items were read of the "
                f"{data_file.item_count:,} that manifest-files.json lists",
            )
        if not tracker.try_claim(EndOfFile(max(lines, start))):
            return
        if not restriction.reaches_end:
            return
        self._metrics.files.inc()
        self._metrics.compressed_bytes.inc(reader.compressed_bytes)
        problem = problem or _end_of_file_problem(data_file, items_in_file, reader)
        if problem is not None:
            yield from self._problem(read, problem)


class ReadFromDynamoDBExport(beam.PTransform):
    """Reads every item of a DynamoDB export (see the module docstring).

    Args:
      export_uri: the export folder ``.../AWSDynamoDB/<export id>/`` (or its
        ``manifest-summary.json``): ``s3://``, ``gs://`` or a local path, read
        through Beam's ``FileSystems``. For ``s3://`` pass ``--s3_region_name``
        (and ``--s3_endpoint_url`` for an S3-compatible store) as pipeline
        options; credentials come from boto3's default chain.
      with_segments: emit :class:`SegmentItem` ``(file index, file count,
        item)`` so that dead letters can name the data file an item came from.
      checkpoint_every_lines: self-checkpoint after this many lines of a file;
        ignored (with a warning) unless the runner is known to keep residuals
        (see :mod:`transforms.runners.capabilities`).
      verify_checksums: compare the manifests with their ``.checksum`` files.
      manifest: an :class:`ExportManifest` already read, to skip reading it.
    """

    def __init__(
        self,
        export_uri: str | None = None,
        *,
        with_segments: bool = False,
        checkpoint_every_lines: int | None = None,
        verify_checksums: bool = True,
        manifest: ExportManifest | None = None,
    ):
        super().__init__()
        if manifest is None and export_uri is None:
            raise ValueError("ReadFromDynamoDBExport needs export_uri (or manifest)")
        if checkpoint_every_lines is not None and (
            isinstance(checkpoint_every_lines, bool)
            or not isinstance(checkpoint_every_lines, int)
            or checkpoint_every_lines < 1
        ):
            raise ValueError(
                f"checkpoint_every_lines must be an int >= 1, got {checkpoint_every_lines!r}"
            )
        self.manifest = manifest or read_export_manifest(
            export_uri, verify_checksums=verify_checksums
        )
        self._with_segments = with_segments
        self._checkpoint_every_lines = checkpoint_every_lines
        self._with_outputs = False

    def with_outputs(self) -> ReadFromDynamoDBExport:
        """This read returning :class:`ExportReadResult` (items, removed keys, dead letters)."""
        read = copy.copy(self)
        read._with_outputs = True
        return read

    def expand(self, pbegin):
        manifest = self.manifest
        if manifest.incremental and not self._with_outputs:
            raise ExportManifestError(
                f"{manifest.root} is an incremental export, whose removed items need an "
                "output of their own: use ReadFromDynamoDBExport(...).with_outputs() and "
                "apply .removed_keys (e.g. with DeleteFromIndex)"
            )
        every = self._checkpoint_every_lines
        capabilities = runner_capabilities(pbegin.pipeline)
        if every and not capabilities.residuals:
            _LOGGER.warning(
                "Self-checkpoints are off: %s is not known to keep checkpoint residuals "
                "(with these options); each data file is read in one go, and "
                "runner-initiated checkpoints still apply",
                capabilities.runner,
            )
            every = None
        read_fn = _ReadDataFilesFn(
            self._with_segments,
            self._with_outputs,
            every,
            filesystem_options(pbegin.pipeline.options),
        )
        files = pbegin | "DataFiles" >> Distribute(
            DataFileRead.all_of(manifest), into_splittable=True
        )
        outputs = par_do_with_outputs(
            files,
            "ReadDataFiles",
            read_fn,
            "items",
            _ReadDataFilesFn.REMOVED_KEYS,
            _ReadDataFilesFn.DEAD_LETTERS,
        )
        if not self._with_outputs:
            return outputs["items"]
        return ExportReadResult(
            outputs["items"],
            outputs[_ReadDataFilesFn.REMOVED_KEYS],
            outputs[_ReadDataFilesFn.DEAD_LETTERS],
        )

    def display_data(self) -> dict[str, Any]:
        return {
            "export": self.manifest.root,
            "export_type": self.manifest.export_type,
            "output_format": self.manifest.output_format,
            "data_files": len(self.manifest.files),
        }


def first_record_keys(manifest: ExportManifest) -> Key | None:
    """The ``Keys`` of the first record of an incremental export, or None.

    Reads only up to the first non-empty line, to learn the table's key
    attribute names where no ``DescribeTable`` is at hand.
    """
    if not manifest.incremental:
        return None
    parse = record_parser(manifest.output_format, True)
    for data_file in manifest.files:
        if not data_file.item_count:
            continue
        try:
            for _, line in DataFileReader(data_file.path).lines():
                if line.strip():
                    return parse(line).keys
        except (TruncatedDataFile, CorruptDataFile, CorruptRecord, OSError) as error:
            _LOGGER.warning("cannot read the first record of %s: %s", data_file.path, error)
    return None
