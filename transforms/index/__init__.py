"""Search-index backends behind one small interface, chosen by URI scheme.

A backend is opened from a URI and written in batches; it knows nothing about
Beam, so the same class serves ``WriteToIndex``, the CLI's ``search`` and
benchmarks::

    with open_backend("sqlite:///out/index.db") as index:
        refusals = index.write_batch([Document("w1", '{"id": "w1"}')])
        hits = index.search("gulliver travels", limit=5)
        total = index.count_matches("gulliver travels")

Supported schemes: ``sqlite`` (the embedded index, ``transforms.index.sqlite``),
``elasticsearch+http(s)`` and ``opensearch+http(s)`` / ``opensearch+aws+https``
(``transforms.index.elasticsearch``, ``transforms.index.opensearch``), and
``sqlite+table`` (one physical table of an embedded index, used while
building behind an alias: ``transforms.index.alias``).
A new backend subclasses :class:`IndexBackend` and is registered in
``_BACKENDS`` by its import path, so its client library is only imported when
the scheme is used.
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from transforms.index.documents import Document, RecordEncoder, document_id, key_document_id

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_SCHEMES",
    "Document",
    "IndexBackend",
    "IndexOptionError",
    "RecordEncoder",
    "Refusal",
    "SearchHit",
    "backend_class",
    "document_id",
    "key_document_id",
    "missing_index",
    "normalize_uri",
    "open_backend",
]

_BACKENDS = {
    "sqlite": "transforms.index.sqlite:SQLiteIndex",
    "sqlite+table": "transforms.index.sqlite_table:SQLiteTableIndex",
    "elasticsearch+http": "transforms.index.elasticsearch:ElasticsearchIndex",
    "elasticsearch+https": "transforms.index.elasticsearch:ElasticsearchIndex",
    "opensearch+http": "transforms.index.opensearch:OpenSearchIndex",
    "opensearch+https": "transforms.index.opensearch:OpenSearchIndex",
    "opensearch+aws+https": "transforms.index.opensearch:OpenSearchIndex",
    "opensearch+aws+http": "transforms.index.opensearch:OpenSearchIndex",
}

SUPPORTED_SCHEMES = tuple(_BACKENDS)


class IndexOptionError(ValueError):
    """An option that the kind of index named by the URI does not take (an
    alias for SQLite, settings for SQLite): the caller's usage error, not the
    index's state."""


class SearchHit(NamedTuple):
    """One search result: document id, relevance (higher is better), body."""

    id: str
    score: float
    body: str


class Refusal(NamedTuple):
    """A document the index would not take: its position in the batch, id, reason."""

    position: int
    id: str
    reason: str


class IndexBackend(abc.ABC):
    """A search index written in batches of :class:`Document`.

    Contract: ``write_batch`` upserts by id (writing a document again
    overwrites it, never duplicates) and returns the documents it refused;
    every other document of the batch is durably written when it returns
    (the embedded index syncs it to disk; a search server acknowledges a
    bulk request after its translog is synced, under its default
    ``index.translog.durability: request``).
    Errors that are not about one document (the index is unreachable, the
    disk is full) are raised, so that the caller retries the whole batch.

    ``DEFAULT_BATCH_SIZE`` and ``DEFAULT_BATCH_BYTES`` are the batch limits
    that suit the backend; ``SUPPORTS_VERSIONS`` says that ``write_batch``
    takes ``versions=`` (external versions: an older document never
    overwrites a newer one).
    """

    DEFAULT_BATCH_SIZE = 500
    DEFAULT_BATCH_BYTES = 8 * 2**20
    SUPPORTS_VERSIONS = False

    @classmethod
    @abc.abstractmethod
    def normalize_uri(cls, uri: str) -> str:
        """``uri`` checked and made independent of the caller (no I/O).

        Raises ``ValueError`` with the expected form when ``uri`` is malformed.
        """

    @classmethod
    @abc.abstractmethod
    def open(cls, uri: str) -> IndexBackend:
        """Connects to (creating if needed) the index at ``uri``."""

    @classmethod
    def missing(cls, uri: str) -> str | None:
        """Why there is certainly no index at ``uri`` (e.g. no such file), else None.

        Read-only commands check it so that a mistyped URI creates nothing.
        """
        return None

    @abc.abstractmethod
    def write_batch(self, documents: Sequence[Document]) -> list[Refusal]:
        """Upserts ``documents``; returns those refused, with the reason."""

    @abc.abstractmethod
    def delete(self, ids: Iterable[str]) -> int:
        """Removes the documents with these ids; returns how many existed."""

    @abc.abstractmethod
    def count(self) -> int:
        """The number of documents in the index."""

    @abc.abstractmethod
    def search(self, query: str, limit: int = 10, *, raw: bool = False) -> list[SearchHit]:
        """Best matches for the words of ``query``, best first.

        ``query`` is plain words: characters that are syntax for the backend
        are taken literally. ``raw=True`` passes the backend's own query syntax
        through; a malformed raw query raises ``ValueError``.
        """

    def count_matches(self, query: str, *, raw: bool = False) -> int:
        """How many documents ``search(query, raw=raw)`` matches in all, not one page.

        Backends that cannot count raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not count matches")

    def write_counters(self) -> dict[str, int]:
        """Running totals of write events worth a metric (retries, ...); none by default."""
        return {}

    # A verified rebuild (``transforms.index.rebuild``) also needs the three below.

    def get(self, ids: Iterable[str]) -> dict[str, str]:
        """``{id: body}`` of the documents with these ids that the index holds."""
        raise NotImplementedError(f"{type(self).__name__} cannot read documents back by id")

    def metadata(self) -> dict | None:
        """What the index records about itself (``transforms.index.identity``), or None."""
        raise NotImplementedError(f"{type(self).__name__} keeps no metadata")

    def set_metadata(self, meta: dict) -> None:
        """Replaces what the index records about itself with the JSON object ``meta``."""
        raise NotImplementedError(f"{type(self).__name__} keeps no metadata")

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the connection; calling it again does nothing."""

    def __enter__(self) -> IndexBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _scheme(uri: str) -> str:
    if not isinstance(uri, str) or "://" not in uri:
        raise ValueError(
            f"index URI {uri!r} has no scheme; expected e.g. sqlite:///out/index.db "
            f"(supported schemes: {', '.join(SUPPORTED_SCHEMES)})"
        )
    return uri.split("://", 1)[0].lower()


def backend_class(uri: str) -> type[IndexBackend]:
    """The backend class for ``uri``'s scheme; ``ValueError`` if unsupported."""
    scheme = _scheme(uri)
    target = _BACKENDS.get(scheme)
    if target is None:
        raise ValueError(
            f"unsupported index URI scheme {scheme!r}; supported: {', '.join(SUPPORTED_SCHEMES)}"
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def normalize_uri(uri: str) -> str:
    """``uri`` validated by its backend, without touching the index."""
    return backend_class(uri).normalize_uri(uri)


def missing_index(uri: str) -> str | None:
    """Why there is certainly no index at ``uri``, or None (see ``IndexBackend.missing``)."""
    return backend_class(uri).missing(uri)


def open_backend(uri: str) -> IndexBackend:
    """Opens the index at ``uri`` with the backend for its scheme."""
    return backend_class(uri).open(uri)
