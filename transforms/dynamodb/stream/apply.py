"""Applying changed keys to the index: re-read → decode → index / delete (+ dead letters).

The same spine as the scan and export sources, fed by :class:`ReReadKeys`
instead of a table read::

    keys ─ ReReadKeys ─┬─ items ─ DecodeItems ─┬─ records ─ WriteToIndex
                       │                       └─ dead letters ─┬─ WriteDeadLetters
                       └─ gone keys ─ DeleteFromIndex ──────────┘
                                       (and the undecodable keys' documents removed)

A key whose item is gone has its document deleted. A key whose item no
longer decodes is a dead letter (stage ``decode``, with the item), and its
document, which holds a state the table no longer has, is removed: after a
catch-up the index holds exactly what a reindex would write for these keys.

Counters (namespace ``catch_up``): ``reread`` keys re-read, ``present``
items found, ``gone`` keys without an item, ``undecodable_removed``
documents removed because the item no longer decodes; plus the ``reindex``
counters of the stages (``decoded``, ``indexed``, ``index_deletes``,
``dead_letters``...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.dead_letters import WriteDeadLetters
from transforms.decode.model_attributes import fields_for_attributes
from transforms.decode.transform import DecodeItems
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.stream.reread import MAX_BATCH_KEYS, reread_keys
from transforms.index.delete import DeleteFromIndex
from transforms.index.write import WriteToIndex

__all__ = ["METRICS_NAMESPACE", "AppliedChanges", "ReReadKeys", "ReReadResult", "apply_changes"]

METRICS_NAMESPACE = "catch_up"


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


class AppliedChanges(NamedTuple):
    records: beam.PCollection
    gone: beam.PCollection
    dead_letters: beam.PCollection


def _undecodable_key(letter: dict[str, Any]) -> Iterator[dict]:
    if letter.get("key"):
        Metrics.counter(METRICS_NAMESPACE, "undecodable_removed").inc()
        yield letter["key"]


def apply_changes(
    keys: beam.PCollection,
    *,
    model: type,
    table: str,
    key_attributes: Sequence[str],
    index: str,
    dead_letters: str,
    client_config: DynamoDBClientConfig,
    forbid_unknown: bool = False,
    batch_size: int | None = None,
    batch_bytes: int | None = None,
) -> AppliedChanges:
    """Applies the graph of the module's description to a PCollection of ``keys``.

    ``index`` is an index URI; ``dead_letters`` a folder or a ``.jsonl``
    file (:class:`~transforms.dead_letters.WriteDeadLetters`).
    """
    key_attributes = tuple(key_attributes)
    reread = keys | "ReRead" >> ReReadKeys(table, key_attributes, client_config)
    decoded = reread.items | "Decode" >> DecodeItems(
        model, table=table, key_attributes=key_attributes, forbid_unknown=forbid_unknown
    )
    written = decoded.records | "Index" >> WriteToIndex(
        index,
        id_fields=fields_for_attributes(model, key_attributes),
        batch_size=batch_size,
        batch_bytes=batch_bytes,
        table=table,
    )
    deleted = reread.gone | "Delete" >> DeleteFromIndex(
        index, key_attributes=key_attributes, table=table
    )
    _ = (
        decoded.dead_letters
        | "UndecodableKeys" >> beam.FlatMap(_undecodable_key)
        | "RemoveUndecodable" >> DeleteFromIndex(index, key_attributes=key_attributes, table=table)
    )
    letters = (
        decoded.dead_letters,
        written.dead_letters,
        deleted.dead_letters,
    ) | "AllDeadLetters" >> beam.Flatten()
    _ = letters | "WriteDeadLetters" >> WriteDeadLetters(dead_letters)
    return AppliedChanges(decoded.records, reread.gone, letters)
