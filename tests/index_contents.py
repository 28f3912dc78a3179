"""Reading back what an index holds and how a search server describes it, for tests.

One :class:`IndexUnderTest` per backend: the URI a reindex is given, every
document behind the live name (``{id: body}``), and for search servers the
raw REST view (aliases, settings, mappings) through the server's own API.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

BACKENDS = ("sqlite", "es@noida", "os@osmem")
SERVERS = {
    "es@noida": ("elasticsearch+http", "elasticsearch_url"),
    "os@osmem": ("opensearch+http", "opensearch_url"),
}


def rest(url: str, path: str, body: Any = None, method: str | None = None) -> Any:
    """The JSON answer of ``method path`` on the server at ``url`` (None for a 404)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/{path.lstrip('/')}",
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


class IndexUnderTest:
    """The index a test reindexes into: ``uri`` and what the live name holds."""

    def __init__(self, backend: str, uri: str, url: str | None = None, db_path=None):
        self.backend = backend
        self.uri = uri
        self.url = url
        self.db_path = db_path

    @property
    def is_server(self) -> bool:
        return self.url is not None

    @property
    def name(self) -> str:
        """The live name: the alias of a search server, ``documents`` for SQLite."""
        return self.uri.rsplit("/", 1)[1] if self.is_server else "documents"

    def documents(self) -> dict[str, Any]:
        """``{id: parsed body}`` of every document the live name serves."""
        if not self.is_server:
            with sqlite3.connect(self.db_path) as conn:
                rows = conn.execute("SELECT id, body FROM documents").fetchall()
            return {doc_id: json.loads(body) for doc_id, body in rows}
        if rest(self.url, f"{self.name}/_refresh", {}) is None:
            return {}
        found = rest(self.url, f"{self.name}/_search", {"query": {"match_all": {}}, "size": 10000})
        return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}

    def live_targets(self) -> list[str]:
        """The physical indexes behind the live name (the SQLite build it came from)."""
        if not self.is_server:
            with sqlite3.connect(self.db_path) as conn:
                rows = conn.execute(
                    "SELECT name FROM index_generations WHERE state = 'live'"
                ).fetchall()
            return [name for (name,) in rows]
        found = rest(self.url, f"_alias/{self.name}")
        return sorted(found or {})

    def metadata(self) -> dict | None:
        """What the live index records about itself."""
        from transforms.index import open_backend

        with open_backend(self.uri) as index:
            return index.metadata()


def expected_documents(records: dict[str, str]) -> dict[str, Any]:
    """``{id: parsed JSON}`` of ``{id: record JSON}``."""
    return {doc_id: json.loads(body) for doc_id, body in records.items()}
