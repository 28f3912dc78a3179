"""``DecodeItems``: wire-format items to model instances, failures to dead letters.

Example::

    decoded = items | DecodeItems(Work, table="works", key_attributes=("id",))
    decoded.records        # PCollection of Work
    decoded.dead_letters   # PCollection of dead-letter dicts (stage "decode")

Decoding is strict (see :mod:`transforms.decoder`): an item that does not fit
the model is never emitted half-right; it becomes a dead letter carrying the
raw item, its key, the failing field's path and the reason.

The worker's garbage-collector threshold is raised when the DoFn is set up
(:mod:`transforms.gc_thresholds`): with the default, collections of the many
short-lived records cost more than decoding them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dead_letters import dead_letter, model_name
from transforms.decoder import DecodeError, compile_decoder
from transforms.gc_thresholds import raise_young_threshold
from transforms.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs
from transforms.wire import key_of

__all__ = ["DeadLetterThresholdExceeded", "DecodeItems", "DecodeResult"]

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "reindex"


class DecodeResult(NamedTuple):
    records: beam.PCollection
    dead_letters: beam.PCollection


class _DecodeFn(TaggedOutputsDoFn):
    """Decodes items (or :class:`SegmentItem`s); failures go to ``DEAD_LETTERS``."""

    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        model: type,
        table: str | None,
        key_attributes: tuple[str, ...],
        forbid_unknown: bool,
        items_carry_segment: bool,
    ):
        self._model = model
        self._table = table
        self._key_attributes = key_attributes
        self._forbid_unknown = forbid_unknown
        self._items_carry_segment = items_carry_segment
        self._decode = None

    def setup(self) -> None:
        raise_young_threshold()
        self._decode = compile_decoder(self._model, forbid_unknown=self._forbid_unknown)
        self._decoded = Metrics.counter(METRICS_NAMESPACE, "decoded")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "decode_failed")

    def process(self, element: Any) -> Iterator[Any]:
        if self._items_carry_segment:
            segment, total_segments, item = element
        else:
            segment = total_segments = None
            item = element
        try:
            record = self._decode(item)
        except DecodeError as error:
            kind, message, field = error.error_type, error.message, error.field
        except Exception as error:  # a decoder bug must not lose the item either
            kind, message, field = type(error).__name__, str(error) or repr(error), None
        else:
            self._decoded.inc()
            yield record
            return
        self._failed.inc()
        yield self.tagged(
            self.DEAD_LETTERS,
            dead_letter(
                "decode",
                error_type=kind,
                error=message,
                item=item,
                field=field,
                table=self._table,
                key=key_of(item, self._key_attributes) if self._key_attributes else None,
                segment=segment,
                total_segments=total_segments,
                model=model_name(self._model),
            ),
        )


class DecodeItems(beam.PTransform):
    """Decodes DynamoDB items into instances of a dataclasses-json ``model``.

    Args:
      model: a dataclass declared with dataclasses-json.
      table, key_attributes: recorded in dead letters (the key is taken from
        the raw item).
      forbid_unknown: refuse attributes the model does not declare.
      items_carry_segment: the input holds :class:`SegmentItem`s
        (``ReadFromDynamoDB(..., with_segments=True)``), so dead letters can
        name the segment.
      max_dead_letter_fraction: fail the job when a larger share of the items
        does not decode (like Beam's ``with_exception_handling(threshold=...)``).
        The check runs once all items are decoded; the dead letters are still
        written, so nothing is lost.
    """

    def __init__(
        self,
        model: type,
        *,
        table: str | None = None,
        key_attributes: Sequence[str] = (),
        forbid_unknown: bool = False,
        items_carry_segment: bool = False,
        max_dead_letter_fraction: float | None = None,
    ):
        super().__init__()
        if max_dead_letter_fraction is not None and not 0 <= max_dead_letter_fraction < 1:
            raise ValueError(
                f"max_dead_letter_fraction must be in [0, 1), got {max_dead_letter_fraction}"
            )
        self._max_fraction = max_dead_letter_fraction
        compile_decoder(model, forbid_unknown=forbid_unknown)  # fails early on unusable models
        self._fn = _DecodeFn(
            model, table, tuple(key_attributes), forbid_unknown, items_carry_segment
        )

    def expand(self, items: beam.PCollection) -> DecodeResult:
        outputs = par_do_with_outputs(items, "Decode", self._fn, "records", _DecodeFn.DEAD_LETTERS)
        records, dead_letters = outputs["records"], outputs[_DecodeFn.DEAD_LETTERS]
        if self._max_fraction is not None:
            _ = (
                (
                    records | "CountDecoded" >> beam.Map(lambda _: (1, 0)),
                    dead_letters | "CountFailed" >> beam.Map(lambda _: (0, 1)),
                )
                | "Counts" >> beam.Flatten()
                | "Totals" >> beam.CombineGlobally(_add_pairs)
                | "Threshold" >> beam.Map(_check_threshold, self._max_fraction)
            )
        return DecodeResult(records, dead_letters)


class DeadLetterThresholdExceeded(RuntimeError):
    """More items failed to decode than ``max_dead_letter_fraction`` allows."""


def _add_pairs(pairs) -> tuple[int, int]:
    decoded = failed = 0
    for one, other in pairs:
        decoded += one
        failed += other
    return decoded, failed


def _check_threshold(totals: tuple[int, int], max_fraction: float) -> tuple[int, int]:
    decoded, failed = totals
    total = decoded + failed
    if total and failed / total > max_fraction:
        raise DeadLetterThresholdExceeded(
            f"DeadLetterThresholdExceeded: {failed:,} of {total:,} items "
            f"({failed / total:.1%}) did not decode, more than the allowed "
            f"{max_fraction:.1%}; see the dead letters for what to fix"
        )
    return totals
