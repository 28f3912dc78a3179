"""A page's elements handed between fused steps as one batch.

Beam passes every element of a PCollection through each step on its own, at
about half a microsecond per element and step on the local engine; a scan
emits its items a page (up to 1 MB, thousands of items) at a time. Where the
runner runs Beam's batched DoFns (:attr:`RunnerCapabilities.batches`: the
Python SDK harness of the local engine, Dataflow, Flink and other portable
runners), the scan therefore emits each page as one :class:`Page` element,
:class:`Unpage` turns it into a :class:`RecordBatch`, and steps that define
``process_batch`` (``DecodeItems``) take the batch whole. The PCollection is
still one of items: a step without ``process_batch`` gets them one by one,
exploded by Beam, and what a pipeline computes does not change.

Beam estimates the byte size of what passes between steps by encoding some
elements: for a :class:`Page` or a batch of records that would pickle
thousands of objects per sample. A page therefore reports the size of the
Scan response it came in, and so does the batch made of it; other batches
report none (sizes are only metrics). :class:`Page` has a coder of its own
for where a runner does cut the steps apart (it pickles the items).
"""

import pickle
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.typehints.batch import BatchConverter

__all__ = ["Page", "RecordBatch", "Unpage"]


class RecordBatch(list):
    """Elements of one PCollection handed on together (Beam's batch type);
    ``byte_size``, where known, the size of what they were read from."""

    __slots__ = ("byte_size",)

    def __init__(self, elements: Iterable[Any] = (), byte_size: int = 0):
        super().__init__(elements)
        self.byte_size = byte_size


class _RecordBatchConverter(BatchConverter):
    """Beam's view of :class:`RecordBatch`: a list whose size is not estimated."""

    def __init__(self, element_type: Any, batch_type: Any):
        super().__init__(batch_type, element_type)

    def produce_batch(self, elements: Iterable[Any]) -> RecordBatch:
        return RecordBatch(elements)

    def explode_batch(self, batch: RecordBatch) -> Iterator[Any]:
        return iter(batch)

    def combine_batches(self, batches: Iterable[RecordBatch]) -> RecordBatch:
        return RecordBatch(element for batch in batches for element in batch)

    def get_length(self, batch: RecordBatch) -> int:
        return len(batch)

    def estimate_byte_size(self, batch: RecordBatch) -> int:
        return getattr(batch, "byte_size", 0)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.element_type == self.element_type

    def __hash__(self) -> int:
        return hash((type(self), self.element_type))


@BatchConverter.register(name="record_batch")
def _converter(element_type: Any, batch_type: Any) -> BatchConverter:
    if batch_type is not RecordBatch:
        raise TypeError("batch type must be RecordBatch")
    return _RecordBatchConverter(element_type, batch_type)


class Page:
    """The items of one Scan page, as one element; ``byte_size``: the response's."""

    __slots__ = ("byte_size", "items")

    def __init__(self, items: list[Any], byte_size: int = 0):
        self.items = items
        self.byte_size = byte_size

    def __eq__(self, other: object) -> bool:
        return type(other) is Page and (other.items, other.byte_size) == (
            self.items,
            self.byte_size,
        )

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items)"


class _PageCoder(beam.coders.Coder):
    """Pickles a page; its size is its response's (see the module docstring)."""

    def encode(self, page: Page) -> bytes:
        return pickle.dumps((page.items, page.byte_size), protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Page:
        return Page(*pickle.loads(encoded))

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, page: Page) -> int:
        return page.byte_size


beam.coders.registry.register_coder(Page, _PageCoder)


class Unpage(beam.DoFn):
    """Each :class:`Page` as a :class:`RecordBatch` of its items."""

    def infer_output_type(self, input_type: Any) -> Any:
        return Any

    @beam.DoFn.yields_batches
    def process(self, page: Page) -> Iterator[RecordBatch]:
        if page.items:
            yield RecordBatch(page.items, page.byte_size)
