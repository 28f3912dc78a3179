"""Replay dead letters after a model fix: decode again, index what now fits.

Dead letters that carry the raw ``item`` are decoded again with the (fixed)
model; index-stage dead letters without an item are rebuilt from their
``document``. What still fails is written to a new dead-letter folder, so
nothing is dropped: ``read == indexed + still failing``. Where the runner
reports no metrics the counts are tallied in the pipeline, as for the
reindex (:mod:`pipeline.run_counts`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.reindex import ReindexError, load_model
from pipeline.run_counts import (
    check_tally_written,
    needs_tally,
    remove_stale_tally,
    run_totals,
    tally_path,
)
from transforms.dead_letters import ReadDeadLetters, WriteDeadLetters, read_dead_letters
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.model_attributes import fields_for_attributes
from transforms.decode.transform import DecodeItems
from transforms.dynamodb.scan.source import SegmentItem
from transforms.index import open_backend
from transforms.index.identity import IndexIdentity, refuse_other_table, write_identity
from transforms.index.write import WriteToIndex
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs
from transforms.runners.tally import EndBranches, Tally

__all__ = ["ReplayConfig", "ReplayKeyError", "ReplaySummary", "run_replay"]

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
        if held is None:  # an index new to this table says so from now on
            with open_backend(config.index) as index:
                write_identity(index, identity)
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
    records = (decoded.records, rebuilt["records"]) | "Records" >> beam.Flatten()
    written = records | "Index" >> WriteToIndex(
        config.index, id_fields=id_fields, table=table, key_attributes=key_attributes
    )
    files = (
        (
            decoded.dead_letters,
            written.dead_letters,
            split[_SplitByKind.UNREPLAYABLE],
            rebuilt[_SplitByKind.UNREPLAYABLE],
        )
        | "StillFailing" >> beam.Flatten()
        | "Write" >> WriteDeadLetters(config.still_failing)
    )
    tally = None
    if needs_tally(runner_capabilities(pipeline)):
        tally = tally_path(config.still_failing)
        counted = {"read": letters, "indexed": written.indexed} | "Tally" >> Tally(
            tally, {"read": _read, "indexed": _indexed}
        )
        _ = (counted, files) | "End" >> EndBranches()
    remove_stale_tally(tally)
    result = pipeline.run()
    result.wait_until_finish()
    check_tally_written(tally)
    totals = run_totals(result, tally, config.still_failing)
    return ReplaySummary(
        read=totals.get(("replay", "read"), 0),
        indexed=totals.get(("reindex", "indexed"), 0),
        still_failing=totals.get(("reindex", "dead_letters"), 0),
        still_failing_path=config.still_failing,
        elapsed_seconds=time.monotonic() - started,
    )
