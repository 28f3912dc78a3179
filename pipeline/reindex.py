"""The reindex job: one spine for every source.

::

    source ──► upserts ──► decode ──► index ─────┐
       ├──► removals ───────────────► delete ────┼─► dead letters ──► summary
       └──► the source's own dead letters ───────┘

:func:`build_reindex` applies the graph to a pipeline (testable on its own);
:func:`run_reindex` checks everything it can before starting, runs the
pipeline and returns a :class:`~pipeline.summary.ReindexSummary`. The source
(:mod:`pipeline.sources`) is a parallel scan of the table or an export. A scan
keeps a run journal (:mod:`pipeline.resume`): ``resume=True`` continues
where an interrupted run stopped.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.errors import ReindexError
from pipeline.resume import open_journaled_run, remove_beam_temp, stop_requested
from pipeline.sources import open_source
from pipeline.summary import ReindexSummary, counter_totals, summarize
from transforms.dead_letters import WriteDeadLetters
from transforms.decode.model_attributes import fields_for_attributes
from transforms.decode.transform import DecodeItems
from transforms.dynamodb.source import ReindexSource
from transforms.index import open_backend
from transforms.index.delete import DeleteFromIndex
from transforms.index.write import WriteToIndex
from transforms.journal import JournalRef, WriteDeadLetterParts

__all__ = ["ReindexConfig", "ReindexError", "build_reindex", "load_model", "run_reindex"]


_LOGGER = logging.getLogger(__name__)


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
    resume: bool = False
    journal: str | None = None
    progress_interval: float | None = None


class ReindexOutputs(NamedTuple):
    items: beam.PCollection
    records: beam.PCollection
    removals: beam.PCollection
    dead_letters: beam.PCollection


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
    p: beam.Pipeline,
    config: ReindexConfig,
    model: type,
    source: ReindexSource,
    journal: JournalRef | None = None,
) -> ReindexOutputs:
    """Applies source → decode → index / delete (+ dead letters) to ``p``.

    With a ``journal`` each branch writes its dead letters per bundle into the
    journal, fused with the stage that produced them (consolidated into
    ``config.dead_letters`` when the run ends); without, they are written to
    ``config.dead_letters`` when the job ends.
    """
    read = source.read(p)
    decoded = read.upserts | "Decode" >> DecodeItems(
        model,
        table=source.table,
        key_attributes=source.key_attributes,
        forbid_unknown=config.forbid_unknown,
        items_carry_segment=True,
    )
    written = decoded.records | "Index" >> WriteToIndex(
        config.index,
        id_fields=fields_for_attributes(model, source.key_attributes),
        batch_size=config.batch_size,
        table=source.table,
        batch_bytes=config.batch_bytes,
        version_field=config.version_field,
    )
    deleted = read.removals | "Delete" >> DeleteFromIndex(
        config.index,
        key_attributes=source.key_attributes,
        batch_size=config.batch_size or 500,
        table=source.table,
    )
    branches = (read.dead_letters, decoded.dead_letters, written.dead_letters, deleted.dead_letters)
    dead_letters = branches | "AllDeadLetters" >> beam.Flatten()
    if journal is None:
        _ = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(config.dead_letters)
    else:
        for name, branch in zip(("Source", "Decode", "Index", "Delete"), branches, strict=True):
            _ = branch | f"DeadLetterParts{name}" >> WriteDeadLetterParts(journal)
    return ReindexOutputs(read.upserts, decoded.records, read.removals, dead_letters)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


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

    if config.resume_from or config.resume:
        flag = "--resume-from" if config.resume_from else "--resume"
        raise ReindexError(
            f"--swap-alias cannot be combined with {flag}: a resumed run reads only "
            "the segments left unread, so the new index would miss everything else"
        )
    if config.from_export:
        from transforms.dynamodb.export.manifest import read_export_manifest

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
    model = load_model(config.model)
    options = PipelineOptions(pipeline_args)
    FileSystems.set_options(options)  # an export on s3:// is read before the pipeline
    run = open_journaled_run(config, options)
    if run is not None:
        config = run.config
        if run.nothing_left:
            check_dead_letter_path(config.dead_letters)
            run.complete()
            return run.summary_without_reading(check_index(config.index))
    source = open_source(config, run.ref if run is not None else None)
    fields_for_attributes(model, source.key_attributes)  # ValueError: the model does not fit
    check_dead_letter_path(config.dead_letters)
    check_index(config.index)
    if run is not None:
        run.start(source)
    try:
        result, started = _run_attempts(config, options, model, source, run)
    finally:
        if run is not None:
            run.stop()
    elapsed = time.monotonic() - started
    if run is not None:
        run.complete(pages_read=_pages_read(result))
        remove_beam_temp(config.dead_letters)
    index_count = check_index(config.index)
    summary = summarize(result, source, config, elapsed, index_count)
    return run.annotate(summary) if run is not None else summary


def _pages_read(result) -> int:
    """Pages the scan claimed, or 0 where the runner reports no metrics."""
    try:
        return counter_totals(result).get(("dynamodb", "pages"), 0)
    except Exception:
        return 0


def _run_attempts(config: ReindexConfig, options, model: type, source: ReindexSource, run):
    """Runs the pipeline, again up to ``config.job_attempts`` times; (result, start time)."""
    for attempt in range(1, config.job_attempts + 1):
        started = time.monotonic()
        pipeline = beam.Pipeline(options=options)
        build_reindex(pipeline, config, model, source, run.ref if run is not None else None)
        try:
            result = pipeline.run()
            result.wait_until_finish()
            return result, started
        except Exception as error:  # the runner's failure: a lost worker, a bundle that raised
            if stop_requested() or attempt == config.job_attempts:
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
    raise AssertionError("unreachable")
