"""The contract between a read path and the reindex spine.

Every job is the same graph::

    source ──► upserts ──► decode ──► index ──┐
       │                     └─ dead letters ─┤
       ├──► removals ──────────► delete ──────┼─► dead letters ──► summary
       └──► the source's own dead letters ────┘

A :class:`ReindexSource` is one object per read path (parallel scan, export,
change stream). It reads the items to upsert (wire format, as
:class:`~transforms.dynamodb.scan.request.SegmentItem`) and the keys to
delete (wire format), and may emit dead letters of its own (a segment not
read to its end, a corrupt export file). After the run it turns the run's
counters into a :class:`SourceReport`: the lines and checks only it can
give. Adding a read path adds a package under ``transforms/dynamodb/`` with
one such class; the spine does not change.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import apache_beam as beam

__all__ = ["Check", "Counters", "ReindexSource", "SourceRead", "SourceReport", "SpineCounts"]

Counters = Mapping[tuple[str, str], int]
"""A run's counters: ``{(namespace, name): value}`` over all steps."""


class Check(NamedTuple):
    """One reconciliation of a run: what is checked, whether it holds, and
    (optionally) why it does not."""

    what: str
    holds: bool
    why: str = ""

    def render(self) -> str:
        verdict = "OK" if self.holds else "MISMATCH" + (f": {self.why}" if self.why else "")
        return f"check: {self.what}: {verdict}"


class SourceRead(NamedTuple):
    """What a source puts into the graph."""

    upserts: beam.PCollection
    removals: beam.PCollection
    dead_letters: beam.PCollection


@dataclasses.dataclass(frozen=True)
class SpineCounts:
    """What the stages after the source did, for the source's own checks."""

    indexed: int
    deleted: int
    dead_lettered: int


@dataclasses.dataclass
class SourceReport:
    """What a source says of a finished run.

    ``read`` is every item the source produced (``upserts + removals``);
    ``read_label`` names it in the summary (``scanned``, ``read``).
    ``head`` lines follow the title, ``tail`` lines follow the stage counts.
    ``checks`` are :class:`Check` values; ``problem`` is the one line
    saying what went wrong, or None. ``figures`` holds named numbers for
    programs (``summary.figures["pages"]``).
    """

    title: str
    read_label: str
    read: int
    upserts: int
    removals: int
    head: list[str] = dataclasses.field(default_factory=list)
    tail: list[str] = dataclasses.field(default_factory=list)
    checks: list[Check] = dataclasses.field(default_factory=list)
    problem: str | None = None
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)


class ReindexSource(abc.ABC):
    """One read path of the reindex spine.

    ``table`` names the table the items come from, ``table_arn`` its ARN
    where the source knows it (``None`` otherwise), ``key_attributes`` its key
    (hash key first), ``stage`` the dead-letter stage of the source's own
    letters, which are not items and are counted apart from them.
    """

    table: str
    table_arn: str | None = None
    key_attributes: tuple[str, ...]
    stage: str
    tally_counters: Mapping[str, Any] = {}
    """Where the runner reports no metrics, the counters to tally for each of
    the source's outputs (``"upserts"``, ``"removals"``, ``"dead_letters"``):
    ``{output: element -> [(namespace, name), ...]}``."""
    removes_undecodable: bool = False
    """Whether the spine removes the document of an item that no longer decodes
    even in a rebuild (a source that only ever updates an index in place); a
    run with ``--upsert`` removes them whatever its source."""
    current_to: str | None = None
    """The moment (ISO 8601) the index holds the table as of once this source is
    applied, where the source says (an export); None for a read of the table."""
    changes_since: str | None = None
    """For a source of the changes made since a moment (an incremental export):
    that moment, which the index must be current to."""

    @abc.abstractmethod
    def read(self, pipeline: beam.Pipeline) -> SourceRead:
        """Applies the read to ``pipeline``."""

    @abc.abstractmethod
    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        """The source's part of the summary of a finished run.

        ``result`` is the finished pipeline's result (for metrics other than
        counters), or None when no pipeline ran.
        """

    @property
    def approximate_items(self) -> int | None:
        """About how many items the source will produce (for progress), or None."""
        return None
