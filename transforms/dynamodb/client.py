"""How workers reach DynamoDB: a small picklable config that makes clients.

boto3 clients do not pickle (they hold an SSLContext), so DoFns carry a
:class:`DynamoDBClientConfig` and call :meth:`~DynamoDBClientConfig.create_client`
in ``setup()``. Credentials are never part of the config: they come from
boto3's default chain (environment, shared profile, instance or task role)
on the machine that runs the client.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import boto3
import botocore.session
from botocore.config import Config

from transforms.dynamodb.log_redaction import install_secret_redaction
from transforms.dynamodb.scan.page_parse import install_fast_scan_parser

__all__ = ["DynamoDBClientConfig", "new_session"]

_LOADER_LOCK = threading.Lock()
_LOADERS: dict[int, object] = {}
"""One botocore data loader per process (keyed by pid, so a forked child makes its own)."""


def new_session() -> boto3.session.Session:
    """A boto3 session of its own that shares this process's service data.

    A fresh session loads DynamoDB's service model again (about 50 ms of CPU,
    90 ms with endpoint data), which matters where every worker thread of a
    runner sets up its own client; the model comes from botocore's data
    loader, so one loader per process serves every session (a client then
    costs about 7 ms). The session is still the client's own: it resolves
    credentials through boto3's default chain when the client is made, so a
    long-lived worker process (Dask, Flink) picks up credentials rotated
    in the shared credentials file between jobs; temporary ones (roles,
    SSO) refresh themselves.
    """
    core = botocore.session.Session()
    with _LOADER_LOCK:
        loader = _LOADERS.get(os.getpid())
        if loader is None:
            loader = _LOADERS[os.getpid()] = core.get_component("data_loader")
    core.register_component("data_loader", loader)
    return boto3.session.Session(botocore_session=core)


@dataclasses.dataclass(frozen=True)
class DynamoDBClientConfig:
    """Where and how to connect; safe to pickle and to log.

    ``max_attempts`` and ``retry_mode`` go to botocore's retry handler, which
    retries throttling, 5xx, connection errors and timeouts with capped
    exponential backoff and jitter before the scan's own resumable retry
    loop takes over. ``fast_scan_parse`` reads Scan pages with
    :mod:`transforms.dynamodb.scan.page_parse` (the same response, at a fraction of
    botocore's parsing cost); ``False`` leaves parsing to botocore.
    """

    region_name: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 8
    retry_mode: str = "standard"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_pool_connections: int = 32
    fast_scan_parse: bool = True

    def __post_init__(self):
        if self.endpoint_url is not None:
            scheme, separator, rest = str(self.endpoint_url).partition("://")
            if not separator or scheme.lower() not in ("http", "https") or not rest:
                raise ValueError(
                    f"endpoint_url {self.endpoint_url!r} must start with http:// or https:// "
                    "and name a host, e.g. http://127.0.0.1:8000"
                )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.retry_mode not in ("legacy", "standard", "adaptive"):
            raise ValueError(
                f"retry_mode must be 'legacy', 'standard' or 'adaptive', got {self.retry_mode!r}"
            )

    def botocore_config(self) -> Config:
        return Config(
            retries={"max_attempts": self.max_attempts, "mode": self.retry_mode},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=self.max_pool_connections,
        )

    def create_client(self, item_decoder=None):
        """A new low-level DynamoDB client; credentials from boto3's default chain.

        ``item_decoder`` (a :class:`~transforms.decode.wire_structs.StructDecoder`)
        makes Scan pages come with the items it decodes as KeyedRecords
        (:mod:`transforms.dynamodb.scan.page_parse`); it needs ``fast_scan_parse``.
        Also makes this process's log records redact credentials and signatures
        (:mod:`transforms.dynamodb.log_redaction`), whatever level botocore logs at.
        """
        install_secret_redaction()
        client = new_session().client(
            "dynamodb",
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            config=self.botocore_config(),
        )
        if self.fast_scan_parse:
            install_fast_scan_parser(client, item_decoder)
        return client
