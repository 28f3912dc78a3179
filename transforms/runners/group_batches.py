"""``GroupBatches``: elements grouped into batches of at most N by a ``GroupByKey``.

A sink that buffers elements and writes its last partial batch in
``finish_bundle`` loses what that write emits (ids written, dead letters) on a
runner that drops the outputs of ``finish_bundle`` (Beam 2.77's Dask runner).
Grouping first makes each batch one element, written whole in ``process``.

Each bundle numbers its elements; element ``n`` of a bundle goes to the group
``(bundle number, n // batch_size)``, so a group holds at most ``batch_size``
elements of one bundle. The keys are pairs of ints, which every runner
partitions alike in every process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

__all__ = ["GroupBatches"]


class _KeyByBatch(beam.DoFn):
    def __init__(self, batch_size: int):
        self._batch_size = batch_size
        self._bundle = 0
        self._count = 0

    def start_bundle(self) -> None:
        self._bundle = random.getrandbits(62)
        self._count = 0

    def process(self, element: Any) -> Iterator[tuple[tuple[int, int], Any]]:
        yield (self._bundle, self._count // self._batch_size), element
        self._count += 1


def _batch(keyed: tuple[Any, Any]) -> list[Any]:
    return list(keyed[1])


class GroupBatches(beam.PTransform):
    """``PCollection[T] -> PCollection[list[T]]``, lists of at most ``batch_size``."""

    def __init__(self, batch_size: int):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._batch_size = batch_size

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "KeyByBatch" >> beam.ParDo(_KeyByBatch(self._batch_size))
            | "Group" >> beam.GroupByKey()
            | "Batches" >> beam.Map(_batch)
        )
