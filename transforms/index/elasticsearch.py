"""The Elasticsearch backend: ``elasticsearch+http(s)://HOST:PORT/INDEX``.

Writes with the official client's ``helpers.streaming_bulk``; everything it
shares with OpenSearch (URI, batching, retries, refusals, aliases) is in
:mod:`transforms.index.search_server`. Credentials come from
``INDEX_API_KEY`` or ``INDEX_USERNAME``/``INDEX_PASSWORD`` in the environment
of the process that opens the index (a Beam worker's ``setup``).

Needs ``pip install 'elasticsearch>=8.12,<9'`` (the ``elasticsearch`` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from transforms.index.search_server import (
    SearchServerIndex,
    basic_auth_from_environment,
    client_options,
    error_outcome,
    parse_server_uri,
)

_LOGGER = logging.getLogger(__name__)

__all__ = ["ElasticsearchIndex"]


class ElasticsearchIndex(SearchServerIndex):
    """An Elasticsearch 8 index or alias; see :mod:`transforms.index.search_server`."""

    SCHEMES = ("elasticsearch+http", "elasticsearch+https")

    @classmethod
    def open(cls, uri: str) -> ElasticsearchIndex:
        try:
            from elasticsearch import Elasticsearch
        except ImportError as error:
            raise ImportError(
                "the elasticsearch backend needs the 'elasticsearch' package: "
                "pip install 'elasticsearch>=8.12,<9'"
            ) from error
        location = parse_server_uri(cls.normalize_uri(uri))
        options = {
            **client_options(location, "request_timeout"),
            **basic_auth_from_environment(allow_api_key=True),
        }
        return cls(location, Elasticsearch(location.urls, **options))

    def _streaming_bulk_helper(self) -> Callable[..., Iterator]:
        from elasticsearch.helpers import streaming_bulk

        return streaming_bulk

    def _request_failure(self, error: BaseException):
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout, TlsError
        from elasticsearch import ApiError, UnsupportedProductError

        if isinstance(error, UnsupportedProductError) or isinstance(error, TlsError):
            return None
        if isinstance(error, ApiError):
            return error_outcome(error.status_code, error.body, error.message)
        if isinstance(error, (TransportConnectionError, ConnectionTimeout)):
            return error_outcome(None, None, f"{type(error).__name__}: {error}")
        return None

    def _search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._client.search(index=self.index, **body).body

    def _send_alias_actions(self, actions: list[dict[str, Any]]) -> None:
        self._client.indices.update_aliases(actions=actions)
