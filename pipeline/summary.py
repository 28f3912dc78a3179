"""The end-of-run report of a reindex, built from the pipeline's counters.

The spine's part is the same for every source: items decoded, dead-lettered,
indexed and deleted, stage by stage::

    upserts            == decoded + decode dead letters
    decoded + removals == indexed + deleted + index dead letters

The source adds its own lines and checks (a scan: every segment read to its
end and ``scanned == indexed + dead-lettered``; an export: the manifests'
count read whole). The run is accounted for when every check holds.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from transforms.dynamodb.source import Check, Counters, ReindexSource, SourceReport, SpineCounts
from transforms.index.identity import shown_uri

__all__ = [
    "UNDECODABLE_REMOVED",
    "ReindexSummary",
    "counter_totals",
    "summarize",
]

UNDECODABLE_REMOVED = "undecodable_removed"
"""Counter (namespace ``reindex``) of documents removed because their item no longer decodes."""

ITEM_STAGES = ("decode", "index")
"""Dead-letter stages whose letters are items (a source's own letters are not)."""


def counter_totals(result) -> dict[tuple[str, str], int]:
    """``{(namespace, name): value}`` over all steps; committed where known.

    ``result`` may be None (no pipeline ran): no counters.
    """
    totals: dict[tuple[str, str], int] = {}
    if result is None:
        return totals
    try:
        counters = result.metrics().query(MetricsFilter())["counters"]
    except RecursionError:
        counters = _on_a_deep_stack(lambda: result.metrics().query(MetricsFilter())["counters"])
    for counter in counters:
        name = (counter.key.metric.namespace, counter.key.metric.name)
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + (value or 0)
    return totals


DEEP_STACK_BYTES = 512 * 2**20
DEEP_RECURSION_LIMIT = 200_000


def _on_a_deep_stack(read: Callable[[], Any]) -> Any:
    """``read()`` in a thread with a large stack and recursion limit. Beam's local
    runner nests its metrics one generator per bundle, and reading them recurses as
    deep: a run of thousands of bundles (a checkpoint every page) passes Python's
    default limit of 1,000."""
    found: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            found.append(read())
        except BaseException as error:  # raised again in the caller's thread
            failed.append(error)

    limit, size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(limit, DEEP_RECURSION_LIMIT))
    threading.stack_size(DEEP_STACK_BYTES)
    try:
        reader = threading.Thread(target=run, name="metrics-reader")
        reader.start()
    finally:
        threading.stack_size(size)
    reader.join()
    sys.setrecursionlimit(limit)
    if failed:
        raise failed[0]
    return found[0]


@dataclasses.dataclass
class ReindexSummary:
    """Counts of one reindex run; ``render()`` gives the printed report.

    ``figures`` are the source's named numbers (a scan's ``per_segment``,
    an export's ``manifest_items``), also readable as attributes.
    """

    source: SourceReport
    table: str
    index: str
    dead_letters_path: str
    decoded: int
    dead_lettered: int
    dead_lettered_by_stage: dict[str, int]
    indexed: int
    deleted: int
    deleted_existing: int
    index_count: int | None
    elapsed_seconds: float
    undecodable_removed: int = 0
    dead_letters_repeated: int = 0
    version_conflicts: int = 0
    """Documents counted as indexed that the index already held at a newer or equal
    version (``--version-field``), so it kept its own."""
    alias_swap: Any = None  # transforms.index.alias.SwapResult of a rebuild
    verification: Any = None  # transforms.index.rebuild.Verification of a rebuild
    catch_ups: list[ReindexSummary] = dataclasses.field(default_factory=list)
    """The summaries of ``--catch-up``'s catch-ups from the table's stream, in order."""

    def __getattr__(self, name: str):
        figures = self.__dict__.get("source")
        if figures is not None and name in figures.figures:
            return figures.figures[name]
        raise AttributeError(name)

    @property
    def read(self) -> int:
        return self.source.read

    @property
    def scanned(self) -> int:
        """Items the source produced (the scan's ``scanned``, the export's ``read``)."""
        return self.source.read

    @property
    def upserts(self) -> int:
        return self.source.upserts

    @property
    def removals(self) -> int:
        return self.source.removals

    def checks(self) -> list[Check]:
        """Every reconciliation of the run: the source's, then the stages'."""
        stage = self.dead_lettered_by_stage.get
        checks = list(self.source.checks)
        plain = self.source.read == self.upserts and not self.removals
        label = self.source.read_label if plain else "upserts"
        checks.append(
            Check(
                f"{label} {self.upserts:,} == decoded {self.decoded:,} + "
                f"decode dead letters {stage('decode', 0):,}",
                self.upserts == self.decoded + stage("decode", 0),
            )
        )
        if self.removals:
            checks.append(
                Check(
                    f"decoded {self.decoded:,} + removals {self.removals:,} == indexed "
                    f"{self.indexed:,} + deleted {self.deleted:,} + index dead letters "
                    f"{stage('index', 0):,}",
                    self.decoded + self.removals == self.indexed + self.deleted + stage("index", 0),
                )
            )
        else:
            checks.append(
                Check(
                    f"decoded {self.decoded:,} == indexed {self.indexed:,} + "
                    f"index dead letters {stage('index', 0):,}",
                    self.decoded == self.indexed + stage("index", 0),
                )
            )
        if self.index_count is not None:
            checks.append(
                Check(
                    f"index holds {self.index_count:,} documents >= indexed {self.indexed:,}",
                    self.index_count >= self.indexed,
                    "records written under one document id (two items with one key, e.g. "
                    "--key-attributes that are not the table's key), or documents deleted "
                    "while the run wrote",
                )
            )
        for number, catch_up in enumerate(self.catch_ups, 1):
            checks.append(
                Check(
                    f"catch-up {number}: every changed key upserted, deleted or dead-lettered",
                    catch_up.accounted_for,
                    catch_up.problem() or "",
                )
            )
        return checks

    @property
    def accounted_for(self) -> bool:
        """Every item read was indexed, deleted or dead-lettered, and the source was read whole."""
        return all(check.holds for check in self.checks())

    def problem(self) -> str | None:
        """One line saying what does not add up, or None."""
        if self.source.problem:
            return self.source.problem
        failed = [check.what for check in self.checks() if not check.holds]
        if not failed:
            return None
        return "the counts do not add up: " + "; ".join(failed)

    @property
    def item_dead_letters(self) -> int:
        """Items dead-lettered by the decode and index stages."""
        return sum(self.dead_lettered_by_stage.get(stage, 0) for stage in ITEM_STAGES)

    def dead_letter_excess(self, limit: float | None) -> str | None:
        """One line when more than ``limit`` of the items read were dead-lettered, else None.

        Decode and index dead letters count; the share is of the items read.
        """
        failed = self.item_dead_letters
        if limit is None or not self.read or failed / self.read <= limit:
            return None
        decode = self.dead_lettered_by_stage.get("decode", 0)
        what = (
            "did not decode"
            if failed == decode
            else f"were dead-lettered (decode {decode:,}, index {failed - decode:,})"
        )
        return (
            f"{failed:,} of {self.read:,} items ({failed / self.read:.1%}) {what}, more than "
            f"--max-dead-letter-fraction {limit:.1%}"
        )

    def rebuild_checks(self, max_dead_letter_fraction: float | None = None) -> list[Check]:
        """What a rebuild requires of this run before its new index may be swapped in.

        Every check of the run holds (the ``why`` names those that do not),
        and with a limit, the decode and index dead letters are within it.
        """
        failed = [check.what for check in self.checks() if not check.holds]
        checks_failed = "the run's checks failed: " + "; ".join(failed) if failed else None
        why = self.source.problem or checks_failed  # the source's says how to go on
        checks = [Check("the run's checks above hold", not why, why or "")]
        if max_dead_letter_fraction is not None:
            excess = self.dead_letter_excess(max_dead_letter_fraction)
            checks.append(
                Check(
                    excess
                    or f"dead letters {self.item_dead_letters:,} of {self.read:,} items within "
                    f"--max-dead-letter-fraction {max_dead_letter_fraction:.1%}",
                    excess is None,
                )
            )
        return checks

    @property
    def items_per_second(self) -> float:
        return self.read / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def line(self) -> str:
        """The summary on one line (for repeated runs, such as ``catch-up --follow``)."""
        return (
            f"{self.source.title}: {self.source.read_label} {self.read:,}: "
            f"{self.indexed:,} indexed, {self.deleted:,} deleted, "
            f"{self.dead_lettered:,} dead-lettered ({self.elapsed_seconds:.1f} s)"
        )

    def render(self) -> str:
        by_stage = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_lettered_by_stage.items()))
        holds = "" if self.index_count is None else f" (now holds {self.index_count:,} documents)"
        removed = (
            f"; the {self.undecodable_removed:,} that no longer decode have no document now"
            if self.undecodable_removed
            else ""
        )
        if self.dead_letters_repeated:
            removed += (
                f" ({self.dead_letters_repeated:,} items read again by a retried "
                "restriction, written once)"
            )
        lines = [
            f"{self.source.title} in {self.elapsed_seconds:.1f} s "
            f"({self.items_per_second:,.0f} items/s)",
            *self.source.head,
            f"  decoded        {self.decoded:>10,}",
            f"  dead-lettered  {self.dead_lettered:>10,}  ({by_stage or 'none'}) "
            f"-> {self.dead_letters_path}{removed}",
            f"  indexed        {self.indexed:>10,}  -> {self.index}{holds}",
        ]
        if self.version_conflicts:
            lines.append(
                f"  of which       {self.version_conflicts:>10,}  kept as the index held them: "
                "its version was newer or the same (--version-field)"
            )
        if self.removals or self.deleted:
            found = f"{self.deleted_existing:,} were in the index"
            if self.undecodable_removed:  # they go through the same deletes
                found += (
                    f"; {self.undecodable_removed:,} of the removals were of items that no "
                    "longer decode"
                )
            lines.append(f"  deleted        {self.deleted:>10,}  ({found})")
        lines.extend(self.source.tail)
        lines.extend(f"  {check.render()}" for check in self.checks())
        if self.verification is not None:
            lines.extend(self.verification.render())
        if self.alias_swap is not None:
            lines.append(self.alias_swap.render())
        for number, catch_up in enumerate(self.catch_ups, 1):
            where = "into the new index, before the swap" if number == 1 and self.alias_swap else ""
            lines.append(f"  catch-up {number}{' (' + where + ')' if where else ''}:")
            lines.extend(f"  {line}" for line in catch_up.render().splitlines())
        return "\n".join(lines)


def summarize(
    result,
    source: ReindexSource,
    config,
    elapsed_seconds: float,
    index_count: int | None,
    *,
    totals: Counters | None = None,
) -> ReindexSummary:
    """The summary of the finished ``result`` of a reindex from ``source``.

    ``result`` is None when no pipeline ran; ``index_count`` None when the
    index was not counted. ``totals``: the run's counters when they were not
    read from ``result``'s metrics (a tally; see :mod:`pipeline.run_counts`).
    """
    if totals is None:
        totals = counter_totals(result)

    def reindex(name: str) -> int:
        return totals.get(("reindex", name), 0)

    by_stage = {
        stage: reindex(f"dead_letters_{stage}")
        for stage in ITEM_STAGES
        if reindex(f"dead_letters_{stage}")
    }
    dead_lettered = sum(by_stage.values())
    removed = reindex(UNDECODABLE_REMOVED)
    spine = SpineCounts(
        indexed=reindex("indexed"),
        deleted=reindex("index_deletes") - removed,
        dead_lettered=dead_lettered,
    )
    return ReindexSummary(
        source=source.report(totals, spine, config.dead_letters, result),
        table=source.table,
        index=shown_uri(config.index),
        dead_letters_path=config.dead_letters,
        decoded=reindex("decoded"),
        dead_lettered=dead_lettered,
        dead_lettered_by_stage=by_stage,
        indexed=spine.indexed,
        deleted=spine.deleted,
        deleted_existing=reindex("index_deleted_existing"),
        index_count=index_count,
        elapsed_seconds=elapsed_seconds,
        undecodable_removed=removed,
        dead_letters_repeated=reindex("dead_letters_repeated"),
        version_conflicts=reindex("index_version_conflicts"),
    )
