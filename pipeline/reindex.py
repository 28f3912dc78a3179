"""The reindex job: one spine for every source.

::

    source ──► upserts ──► decode ──► index ─────┐
       ├──► removals ───────────────► delete ────┼─► dead letters ──► summary
       └──► the source's own dead letters ───────┘

:func:`build_reindex` applies the graph to a pipeline (testable on its own);
:func:`run_reindex` checks everything it can before starting, runs the
pipeline and returns a :class:`~pipeline.summary.ReindexSummary`. The source
(:mod:`pipeline.sources`) is a parallel scan of the table or an export.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.errors import ReindexError
from pipeline.run_counts import SPINE_COUNTERS, needs_tally, run_totals, tally_path
from pipeline.sources import open_source
from pipeline.summary import UNDECODABLE_REMOVED, ReindexSummary, summarize
from transforms.dead_letters import WriteDeadLetters
from transforms.decode.model_attributes import fields_for_attributes
from transforms.decode.transform import DecodeItems
from transforms.dynamodb.source import ReindexSource
from transforms.index import open_backend
from transforms.index.delete import DeleteFromIndex
from transforms.index.write import WriteToIndex
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.tally import EndBranches, Tally

__all__ = [
    "ModelSpecError",
    "ReindexConfig",
    "ReindexError",
    "build_reindex",
    "check_options",
    "load_model",
    "run_reindex",
]


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


class ReindexOutputs(NamedTuple):
    """What :func:`build_reindex` applied; ``tally`` is where the counts go, if tallied."""

    items: beam.PCollection
    records: beam.PCollection
    removals: beam.PCollection
    dead_letters: beam.PCollection
    tally: str | None = None


class ModelSpecError(ValueError):
    """``--model`` is not of the form ``MODULE:CLASS``: a usage error."""


def load_model(spec: str) -> type:
    """The class named by ``module:Class`` (e.g. ``pipeline.models:Work``).

    Raises :class:`ModelSpecError` when ``spec`` is not of that form and
    :class:`ReindexError` when the module cannot be imported or does not hold
    a dataclasses-json class of that name.
    """
    module_name, colon, class_name = spec.partition(":")
    module_name, class_name = module_name.strip(), class_name.strip()
    if not colon or not module_name or not class_name:
        head, dot, tail = spec.rpartition(".")
        hint = f"; did you mean {head}:{tail}?" if not colon and dot and head and tail else ""
        raise ModelSpecError(
            f"--model must look like MODULE:CLASS (e.g. pipeline.models:Work), got {spec!r}{hint}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ReindexError(f"cannot import the model's module {module_name!r}: {error}") from error
    if not hasattr(module, class_name):
        raise ReindexError(f"module {module_name} has no class {class_name}")
    model = getattr(module, class_name)
    if not isinstance(model, type) or not dataclasses.is_dataclass(model):
        raise ReindexError(f"{spec!r} is not a dataclass in module {module_name!r}")
    if not hasattr(model, "from_dict"):
        raise ReindexError(f"{spec!r} is not declared with dataclasses-json (@dataclass_json)")
    return model


def build_reindex(
    p: beam.Pipeline, config: ReindexConfig, model: type, source: ReindexSource
) -> ReindexOutputs:
    """Applies source → decode → index / delete (+ dead letters) to ``p``.

    Where the runner reports no metrics (see :mod:`pipeline.run_counts`), the
    counts are tallied, and the last step applied ends every branch.
    """
    read = source.read(p)
    decoded = read.upserts | "Decode" >> DecodeItems(
        model,
        table=source.table,
        key_attributes=source.key_attributes,
        forbid_unknown=config.forbid_unknown,
        items_carry_segment=True,
        with_keys=True,
    )
    written = decoded.records | "Index" >> WriteToIndex(
        config.index,
        id_fields=fields_for_attributes(model, source.key_attributes),
        key_attributes=source.key_attributes,
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
    if source.removes_undecodable:
        _ = (
            decoded.dead_letters
            | "UndecodableKeys" >> beam.FlatMap(_undecodable_key)
            | "RemoveUndecodable"
            >> DeleteFromIndex(
                config.index, key_attributes=source.key_attributes, table=source.table
            )
        )
    dead_letters = (
        read.dead_letters,
        decoded.dead_letters,
        written.dead_letters,
        deleted.dead_letters,
    ) | "AllDeadLetters" >> beam.Flatten()
    files = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(config.dead_letters)
    tally = None
    if needs_tally(runner_capabilities(p)):
        tally = tally_path(config.dead_letters)
        outputs = {
            "upserts": read.upserts,
            "removals": read.removals,
            "dead_letters": read.dead_letters,
            "records": decoded.records,
            "indexed": written.indexed,
            "deleted": deleted.deleted,
        }
        counters = {**source.tally_counters, **SPINE_COUNTERS}
        counted = {name: outputs[name] for name in counters} | "Tally" >> Tally(tally, counters)
        _ = (counted, files) | "End" >> EndBranches()
    return ReindexOutputs(read.upserts, decoded.records, read.removals, dead_letters, tally)


def _undecodable_key(letter: dict):
    """The key of a decode dead letter, whose stale document is to be removed."""
    if letter.get("key"):
        Metrics.counter("reindex", UNDECODABLE_REMOVED).inc()
        yield letter["key"]


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def check_options(config: ReindexConfig, model: type, key_attributes: Sequence[str]) -> None:
    """Raises ``ValueError`` for what the job would refuse once built.

    Called before anything is built, written or logged, so that a usage error
    is the only line printed: the model must hold the table's key and the
    index must take the batch and version options. (A scan's segments, page
    size and read ceiling are checked when its source is made.)
    """
    id_fields = fields_for_attributes(model, key_attributes)
    WriteToIndex(
        config.index,
        id_fields=id_fields,
        batch_size=config.batch_size,
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
        from transforms.dynamodb.export.manifest import read_export_manifest

        if read_export_manifest(config.from_export, verify_checksums=False).incremental:
            raise ReindexError(
                "--swap-alias needs a full export: an incremental export holds only the "
                "changes, so the new index would miss every unchanged record"
            )
    FileSystems.set_options(PipelineOptions(pipeline_args))
    model = load_model(config.model)
    open_source(config, functools.partial(check_options, config, model))
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
    model = load_model(config.model)
    if config.swap_alias is not None:
        return _run_behind_alias(config, pipeline_args)
    options = PipelineOptions(pipeline_args)
    FileSystems.set_options(options)  # an export on s3:// is read before the pipeline
    source = open_source(config, functools.partial(check_options, config, model))
    check_dead_letter_path(config.dead_letters)
    check_index(config.index)
    for attempt in range(1, config.job_attempts + 1):
        started = time.monotonic()
        pipeline = beam.Pipeline(options=options)
        outputs = build_reindex(pipeline, config, model, source)
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
    return summarize(result, source, config, elapsed, index_count, totals=totals)
