"""Replay dead letters after a model fix: decode again, index what now fits.

Dead letters that carry the raw ``item`` are decoded again with the (fixed)
model; index-stage dead letters without an item are rebuilt from their
``document``. What still fails is written to a new dead-letter folder, so
nothing is dropped: ``read == indexed + still failing``. Where the runner
reports no metrics the counts are tallied in the pipeline, as for the
reindex (:mod:`pipeline.run_counts`).

:func:`run_reread` (``replay --reread``) indexes the items as the table holds
them now instead: the letters' keys are re-read with strongly consistent
reads (:class:`~transforms.dynamodb.keys.KeysSource`) and go through the
reindex spine in place, so an item changed or deleted since it was
dead-lettered is indexed as it is, or has no document.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.beam_args import runner_with_metrics
from pipeline.reindex import ReindexConfig, ReindexError, build_reindex, load_model
from pipeline.run_counts import (
    check_tally_written,
    needs_tally,
    remove_stale_tally,
    run_totals,
    tally_path,
)
from pipeline.summary import ReindexSummary, summarize
from transforms.dead_letters import ReadDeadLetters, WriteDeadLetters, read_dead_letters
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.model_attributes import fields_for_attributes
from transforms.decode.transform import DecodeItems
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.keys import KeysSource
from transforms.dynamodb.scan.source import SegmentItem
from transforms.dynamodb.table_description import describe_table
from transforms.index import open_backend
from transforms.index.delete import key_document_id
from transforms.index.identity import IndexIdentity, refuse_other_table, write_identity
from transforms.index.write import WriteToIndex
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.cluster_watch import wait_until_finish
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs
from transforms.runners.tally import EndBranches, Tally

__all__ = ["ReplayConfig", "ReplayKeyError", "ReplaySummary", "run_replay", "run_reread"]

_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """What to replay and where to.

    ``key_attributes`` (hash key first) names the table's key when the dead
    letters cannot: by default it is taken from the letters that carry a key.
    """

    dead_letters: str
    model: str
    index: str
    still_failing: str
    key_attributes: tuple[str, ...] | None = None
    force: bool = False
    """Write even into an index that records another table than the letters'."""
    table: str | None = None
    """For :func:`run_reread`: the table to re-read (default: the letters')."""
    client_config: DynamoDBClientConfig = dataclasses.field(default_factory=DynamoDBClientConfig)
    """For :func:`run_reread`: where the table is."""


class ReplayKeyError(ValueError):
    """The table's key attributes cannot be told from the dead letters: pass them."""


@dataclasses.dataclass
class ReplaySummary:
    read: int
    indexed: int
    still_failing: int
    still_failing_path: str
    elapsed_seconds: float

    @property
    def accounted_for(self) -> bool:
        return self.read == self.indexed + self.still_failing

    def render(self) -> str:
        verdict = (
            "OK" if self.accounted_for else "MISMATCH: some dead letters are not accounted for"
        )
        return "\n".join(
            [
                f"replay finished in {self.elapsed_seconds:.1f} s",
                f"  dead letters read  {self.read:>10,}",
                f"  indexed now        {self.indexed:>10,}",
                f"  still failing      {self.still_failing:>10,}  -> {self.still_failing_path}",
                f"  check: read {self.read:,} == indexed {self.indexed:,} + still failing "
                f"{self.still_failing:,}: {verdict}",
            ]
        )


class _SplitByKind(TaggedOutputsDoFn):
    """Raw items to decode again; index-stage documents to rebuild; the rest kept."""

    DOCUMENTS = "documents"
    UNREPLAYABLE = "unreplayable"

    def process(self, letter: dict[str, Any]) -> Iterator[Any]:
        beam.metrics.Metrics.counter("replay", "read").inc()
        if letter.get("item") is not None:
            yield SegmentItem(letter.get("segment"), letter.get("total_segments"), letter["item"])
        elif letter.get("document") is not None:
            yield self.tagged(self.DOCUMENTS, letter)
        else:
            yield self.tagged(self.UNREPLAYABLE, letter)


class _Rebuild(TaggedOutputsDoFn):
    """The record of an index-stage dead letter (with the letter's key, when it
    has one); if it no longer parses, the letter."""

    def __init__(self, model: type):
        self._model = model

    def process(self, letter: dict[str, Any]) -> Iterator[Any]:
        try:
            record = self._model.from_json(letter["document"])
            yield record if letter.get("key") is None else KeyedRecord(letter["key"], record)
        except Exception as error:
            yield self.tagged(
                _SplitByKind.UNREPLAYABLE,
                dict(letter, error=f"document no longer parses: {error}"),
            )


def _read(_) -> list[tuple[str, str]]:
    return [("replay", "read")]


def _indexed(_) -> list[tuple[str, str]]:
    return [("reindex", "indexed")]


@dataclasses.dataclass(frozen=True)
class _Survey:
    """What a first read of every dead letter found."""

    letters: int
    tables: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    """The distinct key attribute names of the letters (but unread segments), as each
    letter orders them."""
    unreplayable: int = 0
    """Letters with neither the item nor the document (e.g. ``EncodeError``)."""


def _survey(pattern: str) -> _Survey:
    """Reads every dead letter once: a corrupt line anywhere is then one clear error
    before the job starts, not a failed job."""
    letters, unreplayable, tables, keys = 0, 0, set(), {}
    for letter in read_dead_letters(pattern):
        letters += 1
        if letter.get("table"):
            tables.add(letter["table"])
        replayable = letter.get("item") is not None or letter.get("document") is not None
        unreplayable += not replayable
        if letter.get("key") and letter.get("stage") != "scan":  # a scan's is a resume key
            keys.setdefault(tuple(letter["key"]), None)
    return _Survey(letters, tuple(sorted(tables)), tuple(keys), unreplayable)


def _key_attributes(survey: _Survey, given: tuple[str, ...] | None) -> tuple[str, ...]:
    """The table's key attributes, hash key first: ``given``, else those of the dead
    letters that carry a key (decode and index stages), whatever their order in the files.

    Raises :class:`ReplayKeyError` when the letters carry keys of other attributes
    than ``given``, keys of different attributes, or no key at all.
    """
    found = sorted({tuple(sorted(key)) for key in survey.keys})
    shown = "; ".join(", ".join(names) for names in found)
    if given:
        if any(names != tuple(sorted(given)) for names in found):
            raise ReplayKeyError(
                f"--key-attributes {','.join(given)} differs from the keys the dead letters "
                f"carry ({shown})"
            )
        return tuple(given)
    if len(found) > 1:
        raise ReplayKeyError(
            f"the dead letters carry keys of different attributes ({shown}): replay each "
            "table's dead letters on their own"
        )
    if not found:
        raise ReplayKeyError(
            "no dead letter to replay carries a key: pass --key-attributes with the table's "
            "key attributes, hash key first (e.g. --key-attributes id, or pk,sk)"
        )
    if len(survey.keys) > 1:
        raise ReplayKeyError(
            f"the dead letters order the key attributes {', '.join(found[0])} differently: "
            "pass --key-attributes HASH,RANGE with the hash key first"
        )
    return survey.keys[0]


def _claim_index(config: ReplayConfig, table: str, key_attributes: tuple[str, ...]) -> None:
    """Refuses an index that records another table (unless ``force``); an index
    new to this table says so from now on."""
    identity = IndexIdentity(table, key_attributes, config.model)
    try:
        held = refuse_other_table(
            config.index,
            identity,
            force=config.force,
            action="write into it",
            check="--index and --dead-letters",
            same_key=True,
        )
    except ValueError as error:
        raise ReindexError(str(error)) from error
    if held is None:
        with open_backend(config.index) as index:
            write_identity(index, identity)


def run_replay(config: ReplayConfig, pipeline_args: list[str]) -> ReplaySummary:
    model = load_model(config.model)
    survey = _survey(config.dead_letters)
    if not survey.letters:
        raise ReindexError(f"no dead letters in {config.dead_letters!r}: nothing to replay")
    if survey.unreplayable == survey.letters:
        raise ReindexError(
            f"none of the {survey.letters:,} dead letter(s) in {config.dead_letters!r} "
            "carries the item or the document (unread segments, records the encoder "
            "refused): there is nothing to replay; reindex the table (or resume the run) "
            "to index them"
        )
    key_attributes = _key_attributes(survey, config.key_attributes)
    try:
        id_fields = fields_for_attributes(model, key_attributes)
    except ValueError as error:
        raise ReindexError(str(error)) from error
    table = survey.tables[0] if len(survey.tables) == 1 else None
    if table is not None:
        _claim_index(config, table, key_attributes)
    if survey.unreplayable:
        _LOGGER.warning(
            "%d dead letter(s) carry neither the item nor the document (the record could "
            "not be written, e.g. EncodeError): they stay failing; after fixing the model, "
            "reindex the table (or reindex --upsert) to index them",
            survey.unreplayable,
        )
    started = time.monotonic()
    pipeline = beam.Pipeline(options=PipelineOptions(pipeline_args))
    letters = pipeline | "Read" >> ReadDeadLetters(config.dead_letters)
    split = par_do_with_outputs(
        letters,
        "Split",
        _SplitByKind(),
        "items",
        _SplitByKind.DOCUMENTS,
        _SplitByKind.UNREPLAYABLE,
    )
    decoded = split["items"] | "Decode" >> DecodeItems(
        model,
        table=table,
        key_attributes=key_attributes,
        items_carry_segment=True,
        with_keys=True,
    )
    rebuilt = par_do_with_outputs(
        split[_SplitByKind.DOCUMENTS],
        "Rebuild",
        _Rebuild(model),
        "records",
        _SplitByKind.UNREPLAYABLE,
    )
    # Each branch of records is written where it is made: a Flatten of the two
    # would be a materialised collection, every record of the replay held at once.
    index = functools.partial(
        WriteToIndex, config.index, id_fields=id_fields, table=table, key_attributes=key_attributes
    )
    written = decoded.records | "Index" >> index()
    written_rebuilt = rebuilt["records"] | "IndexRebuilt" >> index()
    files = (
        (
            decoded.dead_letters,
            written.dead_letters,
            written_rebuilt.dead_letters,
            split[_SplitByKind.UNREPLAYABLE],
            rebuilt[_SplitByKind.UNREPLAYABLE],
        )
        | "StillFailing" >> beam.Flatten()
        | "Write" >> WriteDeadLetters(config.still_failing)
    )
    tally = None
    if needs_tally(runner_capabilities(pipeline)):
        tally = tally_path(config.still_failing)
        indexed = (written.indexed, written_rebuilt.indexed) | "Indexed" >> beam.Flatten()
        counted = {"read": letters, "indexed": indexed} | "Tally" >> Tally(
            tally, {"read": _read, "indexed": _indexed}
        )
        _ = (counted, files) | "End" >> EndBranches()
    remove_stale_tally(tally)
    result = pipeline.run()
    wait_until_finish(result)
    check_tally_written(tally)
    totals = run_totals(result, tally, config.still_failing)
    return ReplaySummary(
        read=totals.get(("replay", "read"), 0),
        indexed=totals.get(("reindex", "indexed"), 0),
        still_failing=totals.get(("reindex", "dead_letters"), 0),
        still_failing_path=config.still_failing,
        elapsed_seconds=time.monotonic() - started,
    )


REREAD_STAGES = ("decode", "index")
"""Stages whose letters name an item of the table by its key."""


@dataclasses.dataclass
class _Rereads:
    """The dead letters split for a re-read: distinct keys, and the letters kept."""

    keys: dict[str, dict] = dataclasses.field(default_factory=dict)
    kept: list[dict] = dataclasses.field(default_factory=list)
    letters: int = 0


def _rereads(pattern: str, key_attributes: tuple[str, ...]) -> _Rereads:
    found = _Rereads()
    for letter in read_dead_letters(pattern):
        found.letters += 1
        key = letter.get("key")
        if key and letter.get("stage") in REREAD_STAGES:
            found.keys.setdefault(key_document_id(key, key_attributes), key)
        else:
            found.kept.append(letter)
    return found


def _reread_table(config: ReplayConfig, survey: _Survey) -> str:
    if config.table:
        return config.table
    if len(survey.tables) == 1:
        return survey.tables[0]
    if not survey.tables:
        raise ReindexError(
            f"the dead letters in {config.dead_letters!r} name no table: pass --table"
        )
    raise ReindexError(
        f"the dead letters name several tables ({', '.join(survey.tables)}): replay each "
        "table's dead letters on their own, or pass --table"
    )


def run_reread(config: ReplayConfig, pipeline_args: list[str]) -> ReindexSummary:
    """Re-reads the keys of the dead letters from the table and applies them in place.

    Each key of a decode or index dead letter is read again (strongly
    consistent): an item that now decodes is indexed as the table holds it,
    a deleted item's document is removed, and an item that still does not
    decode (or that the index refuses) is dead-lettered again to
    ``still_failing``, as are the letters without a key (unread segments),
    which are kept as they were. The table is ``config.table`` or the one the
    letters name; its key, from ``DescribeTable``, must be the letters'.
    On a runner that reports no metrics the job runs in this process.
    """
    model = load_model(config.model)
    survey = _survey(config.dead_letters)
    if not survey.letters:
        raise ReindexError(f"no dead letters in {config.dead_letters!r}: nothing to replay")
    table = _reread_table(config, survey)
    description = describe_table(config.client_config, table)
    key_attributes = tuple(description.key_attributes)
    if survey.keys:
        _key_attributes(survey, key_attributes)
    try:
        fields_for_attributes(model, key_attributes)
    except ValueError as error:
        raise ReindexError(str(error)) from error
    rereads = _rereads(config.dead_letters, key_attributes)
    if not rereads.keys:
        raise ReindexError(
            f"none of the {rereads.letters:,} dead letter(s) in {config.dead_letters!r} "
            "names an item by its key (unread segments, corrupt export lines): there is "
            "nothing to re-read; reindex the table (or resume the run) to index them"
        )
    _claim_index(config, table, key_attributes)
    source = KeysSource(
        list(rereads.keys.values()), table, key_attributes, config.client_config, rereads.kept
    )
    spine = ReindexConfig(
        table=table, model=config.model, index=config.index, dead_letters=config.still_failing
    )
    started = time.monotonic()
    pipeline = beam.Pipeline(
        options=PipelineOptions(runner_with_metrics(pipeline_args, "The re-read"))
    )
    build_reindex(pipeline, spine, model, source)
    result = pipeline.run()
    result.wait_until_finish()
    return summarize(result, source, spine, time.monotonic() - started, index_count=None)
