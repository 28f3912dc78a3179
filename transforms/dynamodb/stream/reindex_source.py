"""The keys a table's stream says changed, as a source of the reindex spine.

Reading the stream (:mod:`.reader`) yields the distinct keys changed. This
source re-reads each with a strongly consistent ``BatchGetItem``: a key whose
item exists is an upsert of the item as it is now, a key without one is a
removal. Re-reading the current item makes the result independent of the
order of the stream's records, and applying it twice harmless.

A changed item that no longer decodes is a dead letter; its document, which
holds a state the table no longer has, is removed
(``removes_undecodable``), so that the index holds what a reindex would.

Counters (namespace ``catch_up``): ``reread`` keys re-read, ``present``
items found, ``gone`` keys without an item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.request import SegmentItem
from transforms.dynamodb.source import (
    Check,
    Counters,
    ReindexSource,
    SourceRead,
    SourceReport,
    SpineCounts,
)
from transforms.dynamodb.stream.reader import StreamChanges
from transforms.dynamodb.stream.reread import MAX_BATCH_KEYS, reread_keys

__all__ = ["METRICS_NAMESPACE", "STAGE", "ReReadKeys", "ReReadResult", "StreamSource"]

METRICS_NAMESPACE = "catch_up"
STAGE = "stream"


class ReReadResult(NamedTuple):
    items: beam.PCollection
    gone: beam.PCollection


class _ReReadFn(beam.DoFn):
    """Lists of keys in, current items out; keys without an item to ``GONE``."""

    GONE = "gone"

    def __init__(
        self, client_config: DynamoDBClientConfig, table: str, key_attributes: tuple[str, ...]
    ):
        self._client_config = client_config
        self._table = table
        self._key_attributes = key_attributes
        self._client = None

    def setup(self) -> None:
        self._client = self._client_config.create_client()
        self._reread = Metrics.counter(METRICS_NAMESPACE, "reread")
        self._present = Metrics.counter(METRICS_NAMESPACE, "present")
        self._gone = Metrics.counter(METRICS_NAMESPACE, "gone")

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
    input is read twice (give distinct keys).
    """

    def __init__(
        self, table: str, key_attributes: Sequence[str], client_config: DynamoDBClientConfig
    ):
        super().__init__()
        self._fn = _ReReadFn(client_config, table, tuple(key_attributes))

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


class StreamSource(ReindexSource):
    """The keys of ``changes``, re-read from ``table`` and applied in place."""

    stage = STAGE
    removes_undecodable = True

    def __init__(
        self,
        changes: StreamChanges,
        table: str,
        key_attributes: Sequence[str],
        client_config: DynamoDBClientConfig,
        stream_arn: str = "",
    ):
        self.changes = changes
        self.table = table
        self.key_attributes = tuple(key_attributes)
        self.client_config = client_config
        self.stream_arn = stream_arn

    @property
    def approximate_items(self) -> int | None:
        return len(self.changes.keys)

    def read(self, pipeline: beam.Pipeline) -> SourceRead:
        reread = (
            pipeline
            | "ChangedKeys" >> beam.Create(self.changes.keys, reshuffle=False)
            | "ReRead" >> ReReadKeys(self.table, self.key_attributes, self.client_config)
        )
        upserts = reread.items | "WithoutSegment" >> beam.Map(_without_segment)
        no_letters = pipeline | "NoStreamDeadLetters" >> beam.Create([])
        return SourceRead(upserts, reread.gone, no_letters)

    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        def count(name: str) -> int:
            return counters.get((METRICS_NAMESPACE, name), 0)

        changes = self.changes
        keys = len(changes.keys)
        reread, present, gone = count("reread"), count("present"), count("gone")
        before = (
            f" ({changes.records_before_start:,} before the start time, not applied)"
            if changes.records_before_start
            else ""
        )
        return SourceReport(
            title=f"catch-up of table {self.table!r} from its stream "
            f"({changes.shards_read} shard(s) read)",
            read_label="keys changed",
            read=keys,
            upserts=present,
            removals=gone,
            head=[
                f"  stream records {changes.records_read:>10,}{before}",
                f"  keys changed   {keys:>10,}  (re-read: {present:,} present, {gone:,} gone)",
            ],
            checks=[
                Check(f"keys changed {keys:,} == re-read {reread:,}", keys == reread),
                Check(
                    f"re-read {reread:,} == present {present:,} + gone {gone:,}",
                    reread == present + gone,
                ),
            ],
            figures={
                "records_read": changes.records_read,
                "records_before_start": changes.records_before_start,
                "shards_read": changes.shards_read,
                "keys_changed": keys,
                "reread": reread,
                "present": present,
                "gone": gone,
                "stream_arn": self.stream_arn,
            },
        )
