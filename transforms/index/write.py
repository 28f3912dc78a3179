"""``WriteToIndex``: records into a search index in batches, refusals as dead letters.

::

    written = records | WriteToIndex("sqlite:///out/index.db", id_fields=("id",))
    written.indexed        # PCollection of the document ids written
    written.dead_letters   # PCollection of dead-letter dicts, stage "index"

Each record becomes a document: its id from the table's key, its body the
record's JSON. For a :class:`~transforms.decode.keyed_record.KeyedRecord`
(``DecodeItems(..., with_keys=True)``) the id comes from the item's raw key
(``transforms.index.documents.key_document_id`` of its wire values), so a
key field of any type the decoder supports (``UUID``, ``Enum``,
``datetime``...) indexes; for a bare record, from the model fields that hold
the key (``document_id`` of their values: ``str``, numbers, ``bytes``). Both
give the same id for S and N keys. Writes are upserts by id, so a retried
bundle or a re-run overwrites rather than duplicates. Nothing is dropped: a
record without an id, one that cannot be encoded, or a document the index
refuses becomes a dead letter carrying the document (and the raw key, when
known) and the reason. Errors that are not about one document (index
unreachable, disk full) fail the bundle, which the runner retries.

Batches close at ``batch_size`` documents or ``batch_bytes`` bytes of
bodies, whichever comes first, and at the end of each bundle; both default
to what suits the backend. A closed batch is written by the DoFn's writer
thread while the next one is encoded (SQLite and the HTTP clients release
the GIL while they work), one batch at a time and in order; a document's id
is emitted only once its batch is written, and a bundle ends only when all
of its batches are. On a runner that drops what ``finish_bundle``
emits (Beam's Dask runner), records are grouped into batches first
(:mod:`transforms.runners.group_batches`) and each group is written whole, so no
output is lost (SQLite: 2,000 documents, 8 MiB; Elasticsearch and
OpenSearch: 5,000 documents, 10 MiB, i.e. requests of about 5-15 MB).

``version_field`` (search servers only) names a model field holding the
record's version (a non-negative int, or a datetime taken as epoch
milliseconds): it is written as an external version, so an older record
never overwrites a newer one, and a document the index already holds in
the same or a newer version counts as written.

``written_keys`` (a run journal's :class:`~transforms.journal.WrittenKeys`)
records the item keys of each batch before it is sent, and the bundle
finalizer forgets them once the runner has committed the bundle: what an
interrupted run wrote but never committed can then be checked against the
table (``pipeline.resume.uncommitted``).

Counters (namespace ``reindex``): ``indexed`` documents written,
``index_refused`` dead letters emitted here, ``index_retries`` documents
sent again after a 429/5xx, ``index_version_conflicts`` documents the index
already held in a newer version.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.dead_letters import dead_letter, model_name
from transforms.decode.encoder import failing_field
from transforms.decode.keyed_record import KeyedRecord
from transforms.index import (
    Document,
    RecordEncoder,
    backend_class,
    document_id,
    key_document_id,
    normalize_uri,
    open_backend,
)
from transforms.journal.written_keys import WrittenKeys, forget
from transforms.runners.capabilities import runner_capabilities
from transforms.runners.group_batches import GroupBatches
from transforms.runners.process_exit import skip_final_collection_in_sdk_worker
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs

_LOGGER = logging.getLogger(__name__)

__all__ = ["IndexWriteResult", "WriteToIndex"]

METRICS_NAMESPACE = "reindex"
STAGE = "index"
MAX_VERSION = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MILLISECOND = _EPOCH.resolution * 1000


def _failing_field(record: Any) -> str | None:
    """The field whose value the model's encoding refused, where it can be told."""
    try:
        return failing_field(record)
    except Exception:  # telling where must not lose the dead letter
        return None


def _identity(record: Any) -> str:
    """A record's name in every process: its item key's when it carries one (a
    record's ``repr`` shows its sets in an order that varies between processes)."""
    return repr(record.key) if isinstance(record, KeyedRecord) else repr(record)


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
        self.from_backend = {
            "retried": Metrics.counter(METRICS_NAMESPACE, "index_retries"),
            "version_conflicts": Metrics.counter(METRICS_NAMESPACE, "index_version_conflicts"),
        }


class _Pending(NamedTuple):
    record: Any
    key: Any
    timestamp: Any
    window: Any


def external_version(value: Any) -> int:
    """``value`` as an external version: an int in ``0 .. 2**63 - 1``.

    Accepts ints, integral Decimals (DynamoDB numbers) and datetimes (epoch
    milliseconds; a naive datetime is taken as UTC). ``TypeError`` or
    ``ValueError`` otherwise.
    """
    if isinstance(value, bool):
        raise TypeError("a version cannot be a bool")
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        value = (aware - _EPOCH) // _ONE_MILLISECOND
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"a version must be a whole number, got {value}")
        value = int(value)
    elif not isinstance(value, int):
        raise TypeError(f"a version must be an int or datetime, got {type(value).__name__}")
    if not 0 <= value <= MAX_VERSION:
        raise ValueError(f"a version must be between 0 and 2**63 - 1, got {value}")
    return value


class _WriteBatchesFn(TaggedOutputsDoFn):
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
        batch_bytes: int = 8 * 2**20,
        version_field: str | None = None,
        key_attributes: tuple[str, ...] | None = None,
        written_keys: WrittenKeys | None = None,
    ):
        self._uri = uri
        self._written_keys = written_keys
        self._id_fields = id_fields
        self._key_attributes = key_attributes
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._version_field = version_field
        self._encode = encode
        self._table = table
        self._index = None

    def __getstate__(self) -> dict[str, Any]:
        """Only the configuration travels; the open index (and its credentials) never does."""
        runtime = (
            "_index",
            "_encoder",
            "_metrics",
            "_backend_counts",
            "_pending",
            "_writer",
            "_in_flight",
            "_key_files",
        )
        return {k: v for k, v in self.__dict__.items() if k not in runtime} | {"_index": None}

    def setup(self) -> None:
        skip_final_collection_in_sdk_worker()
        self._index = open_backend(self._uri)
        self._encoder = RecordEncoder(self._encode)
        self._metrics = _IndexMetrics()
        self._backend_counts: dict[str, int] = {}
        self._pending: list[tuple[_Pending, Document, int | None]] = []
        self._pending_bytes = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer")
        self._in_flight: collections.deque = collections.deque()
        self._key_files: list[str] | None = None

    def start_bundle(self) -> None:
        self._pending = []
        self._pending_bytes = 0
        self._key_files = None
        self._abandon_in_flight()

    def process(
        self,
        record: Any,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
        bundle_finalizer=beam.DoFn.BundleFinalizerParam,
    ) -> Iterator[Any]:
        if self._key_files is None and self._written_keys is not None:
            self._key_files = []  # this bundle's key records, forgotten once it is committed
            bundle_finalizer.register(functools.partial(forget, self._key_files))
        if isinstance(record, KeyedRecord):
            entry = _Pending(record.record, record.key, timestamp, window)
        else:
            entry = _Pending(record, None, timestamp, window)
        made = self._document(entry)
        if not isinstance(made, Document):
            yield made
            return
        version = None
        if self._version_field is not None:
            version = self._version(entry, made.body)
            if not isinstance(version, int):
                yield version
                return
        self._pending.append((entry, made, version))
        body = made.body
        self._pending_bytes += len(body) if body.isascii() else len(body.encode("utf-8", "replace"))
        if len(self._pending) >= self._batch_size or self._pending_bytes >= self._batch_bytes:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._flush()
        yield from self._drain()

    def teardown(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.shutdown(wait=True)
            self._writer = None
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
    ) -> Any:
        self._metrics.refused.inc()
        letter = dead_letter(
            STAGE,
            error_type=error_type,
            error=error,
            field=field,
            table=self._table,
            key=entry.key,
            model=model_name(type(entry.record)),
            document=body,
        )
        return self.tagged(
            WriteToIndex.DEAD_LETTERS, WindowedValue(letter, entry.timestamp, (entry.window,))
        )

    def _document(self, entry: _Pending) -> Any:
        """The record's document, or the dead letter saying why there is none."""
        record = entry.record
        try:
            body = self._encoder(record)
        except Exception as e:  # any encoding failure is this record's, not the job's
            field = None if self._encode is not None else _failing_field(record)
            error = f"{type(e).__name__}: {e}"
            if entry.key is None:  # the letter's only mark of which record it was
                error += f" (record {self._record_label(record)})"
            return self._refused(entry, None, "EncodeError", error, field)
        if entry.key is not None:
            attributes = self._key_attributes or tuple(entry.key)
            try:
                return Document(key_document_id(entry.key, attributes), body)
            except (TypeError, ValueError) as e:
                return self._refused(entry, body, "InvalidId", str(e), ",".join(attributes))
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

    def _record_label(self, record: Any) -> str:
        """The record's document id from its id fields, or the start of its repr."""
        try:
            return "id " + document_id([getattr(record, name) for name in self._id_fields])
        except Exception:
            text = repr(record)
            return text if len(text) <= 200 else text[:200] + "..."

    def _version(self, entry: _Pending, body: str) -> Any:
        """The record's external version, or the dead letter saying why there is none."""
        name = self._version_field
        value = getattr(entry.record, name, None)
        if value is None:
            return self._refused(
                entry, body, "MissingVersion", f"version field {name!r} is missing or None", name
            )
        try:
            return external_version(value)
        except (TypeError, ValueError) as e:
            return self._refused(entry, body, "InvalidVersion", str(e), name)

    def _publish_backend_counts(self, counters: dict[str, int]) -> None:
        for name, total in counters.items():
            counter = self._metrics.from_backend.get(name)
            delta = total - self._backend_counts.get(name, 0)
            if counter is not None and delta:
                counter.inc(delta)
            self._backend_counts[name] = total

    def _flush(self) -> Iterator[Any]:
        """Hands the pending batch to the writer thread, and emits the outputs
        of the batch before it once that one is written: at most one batch is
        written while the next is encoded."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if pending:
            documents = [document for _, document, _ in pending]
            versions = None if self._version_field is None else [v for _, _, v in pending]
            keys = None
            if self._key_files is not None:
                keys = [entry.key for entry, _, _ in pending if entry.key is not None]
            written = self._writer.submit(self._write, documents, versions, keys, self._key_files)
            self._in_flight.append((written, documents, [entry for entry, _, _ in pending]))
        while len(self._in_flight) > 1:
            yield from self._collect_oldest()

    def _drain(self) -> Iterator[Any]:
        """Waits for every batch handed to the writer; emits their outputs."""
        while self._in_flight:
            yield from self._collect_oldest()

    def _write(
        self,
        documents: list[Document],
        versions: list | None,
        keys: list | None,
        key_files: list[str] | None,
    ) -> tuple[list, dict]:
        """In the writer thread: one batch written (its keys recorded first, with
        ``written_keys``), and the backend's counters after it."""
        if keys:
            key_files.append(self._written_keys.record(keys))
        if versions is None:
            refusals = self._index.write_batch(documents)
        else:
            refusals = self._index.write_batch(documents, versions=versions)
        return refusals, self._index.write_counters()

    def _collect_oldest(self) -> Iterator[Any]:
        """The outputs of the oldest batch in flight, once it is written (its
        error, if the write failed, is raised here and fails the bundle)."""
        written, documents, sources = self._in_flight[0]
        try:
            refusals_list, counters = written.result()
        finally:
            self._in_flight.popleft()
        self._publish_backend_counts(counters)
        refusals = {refusal.position: refusal for refusal in refusals_list}
        self._metrics.indexed.inc(len(documents) - len(refusals))
        for position, (document, entry) in enumerate(zip(documents, sources, strict=True)):
            refusal = refusals.get(position)
            if refusal is None:
                yield WindowedValue(document.id, entry.timestamp, (entry.window,))
            else:
                yield self._refused(entry, document.body, "IndexRefused", refusal.reason)

    def _abandon_in_flight(self) -> None:
        """After a failed bundle: waits for its batches still being written and
        drops their outputs (the runner retries the bundle; writes are upserts)."""
        while self._in_flight:
            written, _, _ = self._in_flight.popleft()
            written.exception()


class _WriteGroupsFn(_WriteBatchesFn):
    """Writes each batch of records (a list from ``GroupBatches``) whole in ``process``."""

    def process(
        self,
        records: list[Any],
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        for record in records:
            yield from _WriteBatchesFn.process(self, record, timestamp, window, None)
        yield from self._flush()
        yield from self._drain()  # nothing may be left for finish_bundle


class WriteToIndex(beam.PTransform):
    """Writes records (dataclasses-json instances) to the index at ``uri``.

    ``uri``: e.g. ``sqlite:///out/index.db`` or
    ``elasticsearch+https://host:9200/works`` (see ``transforms.index``);
    checked here, and a relative path is made absolute. ``id_fields``: the
    model fields holding the table's key, hash key first, for bare records.
    ``key_attributes``: the order of a :class:`KeyedRecord`'s key attributes
    in its id, hash key first (default: the key's own order, which
    ``DecodeItems`` makes hash key first). ``batch_size``,
    ``batch_bytes``: a write holds at most this many documents and about
    this many bytes of bodies (``None``: the backend's defaults).
    ``encode``: a picklable ``record -> str`` for the body; by default the
    compiled encoder, byte-identical to ``to_json()``. ``table``: the table
    name recorded in dead letters. ``version_field``: the model field
    holding the record's external version (search servers only).
    ``written_keys``: where the keys of each batch are recorded until its
    bundle is committed (a runner that finalizes bundles only).

    Returns an :class:`IndexWriteResult` (``.indexed``, ``.dead_letters``).
    """

    INDEXED = "indexed"
    DEAD_LETTERS = "dead_letters"

    def __init__(
        self,
        uri: str,
        *,
        id_fields: Sequence[str] = ("id",),
        batch_size: int | None = None,
        encode: Callable[[Any], str] | None = None,
        table: str | None = None,
        batch_bytes: int | None = None,
        version_field: str | None = None,
        key_attributes: Sequence[str] | None = None,
        written_keys: WrittenKeys | None = None,
    ):
        super().__init__()
        self._written_keys = written_keys
        self._uri = normalize_uri(uri)
        if isinstance(key_attributes, str):
            raise TypeError(
                f"key_attributes must be a sequence of names, e.g. ({key_attributes!r},)"
            )
        self._key_attributes = tuple(key_attributes) if key_attributes else None
        backend = backend_class(self._uri)
        batch_size = backend.DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        batch_bytes = backend.DEFAULT_BATCH_BYTES if batch_bytes is None else batch_bytes
        if isinstance(id_fields, str):
            raise TypeError(f"id_fields must be a sequence of field names, e.g. ({id_fields!r},)")
        self._id_fields = tuple(id_fields)
        if not self._id_fields or not all(
            isinstance(name, str) and name for name in self._id_fields
        ):
            raise ValueError(f"id_fields must name at least one field, got {id_fields!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(batch_bytes, bool) or not isinstance(batch_bytes, int) or batch_bytes < 1:
            raise ValueError(f"batch_bytes must be a positive int, got {batch_bytes!r}")
        if version_field is not None:
            if not isinstance(version_field, str) or not version_field:
                raise ValueError(f"version_field must name a field, got {version_field!r}")
            if not backend.SUPPORTS_VERSIONS:
                raise ValueError(
                    f"version_field needs a backend with external versions "
                    f"(elasticsearch, opensearch); {self._uri.split(':', 1)[0]} has none"
                )
        self._batch_bytes = batch_bytes
        self._version_field = version_field
        if encode is not None and not callable(encode):
            raise TypeError(f"encode must be callable, got {type(encode).__name__}")
        self._batch_size = batch_size
        self._encode = encode
        self._table = table

    def expand(self, records: beam.PCollection) -> IndexWriteResult:
        settings = (self._uri, self._id_fields, self._batch_size, self._encode, self._table)
        options = {
            "batch_bytes": self._batch_bytes,
            "version_field": self._version_field,
            "key_attributes": self._key_attributes,
            "written_keys": self._written_keys,
        }
        capabilities = runner_capabilities(records.pipeline)
        if self._written_keys is not None and not (
            capabilities.bundle_finalization and capabilities.finish_bundle_outputs
        ):
            raise ValueError(
                "written_keys needs a runner that finalizes bundles and keeps what "
                f"finish_bundle emits; {capabilities.runner} does not"
            )
        if capabilities.finish_bundle_outputs:
            write_fn = _WriteBatchesFn(*settings, **options)
        else:
            records = records | "Batches" >> GroupBatches(self._batch_size, _identity)
            write_fn = _WriteGroupsFn(*settings, **options)
        outputs = par_do_with_outputs(
            records, "WriteBatches", write_fn, self.INDEXED, self.DEAD_LETTERS
        )
        return IndexWriteResult(outputs[self.INDEXED], outputs[self.DEAD_LETTERS])

    def display_data(self) -> dict[str, Any]:
        return {
            "uri": self._uri,
            "id_fields": ",".join(self._id_fields),
            "batch_size": self._batch_size,
            "batch_bytes": self._batch_bytes,
            "version_field": self._version_field or "",
        }
