"""The share of undecodable items a job accepts, enforced once the dead letters are kept.

``DecodeItems(..., max_dead_letter_fraction=f)`` counts decoded and failed
items (``totals``) and fails the job when ``failed / (decoded + failed) > f``.
Failing the job aborts everything still running, so where the check runs
decides what is kept:

* When the dead letters reach a ``WriteDeadLetters`` (directly or through
  ``Flatten``, ``Map``...), that transform finds the threshold upstream
  (:func:`thresholds_upstream`) and runs the check after its files are
  written and committed: the check takes the written file names as a side
  input, so it cannot run before them. The job then fails with every dead
  letter on disk and the message names the folder.
* Otherwise the check runs as soon as all items are decoded, and the
  message says the dead letters were not kept by a ``WriteDeadLetters``.

Both checks are added to the graph; the one that does not apply passes its
totals through without raising (the decision is made while the graph is
built, before the pipeline runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam import pvalue

__all__ = [
    "DeadLetterThreshold",
    "DeadLetterThresholdExceeded",
    "add_threshold",
    "thresholds_upstream",
]

_ATTRIBUTE = "_dead_letter_thresholds"


class DeadLetterThresholdExceeded(RuntimeError):
    """More items failed to decode than ``max_dead_letter_fraction`` allows."""


def _add_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    decoded = failed = 0
    for one, other in pairs:
        decoded += one
        failed += other
    return decoded, failed


class _CheckTotals(beam.DoFn):
    """Raises :class:`DeadLetterThresholdExceeded` when ``(decoded, failed)`` is over the limit.

    ``kept_in``: the dead-letter folder written before this check runs
    (``None``: the dead letters are not written by ``WriteDeadLetters``).
    ``passes``: set while the graph is built when another check applies.
    """

    def __init__(self, max_fraction: float, kept_in: str | None = None):
        self.max_fraction = max_fraction
        self.kept_in = kept_in
        self.passes = False

    def process(self, totals: tuple[int, int], *_written) -> Iterator[tuple[int, int]]:
        decoded, failed = totals
        total = decoded + failed
        if not self.passes and total and failed / total > self.max_fraction:
            if self.kept_in is None:
                advice = (
                    "the dead letters were not written by a WriteDeadLetters, so they were not kept"
                )
            else:
                advice = f"see the dead letters in {self.kept_in} for what to fix"
            raise DeadLetterThresholdExceeded(
                f"DeadLetterThresholdExceeded: {failed:,} of {total:,} items "
                f"({failed / total:.1%}) did not decode, more than the allowed "
                f"{self.max_fraction:.1%}; {advice}"
            )
        yield totals


class DeadLetterThreshold:
    """The check of one ``DecodeItems``: its totals, its limit, where it runs."""

    def __init__(self, totals: beam.PCollection, max_fraction: float, label: str):
        self.totals = totals
        self.max_fraction = max_fraction
        self._early = _CheckTotals(max_fraction)
        self._moved = False
        _ = totals | label >> beam.ParDo(self._early)

    def enforce_after(self, written: beam.PCollection, folder: str, label: str) -> bool:
        """Moves the check after ``written`` (the dead-letter files of ``folder``).

        Returns False if it was moved already (another ``WriteDeadLetters``).
        """
        if self._moved:
            return False
        self._moved = True
        self._early.passes = True
        _ = self.totals | label >> beam.ParDo(
            _CheckTotals(self.max_fraction, folder), pvalue.AsList(written)
        )
        return True


def add_threshold(
    records: beam.PCollection, dead_letters: beam.PCollection, max_fraction: float
) -> DeadLetterThreshold:
    """Counts ``records`` and ``dead_letters`` and checks their share (see the module).

    Marks ``dead_letters`` so that a ``WriteDeadLetters`` downstream finds the check.
    """
    totals = (
        (
            records | "CountDecoded" >> beam.Map(lambda _: (1, 0)),
            dead_letters | "CountFailed" >> beam.Map(lambda _: (0, 1)),
        )
        | "Counts" >> beam.Flatten()
        | "Totals" >> beam.CombineGlobally(_add_pairs)
    )
    threshold = DeadLetterThreshold(totals, max_fraction, "Threshold")
    setattr(dead_letters, _ATTRIBUTE, (*getattr(dead_letters, _ATTRIBUTE, ()), threshold))
    return threshold


def thresholds_upstream(pcoll: beam.PCollection) -> list[DeadLetterThreshold]:
    """The thresholds of every marked PCollection ``pcoll`` is computed from, itself included."""
    found: list[DeadLetterThreshold] = []
    seen: set[int] = set()
    stack = [pcoll]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.extend(getattr(current, _ATTRIBUTE, ()))
        producer = getattr(current, "producer", None)
        if producer is not None:
            stack.extend(p for p in producer.inputs if isinstance(p, beam.PCollection))
    return found
