"""``DeleteFromIndex``: remove documents by the keys of deleted items.

::

    read = p | ReadFromDynamoDBExport(uri).with_outputs()
    deleted = read.removed_keys | DeleteFromIndex("sqlite:///out/index.db", key_attributes=("id",))
    deleted.deleted        # PCollection of the document ids removed
    deleted.dead_letters   # keys that give no document id (stage "index")

Input elements are DynamoDB keys in wire format (``{"id": {"S": "w1"}}``).
Each key's document id is made exactly as ``WriteToIndex`` makes it
(``transforms.index.documents.key_document_id`` of the key's wire values, in
``key_attributes`` order: hash key first), so a delete removes the very
document an earlier upsert wrote. Deletes go to the backend's ``delete(ids)``
in batches; deleting an id that is not in the index is not an error, so a
retried bundle does no harm. On a runner that drops what ``finish_bundle``
emits (Beam's Dask runner), keys are grouped into batches first
(:mod:`transforms.runners.group_batches`) and each group is deleted whole.

Counters (namespace ``reindex``): ``index_deletes`` ids deleted (whether or
not they were in the index), ``index_deleted_existing`` those that were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.dead_letters import dead_letter
from transforms.index import key_document_id, normalize_uri, open_backend
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.group_batches import GroupBatches
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs

_LOGGER = logging.getLogger(__name__)

__all__ = ["DeleteFromIndex", "DeleteResult", "key_document_id"]

METRICS_NAMESPACE = "reindex"
STAGE = "index"


class DeleteResult(NamedTuple):
    """What ``DeleteFromIndex`` returns: ids deleted, and keys that give no id."""

    deleted: beam.PCollection
    dead_letters: beam.PCollection


class _Pending(NamedTuple):
    id: str
    timestamp: Any
    window: Any


class _DeleteBatchesFn(TaggedOutputsDoFn):
    """Buffers ids and deletes them ``batch_size`` at a time from one backend."""

    def __init__(self, uri: str, key_attributes: tuple[str, ...], batch_size: int, table):
        self._uri = uri
        self._key_attributes = key_attributes
        self._batch_size = batch_size
        self._table = table
        self._index = None

    def setup(self) -> None:
        self._index = open_backend(self._uri)
        self._deletes = Metrics.counter(METRICS_NAMESPACE, "index_deletes")
        self._existing = Metrics.counter(METRICS_NAMESPACE, "index_deleted_existing")
        self._refused = Metrics.counter(METRICS_NAMESPACE, "index_refused")
        self._pending: list[_Pending] = []

    def start_bundle(self) -> None:
        self._pending = []

    def process(
        self, key: Any, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam
    ) -> Iterator[Any]:
        try:
            doc_id = key_document_id(key, self._key_attributes)
        except (TypeError, ValueError) as error:
            self._refused.inc()
            yield self.tagged(
                DeleteFromIndex.DEAD_LETTERS,
                dead_letter(
                    STAGE,
                    error_type="InvalidId",
                    error=f"cannot delete: {error}",
                    key=key if isinstance(key, Mapping) else None,
                    field=",".join(self._key_attributes),
                    table=self._table,
                ),
            )
            return
        self._pending.append(_Pending(doc_id, timestamp, window))
        if len(self._pending) >= self._batch_size:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._flush()

    def teardown(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def _flush(self) -> Iterator[Any]:
        pending, self._pending = self._pending, []
        if not pending:
            return
        existed = self._index.delete([entry.id for entry in pending])
        self._deletes.inc(len(pending))
        self._existing.inc(existed)
        for entry in pending:
            yield WindowedValue(entry.id, entry.timestamp, (entry.window,))


class _DeleteGroupsFn(_DeleteBatchesFn):
    """Deletes each batch of keys (a list from ``GroupBatches``) whole in ``process``."""

    def process(
        self, keys: list[Any], timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam
    ) -> Iterator[Any]:
        for key in keys:
            yield from _DeleteBatchesFn.process(self, key, timestamp, window)
        yield from self._flush()


class DeleteFromIndex(beam.PTransform):
    """Deletes the documents of wire-format keys from the index at ``uri``.

    ``key_attributes``: the table's key attribute names, hash key first (the
    order ``WriteToIndex``'s ``id_fields`` follow). ``batch_size``: ids per
    ``delete`` call. ``table``: recorded in dead letters. Returns a
    :class:`DeleteResult`.
    """

    DELETED = "deleted"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        uri: str,
        *,
        key_attributes: Sequence[str] = ("id",),
        batch_size: int = 500,
        table: str | None = None,
    ):
        super().__init__()
        self._uri = normalize_uri(uri)
        if isinstance(key_attributes, str):
            raise TypeError(
                f"key_attributes must be a sequence of names, e.g. ({key_attributes!r},)"
            )
        self._key_attributes = tuple(key_attributes)
        if not self._key_attributes or not all(
            isinstance(name, str) and name for name in self._key_attributes
        ):
            raise ValueError(
                f"key_attributes must name at least one attribute, got {key_attributes!r}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._batch_size = batch_size
        self._table = table

    def expand(self, keys: beam.PCollection) -> DeleteResult:
        settings = (self._uri, self._key_attributes, self._batch_size, self._table)
        if runner_capabilities(keys.pipeline).finish_bundle_outputs:
            delete_fn = _DeleteBatchesFn(*settings)
        else:
            keys = keys | "Batches" >> GroupBatches(self._batch_size)
            delete_fn = _DeleteGroupsFn(*settings)
        outputs = par_do_with_outputs(
            keys, "DeleteBatches", delete_fn, self.DELETED, self.DEAD_LETTERS
        )
        return DeleteResult(outputs[self.DELETED], outputs[self.DEAD_LETTERS])

    def display_data(self) -> dict[str, Any]:
        return {
            "uri": self._uri,
            "key_attributes": ",".join(self._key_attributes),
            "batch_size": self._batch_size,
        }
