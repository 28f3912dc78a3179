"""The OpenSearch backend: ``opensearch+http(s)://HOST:PORT/INDEX`` and managed OpenSearch.

``opensearch+aws+https://DOMAIN-ENDPOINT/INDEX`` signs every request with AWS
SigV4 (opensearch-py's ``Urllib3AWSV4SignerAuth``) using boto3's default
credential chain (environment, profile, role). The region comes from the
``region`` query parameter, else from the endpoint's name
(``search-x.eu-west-1.es.amazonaws.com``), else from boto3's configuration;
the service is ``service=es`` (managed domains, the default) or ``aoss``
(serverless, the default for ``*.aoss.amazonaws.com``). Other URIs take
``INDEX_USERNAME``/``INDEX_PASSWORD`` from the environment for basic auth.

Everything shared with Elasticsearch (URI, batching, retries, refusals,
aliases) is in :mod:`transforms.index.search_server`. Needs ``pip install
'opensearch-py>=2.4,<4'`` (the ``opensearch`` extra).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from transforms.index.search_server import (
    SearchServerIndex,
    ServerURI,
    basic_auth_from_environment,
    client_options,
    error_outcome,
    parse_server_uri,
)

_LOGGER = logging.getLogger(__name__)

__all__ = ["OpenSearchIndex", "aws_signing"]

_AWS_ENDPOINT = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.(es|aoss)\.amazonaws\.com(?::\d+)?$")


def aws_signing(location: ServerURI) -> tuple[str, str]:
    """``(region, service)`` for SigV4, from the URI, the endpoint's name or boto3."""
    match = _AWS_ENDPOINT.search(location.hosts[0])
    region = location.option("region") or (match.group(1) if match else None)
    service = location.option("service") or (match.group(2) if match else "es")
    if not region:
        import boto3

        region = boto3.session.Session().region_name
    if not region:
        raise ValueError(
            f"no AWS region for {location}: add ?region=... to the URI or configure boto3's region"
        )
    if service not in ("es", "aoss"):
        raise ValueError(f"service must be es or aoss, got {service!r}")
    return region, service


def _sigv4_auth(location: ServerURI) -> Any:
    import boto3
    from opensearchpy import Urllib3AWSV4SignerAuth

    region, service = aws_signing(location)
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise ValueError(
            "no AWS credentials for SigV4: boto3's default chain (environment, profile, role) "
            "found none"
        )
    return Urllib3AWSV4SignerAuth(credentials, region, service)


class OpenSearchIndex(SearchServerIndex):
    """An OpenSearch index or alias; see :mod:`transforms.index.search_server`."""

    SCHEMES = ("opensearch+http", "opensearch+https", "opensearch+aws+https", "opensearch+aws+http")

    @classmethod
    def open(cls, uri: str) -> OpenSearchIndex:
        try:
            from opensearchpy import OpenSearch
        except ImportError as error:
            raise ImportError(
                "the opensearch backend needs the 'opensearch-py' package: "
                "pip install 'opensearch-py>=2.4,<4'"
            ) from error
        location = parse_server_uri(cls.normalize_uri(uri))
        options = client_options(location, "timeout")
        if location.aws:
            options["http_auth"] = _sigv4_auth(location)
        else:
            auth = basic_auth_from_environment(allow_api_key=False)
            if auth:
                options["http_auth"] = auth["basic_auth"]
        return cls(location, OpenSearch(hosts=location.urls, **options))

    def _streaming_bulk_helper(self) -> Callable[..., Iterator]:
        from opensearchpy.helpers import streaming_bulk

        return streaming_bulk

    def _request_failure(self, error: BaseException):
        from opensearchpy import SSLError, TransportError

        if isinstance(error, SSLError) or not isinstance(error, TransportError):
            return None
        body = error.info if isinstance(error.info, dict) else None
        return error_outcome(error.status_code, body, f"{type(error).__name__}: {error.error}")

    def _search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._client.search(index=self.index, body=body)

    def _send_alias_actions(self, actions: list[dict[str, Any]]) -> None:
        self._client.indices.update_aliases(body={"actions": actions})
