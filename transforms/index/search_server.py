"""Bulk writes to Elasticsearch and OpenSearch, shared by both backends.

URI (the scheme names the product and the transport)::

    elasticsearch+http://HOST:PORT/INDEX        elasticsearch+https://HOST:PORT/INDEX
    opensearch+http://HOST:PORT/INDEX           opensearch+https://HOST:PORT/INDEX
    opensearch+aws+https://DOMAIN-ENDPOINT/INDEX?region=eu-west-1&service=es

``HOST:PORT`` may be a comma-separated list of nodes. ``INDEX`` is an index
or an alias with one write index. Query parameters tune the client:
``timeout`` (seconds per request, default 60), ``max_retries`` (default 8),
``initial_backoff`` and ``max_backoff`` (seconds, default 0.5 and 30),
``max_request_bytes`` (default 50 MiB), ``verify_certs`` (``true``/``false``),
``ca_certs`` (a CA bundle path), and for ``opensearch+aws`` ``region`` and
``service`` (``es`` for managed domains, ``aoss`` for serverless).

Credentials never appear in the URI (one with ``user:password@`` is refused).
They are read from the environment of the process that opens the index, so
they are never pickled with a transform or shown in display data:

* ``INDEX_USERNAME`` and ``INDEX_PASSWORD``: HTTP basic auth;
* ``INDEX_API_KEY``: an Elasticsearch API key (the encoded form);
* ``opensearch+aws``: AWS SigV4 signing with boto3's default credential chain.

Writes (``write_batch``) go through the client's ``streaming_bulk`` helper,
one ``index`` action per document with the document's id, so that a retried
batch overwrites. Each item is judged on its own, also when the response is
HTTP 200 with ``errors: true``:

* 2xx, or 409 when the write carries an external version (the index already
  holds this version or a newer one): written;
* 429, 5xx, a connection error or a timeout: sent again, only these items,
  after a capped exponential backoff with jitter; when ``max_retries`` rounds
  do not get them through, :class:`IndexWriteError` is raised so that the
  runner retries the bundle;
* 401, 403, a missing index or a read-only block: not about one document, so
  :class:`IndexWriteError` is raised;
* any other refusal (mapping error, 400, too large): returned as a
  :class:`~transforms.index.Refusal` with the server's reason.

A whole request refused with 400 or 413 is split in halves until the
offending documents are alone, so one bad document never takes its batch
with it. Ids longer than the servers' 512-byte limit are refused before
sending.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from transforms.index import Document, IndexBackend, Refusal, SearchHit

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "ENV_API_KEY",
    "ENV_PASSWORD",
    "ENV_USERNAME",
    "META_KEY",
    "IndexWriteError",
    "RetryPolicy",
    "SearchServerIndex",
    "ServerURI",
    "basic_auth_from_environment",
    "check_index_name",
    "client_options",
    "error_outcome",
    "parse_server_uri",
]

META_KEY = "dynamodb_reindex"
"""The key under which an index mapping's ``_meta`` holds ``metadata()``."""

ENV_USERNAME = "INDEX_USERNAME"
ENV_PASSWORD = "INDEX_PASSWORD"
ENV_API_KEY = "INDEX_API_KEY"

MAX_ID_BYTES = 512
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_REQUEST_BYTES = 50 * 2**20

_PRODUCTS = ("elasticsearch", "opensearch")
_SCHEMES = {
    "elasticsearch+http": ("elasticsearch", False, False),
    "elasticsearch+https": ("elasticsearch", False, True),
    "opensearch+http": ("opensearch", False, False),
    "opensearch+https": ("opensearch", False, True),
    "opensearch+aws+https": ("opensearch", True, True),
    "opensearch+aws+http": ("opensearch", True, False),
}
_INDEX_FORBIDDEN = set('\\/*?"<>| ,#:')
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$")
_FATAL_ERROR_TYPES = frozenset(
    {
        "index_not_found_exception",
        "cluster_block_exception",
        "security_exception",
        "index_closed_exception",
        "authorization_exception",
    }
)


_ALIAS_PROPERTIES = frozenset(
    {"filter", "routing", "index_routing", "search_routing", "is_write_index", "is_hidden"}
)


class IndexWriteError(RuntimeError):
    """A write failed for reasons that are not about one document."""


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be positive, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be at least 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


_OPTIONS: dict[str, Callable[[str], Any]] = {
    "timeout": _positive_float,
    "max_retries": _non_negative_int,
    "initial_backoff": _positive_float,
    "max_backoff": _positive_float,
    "max_request_bytes": _positive_int,
    "verify_certs": _boolean,
    "ca_certs": str,
    "region": str,
    "service": str,
}


def check_index_name(name: str) -> str:
    """``name`` if Elasticsearch and OpenSearch accept it as an index name.

    Lowercase, at most 255 bytes, not ``.`` or ``..``, not starting with
    ``-``, ``_`` or ``+``, none of ``\\ / * ? " < > | , # :`` or space.
    """
    problem = None
    if not name:
        problem = "it is empty"
    elif name != name.lower():
        problem = "it must be lowercase"
    elif name in (".", ".."):
        problem = "it cannot be . or .."
    elif name[0] in "-_+":
        problem = "it cannot start with -, _ or +"
    elif _INDEX_FORBIDDEN & set(name):
        problem = f"it contains one of {''.join(sorted(_INDEX_FORBIDDEN))!r}"
    elif len(name.encode("utf-8")) > 255:
        problem = "it is longer than 255 bytes"
    if problem:
        raise ValueError(f"invalid index name {name!r}: {problem}")
    return name


@dataclasses.dataclass(frozen=True)
class ServerURI:
    """A parsed search-server index URI (see the module docstring). Holds no credentials."""

    scheme: str
    hosts: tuple[str, ...]
    index: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def product(self) -> str:
        return _SCHEMES[self.scheme][0]

    @property
    def aws(self) -> bool:
        return _SCHEMES[self.scheme][1]

    @property
    def secure(self) -> bool:
        return _SCHEMES[self.scheme][2]

    @property
    def urls(self) -> list[str]:
        """The nodes as plain ``http(s)://host:port`` URLs for the client."""
        protocol = "https" if self.secure else "http"
        return [f"{protocol}://{host}" for host in self.hosts]

    def option(self, name: str, default: Any = None) -> Any:
        for key, text in self.options:
            if key == name:
                return _OPTIONS[name](text)
        return default

    def with_index(self, index: str) -> ServerURI:
        return dataclasses.replace(self, index=check_index_name(index))

    def __str__(self) -> str:
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"{self.scheme}://{','.join(self.hosts)}/{self.index}{query}"


def parse_server_uri(uri: str) -> ServerURI:
    """Parses and checks an ``elasticsearch+...`` or ``opensearch+...`` URI; ``ValueError`` if bad.

    Messages never repeat what stands before an ``@`` (it could be a password).
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise ValueError(f"{uri!r} is not a search-server URI")
    scheme, rest = uri.split("://", 1)
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"unknown search-server scheme {scheme!r}; expected one of {', '.join(_SCHEMES)}"
        )
    location, _, query = rest.partition("?")
    netloc, _, path = location.partition("/")
    if "@" in netloc:
        api_key = f" (or {ENV_API_KEY})" if _SCHEMES[scheme][0] == "elasticsearch" else ""
        raise ValueError(
            f"{scheme} URI must not carry credentials (user:password@host); set "
            f"{ENV_USERNAME} and {ENV_PASSWORD}{api_key} in the environment instead"
        )
    example = f"{scheme}://localhost:9200/INDEX"
    hosts = tuple(part.strip() for part in netloc.split(","))
    for host in hosts:
        match = _HOST_PORT.match(host)
        if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
            raise ValueError(f"bad host {host!r} in index URI {uri!r}; expected e.g. {example}")
    index = path.strip("/")
    if not index:
        raise ValueError(f"index URI {uri!r} names no index; expected e.g. {example}")
    if "/" in index:
        raise ValueError(f"index URI {uri!r}: the path must be one index name, e.g. {example}")
    check_index_name(index)
    options = []
    shown = f"{scheme}://{location}"  # without the query, whose values may be secrets
    for key, text in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in _OPTIONS:
            raise ValueError(
                f"unknown option {key!r} in index URI {shown!r} (its value is not shown); "
                f"known: {', '.join(sorted(_OPTIONS))}"
            )
        if key in ("region", "service") and not _SCHEMES[scheme][1]:
            raise ValueError(f"option {key!r} applies only to opensearch+aws+https URIs")
        try:
            _OPTIONS[key](text)
        except ValueError as error:
            raise ValueError(f"option {key!r} in index URI {shown!r}: {error}") from None
        options.append((key, text))
    return ServerURI(scheme, hosts, index, tuple(sorted(options)))


def basic_auth_from_environment(allow_api_key: bool) -> dict[str, Any]:
    """``{"basic_auth": (user, password)}``, ``{"api_key": key}`` or ``{}`` from the environment.

    Raises ``ValueError`` (naming the variables, never their values) for an
    incomplete or ambiguous setting.
    """
    username = os.environ.get(ENV_USERNAME) or None
    password = os.environ.get(ENV_PASSWORD) or None
    api_key = os.environ.get(ENV_API_KEY) or None
    if api_key and not allow_api_key:
        raise ValueError(f"{ENV_API_KEY} is set, but this server does not take API keys")
    if api_key and (username or password):
        raise ValueError(f"set either {ENV_API_KEY} or {ENV_USERNAME}/{ENV_PASSWORD}, not both")
    if bool(username) != bool(password):
        raise ValueError(f"{ENV_USERNAME} and {ENV_PASSWORD} must be set together")
    if api_key:
        return {"api_key": api_key}
    if username:
        return {"basic_auth": (username, password)}
    return {}


def client_options(location: ServerURI, timeout_name: str) -> dict[str, Any]:
    """The client options both products take for ``location``.

    The request timeout (passed as ``timeout_name``, which the two clients
    spell differently), no retries in the client (``write_batch`` retries the
    refused items itself), and the URI's ``ca_certs`` and ``verify_certs``
    when given. Credentials are left to the caller.
    """
    options: dict[str, Any] = {
        timeout_name: location.option("timeout", DEFAULT_TIMEOUT),
        "max_retries": 0,
        "retry_on_status": (),
        "retry_on_timeout": False,
    }
    for name in ("ca_certs", "verify_certs"):
        if location.option(name) is not None:
            options[name] = location.option(name)
    return options


def _action_pair(action: tuple[dict, str | None]) -> tuple[dict, str | None]:
    """``streaming_bulk``'s ``expand_action_callback``: actions are already ``(action, body)``."""
    return action


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter for documents refused with 429 or 5xx.

    Round ``n`` (1, 2, ...) waits a random time between half and all of
    ``min(max_backoff, initial_backoff * 2 ** (n - 1))`` seconds, so that
    writers throttled together do not come back together.
    """

    max_retries: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class _Outcome(NamedTuple):
    """What the server said about one item: status (``None``: no answer), error type, reason."""

    status: int | None
    error_type: str | None
    reason: str | None


_OK = _Outcome(200, None, None)


def _item_outcome(info: dict[str, Any]) -> _Outcome:
    ((_, item),) = info.items()
    status = item.get("status")
    status = status if isinstance(status, int) else None
    if status is not None and 200 <= status < 300:
        return _OK
    error = item.get("error")
    if isinstance(error, dict):
        reason = str(error.get("reason") or "")
        caused_by = error.get("caused_by")
        if isinstance(caused_by, dict) and caused_by.get("reason"):
            reason += f" (caused by {caused_by.get('type')}: {caused_by.get('reason')})"
        return _Outcome(status, error.get("type"), reason)
    return _Outcome(status, None, None if error is None else str(error))


def error_outcome(status: Any, body: Any, message: str) -> _Outcome:
    """The outcome of a whole request answered with ``status`` and error ``body``."""
    status = status if isinstance(status, int) else None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return _item_outcome({"request": {"status": status, "error": error}})
    return _Outcome(status, error if isinstance(error, str) else None, message)


def _describe(outcome: _Outcome) -> str:
    status = "no response" if outcome.status is None else str(outcome.status)
    kind = f" {outcome.error_type}" if outcome.error_type else ""
    reason = f": {outcome.reason}" if outcome.reason else ""
    return f"{status}{kind}{reason}"


def _plain_words(query: str) -> str:
    """``query`` as simple_query_string text where every word is literal.

    Operator characters become spaces (the analyzers split there anyway); a
    trailing ``*`` on a word asks for a prefix match.
    """
    words = []
    for word in query.split():
        prefix = word.endswith("*")
        parts = [p for p in re.split(r'[+|\-"*()~\\<>=!{}\[\]^:/]+', word) if p]
        parts = [p for p in parts if any(ch.isalnum() for ch in p)]
        if parts and prefix:
            parts[-1] += "*"
        words.extend(parts)
    return " ".join(words)


class SearchServerIndex(IndexBackend):
    """The common part of the Elasticsearch and OpenSearch backends (see the module docstring).

    A subclass creates the client in ``open`` and supplies the few calls in
    which the two clients differ.
    """

    DEFAULT_BATCH_SIZE = 5000
    DEFAULT_BATCH_BYTES = 10 * 2**20
    SUPPORTS_VERSIONS = True
    SCHEMES: tuple[str, ...] = ()

    def __init__(
        self,
        location: ServerURI,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.location = location
        self.index = location.index
        self._client = client
        self.retry_policy = RetryPolicy(
            max_retries=location.option("max_retries", RetryPolicy.max_retries),
            initial_backoff=location.option("initial_backoff", RetryPolicy.initial_backoff),
            max_backoff=location.option("max_backoff", RetryPolicy.max_backoff),
        )
        self._max_request_bytes = location.option("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._counters = {"retried": 0, "version_conflicts": 0, "split": 0}
        self._created_index = False

    # -- what subclasses supply ------------------------------------------------------------

    def _streaming_bulk_helper(self) -> Callable[..., Iterator]:
        """The library's ``helpers.streaming_bulk``, imported on use (the library is optional)."""
        raise NotImplementedError

    def _request_failure(self, error: BaseException) -> _Outcome | None:
        """The outcome of a whole request that raised ``error``; ``None`` if not a client error."""
        raise NotImplementedError

    def _search_body(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        """Applies alias ``actions`` in one atomic ``_aliases`` request, sent again on a
        429 or 5xx (applied twice, its removals fail: the caller reads the alias back)."""
        self._retrying(functools.partial(self._send_alias_actions, actions))

    def _send_alias_actions(self, actions: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    # -- IndexBackend ----------------------------------------------------------------------

    def _streaming_bulk(self, actions: Iterable[tuple[dict, str | None]], count: int) -> Iterator:
        """The client's ``helpers.streaming_bulk`` over ``(action, body)`` pairs.

        Chunks of ``count`` actions at most (and of the URI's request bytes),
        per-item results rather than exceptions, and no retries in the helper.
        """
        return self._streaming_bulk_helper()(
            self._client,
            actions,
            chunk_size=max(count, 1),
            max_chunk_bytes=self._max_request_bytes,
            expand_action_callback=_action_pair,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=0,
        )

    @classmethod
    def normalize_uri(cls, uri: str) -> str:
        location = parse_server_uri(uri)
        if cls.SCHEMES and location.scheme not in cls.SCHEMES:
            raise ValueError(f"{cls.__name__} does not serve {location.scheme}:// URIs")
        return str(location)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.location)!r})"

    @classmethod
    def missing(cls, uri: str) -> str | None:
        """Why the server holds no index or alias of the URI's name; None when it holds
        one, or cannot be asked (the command's next request says why)."""
        try:
            with cls.open(uri) as index:
                if index.kind_of(index.index) == "missing":
                    return f"there is no index or alias {index.index!r} on the server"
        except Exception:
            return None
        return None

    def write_counters(self) -> dict[str, int]:
        """Totals since opening: items ``retried``, ``version_conflicts``, requests ``split``."""
        return dict(self._counters)

    def write_batch(
        self, documents: Sequence[Document], *, versions: Sequence[int | None] | None = None
    ) -> list[Refusal]:
        """Indexes ``documents`` by id; see the module docstring for what is retried or refused.

        ``versions``, when given, holds each document's external version
        (``None`` for none): the server keeps the highest, and a document
        older than the stored one counts as written.
        """
        if versions is not None and len(versions) != len(documents):
            raise ValueError("versions must give one entry per document")
        refusals: list[Refusal] = []
        pending: list[int] = []
        for position, document in enumerate(documents):
            problem = _document_problem(document)
            if problem:
                refusals.append(Refusal(position, str(document[0]), problem))
            else:
                pending.append(position)
        attempt = 0
        while pending:
            outcomes = self._send(
                [(documents[p], None if versions is None else versions[p]) for p in pending]
            )
            retry: list[int] = []
            last_retryable = None
            for position, outcome in zip(pending, outcomes, strict=True):
                versioned = versions is not None and versions[position] is not None
                verdict = _verdict(outcome, versioned)
                if verdict == "ok":
                    continue
                if verdict == "stale":
                    self._counters["version_conflicts"] += 1
                elif verdict == "retry":
                    retry.append(position)
                    last_retryable = outcome
                elif verdict == "fatal" and self._may_create_index(outcome):
                    retry.append(position)
                elif verdict == "fatal":
                    raise IndexWriteError(
                        f"index {self.index!r} refused writes: {_describe(outcome)}"
                    )
                else:
                    refusals.append(Refusal(position, documents[position].id, _describe(outcome)))
            if retry and last_retryable is None:
                pending = retry
                continue
            if retry:
                attempt += 1
                self._wait_to_retry(attempt, len(retry), "document(s)", last_retryable)
            pending = retry
        refusals.sort(key=lambda refusal: refusal.position)
        return refusals

    def _wait_to_retry(self, attempt: int, count: int, what: str, last: _Outcome) -> None:
        """Counts ``count`` items sent again and waits the policy's delay for round
        ``attempt``; ``IndexWriteError`` once the rounds allowed are spent."""
        if attempt > self.retry_policy.max_retries:
            raise IndexWriteError(
                f"{count} {what} still failing after {self.retry_policy.max_retries} retries "
                f"on index {self.index!r}; last: {_describe(last)}"
            )
        self._counters["retried"] += count
        delay = self.retry_policy.delay(attempt, self._rng)
        _LOGGER.info(
            "%s: %d %s to retry (%s); round %d in %.2f s",
            self.index,
            count,
            what,
            _describe(last),
            attempt,
            delay,
        )
        self._sleep(delay)

    def _may_create_index(self, outcome: _Outcome) -> bool:
        """Creates the missing index once (servers may forbid creating it by a write)."""
        if outcome.error_type != "index_not_found_exception" or self._created_index:
            return False
        self._created_index = True
        if self.kind_of(self.index) == "missing":
            _LOGGER.info("index %r does not exist; creating it", self.index)
            try:
                self.create_index(self.index)
            except Exception:
                if self.kind_of(self.index) == "missing":
                    raise
        return True

    def _send(self, items: list[tuple[Document, int | None]]) -> list[_Outcome]:
        """One outcome per item, in order; whole-request 400/413 split the items in halves."""
        outcomes: list[_Outcome] = []
        actions = (self._action(document, version) for document, version in items)
        try:
            for _ok, info in self._streaming_bulk(actions, len(items)):
                outcomes.append(_item_outcome(info))
        except Exception as error:
            failure = self._request_failure(error)
            if failure is None:
                raise
            rest = items[len(outcomes) :]
            if failure.status in (400, 413) and len(rest) > 1:
                self._counters["split"] += 1
                half = len(rest) // 2
                return outcomes + self._send(rest[:half]) + self._send(rest[half:])
            outcomes.extend([failure] * len(rest))
        return outcomes

    def _action(self, document: Document, version: int | None) -> tuple[dict, str]:
        meta: dict[str, Any] = {"_index": self.index, "_id": document.id}
        if version is not None:
            meta["version"] = version
            meta["version_type"] = "external"
        return {"index": meta}, document.body

    def delete(self, ids: Iterable[str]) -> int:
        """Deletes the documents of ``ids``; returns how many were there. A delete the
        server could not take now (429, 5xx, no answer) is sent again as a write is."""
        pending = list(ids)
        deleted = attempt = 0
        while pending:
            retry, last_retryable = [], None
            for doc_id, outcome, result in self._send_deletes(pending):
                verdict = _verdict(outcome, versioned=False)
                if result == "deleted":
                    deleted += 1
                elif verdict == "ok" or outcome.status == 404:  # not there: nothing to delete
                    continue
                elif verdict == "retry":
                    retry.append(doc_id)
                    last_retryable = outcome
                else:
                    raise IndexWriteError(f"delete failed: {_describe(outcome)}")
            if retry:
                attempt += 1
                self._wait_to_retry(attempt, len(retry), "delete(s)", last_retryable)
            pending = retry
        return deleted

    def _send_deletes(self, ids: list[str]) -> list[tuple[str, _Outcome, str | None]]:
        """``(id, outcome, result)`` of each delete, in order; a request that failed as a
        whole gives each of its deletes that failure."""
        actions = (({"delete": {"_index": self.index, "_id": doc_id}}, None) for doc_id in ids)
        answers: list[tuple[str, _Outcome, str | None]] = []
        try:
            for _ok, info in self._streaming_bulk(actions, len(ids)):
                ((_, item),) = info.items()
                answers.append((ids[len(answers)], _item_outcome(info), item.get("result")))
        except Exception as error:
            failure = self._request_failure(error)
            if failure is None:
                raise
            answers.extend((doc_id, failure, None) for doc_id in ids[len(answers) :])
        return answers

    def count(self) -> int:
        """Documents in the index after a refresh (0 when it does not exist yet)."""
        return self.count_of(self.index)

    def count_of(self, name: str) -> int:
        def count() -> int:
            if not self._client.indices.exists(index=name):
                return 0
            self._client.indices.refresh(index=name)
            return int(self._client.count(index=name)["count"])

        return self._retrying(count)

    def _retrying(self, request: Callable[[], Any]) -> Any:
        """``request()`` (one that only reads, or that may be sent twice), sent again on
        a 429 or a 5xx as the retry policy says: one busy moment of the server must not
        fail a run whose documents are all written. A server that does not answer is
        said at once (a command run against one that is down would wait minutes)."""
        attempt = 0
        while True:
            try:
                return request()
            except Exception as error:
                failure = self._request_failure(error)
                busy = failure is not None and failure.status is not None
                if not busy or _verdict(failure, versioned=False) != "retry":
                    raise
                attempt += 1
                if attempt > self.retry_policy.max_retries:
                    raise
                delay = self.retry_policy.delay(attempt, self._rng)
                _LOGGER.info("%s: %s; again in %.2f s", self.index, _describe(failure), delay)
                self._sleep(delay)

    def search(self, query: str, limit: int = 10, *, raw: bool = False) -> list[SearchHit]:
        """Best matches, best first; ``raw=True`` takes ``query_string`` syntax.

        Plain queries match documents holding every word (in any field),
        each word taken literally; a trailing ``*`` is a prefix match.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        response = self._query(query, raw, {"size": limit})
        if response is None:
            return []
        return [
            SearchHit(
                hit["_id"],
                float(hit.get("_score") or 0.0),
                json.dumps(hit.get("_source"), ensure_ascii=False),
            )
            for hit in response["hits"]["hits"]
        ]

    def count_matches(self, query: str, *, raw: bool = False) -> int:
        response = self._query(query, raw, {"size": 0, "track_total_hits": True})
        if response is None:
            return 0
        total = response["hits"]["total"]
        return int(total["value"] if isinstance(total, dict) else total)

    def _query(self, query: str, raw: bool, options: dict[str, Any]) -> dict[str, Any] | None:
        """The search response for ``query`` (see ``search``); None when nothing can match."""
        if raw:
            clause = {"query_string": {"query": query, "lenient": True}}
        else:
            text = _plain_words(query)
            if not text:
                return None
            clause = {
                "simple_query_string": {"query": text, "default_operator": "and", "lenient": True}
            }
        if not self._client.indices.exists(index=self.index):
            return None
        try:
            return self._search_body({"query": clause, **options})
        except Exception as error:
            failure = self._request_failure(error)
            if raw and failure is not None and failure.status == 400:
                raise ValueError(f"bad query {query!r}: {_describe(failure)}") from error
            raise

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get(self, ids: Iterable[str]) -> dict[str, str]:
        """``{id: body}`` of the documents with these ids (``_source`` as compact JSON)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        if not wanted or not self._client.indices.exists(index=self.index):
            return found
        for start in range(0, len(wanted), 500):
            body = {"ids": wanted[start : start + 500]}
            response = _plain(
                self._retrying(functools.partial(self._client.mget, index=self.index, body=body))
            )
            for doc in response.get("docs", []):
                if doc.get("found"):
                    found[doc["_id"]] = json.dumps(doc.get("_source"), ensure_ascii=False)
        return found

    def metadata(self) -> dict | None:
        """``_meta.dynamodb_reindex`` of the index's mapping (of the first index an alias names)."""
        if self.kind_of(self.index) == "missing":
            return None
        mappings = _plain(self._client.indices.get_mapping(index=self.index))
        for _, entry in sorted(mappings.items()):
            meta = (entry.get("mappings") or {}).get("_meta") or {}
            if isinstance(meta.get(META_KEY), dict):
                return meta[META_KEY]
        return None

    def set_metadata(self, meta: dict) -> None:
        """Sets ``_meta.dynamodb_reindex`` in the index's mapping (each index, for an alias).

        The rest of ``_meta`` is kept. The index is created first when missing.
        """
        if self.kind_of(self.index) == "missing":
            self.create_index(self.index)
        mappings = _plain(self._client.indices.get_mapping(index=self.index))
        for name, entry in sorted(mappings.items()):
            merged = dict((entry.get("mappings") or {}).get("_meta") or {})
            merged[META_KEY] = meta
            self._client.indices.put_mapping(index=name, body={"_meta": merged})

    # -- index and alias management (used by transforms.index.alias) -----------------------

    def create_index(self, name: str, body: dict[str, Any] | None = None) -> None:
        """Creates the index ``name``, with ``body`` (``settings``, ``mappings``) when given.

        A body the server refuses (HTTP 400) is a ``ValueError`` naming ``--index-config``.
        """
        if not body:
            self._client.indices.create(index=check_index_name(name))
            return
        try:
            self._client.indices.create(index=check_index_name(name), body=body)
        except Exception as error:
            meta = getattr(error, "meta", None)
            status = getattr(error, "status_code", None) or getattr(meta, "status", None)
            if status != 400:
                raise
            raise ValueError(
                f"the server refused to create index {name} with the settings and mappings "
                f"of --index-config: {' '.join(str(error).split())[:400]}"
            ) from error

    def index_config(self, name: str) -> dict[str, Any]:
        """``{"settings": ..., "mappings": ...}`` of the index ``name`` as the server reports them.

        For an alias, those of the first index it names.
        """
        settings = _plain(self._client.indices.get_settings(index=name))
        mappings = _plain(self._client.indices.get_mapping(index=name))
        first = sorted(settings)[0]
        return {
            "settings": settings[first].get("settings") or {},
            "mappings": (mappings.get(first) or {}).get("mappings") or {},
        }

    def kind_of(self, name: str) -> str:
        """``"alias"``, ``"index"`` or ``"missing"``."""

        def kind() -> str:
            if self._client.indices.exists_alias(name=name):
                return "alias"
            if self._client.indices.exists(index=name):
                return "index"
            return "missing"

        return self._retrying(kind)

    def alias_targets(self, alias: str) -> list[str]:
        """The indexes ``alias`` points to, sorted (empty when it does not exist)."""

        def targets() -> list[str]:
            if not self._client.indices.exists_alias(name=alias):
                return []
            return sorted(self._client.indices.get_alias(name=alias))

        return self._retrying(targets)

    def alias_properties(self, alias: str) -> dict[str, Any]:
        """What ``alias`` says beyond its indexes (``filter``, routing, ``is_write_index``,
        ``is_hidden``), as ``_aliases`` takes them: those of its first index (empty
        when it does not exist), to give the index that replaces them."""
        if not self._client.indices.exists_alias(name=alias):
            return {}
        found = _plain(self._client.indices.get_alias(name=alias))
        for name in sorted(found):
            properties = found[name].get("aliases", {}).get(alias) or {}
            return {key: value for key, value in properties.items() if key in _ALIAS_PROPERTIES}
        return {}

    def indexes_matching(self, pattern: str) -> list[str]:
        return sorted(self._client.indices.get(index=pattern))

    def delete_index(self, name: str) -> None:
        self._client.indices.delete(index=name)


def _plain(response: Any) -> dict[str, Any]:
    """A client response as a plain dict (the Elasticsearch client wraps it)."""
    return dict(getattr(response, "body", response))


def _document_problem(document: Document) -> str | None:
    doc_id, body = document
    if not isinstance(doc_id, str) or not isinstance(body, str):
        return f"id and body must be str, not {type(doc_id).__name__}, {type(body).__name__}"
    if not doc_id:
        return "the document id is empty"
    size = len(doc_id.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES:
        return f"the document id is {size} bytes; the server allows at most {MAX_ID_BYTES}"
    return None


def _verdict(outcome: _Outcome, versioned: bool) -> str:
    """``ok``, ``stale`` (409 on a versioned write), ``retry``, ``fatal`` or ``refuse``."""
    status = outcome.status
    if status is not None and 200 <= status < 300:
        return "ok"
    if status == 409 and versioned:
        return "stale"
    if status is None or status == 429 or status >= 500:
        return "retry"
    if status in (401, 403) or outcome.error_type in _FATAL_ERROR_TYPES:
        return "fatal"
    if status == 404 or _about_the_index(outcome):
        return "fatal"
    return "refuse"


def _about_the_index(outcome: _Outcome) -> bool:
    """A per-item 400 that is about the index, not the document: an alias over
    several indexes of which none is the write index refuses every write."""
    return outcome.error_type == "illegal_argument_exception" and "no write index" in (
        outcome.reason or ""
    )
