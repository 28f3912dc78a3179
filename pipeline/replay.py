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
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.reindex import ReindexError, load_model
from pipeline.run_counts import needs_tally, run_totals, tally_path
from transforms.dead_letters import ReadDeadLetters, WriteDeadLetters, read_dead_letters
from transforms.decode import DecodeItems
from transforms.model_attributes import fields_for_attributes
from transforms.runner_capabilities import runner_capabilities
from transforms.scan_source import SegmentItem
from transforms.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs
from transforms.tally import EndBranches, Tally
from transforms.write_index import WriteToIndex

__all__ = ["ReplayConfig", "ReplaySummary", "run_replay"]


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    dead_letters: str
    model: str
    index: str
    still_failing: str


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
    """The record of an index-stage dead letter; if it no longer parses, the letter."""

    def __init__(self, model: type):
        self._model = model

    def process(self, letter: dict[str, Any]) -> Iterator[Any]:
        try:
            yield self._model.from_json(letter["document"])
        except Exception as error:
            yield self.tagged(
                _SplitByKind.UNREPLAYABLE,
                dict(letter, error=f"document no longer parses: {error}"),
            )


def _read(_) -> list[tuple[str, str]]:
    return [("replay", "read")]


def _indexed(_) -> list[tuple[str, str]]:
    return [("reindex", "indexed")]


def _first_letter(pattern: str) -> dict[str, Any] | None:
    """The first dead letter, after reading every line once: a corrupt line anywhere
    is then one clear error before the job starts, not a failed job."""
    first = None
    for letter in read_dead_letters(pattern):
        if first is None:
            first = letter
    return first


def run_replay(config: ReplayConfig, pipeline_args: list[str]) -> ReplaySummary:
    model = load_model(config.model)
    first = _first_letter(config.dead_letters)
    if first is None:
        raise ReindexError(f"no dead letters in {config.dead_letters!r}: nothing to replay")
    key_attributes = tuple((first.get("key") or {}).keys()) or ("id",)
    try:
        id_fields = fields_for_attributes(model, key_attributes)
    except ValueError as error:
        raise ReindexError(str(error)) from error
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
        model, table=first.get("table"), key_attributes=key_attributes, items_carry_segment=True
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
        config.index, id_fields=id_fields, table=first.get("table")
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
    result = pipeline.run()
    result.wait_until_finish()
    totals = run_totals(result, tally, config.still_failing)
    return ReplaySummary(
        read=totals.get(("replay", "read"), 0),
        indexed=totals.get(("reindex", "indexed"), 0),
        still_failing=totals.get(("reindex", "dead_letters"), 0),
        still_failing_path=config.still_failing,
        elapsed_seconds=time.monotonic() - started,
    )
