"""``Tally``: counters made in the pipeline and written to a file, for runners without metrics.

A job that reports counts at its end reads them from the runner's metrics.
Where a runner reports none (Beam 2.77's Dask runner), the job counts in the
pipeline instead::

    {"items": items, "letters": dead_letters} | Tally(
        "out/dead/reindex-counts.json",
        {"items": lambda item: [("dynamodb", "items")],
         "letters": lambda letter: [("reindex", "dead_letters")]},
    )
    totals = read_tally("out/dead/reindex-counts.json")   # {("dynamodb", "items"): 1200, ...}

Each element of a named PCollection adds 1 to every counter, a
``(namespace, name)`` pair like a Beam metric's, that the PCollection's
function names for it. Each PCollection's counts are summed through its own
``CombinePerKey`` (a runner without combiner lifting shuffles each
PCollection's partitions apart rather than all of them together), and the
totals are written as one JSON file by one ``GroupByKey`` group: no side
input, nothing emitted in ``finish_bundle``. The file is written even when
nothing was counted.

:class:`EndBranches` is a last step that depends on every branch given (the
tally, the files a sink wrote...), for a runner that runs only the branch
ending in the last step applied (Beam's Dask runner): a ``Flatten`` and a
``Map``, no ``GroupByKey``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

__all__ = ["Counter", "EndBranches", "Tally", "read_tally"]

Counter = tuple[str, str]
"""A counter's ``(namespace, name)``."""


def _ones(element: Any, counters: Callable[[Any], Iterable[Counter]]) -> Iterator[Any]:
    for counter in counters(element):
        yield counter, 1


def _write_totals(group: tuple[int, Iterable[Any]], path: str) -> str:
    sums: dict[Counter, int] = {}
    for counter, total in (entry for entry in group[1] if entry is not None):
        sums[counter] = sums.get(counter, 0) + total
    totals = sorted([*counter, total] for counter, total in sums.items())
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    out = FileSystems.create(temporary)
    try:
        out.write(json.dumps(totals).encode("utf-8"))
    finally:
        out.close()
    FileSystems.rename([temporary], [path])
    return path


class Tally(beam.PTransform):
    """``{label: PCollection} -> PCollection`` of ``path``, once the totals are written.

    ``counters`` maps each label of the input to a picklable function naming
    the counters an element of that PCollection adds 1 to.
    """

    def __init__(self, path: str, counters: Mapping[str, Callable[[Any], Iterable[Counter]]]):
        super().__init__()
        if not isinstance(path, str) or not path:
            raise ValueError(f"tally path must be a non-empty string, got {path!r}")
        self._path = path
        self._counters = dict(counters)

    def expand(self, pcolls: Mapping[str, beam.PCollection]) -> beam.PCollection:
        if set(pcolls) != set(self._counters):
            raise ValueError(
                f"Tally counts {sorted(self._counters)} but was given {sorted(pcolls)}"
            )
        sums = [
            pcolls[label]
            | f"Count {label}" >> beam.FlatMap(_ones, counters)
            | f"Sum {label}" >> beam.CombinePerKey(sum)
            for label, counters in self._counters.items()
        ]
        pipeline = next(iter(pcolls.values())).pipeline
        always = pipeline | "EvenWithout" >> beam.Create([None])
        return (
            (*sums, always)
            | "Together" >> beam.Flatten()
            | "ToTheFile" >> beam.Map(lambda total: (0, total))
            | "ByFile" >> beam.GroupByKey()
            | "Write" >> beam.Map(_write_totals, self._path)
        )


def _nothing(_: Any) -> Iterator[Any]:
    return iter(())


class EndBranches(beam.PTransform):
    """``[PCollection, ...] -> PCollection`` (empty): one step after every branch given."""

    def expand(self, branches: Iterable[beam.PCollection]) -> beam.PCollection:
        return tuple(branches) | "Together" >> beam.Flatten() | "End" >> beam.FlatMap(_nothing)


def read_tally(path: str) -> dict[Counter, int]:
    """The totals a :class:`Tally` wrote to ``path``."""
    with FileSystems.open(path) as stream:
        rows = json.loads(stream.read().decode("utf-8"))
    return {(namespace, name): total for namespace, name, total in rows}
