"""The report of one catch-up, from the stream read and the pipeline's counters.

A catch-up is accounted for when every changed key was re-read, and every
re-read key was upserted, deleted or dead-lettered:

* ``keys changed == re-read``
* ``re-read == present + gone``
* ``present == decoded + decode dead letters``
* ``decoded + gone == upserted + deleted + index dead letters``
"""

from __future__ import annotations

import dataclasses

from apache_beam.metrics.metric import MetricsFilter

from transforms.dynamodb.stream.apply import METRICS_NAMESPACE
from transforms.dynamodb.stream.reader import StreamChanges

__all__ = ["CatchUpSummary", "summarize_catch_up"]


def _without_userinfo(uri: str) -> str:
    """``uri`` without any ``user:password@``, fit for printing."""
    scheme, sep, rest = uri.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else uri


def _counter_totals(result) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    if result is None:
        return totals
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        name = (counter.key.metric.namespace, counter.key.metric.name)
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + (value or 0)
    return totals


@dataclasses.dataclass
class CatchUpSummary:
    """Counts of one catch-up; ``render()`` gives the printed report.

    ``index`` is the index URI without any credentials in it.
    """

    table: str
    index: str
    stream_arn: str
    shards_read: int
    records_read: int
    records_before_start: int
    keys_changed: int
    reread: int
    present: int
    gone: int
    decoded: int
    upserted: int
    deleted: int
    dead_lettered: int
    dead_lettered_by_stage: dict[str, int]
    undecodable_removed: int
    dead_letters_path: str | None
    elapsed_seconds: float

    def checks(self) -> list[tuple[str, bool]]:
        """``(what is checked, holds)`` for every reconciliation of the catch-up."""
        decode_letters = self.dead_lettered_by_stage.get("decode", 0)
        index_letters = self.dead_lettered_by_stage.get("index", 0)
        return [
            (
                f"keys changed {self.keys_changed:,} == re-read {self.reread:,}",
                self.keys_changed == self.reread,
            ),
            (
                f"re-read {self.reread:,} == present {self.present:,} + gone {self.gone:,}",
                self.reread == self.present + self.gone,
            ),
            (
                f"present {self.present:,} == decoded {self.decoded:,} + "
                f"decode dead letters {decode_letters:,}",
                self.present == self.decoded + decode_letters,
            ),
            (
                f"decoded {self.decoded:,} + gone {self.gone:,} == upserted "
                f"{self.upserted:,} + deleted {self.deleted:,} + index dead letters "
                f"{index_letters:,}",
                self.decoded + self.gone == self.upserted + self.deleted + index_letters,
            ),
        ]

    @property
    def accounted_for(self) -> bool:
        return all(holds for _, holds in self.checks())

    def problem(self) -> str | None:
        """One line saying what does not add up, or None."""
        failed = [what for what, holds in self.checks() if not holds]
        return "the counts do not add up: " + "; ".join(failed) if failed else None

    def line(self) -> str:
        """One line for a round of ``--follow``."""
        return (
            f"catch-up of {self.table!r}: {self.records_read:,} stream records, "
            f"{self.keys_changed:,} keys changed: {self.upserted:,} upserted, "
            f"{self.deleted:,} deleted, {self.dead_lettered:,} dead-lettered "
            f"({self.elapsed_seconds:.1f} s)"
        )

    def render(self) -> str:
        by_stage = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_lettered_by_stage.items()))
        before = (
            f" ({self.records_before_start:,} before the start time, not applied)"
            if self.records_before_start
            else ""
        )
        target = f" -> {self.dead_letters_path}" if self.dead_letters_path else ""
        removed = (
            f"; any document of the {self.undecodable_removed:,} that no longer decode removed"
            if self.undecodable_removed
            else ""
        )
        lines = [
            f"catch-up of table {self.table!r} from its stream in "
            f"{self.elapsed_seconds:.1f} s ({self.shards_read} shard(s) read)",
            f"  stream records {self.records_read:>10,}{before}",
            f"  keys changed   {self.keys_changed:>10,}  (re-read: {self.present:,} present, "
            f"{self.gone:,} gone)",
            f"  upserted       {self.upserted:>10,}  -> {self.index}",
            f"  deleted        {self.deleted:>10,}",
            f"  dead-lettered  {self.dead_lettered:>10,}  ({by_stage or 'none'}){target}{removed}",
        ]
        for what, holds in self.checks():
            lines.append(f"  check: {what}: {'OK' if holds else 'MISMATCH'}")
        return "\n".join(lines)


def summarize_catch_up(
    result,
    changes: StreamChanges,
    *,
    table: str,
    index: str,
    stream_arn: str,
    dead_letters_path: str | None,
    elapsed_seconds: float,
) -> CatchUpSummary:
    """The summary of a catch-up; ``result`` is ``None`` when no key changed (no pipeline)."""
    totals = _counter_totals(result)

    def count(namespace: str, name: str) -> int:
        return totals.get((namespace, name), 0)

    removed = count(METRICS_NAMESPACE, "undecodable_removed")
    by_stage = {
        stage: count("reindex", f"dead_letters_{stage}")
        for stage in ("decode", "index")
        if count("reindex", f"dead_letters_{stage}")
    }
    return CatchUpSummary(
        table=table,
        index=_without_userinfo(index),
        stream_arn=stream_arn,
        shards_read=changes.shards_read,
        records_read=changes.records_read,
        records_before_start=changes.records_before_start,
        keys_changed=len(changes.keys),
        reread=count(METRICS_NAMESPACE, "reread"),
        present=count(METRICS_NAMESPACE, "present"),
        gone=count(METRICS_NAMESPACE, "gone"),
        decoded=count("reindex", "decoded"),
        upserted=count("reindex", "indexed"),
        deleted=count("reindex", "index_deletes") - removed,
        dead_lettered=count("reindex", "dead_letters"),
        dead_lettered_by_stage=by_stage,
        undecodable_removed=removed,
        dead_letters_path=dead_letters_path if count("reindex", "dead_letters") else None,
        elapsed_seconds=elapsed_seconds,
    )
