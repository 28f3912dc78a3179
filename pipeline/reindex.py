"""The reindex job: scan a table, decode, index, keep dead letters.

:func:`build_reindex` applies the graph to a pipeline (testable on its own);
:func:`run_reindex` checks everything it can before starting, runs the
pipeline and returns a :class:`~pipeline.summary.ReindexSummary`.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.run_counts import SCAN_COUNTERS, needs_tally, run_totals, tally_path
from pipeline.summary import SCAN_STAGE, ReindexSummary, summarize
from transforms.dead_letters import WriteDeadLetters, dead_letter, read_dead_letters
from transforms.decode import DecodeItems
from transforms.dynamodb_client import DynamoDBClientConfig
from transforms.index import open_backend
from transforms.model_attributes import fields_for_attributes
from transforms.runner_capabilities import runner_capabilities
from transforms.scan_errors import UnreadSegment
from transforms.scan_pages import RetryPolicy
from transforms.scan_request import ScanRequest
from transforms.scan_source import ReadFromDynamoDB, describe_table
from transforms.table_description import TableDescription
from transforms.tally import EndBranches, Tally
from transforms.wire import dumps_item, loads_item
from transforms.write_index import WriteToIndex

__all__ = ["ReindexConfig", "ReindexError", "build_reindex", "load_model", "run_reindex"]


_LOGGER = logging.getLogger(__name__)


class ReindexError(RuntimeError):
    """The reindex cannot start or did not finish; the message says why."""


@dataclasses.dataclass(frozen=True)
class ReindexConfig:
    """What to reindex, where to, and how to scan. Holds no credentials."""

    table: str
    model: str
    index: str
    dead_letters: str
    endpoint_url: str | None = None
    region: str | None = None
    total_segments: int | None = None
    segments: tuple[int, ...] | None = None
    page_size: int | None = None
    consistent_read: bool = False
    forbid_unknown: bool = False
    checkpoint_every_pages: int | None = None
    checkpoint_every_seconds: float | None = None
    workers: int | None = None
    batch_size: int | None = None
    max_retry_seconds: float = 300.0
    max_attempts: int = 8
    job_attempts: int = 1
    resume_from: str | None = None
    start_keys: tuple[tuple[int, str], ...] | None = None
    max_read_units_per_second: float | None = None
    read_capacity_fraction: float | None = None
    reading_processes: int | None = None
    max_dead_letter_fraction: float | None = None
    from_export: str | None = None
    key_attributes: tuple[str, ...] | None = None
    batch_bytes: int | None = None
    version_field: str | None = None
    swap_alias: str | None = None
    keep: int = 1


class ReindexOutputs(NamedTuple):
    """What :func:`build_reindex` applied; ``tally`` is where the counts go, if tallied."""

    items: beam.PCollection
    records: beam.PCollection
    dead_letters: beam.PCollection
    scan_request: ScanRequest
    tally: str | None = None


def load_model(spec: str) -> type:
    """The class named by ``module:Class`` (e.g. ``pipeline.models:Work``)."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ReindexError(f"--model must look like MODULE:CLASS, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ReindexError(f"cannot import the model's module {module_name!r}: {error}") from error
    model = getattr(module, class_name.strip(), None)
    if not isinstance(model, type) or not dataclasses.is_dataclass(model):
        raise ReindexError(f"{spec!r} is not a dataclass in module {module_name!r}")
    if not hasattr(model, "from_dict"):
        raise ReindexError(f"{spec!r} is not declared with dataclasses-json (@dataclass_json)")
    return model


def build_reindex(
    p: beam.Pipeline, config: ReindexConfig, model: type, description: TableDescription
) -> ReindexOutputs:
    """Applies scan → decode → index (+ dead letters) to ``p``.

    Where the runner reports no metrics (see :mod:`pipeline.run_counts`), the
    counts are tallied, and the last step applied ends every branch.
    """
    key_attributes = description.key_attributes
    read = ReadFromDynamoDB(
        table_name=config.table,
        total_segments=config.total_segments,
        page_size=config.page_size,
        segments=config.segments,
        consistent_read=config.consistent_read,
        checkpoint_every_pages=config.checkpoint_every_pages,
        checkpoint_every_seconds=config.checkpoint_every_seconds,
        with_segments=True,
        workers=config.workers,
        max_read_units_per_second=config.max_read_units_per_second,
        read_capacity_fraction=config.read_capacity_fraction,
        reading_processes=config.reading_processes,
        table_description=description,
        client_config=_client_config(config),
        retry_policy=RetryPolicy(max_retry_seconds=config.max_retry_seconds),
        report_unread_segments=True,
        start_keys={s: loads_item(key) for s, key in config.start_keys or ()},
    )
    items = p | "Read" >> read
    unread = read.unread_segments | "UnreadSegments" >> beam.Map(
        unread_segment_dead_letter, config.table
    )
    decoded = items | "Decode" >> DecodeItems(
        model,
        table=config.table,
        key_attributes=key_attributes,
        forbid_unknown=config.forbid_unknown,
        items_carry_segment=True,
    )
    written = index_records(decoded.records, config, model, key_attributes, config.table)
    dead_letters = (
        decoded.dead_letters,
        written.dead_letters,
        unread,
    ) | "AllDeadLetters" >> beam.Flatten()
    files = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(config.dead_letters)
    tally = None
    if needs_tally(runner_capabilities(p)):
        tally = tally_path(config.dead_letters)
        counted = {
            "items": items,
            "unread_segments": read.unread_segments,
            "records": decoded.records,
            "indexed": written.indexed,
        } | "Tally" >> Tally(tally, SCAN_COUNTERS)
        _ = (counted, files) | "End" >> EndBranches()
    return ReindexOutputs(items, decoded.records, dead_letters, read.scan_request, tally)


def _client_config(config: ReindexConfig) -> DynamoDBClientConfig:
    return DynamoDBClientConfig(
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        max_attempts=config.max_attempts,
    )


def unread_segment_dead_letter(unread: UnreadSegment, table: str) -> dict:
    """The dead letter (stage ``scan``) of a segment not read to its end.

    ``key`` is the ``ExclusiveStartKey`` to resume it from (``None``: from its
    start); there is no ``item``.
    """
    return dead_letter(
        SCAN_STAGE,
        error_type="SegmentReadFailed",
        error=unread.error,
        table=table,
        key=unread.resume_key,
        segment=unread.segment,
        total_segments=unread.total_segments,
    )


def _same_folder(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.abspath(a) == os.path.abspath(b)


def resume_config(config: ReindexConfig) -> ReindexConfig:
    """``config`` narrowed to what the run whose dead letters are at
    ``config.resume_from`` left unread: its unread segments, each from its resume key."""
    if config.total_segments is not None or config.segments is not None:
        raise ReindexError(
            "--resume-from takes the segments from the earlier run: "
            "drop --total-segments and --segments"
        )
    if _same_folder(config.resume_from, config.dead_letters):
        raise ReindexError(
            f"--dead-letters must be another folder than --resume-from {config.resume_from!r}, "
            "which holds the earlier run's dead letters"
        )
    unread = _unread_segments(config.resume_from)
    if not unread:
        raise ReindexError(
            f"the dead letters at {config.resume_from!r} record no unread segment: "
            "nothing to resume"
        )
    tables = sorted({str(letter["table"]) for letter in unread})
    totals = sorted({letter["total_segments"] for letter in unread})
    if tables != [config.table] or len(totals) != 1:
        raise ReindexError(
            f"the unread segments at {config.resume_from!r} are of table(s) {tables} with "
            f"TotalSegments {totals}, not of one scan of table {config.table!r}"
        )
    return dataclasses.replace(
        config,
        total_segments=totals[0],
        segments=tuple(letter["segment"] for letter in unread),
        start_keys=tuple(
            (letter["segment"], dumps_item(letter["key"])) for letter in unread if letter["key"]
        ),
    )


def _unread_segments(path: str) -> list[dict]:
    letters = (letter for letter in read_dead_letters(path) if letter["stage"] == SCAN_STAGE)
    return sorted(letters, key=lambda letter: letter["segment"])


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def index_records(records, config: ReindexConfig, model: type, key_attributes, table):
    """Writes ``records`` to ``config.index``; ids from the model's key fields."""
    return records | "Index" >> WriteToIndex(
        config.index,
        id_fields=fields_for_attributes(model, key_attributes),
        batch_size=config.batch_size,
        table=table,
        batch_bytes=config.batch_bytes,
        version_field=config.version_field,
    )


def check_dead_letter_path(path: str) -> None:
    if path.endswith(".jsonl"):
        path = FileSystems.split(path)[0] or "."
    try:
        FileSystems.mkdirs(path)
    except Exception as error:
        if not FileSystems.exists(path):
            raise ReindexError(f"cannot create the dead-letter folder {path!r}: {error}") from error
    probe = FileSystems.join(path, ".write-check")
    try:
        FileSystems.create(probe).close()
        FileSystems.delete([probe])
    except Exception as error:
        raise ReindexError(f"cannot write dead letters to {path!r}: {error}") from error


def check_index(uri: str) -> int:
    try:
        with open_backend(uri) as index:
            return index.count()
    except Exception as error:
        raise ReindexError(f"cannot open the index {_without_userinfo(uri)!r}: {error}") from error


def _without_userinfo(uri: str) -> str:
    """``uri`` with any ``user:password@`` removed, fit for messages."""
    scheme, sep, rest = uri.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else uri


def _run_behind_alias(config: ReindexConfig, pipeline_args: list[str]) -> ReindexSummary:
    """Builds a new index behind the alias, verifies it and swaps it in (``--swap-alias``).

    The alias moves only when the run adds up and the new index holds
    exactly the documents written; ``summary.alias_swap`` says what happened.
    A run that fails leaves no new index behind.
    """
    from transforms.index.alias import prepare_swap

    if config.resume_from:
        raise ReindexError(
            "--swap-alias cannot be combined with --resume-from: a resumed run reads only "
            "the segments left unread, so the new index would miss everything else"
        )
    if config.from_export:
        from transforms.export_manifest import read_export_manifest

        if read_export_manifest(config.from_export, verify_checksums=False).incremental:
            raise ReindexError(
                "--swap-alias needs a full export: an incremental export holds only the "
                "changes, so the new index would miss every unchanged record"
            )
    try:
        swap = prepare_swap(config.index, config.swap_alias or None)
    except ValueError as error:
        raise ReindexError(f"--swap-alias: {error}") from error
    try:
        summary = run_reindex(
            dataclasses.replace(config, index=swap.build_uri, swap_alias=None), pipeline_args
        )
    except BaseException:
        swap.abandon()
        raise
    reason = None if summary.accounted_for else "the run's counts do not add up (see the checks)"
    summary.alias_swap = swap.complete(summary.indexed, keep=config.keep, abort_reason=reason)
    return summary


def run_reindex(config: ReindexConfig, pipeline_args: list[str]) -> ReindexSummary:
    """Checks the inputs, runs the job to its end and summarises it."""
    if config.swap_alias is not None:
        return _run_behind_alias(config, pipeline_args)
    if config.from_export:
        from pipeline.export_reindex import run_export_reindex

        return run_export_reindex(config, pipeline_args)
    model = load_model(config.model)
    if config.resume_from:
        config = resume_config(config)
    description = describe_table(_client_config(config), config.table)
    check_dead_letter_path(config.dead_letters)
    check_index(config.index)
    options = PipelineOptions(pipeline_args)
    for attempt in range(1, config.job_attempts + 1):
        started = time.monotonic()
        pipeline = beam.Pipeline(options=options)
        outputs = build_reindex(pipeline, config, model, description)
        try:
            result = pipeline.run()
            result.wait_until_finish()
            break
        except Exception as error:  # the runner's failure: a lost worker, a bundle that raised
            if attempt == config.job_attempts:
                after = f" after {attempt} attempts" if attempt > 1 else ""
                raise ReindexError(
                    f"the runner failed the job{after} ({_first_line(error)}); what was "
                    "indexed stays: run again to finish (--job-attempts N runs it again itself)"
                ) from error
            _LOGGER.warning(
                "The job failed (%s); running it again, attempt %d of %d: documents "
                "written again are updates and dead letters are rewritten whole",
                _first_line(error),
                attempt + 1,
                config.job_attempts,
            )
    elapsed = time.monotonic() - started
    index_count = check_index(config.index)
    totals = run_totals(result, outputs.tally, config.dead_letters)
    summary = summarize(
        totals,
        outputs.scan_request,
        config,
        description,
        elapsed,
        index_count,
        counted=outputs.tally is not None,
    )
    if summary.unread_segment_count:
        summary.unread = _unread_segments(config.dead_letters)
    return summary
