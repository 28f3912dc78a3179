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
from collections.abc import Iterable, Iterator
from typing import Any

from transforms.index.search_server import (
    DEFAULT_TIMEOUT,
    SearchServerIndex,
    basic_auth_from_environment,
    error_outcome,
    parse_server_uri,
)

_LOGGER = logging.getLogger(__name__)

__all__ = ["ElasticsearchIndex"]


def _pair(action: tuple[dict, str | None]) -> tuple[dict, str | None]:
    return action


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
        options: dict[str, Any] = {
            "request_timeout": location.option("timeout", DEFAULT_TIMEOUT),
            "max_retries": 0,
            "retry_on_status": (),
            "retry_on_timeout": False,
            **basic_auth_from_environment(allow_api_key=True),
        }
        if location.option("ca_certs") is not None:
            options["ca_certs"] = location.option("ca_certs")
        if location.option("verify_certs") is not None:
            options["verify_certs"] = location.option("verify_certs")
        return cls(location, Elasticsearch(location.urls, **options))

    def _streaming_bulk(self, actions: Iterable[tuple[dict, str | None]], count: int) -> Iterator:
        from elasticsearch.helpers import streaming_bulk

        return streaming_bulk(
            self._client,
            actions,
            chunk_size=max(count, 1),
            max_chunk_bytes=self._max_request_bytes,
            expand_action_callback=_pair,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=0,
        )

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

    def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self._client.indices.update_aliases(actions=actions)
