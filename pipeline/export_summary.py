"""The end-of-run report of a reindex from an export, built from the pipeline's metrics.

The run is accounted for when the export was read whole and every item read
went somewhere::

    manifest itemCount == read == indexed + deleted + dead-lettered

with no integrity problem (a data file whose count or MD5 differs from the
manifest, a truncated or corrupt file). Integrity problems are dead letters
of stage ``export`` that name the file; they are not items, so they are
listed apart from the item dead letters. Where the runner reports no metrics
the counters are tallied in the pipeline (``counted``; see
:mod:`pipeline.run_counts`): files read, compressed bytes, checkpoints and
deletes of existing documents are then not known.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from transforms.dead_letters import read_dead_letters
from transforms.export_manifest import ExportManifest
from transforms.export_source import METRICS_NAMESPACE, STAGE

__all__ = ["ExportReindexSummary", "summarize_export"]

PROBLEMS_SHOWN = 10
_STAGES = ("decode", "index")


@dataclasses.dataclass
class ExportReindexSummary:
    """Counts of one reindex from an export; ``render()`` gives the printed report."""

    export: str
    description: str
    index: str
    dead_letters_path: str
    data_files: int
    files_read: int
    manifest_items: int
    read: int
    upserts: int
    removals: int
    decoded: int
    dead_lettered: int
    dead_lettered_by_stage: dict[str, int]
    indexed: int
    deleted: int
    deleted_existing: int
    index_count: int
    elapsed_seconds: float
    integrity_errors: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    compressed_bytes: int = 0
    checkpoints: int = 0
    alias_swap: Any = None  # transforms.index.alias.SwapResult with --swap-alias
    counted: bool = False

    @property
    def accounted_for(self) -> bool:
        """The export was read whole and every item read was indexed, deleted or dead-lettered."""
        return (
            self.integrity_errors == 0
            and self.manifest_items == self.read
            and self.read == self.indexed + self.deleted + self.dead_lettered
        )

    def problem(self) -> str | None:
        """One line saying what is wrong (naming the data file), or None."""
        if self.integrity_errors:
            first = self.problems[0] if self.problems else "see the dead letters of stage 'export'"
            more = self.integrity_errors - 1
            return f"{first}" + (f" (and {more:,} more integrity problem(s))" if more else "")
        if self.manifest_items != self.read:
            return f"the manifest lists {self.manifest_items:,} items but {self.read:,} were read"
        if not self.accounted_for:
            return (
                f"{self.read:,} items were read but indexed + deleted + dead-lettered = "
                f"{self.indexed + self.deleted + self.dead_lettered:,}"
            )
        return None

    @property
    def items_per_second(self) -> float:
        return self.read / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def render(self) -> str:
        by_stage = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_lettered_by_stage.items()))
        files = (
            f"{self.data_files:,}"
            if self.counted
            else f"{self.files_read:,} of {self.data_files:,}"
        )
        details = (
            "counted in the pipeline: the runner reports no metrics"
            if self.counted
            else f"{self.compressed_bytes / 1e6:,.1f} MB compressed, "
            f"{self.checkpoints:,} checkpoints, no read units"
        )
        existing = "" if self.counted else f"  ({self.deleted_existing:,} were in the index)"
        lines = [
            f"reindex from export {self.export}: {self.description}",
            f"  {files} data file(s) in "
            f"{self.elapsed_seconds:.1f} s ({self.items_per_second:,.0f} items/s)",
            f"  manifest items {self.manifest_items:>10,}  (manifest-summary.json itemCount)",
            f"  read           {self.read:>10,}  (upserts {self.upserts:,}, removals "
            f"{self.removals:,}; {details})",
            f"  decoded        {self.decoded:>10,}",
            f"  dead-lettered  {self.dead_lettered:>10,}  ({by_stage or 'none'}) "
            f"-> {self.dead_letters_path}",
            f"  indexed        {self.indexed:>10,}  -> {self.index} "
            f"(now holds {self.index_count:,} documents)",
            f"  deleted        {self.deleted:>10,}{existing}",
        ]
        if self.integrity_errors:
            lines.append(
                f"  integrity      {self.integrity_errors:>10,}  problem(s), dead letters of "
                f"stage '{STAGE}' in {self.dead_letters_path}:"
            )
            lines.extend(f"    error: {problem}" for problem in self.problems)
            if self.integrity_errors > len(self.problems):
                lines.append(f"    ... and {self.integrity_errors - len(self.problems):,} more")
        else:
            lines.append("  integrity              OK  (every data file matches the manifests)")
        if self.integrity_errors or self.manifest_items != self.read:
            verdict = "MISMATCH: the export was not read whole"
        elif not self.accounted_for:
            verdict = "MISMATCH: some items are not accounted for"
        else:
            verdict = "OK"
        lines.append(
            f"  check: manifest {self.manifest_items:,} == read {self.read:,} == indexed "
            f"{self.indexed:,} + deleted {self.deleted:,} + dead-lettered "
            f"{self.dead_lettered:,}: {verdict}"
        )
        if self.alias_swap is not None:
            lines.append(self.alias_swap.render())
        return "\n".join(lines)


def _problems(dead_letters_path: str) -> list[str]:
    letters = (dl for dl in read_dead_letters(dead_letters_path) if dl["stage"] == STAGE)
    return [
        f"{dl['error_type']}: {dl['error']}" for dl in itertools.islice(letters, PROBLEMS_SHOWN)
    ]


def summarize_export(
    totals: dict[tuple[str, str], int],
    config,
    manifest: ExportManifest,
    elapsed_seconds: float,
    index_count: int,
    *,
    counted: bool = False,
) -> ExportReindexSummary:
    """The summary of a run whose counters are ``totals`` (``{(namespace, name): total}``)."""

    def source(name: str) -> int:
        return totals.get((METRICS_NAMESPACE, name), 0)

    def reindex(name: str) -> int:
        return totals.get(("reindex", name), 0)

    integrity_letters = reindex(f"dead_letters_{STAGE}")
    integrity_errors = max(source("integrity_errors"), integrity_letters)
    return ExportReindexSummary(
        export=manifest.root,
        description=manifest.describe(),
        index=config.index,
        dead_letters_path=config.dead_letters,
        data_files=len(manifest.files),
        files_read=source("files"),
        manifest_items=manifest.item_count,
        read=source("items"),
        upserts=source("upserts"),
        removals=source("removals"),
        decoded=reindex("decoded"),
        dead_lettered=reindex("dead_letters") - integrity_letters,
        dead_lettered_by_stage={
            stage: reindex(f"dead_letters_{stage}")
            for stage in _STAGES
            if reindex(f"dead_letters_{stage}")
        },
        indexed=reindex("indexed"),
        deleted=reindex("index_deletes"),
        deleted_existing=reindex("index_deleted_existing"),
        index_count=index_count,
        elapsed_seconds=elapsed_seconds,
        integrity_errors=integrity_errors,
        problems=_problems(config.dead_letters) if integrity_errors else [],
        compressed_bytes=source("compressed_bytes"),
        checkpoints=source("checkpoints"),
        counted=counted,
    )
