"""Replay dead letters after a model fix: decode again, index what now fits.

Dead letters that carry the raw ``item`` are decoded again with the (fixed)
model; index-stage dead letters without an item are rebuilt from their
``document``. What still fails is written to a new dead-letter folder, so
nothing is dropped: ``read == indexed + still failing``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.reindex import ReindexError, load_model
from pipeline.summary import counter_totals
from transforms.dead_letters import ReadDeadLetters, WriteDeadLetters, read_dead_letters
from transforms.decode import DecodeItems, KeyedRecord
from transforms.model_attributes import fields_for_attributes
from transforms.scan_source import SegmentItem
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


class _SplitByKind(beam.DoFn):
    """Raw items to decode again; index-stage documents to rebuild; the rest kept."""

    DOCUMENTS = "documents"
    UNREPLAYABLE = "unreplayable"

    def process(self, letter: dict[str, Any]) -> Iterator[Any]:
        beam.metrics.Metrics.counter("replay", "read").inc()
        if letter.get("item") is not None:
            yield SegmentItem(letter.get("segment"), letter.get("total_segments"), letter["item"])
        elif letter.get("document") is not None:
            yield pvalue.TaggedOutput(self.DOCUMENTS, letter)
        else:
            yield pvalue.TaggedOutput(self.UNREPLAYABLE, letter)


def _rebuild(letter: dict[str, Any], model: type) -> Iterator[Any]:
    """The record of an index-stage dead letter (with the letter's key, when it
    has one); if it no longer parses, the letter."""
    try:
        record = model.from_json(letter["document"])
        yield record if letter.get("key") is None else KeyedRecord(letter["key"], record)
    except Exception as error:
        yield pvalue.TaggedOutput(
            _SplitByKind.UNREPLAYABLE,
            dict(letter, error=f"document no longer parses: {error}"),
        )


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
    split = (
        pipeline
        | "Read" >> ReadDeadLetters(config.dead_letters)
        | "Split"
        >> beam.ParDo(_SplitByKind()).with_outputs(
            _SplitByKind.DOCUMENTS, _SplitByKind.UNREPLAYABLE, main="items"
        )
    )
    decoded = split.items | "Decode" >> DecodeItems(
        model,
        table=first.get("table"),
        key_attributes=key_attributes,
        items_carry_segment=True,
        with_keys=True,
    )
    rebuilt = split[_SplitByKind.DOCUMENTS] | "Rebuild" >> beam.FlatMap(
        _rebuild, model
    ).with_outputs(_SplitByKind.UNREPLAYABLE, main="records")
    records = (decoded.records, rebuilt.records) | "Records" >> beam.Flatten()
    written = records | "Index" >> WriteToIndex(
        config.index, id_fields=id_fields, table=first.get("table"), key_attributes=key_attributes
    )
    _ = (
        (
            decoded.dead_letters,
            written.dead_letters,
            split[_SplitByKind.UNREPLAYABLE],
            rebuilt[_SplitByKind.UNREPLAYABLE],
        )
        | "StillFailing" >> beam.Flatten()
        | "Write" >> WriteDeadLetters(config.still_failing)
    )
    result = pipeline.run()
    result.wait_until_finish()
    totals = counter_totals(result)
    return ReplaySummary(
        read=totals.get(("replay", "read"), 0),
        indexed=totals.get(("reindex", "indexed"), 0),
        still_failing=totals.get(("reindex", "dead_letters"), 0),
        still_failing_path=config.still_failing,
        elapsed_seconds=time.monotonic() - started,
    )
