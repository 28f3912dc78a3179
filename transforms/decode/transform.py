"""``DecodeItems``: wire-format items to model instances, failures to dead letters.

Example::

    decoded = items | DecodeItems(Work, table="works", key_attributes=("id",))
    decoded.records        # PCollection of Work
    decoded.dead_letters   # PCollection of dead-letter dicts (stage "decode")

Items that ``ReadFromDynamoDB(..., decode_at_read=...)`` decoded as it read
them arrive as KeyedRecords and are passed on as they are; the rest are
decoded here. Where the scan hands its pages on as batches
(:mod:`transforms.runners.record_batches`), a page's items are taken at once
and its records and dead letters leave as two batches.

With ``with_keys=True`` the records are :class:`~transforms.decode.keyed_record.KeyedRecord`
(the item's wire-format key and the record), from which ``WriteToIndex``
takes document ids: whatever type the model gives its key field.

Decoding is strict (see :mod:`transforms.decode.decoder`): an item that does not fit
the model is never emitted half-right; it becomes a dead letter carrying the
raw item, its key, the failing field's path and the reason.

The worker's garbage-collector threshold is raised from the DoFn's setup to
its teardown (:mod:`transforms.decode.gc_thresholds`): with the default, collections
of the many short-lived records cost more than decoding them.
"""

import logging
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.dead_letter_threshold import DeadLetterThresholdExceeded, add_threshold
from transforms.dead_letters import dead_letter, model_name
from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.decode.gc_thresholds import (
    hold_young_threshold,
    release_young_threshold,
)
from transforms.decode.keyed_record import KeyedRecord
from transforms.dynamodb.wire import key_of
from transforms.runners.record_batches import RecordBatch
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs

__all__ = ["DeadLetterThresholdExceeded", "DecodeItems", "DecodeResult", "KeyedRecord"]

_LOGGER = logging.getLogger(__name__)

METRICS_NAMESPACE = "reindex"


class DecodeResult(NamedTuple):
    records: beam.PCollection
    dead_letters: beam.PCollection


class _Failed(NamedTuple):
    """An item that did not decode: its dead letter."""

    letter: dict[str, Any]


class _DecodeFn(TaggedOutputsDoFn):
    """Decodes items (or :class:`SegmentItem`s); failures go to ``DEAD_LETTERS``."""

    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        model: type,
        table: str | None,
        key_attributes: tuple[str, ...],
        forbid_unknown: bool,
        with_keys: bool = False,
    ):
        self._model = model
        self._table = table
        self._key_attributes = key_attributes
        self._forbid_unknown = forbid_unknown
        self._with_keys = with_keys
        self._decode = None
        self._holds_gc_threshold = False

    def setup(self) -> None:
        hold_young_threshold()
        self._holds_gc_threshold = True
        self._decode = compile_decoder(self._model, forbid_unknown=self._forbid_unknown)
        self._decoded = Metrics.counter(METRICS_NAMESPACE, "decoded")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "decode_failed")

    def teardown(self) -> None:
        if self._holds_gc_threshold:
            self._holds_gc_threshold = False
            release_young_threshold()

    def infer_output_type(self, input_type: Any) -> Any:
        return Any

    def process(self, element: Any) -> Iterator[Any]:
        outcome = self._outcome(element)
        if type(outcome) is _Failed:
            self._failed.inc()
            yield self.tagged(self.DEAD_LETTERS, outcome.letter)
        else:
            self._decoded.inc()
            yield outcome

    def process_batch(self, batch: RecordBatch) -> Iterator[RecordBatch]:
        """A page's items at once (see :mod:`transforms.runners.record_batches`):
        the records as one batch, the dead letters as another."""
        records, letters = RecordBatch(), RecordBatch()
        for element in batch:
            outcome = self._outcome(element)
            if type(outcome) is _Failed:
                letters.append(outcome.letter)
            else:
                records.append(outcome)
        if records:
            self._decoded.inc(len(records))
            yield records
        if letters:
            self._failed.inc(len(letters))
            yield pvalue.TaggedOutput(self.DEAD_LETTERS, letters)

    def _outcome(self, element: Any) -> Any:
        """What ``element`` becomes: its record (or :class:`KeyedRecord`), or a
        :class:`_Failed` holding its dead letter."""
        if isinstance(element, tuple) and len(element) == 3:  # a SegmentItem, either way
            segment, total_segments, item = element
        else:
            segment = total_segments = None
            item = element
        if type(item) is KeyedRecord:  # decoded as it was read (DecodeAtRead)
            return self._decoded_at_read(item)
        try:
            record = self._decode(item)
        except DecodeError as error:
            kind, message, field = error.error_type, error.message, error.field
        except Exception as error:  # a decoder bug must not lose the item either
            kind, message, field = type(error).__name__, str(error) or repr(error), None
        else:
            if self._with_keys:
                return KeyedRecord(key_of(item, self._key_attributes), record)
            return record
        return _Failed(
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
            )
        )

    def _decoded_at_read(self, keyed: KeyedRecord) -> Any:
        """A record the scan decoded (``DecodeAtRead``), passed on as this
        transform would have emitted it."""
        key = keyed.key
        if type(keyed.record) is not self._model or (
            key is not None and tuple(key) != self._key_attributes
        ):
            raise TypeError(
                f"an item decoded at read into {type(keyed.record).__qualname__} reached "
                f"DecodeItems({self._model.__qualname__}): give ReadFromDynamoDB's "
                "decode_at_read the model, key attributes and forbid_unknown of this DecodeItems"
            )
        return keyed if self._with_keys else keyed.record


class DecodeItems(beam.PTransform):
    """Decodes DynamoDB items into instances of a dataclasses-json ``model``.

    Args:
      model: a dataclass declared with dataclasses-json.
      table, key_attributes: recorded in dead letters (the key is taken from
        the raw item).
      forbid_unknown: refuse attributes the model does not declare.
      items_carry_segment: the input holds :class:`SegmentItem`s
        (``ReadFromDynamoDB(..., with_segments=True)``), so dead letters can
        name the segment. Each element is taken for what it is, so a
        ``SegmentItem`` without the flag, or an item with it, is read all the
        same; the flag says what the input is expected to hold.
      with_keys: emit :class:`KeyedRecord` (the item's key in wire format, in
        ``key_attributes`` order, and the record) instead of bare records, so
        ``WriteToIndex`` takes document ids from the raw key. Needs
        ``key_attributes``.
      max_dead_letter_fraction: fail the job when a larger share of the items
        does not decode (like Beam's ``with_exception_handling(threshold=...)``).
        When the dead letters go to a ``WriteDeadLetters``, the check runs
        after that transform has written them, so a failed job keeps every
        dead letter; otherwise once all items are decoded
        (:mod:`transforms.dead_letter_threshold`).
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
        with_keys: bool = False,
    ):
        super().__init__()
        if isinstance(key_attributes, str):
            raise TypeError(
                f"key_attributes must be a sequence of names, e.g. ({key_attributes!r},)"
            )
        if with_keys and not key_attributes:
            raise ValueError("with_keys needs key_attributes, e.g. ('id',) or ('pk', 'sk')")
        if max_dead_letter_fraction is not None and not 0 <= max_dead_letter_fraction < 1:
            raise ValueError(
                f"max_dead_letter_fraction must be in [0, 1), got {max_dead_letter_fraction}"
            )
        self._max_fraction = max_dead_letter_fraction
        compile_decoder(model, forbid_unknown=forbid_unknown)  # fails early on unusable models
        self._fn = _DecodeFn(model, table, tuple(key_attributes), forbid_unknown, with_keys)

    def expand(self, items):  # no annotations: Beam would read them as type hints
        outputs = par_do_with_outputs(items, "Decode", self._fn, "records", _DecodeFn.DEAD_LETTERS)
        records, dead_letters = outputs["records"], outputs[_DecodeFn.DEAD_LETTERS]
        if self._max_fraction is not None:
            add_threshold(records, dead_letters, self._max_fraction)
        return DecodeResult(records, dead_letters)
