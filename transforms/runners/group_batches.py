"""``GroupBatches``: elements grouped into batches of at most N by a ``GroupByKey``.

A sink that buffers elements and writes its last partial batch in
``finish_bundle`` loses what that write emits (ids written, dead letters) on a
runner that drops the outputs of ``finish_bundle`` (Beam 2.77's Dask runner).
Grouping first makes each batch one element, written whole in ``process``.

Each bundle numbers its elements; element ``n`` of a bundle goes to the group
``(bundle number, n // batch_size)``, so a group holds at most ``batch_size``
elements of one bundle (twice that where two bundles start with the same
element). The bundle number is a hash of its first element's identity
(``identity``, by default ``repr``; a text that does not depend on the
process, e.g. an item's key), not a random number: a runner that computes a
bundle again after losing a worker (Dask recomputes a lost partition while
the groups made from its first computation are already being read) must key
its elements as the first time, or some of them would be grouped twice and
others never. The keys are pairs of ints, which every runner partitions
alike in every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam

__all__ = ["GroupBatches", "bundle_number"]


def bundle_number(identity: str) -> int:
    """A 62-bit number of ``identity``, the same in every process and run."""
    digest = hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


class _KeyByBatch(beam.DoFn):
    def __init__(self, batch_size: int, identity: Callable[[Any], str]):
        self._batch_size = batch_size
        self._identity = identity
        self._bundle: int | None = None
        self._count = 0

    def start_bundle(self) -> None:
        self._bundle = None
        self._count = 0

    def process(self, element: Any) -> Iterator[tuple[tuple[int, int], Any]]:
        if self._bundle is None:
            self._bundle = bundle_number(self._identity(element))
        yield (self._bundle, self._count // self._batch_size), element
        self._count += 1


def _batch(keyed: tuple[Any, Any]) -> list[Any]:
    return list(keyed[1])


class GroupBatches(beam.PTransform):
    """``PCollection[T] -> PCollection[list[T]]``, lists of at most ``batch_size``.

    ``identity(element)``: a text naming the element the same way in every
    process (default ``repr``, which is not, for elements holding sets).
    """

    def __init__(self, batch_size: int, identity: Callable[[Any], str] = repr):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._batch_size = batch_size
        self._identity = identity

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "KeyByBatch" >> beam.ParDo(_KeyByBatch(self._batch_size, self._identity))
            | "Group" >> beam.GroupByKey()
            | "Batches" >> beam.Map(_batch)
        )
