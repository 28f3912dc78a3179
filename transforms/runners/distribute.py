"""``Distribute``: a few work elements (segments, data files) spread over the workers.

A source that creates one element per unit of work gets its parallelism from
spreading those elements, not from the runner splitting an initial
restriction (which Beam lets a runner skip). Where ``Reshuffle``
redistributes, the elements are created and reshuffled. Where it does
nothing (Beam 2.77's Dask runner, which runs up to 128 ``Create`` elements as
one partition), each element gets a ``Create`` of its own, and the runner runs
each as its own partition; beyond ``MAX_CREATES`` elements they are dealt
round-robin into that many ``Create`` steps. That runner shuffles every
partition of its input in each ``GroupByKey`` (and a ``Flatten`` adds up
partitions), so each partition more makes every later grouping dearer.

Where the elements go straight into a splittable DoFn (``into_splittable``)
on a runner that spreads a splittable DoFn's restrictions over its workers
itself (Beam's local engine: its restrictions are a stage's output, cut into
one part per worker), they are only created: a ``Reshuffle`` there would add
stages and move nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from transforms.runners.capabilities import runner_capabilities

__all__ = ["MAX_CREATES", "Distribute"]

MAX_CREATES = 64
"""At most this many ``Create`` steps (partitions) where ``Reshuffle`` does not redistribute:
enough to keep a few dozen workers busy."""


class Distribute(beam.PTransform):
    """``PBegin -> PCollection`` of ``elements``, spread over the workers (see the module)."""

    def __init__(
        self,
        elements: Sequence[Any],
        *,
        separate_creates: bool | None = None,
        into_splittable: bool = False,
    ):
        """``separate_creates`` forces one shape; by default the runner decides.
        ``into_splittable``: the elements are the input of a splittable DoFn."""
        super().__init__()
        self._elements = list(elements)
        self._separate = separate_creates
        self._into_splittable = into_splittable

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        capabilities = runner_capabilities(pbegin.pipeline)
        if self._into_splittable and capabilities.spreads_restrictions:
            return pbegin | "Create" >> beam.Create(self._elements, reshuffle=False)
        separate = self._separate
        if separate is None:
            separate = not capabilities.redistributes
        if not separate or len(self._elements) <= 1:
            return (
                pbegin
                | "Create" >> beam.Create(self._elements)
                | "Redistribute" >> beam.Reshuffle()
            )
        groups = [self._elements[n::MAX_CREATES] for n in range(MAX_CREATES)]
        parts = [
            pbegin | f"Create{number}" >> beam.Create(group)
            for number, group in enumerate(groups)
            if group
        ]
        return parts | "Together" >> beam.Flatten()
