"""A DynamoDB export as a source of the reindex spine.

A full export upserts every item; an incremental export upserts its new
images and removes the items deleted in its window. A data file whose count
or checksum differs from the manifests, or that is truncated or corrupt, is
a dead letter of stage ``export`` naming the file: the run is accounted for
only when the export was read whole::

    manifest itemCount == read == indexed + deleted + dead-lettered
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import apache_beam as beam

from transforms.dead_letters import read_dead_letters
from transforms.dynamodb.export.manifest import ExportManifest
from transforms.dynamodb.export.source import (
    METRICS_NAMESPACE,
    STAGE,
    ReadFromDynamoDBExport,
)
from transforms.dynamodb.source import (
    Check,
    Counters,
    ReindexSource,
    SourceRead,
    SourceReport,
    SpineCounts,
)

__all__ = ["ExportSource"]

PROBLEMS_SHOWN = 10


def _upsert(_) -> list[tuple[str, str]]:
    return [(METRICS_NAMESPACE, "items"), (METRICS_NAMESPACE, "upserts")]


def _removal(_) -> list[tuple[str, str]]:
    return [(METRICS_NAMESPACE, "items"), (METRICS_NAMESPACE, "removals")]


class ExportSource(ReindexSource):
    """The items of ``manifest``'s export; ``key_attributes`` hash key first."""

    stage = STAGE
    tally_counters = {"upserts": _upsert, "removals": _removal}

    def __init__(self, manifest: ExportManifest, key_attributes: Sequence[str], table: str = ""):
        self.manifest = manifest
        self.key_attributes = tuple(key_attributes)
        self.table = table or manifest.table_name
        self.table_arn = manifest.table_arn if self.table == manifest.table_name else None
        if manifest.incremental:
            self.current_to, self.changes_since = manifest.export_to_time, manifest.export_from_time
        else:
            self.current_to = manifest.export_time

    @property
    def approximate_items(self) -> int | None:
        return self.manifest.item_count

    def read(self, pipeline: beam.Pipeline) -> SourceRead:
        read = (
            pipeline
            | "ReadExport"
            >> ReadFromDynamoDBExport(manifest=self.manifest, with_segments=True).with_outputs()
        )
        return SourceRead(read.items, read.removed_keys, read.dead_letters)

    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        def count(name: str) -> int:
            return counters.get((METRICS_NAMESPACE, name), 0)

        manifest = self.manifest
        read, upserts, removals = count("items"), count("upserts"), count("removals")
        integrity_errors = max(
            count("integrity_errors"), counters.get(("reindex", f"dead_letters_{STAGE}"), 0)
        )
        problems = _problems(dead_letters_path) if integrity_errors else []
        head = [
            f"  {count('files'):,} of {len(manifest.files):,} data file(s)",
            f"  manifest items {manifest.item_count:>10,}  (manifest-summary.json itemCount)",
            f"  read           {read:>10,}  (upserts {upserts:,}, removals "
            f"{removals:,}; {count('compressed_bytes') / 1e6:,.1f} MB compressed, "
            f"{count('checkpoints'):,} checkpoints, no read units)",
        ]
        if integrity_errors:
            tail = [
                f"  integrity      {integrity_errors:>10,}  problem(s), dead letters of "
                f"stage '{STAGE}' in {dead_letters_path}:",
                *(f"    error: {problem}" for problem in problems),
            ]
            if integrity_errors > len(problems):
                tail.append(f"    ... and {integrity_errors - len(problems):,} more")
        else:
            tail = ["  integrity              OK  (every data file matches the manifests)"]
        whole = integrity_errors == 0 and manifest.item_count == read
        adds_up = read == spine.indexed + spine.deleted + spine.dead_lettered
        if manifest.item_count != read:
            why = "the export was not read whole"
        elif integrity_errors:
            why = "some data files do not match the manifests (see integrity)"
        else:
            why = "some items are not accounted for"
        check = (
            f"manifest {manifest.item_count:,} == read {read:,} == indexed "
            f"{spine.indexed:,} + deleted {spine.deleted:,} + dead-lettered "
            f"{spine.dead_lettered:,}"
        )
        return SourceReport(
            title=f"reindex from export {manifest.root}: {manifest.describe()}",
            read_label="read",
            read=read,
            upserts=upserts,
            removals=removals,
            head=head,
            tail=tail,
            checks=[Check(check, whole and adds_up, why)],
            problem=_problem(integrity_errors, problems, manifest.item_count, read, spine),
            figures={
                "manifest_items": manifest.item_count,
                "data_files": len(manifest.files),
                "files_read": count("files"),
                "integrity_errors": integrity_errors,
                "problems": problems,
                "compressed_bytes": count("compressed_bytes"),
                "checkpoints": count("checkpoints"),
            },
        )


def _problem(
    integrity_errors: int, problems: list[str], manifest_items: int, read: int, spine: SpineCounts
) -> str | None:
    if integrity_errors:
        first = problems[0] if problems else f"see the dead letters of stage '{STAGE}'"
        more = integrity_errors - 1
        return first + (f" (and {more:,} more integrity problem(s))" if more else "")
    if manifest_items != read:
        return f"the manifest lists {manifest_items:,} items but {read:,} were read"
    return None


def _problems(dead_letters_path: str) -> list[str]:
    letters = (dl for dl in read_dead_letters(dead_letters_path) if dl["stage"] == STAGE)
    return [
        f"{dl['error_type']}: {dl['error']}" for dl in itertools.islice(letters, PROBLEMS_SHOWN)
    ]
