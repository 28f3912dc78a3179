"""The keys a table's stream says changed, as a source of the reindex spine.

Reading the stream (:mod:`.reader`) yields the distinct keys changed. This
source re-reads each (:class:`~transforms.dynamodb.keys.KeysSource`): a key
whose item exists is an upsert of the item as it is now, a key without one
is a removal. Re-reading the current item makes the result independent of
the order of the stream's records, and applying it twice harmless.

A changed item that no longer decodes is a dead letter; its document, which
holds a state the table no longer has, is removed
(``removes_undecodable``), so that the index holds what a reindex would.

Counters (namespace ``catch_up``): ``reread`` keys re-read, ``present``
items found, ``gone`` keys without an item.
"""

from __future__ import annotations

from collections.abc import Sequence

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.keys.source import KeysSource, ReReadKeys
from transforms.dynamodb.source import Counters, SourceReport, SpineCounts
from transforms.dynamodb.stream.reader import StreamChanges

__all__ = ["METRICS_NAMESPACE", "STAGE", "ReReadKeys", "StreamSource"]

METRICS_NAMESPACE = "catch_up"
STAGE = "stream"


class StreamSource(KeysSource):
    """The keys of ``changes``, re-read from ``table`` and applied in place."""

    stage = STAGE
    metrics_namespace = METRICS_NAMESPACE

    def __init__(
        self,
        changes: StreamChanges,
        table: str,
        key_attributes: Sequence[str],
        client_config: DynamoDBClientConfig,
        stream_arn: str = "",
    ):
        super().__init__(changes.keys, table, key_attributes, client_config)
        self.changes = changes
        self.stream_arn = stream_arn

    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        changes = self.changes
        keys = len(changes.keys)
        reread, present, gone = self.reread_counts(counters)
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
            checks=self.reread_checks(counters, label="keys changed"),
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
