"""The reindex job: one spine for every source.

::

    source ──► upserts ──► decode ──► index ─────┐
       ├──► removals ───────────────► delete ────┼─► dead letters ──► summary
       └──► the source's own dead letters ───────┘

:func:`build_reindex` applies the graph to a pipeline (testable on its own);
:func:`run_reindex` checks everything it can before starting, runs the
pipeline and returns a :class:`~pipeline.summary.ReindexSummary`. The source
(:mod:`pipeline.sources`) is a parallel scan of the table or an export.

By default the job rebuilds: it fills a new index, verifies it and swaps
it in behind the live name in one step (:func:`_rebuild`, with the target
of :mod:`transforms.index.rebuild`), and runs :class:`RunHooks` when
the build exists, between verification and swap, and after the swap.
``upsert`` writes into the live index in place instead
(:mod:`transforms.index.upsert`), and runs ``RunHooks.after_upsert``.
Either way an index that holds another table is refused unless ``force``
(:mod:`transforms.index.identity`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.errors import ReindexError, UsageError
from pipeline.resume import (
    JournaledRun,
    default_journal_path,
    note_job_started,
    open_journaled_run,
    remove_beam_temp,
    stop_requested,
)
from pipeline.resume.run_lock import index_lock, run_lock
from pipeline.resume.uncommitted import remove_documents_of_deleted_items
from pipeline.run_counts import (
    SPINE_COUNTERS,
    check_tally_written,
    needs_tally,
    remove_stale_tally,
    run_totals,
    tally_path,
)
from pipeline.sources import client_config, open_source
from pipeline.summary import UNDECODABLE_REMOVED, ReindexSummary, summarize
from transforms.dead_letters import WriteDeadLetters
from transforms.decode.decoder import compile_decoder
from transforms.decode.model_attributes import fields_for_attributes, key_type_conflicts
from transforms.decode.transform import DecodeItems
from transforms.decode.writable import check_writable
from transforms.dynamodb.source import Check, ReindexSource
from transforms.index import IndexOptionError, open_backend
from transforms.index.alias import check_alias, live_index
from transforms.index.delete import DeleteFromIndex
from transforms.index.identity import IndexIdentity, refuse_other_table, shown_uri
from transforms.index.index_config import check_configurable
from transforms.index.rebuild import (
    DEFAULT_SAMPLE_SIZE,
    IndexRebuild,
    Verification,
    prepare_rebuild,
)
from transforms.index.sample import SampleDocuments
from transforms.index.upsert import prepare_upsert, record_current_to
from transforms.index.write import WriteToIndex
from transforms.journal import SWAPPED, VERIFIED, JournalRef, WriteDeadLetterParts, WrittenKeys
from transforms.runners.capabilities import capabilities_of, runner_capabilities
from transforms.runners.cluster_watch import wait_until_finish
from transforms.runners.tally import EndBranches, Tally

__all__ = [
    "ModelSpecError",
    "ReindexConfig",
    "ReindexError",
    "RunHooks",
    "build_reindex",
    "check_options",
    "load_model",
    "run_reindex",
]


_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReindexConfig:
    """What to reindex, where to, and how to scan. Holds no credentials.

    By default a reindex rebuilds: it fills a new index and swaps it in
    behind ``index`` when verified, keeping ``keep`` previous ones for
    rollback. ``upsert`` writes into the live index in place instead.
    ``force`` writes another table than the one the index holds;
    ``index_config`` (``{"settings": ..., "mappings": ...}``) is for a new
    search-server index; ``verify_sample`` documents are read back to verify
    a rebuild (0: none); ``build_name`` reopens an earlier build.
    """

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
    upsert: bool = False
    force: bool = False
    index_config: dict | None = None
    verify_sample: int = DEFAULT_SAMPLE_SIZE
    build_name: str | None = None
    resume: bool = False
    journal: str | None = None
    progress_interval: float | None = None


class RunHooks:
    """Steps :func:`run_reindex` runs after the scan; each does nothing unless overridden.

    A rebuild:

    * ``prepared(rebuild)``: the build exists and the job has not started
      (a journal records ``rebuild.build_name``, to reopen the build later
      with ``ReindexConfig(build_name=...)`` / ``prepare_rebuild(uri,
      build_name=...)``);
    * ``before_swap(rebuild, summary)``: the job finished and the build is
      verified (``summary.verification``); the live index has not moved (a
      catch-up applies the changes made to the table during the run to
      ``rebuild.build_uri``);
    * ``after_swap(rebuild, summary)``: the build is live, e.g. to apply the
      changes made since the catch-up to the live index. ``rebuild`` is None
      when the run this one resumes had swapped it in already.

    An exception in ``before_swap`` leaves the live index untouched and the
    build in place, and propagates to the caller. A build that fails
    verification is never swapped, and then neither swap hook runs.

    A run with ``--upsert``: ``after_upsert(summary)``, once the job's counts
    add up (``summary.accounted_for``).

    A journaled run keeps its journal until the hooks have returned, and
    records the stages a rebuild reached: a run stopped before then resumes
    with ``--resume`` from there, and runs the hooks left.
    """

    def prepared(self, rebuild: IndexRebuild) -> None:
        """The build exists; the job has not written to it yet."""

    def before_swap(self, rebuild: IndexRebuild, summary: ReindexSummary) -> None:
        """Verified, not yet swapped."""

    def after_swap(self, rebuild: IndexRebuild | None, summary: ReindexSummary) -> None:
        """Swapped: the build is live."""

    def after_upsert(self, summary: ReindexSummary) -> None:
        """An upsert's job finished and its counts add up."""


class ReindexOutputs(NamedTuple):
    """What :func:`build_reindex` applied; ``tally`` is where the counts go, if tallied."""

    items: beam.PCollection
    records: beam.PCollection
    removals: beam.PCollection
    dead_letters: beam.PCollection | None
    """Every branch's dead letters; None with a journal, where each branch writes its own."""
    tally: str | None = None


class ModelSpecError(ValueError):
    """``--model`` is not of the form ``MODULE:CLASS``: a usage error."""


def load_model(spec: str) -> type:
    """The class named by ``module:Class`` (e.g. ``pipeline.models:Work``).

    Raises :class:`ModelSpecError` when ``spec`` is not of that form,
    :class:`UsageError` when the module cannot be imported or does not hold
    a dataclasses-json class of that name, and one ``TypeError`` naming
    every field whose type the decoder cannot read or ``to_json()`` cannot
    write (:mod:`transforms.decode.writable`): before anything is created.
    """
    module_name, colon, class_name = spec.partition(":")
    module_name, class_name = module_name.strip(), class_name.strip()
    if not colon or not module_name or not class_name:
        head, dot, tail = spec.rpartition(".")
        hint = ""
        if not colon and dot and head and tail:  # pipeline.models.Work, or pipeline.models
            hint = f"; did you mean {head}:{tail}?" if tail[:1].isupper() else ""
            hint = hint or f"; did you mean {spec}:CLASS?"
        raise ModelSpecError(
            f"--model must look like MODULE:CLASS (e.g. pipeline.models:Work), got {spec!r}{hint}"
        )
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        name = os.path.splitext(os.path.basename(module_name.rstrip("/\\")))[0]
        raise ModelSpecError(
            f"--model takes the module's import name, not its file: {name}:{class_name} "
            f"(from the folder holding {name}.py, or with that folder on PYTHONPATH), "
            f"got {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except SystemExit as error:  # not an exit of this command
        raise UsageError(
            f"importing the model's module {module_name!r} called sys.exit({error.code!r}); "
            "a model's module must only define its classes"
        ) from error
    except ImportError as error:
        raise UsageError(f"cannot import the model's module {module_name!r}: {error}") from error
    except Exception as error:  # the module itself raised, or does not compile
        raise UsageError(
            f"importing the model's module {module_name!r} failed: {type(error).__name__}: {error}"
        ) from error
    if not hasattr(module, class_name):
        raise UsageError(f"module {module_name} has no class {class_name}")
    model = getattr(module, class_name)
    if not isinstance(model, type) or not dataclasses.is_dataclass(model):
        raise UsageError(f"{spec!r} is not a dataclass in module {module_name!r}")
    if not hasattr(model, "from_dict"):
        raise UsageError(f"{spec!r} is not declared with dataclasses-json (@dataclass_json)")
    problems = []
    for check in (compile_decoder, check_writable):  # types it cannot read, or write
        try:
            check(model)
        except TypeError as error:
            problems.append(str(error))
    if problems:
        raise TypeError("; ".join(problems))
    return model


def build_reindex(
    p: beam.Pipeline,
    config: ReindexConfig,
    model: type,
    source: ReindexSource,
    *,
    sample_path: str | None = None,
    sample_size: int = 0,
    journal: JournalRef | None = None,
    resumed: bool = False,
) -> ReindexOutputs:
    """Applies source → decode → index / delete (+ dead letters) to ``p``.

    Where the runner reports no metrics (see :mod:`pipeline.run_counts`), the
    counts are tallied, and the last step applied ends every branch.

    With ``sample_path`` and ``sample_size``, the records' verification
    sample is written there too (:mod:`transforms.index.sample`).

    With a ``journal`` each branch writes its dead letters per bundle into the
    journal, fused with the stage that produced them (consolidated into
    ``config.dead_letters`` when the run ends); without, they are written to
    ``config.dead_letters`` when the job ends; a rebuild's index writer also
    records there the keys it writes until they are committed
    (:mod:`pipeline.resume.uncommitted`). A ``resumed`` rebuild removes the
    documents an interrupted run wrote of items that no longer decode.
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
        written_keys=None if journal is None or config.upsert else WrittenKeys(journal),
    )
    deleted = read.removals | "Delete" >> DeleteFromIndex(
        config.index,
        key_attributes=source.key_attributes,
        batch_size=config.batch_size or 500,
        table=source.table,
    )
    ends = []
    if source.removes_undecodable or config.upsert or resumed:  # a stale document goes
        removed = (
            decoded.dead_letters
            | "UndecodableKeys" >> beam.FlatMap(_undecodable_key)
            | "RemoveUndecodable"
            >> DeleteFromIndex(
                config.index, key_attributes=source.key_attributes, table=source.table
            )
        )
        ends.append(removed.deleted)
    if sample_path and sample_size:
        ends.append(
            decoded.records
            | "VerifySample"
            >> SampleDocuments(
                sample_path,
                size=sample_size,
                id_fields=fields_for_attributes(model, source.key_attributes),
                key_attributes=source.key_attributes,
            )
        )
    branches = (read.dead_letters, decoded.dead_letters, written.dead_letters, deleted.dead_letters)
    dead_letters = None
    if journal is None:
        dead_letters = branches | "AllDeadLetters" >> beam.Flatten()
        files = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(config.dead_letters)
    else:  # no Flatten of the branches: the runner would hold every letter at once
        parts = [
            branch | f"DeadLetterParts{name}" >> WriteDeadLetterParts(journal)
            for name, branch in zip(("Source", "Decode", "Index", "Delete"), branches, strict=True)
        ]
        files = parts | "AllParts" >> beam.Flatten()
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
        _ = (counted, files, *ends) | "End" >> EndBranches()
    return ReindexOutputs(read.upserts, decoded.records, read.removals, dead_letters, tally)


def _undecodable_key(letter: dict):
    """The key of a decode dead letter, whose stale document is to be removed."""
    if letter.get("key"):
        Metrics.counter("reindex", UNDECODABLE_REMOVED).inc()
        yield letter["key"]


_ENVIRONMENT_ERRORS = ("consistent-software-environments", "ModuleNotFoundError")


def _hint(error: BaseException, config: ReindexConfig) -> str:
    """What to check for a runner failure that says where: the workers' software."""
    text = f"{type(error).__name__}: {error}"
    if any(sign in text for sign in _ENVIRONMENT_ERRORS):
        module = config.model.partition(":")[0]
        return (
            f"; the scheduler and the workers could not load the job: each must be able to "
            f"import this project and the model's module {module!r}, at the same versions"
        )
    return ""


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def check_options(
    config: ReindexConfig,
    model: type,
    key_attributes: Sequence[str],
    key_types: Sequence[str] = (),
) -> None:
    """Raises ``ValueError`` for what the job would refuse once built.

    Called before anything is built, written or logged, so that a usage error
    is the only line printed: the model must hold the table's key, in fields
    that can hold the key's types (``key_types``, S, N or B, when known), and
    the index must take the batch and version options. (A scan's segments,
    page size and read ceiling are checked when its source is made.)
    """
    id_fields = fields_for_attributes(model, key_attributes)
    conflicts = key_type_conflicts(model, key_attributes, key_types) if key_types else []
    if conflicts:
        raise ValueError(
            f"{'; '.join(conflicts)}: every item would fail to decode; change the field's "
            "type or give it a decoder"
        )
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
    check_writable_folder(path, "the dead-letter folder", "dead letters")


def check_writable_folder(path: str, folder: str, written: str, option: str = "") -> None:
    """Raises :class:`ReindexError` when the folder ``path`` (local or an object
    store) cannot be made or written, before a run depends on it: ``folder`` and
    ``written`` name it and what goes there in the message, ``option`` the flag."""
    check = f": check {option}" if option else ""
    try:
        FileSystems.mkdirs(path)
    except Exception as error:
        if not FileSystems.exists(path) or os.path.isfile(path):
            raise ReindexError(f"cannot create {folder} {path!r}: {error}{check}") from error
    probe = FileSystems.join(path, ".write-check")
    try:
        with FileSystems.create(probe) as out:
            out.write(b"\n")  # not empty: S3 takes no empty object from Beam's writer
        FileSystems.delete([probe])
    except Exception as error:
        raise ReindexError(f"cannot write {written} to {path!r}: {error}{check}") from error


def check_index(uri: str) -> int:
    try:
        with open_backend(uri) as index:
            return index.count()
    except Exception as error:
        raise ReindexError(f"cannot open the index {shown_uri(uri)!r}: {error}") from error


def _rebuild_refusal(config: ReindexConfig) -> str | None:
    """Why ``config`` cannot rebuild (it does not read the whole table), or None."""
    named = config.swap_alias is not None
    flag = "--swap-alias" if named else "a rebuild (the default)"
    in_place = "" if named else "; add --upsert to write into the live index in place"
    if config.resume_from:
        return (
            f"{flag} cannot be combined with --resume-from: a resumed run reads only "
            f"the segments left unread, so the new index would miss everything else{in_place}"
        )
    if config.segments is not None:
        return (
            f"{flag} needs the whole table: --segments reads only some segments, so the new "
            f"index would miss the others{in_place}"
        )
    if config.from_export:
        from transforms.dynamodb.export.manifest import read_export_manifest

        if read_export_manifest(config.from_export, verify_checksums=False).incremental:
            return (
                f"{flag} needs a full export: an incremental export holds only the "
                f"changes, so the new index would miss every unchanged record{in_place}"
            )
    return None


def _check_index_options(config: ReindexConfig) -> None:
    """Refuses what the kind of index named by ``--index`` cannot take (an
    alias or settings for SQLite) before anything is read or created."""
    try:
        if not config.upsert:
            check_alias(config.index, config.swap_alias or None)
        check_configurable(config.index, config.index_config)
    except IndexOptionError as error:
        raise UsageError(str(error)) from error


def _identity(config: ReindexConfig, source: ReindexSource) -> IndexIdentity | None:
    if not source.table:
        return None
    return IndexIdentity(
        source.table, source.key_attributes, config.model, source.table_arn, source.current_to
    )


def _run_job(
    config: ReindexConfig,
    options: PipelineOptions,
    model: type,
    source: ReindexSource,
    sample_path: str | None = None,
    sample_size: int = 0,
    run: JournaledRun | None = None,
) -> ReindexSummary:
    """Runs the job (again on a runner failure, up to ``config.job_attempts``) and summarises it.

    With a journaled ``run``: progress lines while it runs, the dead letters of
    every attempt consolidated after it, and the summary says what earlier
    attempts did.
    """
    if run is not None:
        if run.nothing_left:
            run.complete()
            return run.summary_without_reading(check_index(config.index))
        run.start(source)
    try:
        result, started, outputs = _run_attempts(
            config, options, model, source, sample_path, sample_size, run
        )
    finally:
        if run is not None:
            run.stop()
    elapsed = time.monotonic() - started
    totals = run_totals(result, outputs.tally, config.dead_letters)
    if run is not None:
        run.complete(pages_read=totals.get(("dynamodb", "pages"), 0))
        remove_beam_temp(config.dead_letters)
    index_count = check_index(config.index)
    summary = summarize(result, source, config, elapsed, index_count, totals=totals)
    return run.annotate(summary) if run is not None else summary


def _run_attempts(config, options, model, source, sample_path, sample_size, run):
    """Runs the pipeline, again up to ``config.job_attempts`` times:
    ``(result, start time, outputs)`` of the attempt that finished."""
    journal = run.ref if run is not None else None
    for attempt in range(1, config.job_attempts + 1):
        started = time.monotonic()
        if attempt > 1:  # a source's transforms belong to the pipeline they were applied to
            source = open_source(config, journal=journal, model=model)
        pipeline = beam.Pipeline(options=options)
        outputs = build_reindex(
            pipeline,
            config,
            model,
            source,
            sample_path=sample_path,
            sample_size=sample_size,
            journal=journal,
            resumed=run is not None and run.resumed,
        )
        try:
            note_job_started()
            remove_stale_tally(outputs.tally)
            result = pipeline.run()
            wait_until_finish(result)
            check_tally_written(outputs.tally)
            return result, started, outputs
        except Exception as error:  # the runner's failure: a lost worker, a bundle that raised
            if stop_requested() or attempt == config.job_attempts:
                after = f" after {attempt} attempts" if attempt > 1 else ""
                kept = (
                    "what was indexed stays"
                    if config.upsert
                    else "the live index is unchanged and the new one was dropped"
                    if run is None
                    else "the live index is unchanged and the new one is kept for --resume"
                )
                raise ReindexError(
                    f"the runner failed the job{after} ({_first_line(error)}){_hint(error, config)}"
                    f"; {kept}: run again to finish (--job-attempts N runs it again itself)"
                ) from error
            _LOGGER.warning(
                "The job failed (%s); running it again, attempt %d of %d: documents "
                "written again are updates and dead letters are rewritten whole",
                _first_line(error),
                attempt + 1,
                config.job_attempts,
            )
    raise AssertionError("unreachable: the last attempt returns or raises")


def _prepare_upsert(
    config: ReindexConfig, identity: IndexIdentity | None, changes: tuple[str, str | None] | None
) -> None:
    """Checks that the live index holds this table (or none) and, for ``changes``
    (an incremental export's window), that they follow what it holds; creates
    it with ``--index-config`` if asked, and records what it holds."""
    try:
        prepare_upsert(
            config.index,
            identity,
            force=config.force,
            index_config=config.index_config,
            changes=changes,
        )
    except ValueError as error:
        raise ReindexError(str(error)) from error


def _rebuild(
    config: ReindexConfig,
    options: PipelineOptions,
    model: type,
    source: ReindexSource,
    identity: IndexIdentity | None,
    hooks: RunHooks,
    run: JournaledRun | None = None,
    live_documents: int = 0,
) -> ReindexSummary:
    """Builds a new index, verifies it and swaps it in behind the live name.

    With a journaled ``run`` the build is named in the journal and kept when
    the job is interrupted, so that ``--resume`` goes on filling it; a resumed
    build is verified against every attempt's items.

    The steps, in order: refuse another table's index; create the build
    (``hooks.prepared``); run the job into it (dropped if the job fails);
    verify; ``hooks.before_swap`` (the catch-up point); swap;
    ``hooks.after_swap``. A journaled run records when its build was
    verified and when it was swapped, and a resume goes on from there. A
    build that fails verification is not swapped and stays for inspection;
    ``summary.verification`` and ``summary.alias_swap`` say what happened.
    Neither is a build left empty because every item was dead-lettered while
    the live index holds ``live_documents`` (a wrong model would empty it),
    unless ``config.force``.
    """
    if run is not None and run.stage is not None and _swapped_before(config, run):
        return _after_interrupted_swap(config, hooks, run)
    try:
        refuse_other_table(config.index, identity, force=config.force, action="replace it")
        rebuild = prepare_rebuild(
            config.index,
            identity=identity,
            alias=config.swap_alias or None,
            build_name=config.build_name,
            keep=config.keep,
            index_config=config.index_config,
            sample_size=config.verify_sample,
            sample_folder=_sample_folder(options),
        )
    except ValueError as error:
        raise ReindexError(str(error)) from error
    hooks.prepared(rebuild)
    if run is not None:
        run.build_index = rebuild.build_name
    try:
        summary = _run_job(
            dataclasses.replace(config, index=rebuild.build_uri),
            options,
            model,
            source,
            sample_path=rebuild.sample_path,
            sample_size=rebuild.sample_size,
            run=run,
        )
    except BaseException:
        if run is None:
            _abandon(rebuild)
        raise
    if run is not None:
        _remove_documents_of_deleted_items(config, source, rebuild, run, summary)
    indexed = summary.indexed
    if run is not None and run.nothing_left:  # no record was read, so none was sampled
        rebuild.sample_path = None
    if run is not None and run.resumed:  # the build holds every attempt's documents
        indexed = run.items_before + summary.scanned - run.dead_letters_written
    items_read = summary.scanned + (run.items_before if run is not None and run.resumed else 0)
    run_checks = summary.rebuild_checks(config.max_dead_letter_fraction)
    emptying = _emptying_check(items_read, indexed, live_documents, force=config.force)
    summary.verification = rebuild.verify(
        indexed=indexed,
        run_checks=run_checks if emptying is None else [*run_checks, emptying],
        dead_letters_path=config.dead_letters
        if summary.dead_lettered_by_stage.get("index")
        else None,
        verified_before=run is not None and run.stage == VERIFIED,  # then caught up, maybe
    )
    if not summary.verification.holds:
        summary.alias_swap = rebuild.not_swapped(summary.verification.reason)
        if run is not None:
            run.finish()
        return summary
    if run is not None:  # the journal is kept until the hooks are done: --resume goes on
        run.mark(VERIFIED)
    hooks.before_swap(rebuild, summary)
    summary.alias_swap = rebuild.swap()
    if run is not None:
        run.mark(SWAPPED)
    hooks.after_swap(rebuild, summary)
    if run is not None:
        run.finish()
    return summary


def _remove_documents_of_deleted_items(
    config: ReindexConfig,
    source: ReindexSource,
    rebuild: IndexRebuild,
    run: JournaledRun,
    summary: ReindexSummary,
) -> None:
    """Deletes from the build the documents of items deleted from the table after
    a write of them that was never committed (an interrupted run's last bundles)."""
    removed = remove_documents_of_deleted_items(
        run.journal.path,
        run.ref.run_id,
        run.ref.attempt_id,
        rebuild.build_uri,
        client_config(config),
        source.table,
        source.key_attributes,
    )
    if removed:
        summary.index_count = check_index(rebuild.build_uri)
        summary.source.tail.append(
            f"  removed {removed:,} document(s) of items deleted from the table after an "
            "uncommitted write of them"
        )


def _abandon(rebuild: IndexRebuild) -> None:
    """Drops the build of a failed job; a failure to do so is logged, so that the
    job's own error is the one reported."""
    try:
        rebuild.abandon()
    except Exception as error:
        _LOGGER.error(
            "could not remove the new index %s (%s: %s); the live index is unchanged: "
            "delete it when the server answers again",
            rebuild.build_name,
            type(error).__name__,
            _first_line(error),
        )


def _swapped_before(config: ReindexConfig, run: JournaledRun) -> bool:
    """Whether the run this one resumes swapped its build in (a stop can come
    between the swap and its record). Raises when the build it swapped in is no
    longer live (a rollback): what followed the swap would apply to another index."""
    live = live_index(config.index)
    if live == run.build_index:
        return True
    if run.stage == SWAPPED:
        raise ReindexError(
            f"the run this one resumes swapped in {run.build_index}, which is no longer live "
            f"({live or 'nothing'} is; a rollback?): run the command again without --resume, "
            "and with --catch-up give it a new bookmark"
        )
    return False


def _after_interrupted_swap(config: ReindexConfig, hooks: RunHooks, run: JournaledRun):
    """A resumed rebuild whose build the interrupted run swapped in: what was left after."""
    run.complete()
    summary = run.summary_without_reading(check_index(config.index))
    summary.verification = Verification(
        (Check(f"{run.build_index} was verified and swapped in by the run this one resumes", True),)
    )
    hooks.after_swap(None, summary)
    run.finish()
    return summary


def _emptying_check(
    items_read: int, indexed: int, live_documents: int, *, force: bool
) -> Check | None:
    """The check a rebuild must pass when it would replace a live index of
    ``live_documents`` with an empty one because every one of the
    ``items_read`` (by every attempt of a resumed run) was dead-lettered."""
    if indexed or not items_read or not live_documents:
        return None
    what = (
        f"every one of the {items_read:,} items read was dead-lettered, so "
        f"the new index is empty while the live one holds {live_documents:,} documents"
    )
    if force:
        return Check(f"{what}; swapped anyway (--force)", True)
    return Check(
        what,
        False,
        f"{what}: fix the model (the dead letters say what is wrong), or pass --force to "
        "swap in the empty index",
    )


def _sample_folder(options: PipelineOptions) -> str:
    """Where the job writes its verification sample: ``--temp_location``, else a local folder."""
    return options.get_all_options().get("temp_location") or tempfile.gettempdir()


def run_reindex(
    config: ReindexConfig, pipeline_args: list[str], hooks: RunHooks | None = None
) -> ReindexSummary:
    """Checks the inputs, runs the job to its end and summarises it.

    By default the job fills a new index that replaces the live one when
    verified (:func:`_rebuild`); with
    ``config.upsert`` it writes into the live index in place. ``hooks`` run
    around the swap of a rebuild.
    """
    if config.upsert and config.swap_alias is not None:
        raise UsageError("--swap-alias and --upsert exclude each other")
    if config.key_attributes and not config.from_export:
        raise UsageError(
            "--key-attributes goes with --from-export: a scan takes the table's key "
            "from DescribeTable"
        )
    if not config.upsert and config.resume_from:
        raise UsageError(_rebuild_refusal(config))
    _check_index_options(config)
    model = load_model(config.model)
    options = PipelineOptions(pipeline_args)
    FileSystems.set_options(options)  # an export on s3:// is read before the pipeline
    with contextlib.ExitStack() as locks:  # one run at a time per dead letters, journal, index
        beside = default_journal_path(config.dead_letters)
        what = f"the dead letters at {config.dead_letters}"
        locks.enter_context(run_lock(beside, what, other="--dead-letters"))
        if config.journal and os.path.abspath(config.journal) != os.path.abspath(beside):
            locks.enter_context(run_lock(config.journal))
        locks.enter_context(index_lock(config.index))
        return _reindex(config, options, model, hooks)


def _reindex(
    config: ReindexConfig, options: PipelineOptions, model: type, hooks: RunHooks | None
) -> ReindexSummary:
    """:func:`run_reindex` once the model is loaded (and the run's journal locked)."""
    asked = config
    if config.journal:
        check_writable_folder(config.journal, "the journal folder", "the run journal", "--journal")
    run = _journaled_run(config, options)
    if run is not None:
        config = run.config  # on resume: the segments left, each from its committed key
        if run.nothing_left:  # nothing is read: the source only names the table
            config = dataclasses.replace(config, segments=None, start_keys=None)
        if not config.upsert:
            config = dataclasses.replace(config, build_name=run.build_index)
    source = open_source(
        config,
        functools.partial(check_options, config, model),
        journal=run.ref if run is not None else None,
        model=model,
    )
    refusal = None if asked.upsert else _rebuild_refusal(asked)
    if refusal:
        raise UsageError(refusal)
    check_dead_letter_path(config.dead_letters)
    live_documents = check_index(config.index)
    identity = _identity(config, source)
    if not config.upsert:
        hooks = hooks or RunHooks()
        return _rebuild(config, options, model, source, identity, hooks, run, live_documents)
    changes = (source.changes_since, source.current_to) if source.changes_since else None
    _prepare_upsert(config, identity, changes)
    summary = _run_job(config, options, model, source, run=run)
    if summary.accounted_for:
        record_current_to(config.index, identity)
        (hooks or RunHooks()).after_upsert(summary)
    if run is not None:  # kept until the hooks are done: --resume runs them
        run.finish()
    return summary


def _journaled_run(config: ReindexConfig, options: PipelineOptions) -> JournaledRun | None:
    """The run journal of a scan (:mod:`pipeline.resume`), or None.

    None for an export (read again whole) and on a runner that reports no
    metrics (Beam's Dask runner), which also never finalizes bundles, so a
    journal would record nothing. A resume must keep the mode of the run it
    continues: a rebuild goes on filling the index it was building, a run
    with ``--upsert`` goes on writing in place.
    """
    if needs_tally(capabilities_of(options)):
        if config.resume:
            raise UsageError(
                "--resume needs a runner that finalizes bundles; this one does not, so no "
                "journal is kept: run the command again without --resume"
            )
        return None
    run = open_journaled_run(config, options)
    if run is None or not run.resumed:
        return run
    if run.build_index is None and not config.upsert:
        raise UsageError(
            "the interrupted run wrote into the live index (--upsert): resume it with --upsert"
        )
    if run.build_index is not None and config.upsert:
        raise UsageError(
            f"the interrupted run was building the index {run.build_index}: resume it "
            "without --upsert, to finish that index and swap it in"
        )
    return run
