"""``WriteToIndex``: records into a search index in batches, refusals as dead letters.

::

    written = records | WriteToIndex("sqlite:///out/index.db", id_fields=("id",))
    written.indexed        # PCollection of the document ids written
    written.dead_letters   # PCollection of dead-letter dicts, stage "index"

Each record becomes a document: its id from the model fields that hold the
table's key (``transforms.index.documents.document_id``), its body the
record's JSON. Writes are upserts by id, so a retried bundle or a re-run
overwrites rather than duplicates. Nothing is dropped: a record without an
id, one that cannot be encoded, or a document the index refuses becomes a
dead letter carrying the document and the reason. Errors that are not about
one document (index unreachable, disk full) fail the bundle, which the runner
retries.

Counters (namespace ``reindex``): ``indexed`` documents written,
``index_refused`` dead letters emitted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.dead_letters import dead_letter, model_name
from transforms.index import Document, RecordEncoder, document_id, normalize_uri, open_backend

_LOGGER = logging.getLogger(__name__)

__all__ = ["IndexWriteResult", "WriteToIndex"]

METRICS_NAMESPACE = "reindex"
STAGE = "index"


class IndexWriteResult(NamedTuple):
    """What ``WriteToIndex`` returns.

    ``indexed``: the ids of the documents written (a PCollection of str).
    ``dead_letters``: dead-letter dicts of stage ``index``, each with the
    ``document`` it tried to write (``None`` if the record could not be encoded).
    """

    indexed: beam.PCollection
    dead_letters: beam.PCollection


class _IndexMetrics:
    def __init__(self) -> None:
        self.indexed = Metrics.counter(METRICS_NAMESPACE, "indexed")
        self.refused = Metrics.counter(METRICS_NAMESPACE, "index_refused")


class _Pending(NamedTuple):
    record: Any
    timestamp: Any
    window: Any


class _WriteBatchesFn(beam.DoFn):
    """Buffers records and writes them ``batch_size`` at a time to one backend.

    The backend is opened in ``setup`` and closed in ``teardown``; the last,
    partial batch of a bundle is written in ``finish_bundle``. Outputs keep
    each record's window and timestamp.
    """

    def __init__(
        self,
        uri: str,
        id_fields: tuple[str, ...],
        batch_size: int,
        encode: Callable[[Any], str] | None,
        table: str | None,
    ):
        self._uri = uri
        self._id_fields = id_fields
        self._batch_size = batch_size
        self._encode = encode
        self._table = table
        self._index = None

    def setup(self) -> None:
        self._index = open_backend(self._uri)
        self._encoder = RecordEncoder(self._encode)
        self._metrics = _IndexMetrics()
        self._pending: list[_Pending] = []

    def start_bundle(self) -> None:
        self._pending = []

    def process(
        self,
        record: Any,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        self._pending.append(_Pending(record, timestamp, window))
        if len(self._pending) >= self._batch_size:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._flush()

    def teardown(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def _refused(
        self,
        entry: _Pending,
        body: str | None,
        error_type: str,
        error: str,
        field: str | None = None,
    ) -> pvalue.TaggedOutput:
        self._metrics.refused.inc()
        letter = dead_letter(
            STAGE,
            error_type=error_type,
            error=error,
            field=field,
            table=self._table,
            model=model_name(type(entry.record)),
            document=body,
        )
        return pvalue.TaggedOutput(
            WriteToIndex.DEAD_LETTERS, WindowedValue(letter, entry.timestamp, (entry.window,))
        )

    def _document(self, entry: _Pending) -> Document | pvalue.TaggedOutput:
        """The record's document, or the dead letter saying why there is none."""
        record = entry.record
        try:
            body = self._encoder(record)
        except Exception as e:  # any encoding failure is this record's, not the job's
            return self._refused(entry, None, "EncodeError", f"{type(e).__name__}: {e}")
        values = []
        for name in self._id_fields:
            value = getattr(record, name, None)
            if value is None:
                return self._refused(
                    entry, body, "MissingId", f"id field {name!r} is missing or None", name
                )
            values.append(value)
        try:
            return Document(document_id(values), body)
        except (TypeError, ValueError) as e:
            return self._refused(entry, body, "InvalidId", str(e), ",".join(self._id_fields))

    def _flush(self) -> Iterator[Any]:
        pending, self._pending = self._pending, []
        documents, sources = [], []
        for entry in pending:
            made = self._document(entry)
            if isinstance(made, Document):
                documents.append(made)
                sources.append(entry)
            else:
                yield made
        if not documents:
            return
        refusals = {refusal.position: refusal for refusal in self._index.write_batch(documents)}
        self._metrics.indexed.inc(len(documents) - len(refusals))
        for position, (document, entry) in enumerate(zip(documents, sources, strict=True)):
            refusal = refusals.get(position)
            if refusal is None:
                yield WindowedValue(document.id, entry.timestamp, (entry.window,))
            else:
                yield self._refused(entry, document.body, "IndexRefused", refusal.reason)


class WriteToIndex(beam.PTransform):
    """Writes records (dataclasses-json instances) to the index at ``uri``.

    ``uri``: e.g. ``sqlite:///out/index.db`` (see ``transforms.index``);
    checked here, and a relative path is made absolute. ``id_fields``: the
    model fields holding the table's key, hash key first. ``batch_size``:
    documents per write. ``encode``: a picklable ``record -> str`` for the
    body; by default the compiled encoder, byte-identical to ``to_json()``.
    ``table``: the table name recorded in dead letters.

    Returns an :class:`IndexWriteResult` (``.indexed``, ``.dead_letters``).
    """

    INDEXED = "indexed"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        uri: str,
        *,
        id_fields: Sequence[str] = ("id",),
        batch_size: int = 500,
        encode: Callable[[Any], str] | None = None,
        table: str | None = None,
    ):
        super().__init__()
        self._uri = normalize_uri(uri)
        if isinstance(id_fields, str):
            raise TypeError(f"id_fields must be a sequence of field names, e.g. ({id_fields!r},)")
        self._id_fields = tuple(id_fields)
        if not self._id_fields or not all(
            isinstance(name, str) and name for name in self._id_fields
        ):
            raise ValueError(f"id_fields must name at least one field, got {id_fields!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if encode is not None and not callable(encode):
            raise TypeError(f"encode must be callable, got {type(encode).__name__}")
        self._batch_size = batch_size
        self._encode = encode
        self._table = table

    def expand(self, records: beam.PCollection) -> IndexWriteResult:
        outputs = records | "WriteBatches" >> beam.ParDo(
            _WriteBatchesFn(self._uri, self._id_fields, self._batch_size, self._encode, self._table)
        ).with_outputs(self.DEAD_LETTERS, main=self.INDEXED)
        return IndexWriteResult(outputs[self.INDEXED], outputs[self.DEAD_LETTERS])

    def display_data(self) -> dict[str, Any]:
        return {
            "uri": self._uri,
            "id_fields": ",".join(self._id_fields),
            "batch_size": self._batch_size,
        }
