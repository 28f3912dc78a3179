"""Given keys, re-read from the table, as a source of the reindex spine.

Each key is re-read with a strongly consistent ``BatchGetItem``
(:mod:`.reread`): a key whose item exists is an upsert of the item as it is
now, a key without one is a removal. The result is independent of how old
the keys are and of their order, and applying it twice does no harm.

An item that no longer decodes is a dead letter and its document is removed
(``removes_undecodable``), so that the index holds what a reindex would.
``letters`` are dead letters kept as they are (letters of another source
that name no key to re-read): they pass through to the run's dead letters.

Counters (namespace :attr:`KeysSource.metrics_namespace`): ``reread`` keys
re-read, ``present`` items found, ``gone`` keys without an item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.keys.reread import MAX_BATCH_KEYS, reread_keys
from transforms.dynamodb.scan.request import SegmentItem
from transforms.dynamodb.source import (
    Check,
    Counters,
    ReindexSource,
    SourceRead,
    SourceReport,
    SpineCounts,
)

__all__ = ["KeysSource", "ReReadKeys", "ReReadResult"]


class ReReadResult(NamedTuple):
    items: beam.PCollection
    gone: beam.PCollection


class _ReReadFn(beam.DoFn):
    """Lists of keys in, current items out; keys without an item to ``GONE``."""

    GONE = "gone"

    def __init__(
        self,
        client_config: DynamoDBClientConfig,
        table: str,
        key_attributes: tuple[str, ...],
        namespace: str,
    ):
        self._client_config = client_config
        self._table = table
        self._key_attributes = key_attributes
        self._namespace = namespace
        self._client = None

    def setup(self) -> None:
        self._client = self._client_config.create_client()
        self._reread = Metrics.counter(self._namespace, "reread")
        self._present = Metrics.counter(self._namespace, "present")
        self._gone = Metrics.counter(self._namespace, "gone")

    def process(self, keys: Sequence[dict]) -> Iterator[Any]:
        for key, item in reread_keys(
            self._client, self._table, keys, key_attributes=self._key_attributes
        ):
            self._reread.inc()
            if item is None:
                self._gone.inc()
                yield pvalue.TaggedOutput(self.GONE, key)
            else:
                self._present.inc()
                yield item

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ReReadKeys(beam.PTransform):
    """Wire-format keys → their current items (strongly consistent), and the keys gone.

    Keys are batched 100 to a ``BatchGetItem``; a key appearing twice in the
    input is read twice (give distinct keys). Counters go to ``namespace``.
    """

    def __init__(
        self,
        table: str,
        key_attributes: Sequence[str],
        client_config: DynamoDBClientConfig,
        namespace: str = "reread",
    ):
        super().__init__()
        self._fn = _ReReadFn(client_config, table, tuple(key_attributes), namespace)

    def expand(self, keys: beam.PCollection) -> ReReadResult:
        outputs = (
            keys
            | "Batch"
            >> beam.BatchElements(min_batch_size=MAX_BATCH_KEYS, max_batch_size=MAX_BATCH_KEYS)
            | "ReRead" >> beam.ParDo(self._fn).with_outputs(_ReReadFn.GONE, main="items")
        )
        return ReReadResult(outputs.items, outputs[_ReReadFn.GONE])


def _without_segment(item: dict) -> SegmentItem:
    return SegmentItem(None, None, item)


class KeysSource(ReindexSource):
    """``keys`` (wire format, distinct), re-read from ``table`` and applied in place."""

    stage = "reread"
    removes_undecodable = True
    metrics_namespace = "reread"

    def __init__(
        self,
        keys: Sequence[dict],
        table: str,
        key_attributes: Sequence[str],
        client_config: DynamoDBClientConfig,
        letters: Sequence[dict] = (),
    ):
        self.keys = list(keys)
        self.table = table
        self.key_attributes = tuple(key_attributes)
        self.client_config = client_config
        self.letters = list(letters)

    @property
    def approximate_items(self) -> int | None:
        return len(self.keys)

    def read(self, pipeline: beam.Pipeline) -> SourceRead:
        reread = (
            pipeline
            | "Keys" >> beam.Create(self.keys, reshuffle=False)
            | "ReRead"
            >> ReReadKeys(
                self.table, self.key_attributes, self.client_config, self.metrics_namespace
            )
        )
        upserts = reread.items | "WithoutSegment" >> beam.Map(_without_segment)
        kept = pipeline | "KeptDeadLetters" >> beam.Create(self.letters, reshuffle=False)
        return SourceRead(upserts, reread.gone, kept)

    def reread_counts(self, counters: Counters) -> tuple[int, int, int]:
        """``(reread, present, gone)`` of a finished run."""
        names = ("reread", "present", "gone")
        return tuple(counters.get((self.metrics_namespace, name), 0) for name in names)

    def reread_checks(self, counters: Counters, label: str = "keys") -> list[Check]:
        """Every key re-read once, and found or gone."""
        reread, present, gone = self.reread_counts(counters)
        keys = len(self.keys)
        return [
            Check(f"{label} {keys:,} == re-read {reread:,}", keys == reread),
            Check(
                f"re-read {reread:,} == present {present:,} + gone {gone:,}",
                reread == present + gone,
            ),
        ]

    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        reread, present, gone = self.reread_counts(counters)
        head = [f"  keys re-read   {reread:>10,}  ({present:,} present, {gone:,} gone)"]
        if self.letters:
            head.append(
                f"  kept           {len(self.letters):>10,}  (dead letters without a key to "
                "re-read)"
            )
        return SourceReport(
            title=f"re-read of {len(self.keys):,} key(s) from table {self.table!r}",
            read_label="keys",
            read=len(self.keys),
            upserts=present,
            removals=gone,
            head=head,
            checks=self.reread_checks(counters),
            figures={"reread": reread, "present": present, "gone": gone, "kept": len(self.letters)},
        )
