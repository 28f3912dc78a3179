"""A seeded fault-injecting HTTP proxy in front of a search server, on loopback.

It forwards every request to the upstream server and, for ``_bulk``
requests, injects what the loopback servers cannot produce on demand:

* ``item_faults``: the fraction of bulk items answered with a status drawn
  from ``item_statuses`` (429, 500, 503...) and *not* forwarded, inside an
  otherwise successful HTTP 200 response (``errors: true``) - a partial
  bulk failure exactly as a busy cluster returns it;
* ``request_faults``: the fraction of bulk requests answered as a whole
  with a status from ``request_statuses`` (nothing forwarded);
* ``drop_connections``: the fraction of bulk requests whose connection is
  closed without an answer;
* ``fail_ids``: ids answered with a given status on every attempt (a
  document that never gets through);
* ``max_request_bytes``: bulk bodies larger than this are answered 413, as
  a server with a smaller ``http.max_content_length``;
* ``lose_ids``: ids acknowledged with 201 but not forwarded (a server that
  loses acknowledged writes, to prove that verification catches it);
* ``reject_all_with``: answer every request with this status (401: wrong
  credentials);
* ``lose_answers_to``: paths (``/_aliases``) whose requests are forwarded and
  applied, and whose connection is then closed without an answer (a client
  timeout against a slow master looks the same);
* ``fail_first``: ``{path ending: status}``: the first request to a path
  ending so (``/_refresh``) is answered with that status, not forwarded;
  later ones pass (a busy moment of the server).

Every decision is a pure function of the seed and what is decided on (the
item's id and attempt number, or the ids and attempt numbers of the whole
request), so a run gives the same faults whatever the thread interleaving
and whatever the index is called.
``stats`` counts what was injected, how many items it answered with a
transient failure (429, 5xx, dropped), and how often each id was sent; the
``Authorization`` headers seen are kept for credential tests.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import http.client
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT = 30.0
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "accept-encoding",
    "proxy-connection",
}
_ERROR_TYPES = {
    429: "es_rejected_execution_exception",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "unavailable_shards_exception",
    504: "timeout_exception",
    401: "security_exception",
    413: "request_entity_too_large",
}


@dataclasses.dataclass
class FaultPlan:
    seed: int = 0
    item_faults: float = 0.0
    item_statuses: tuple[int, ...] = (429, 503)
    request_faults: float = 0.0
    request_statuses: tuple[int, ...] = (429, 503)
    drop_connections: float = 0.0
    fail_ids: dict[str, int] = dataclasses.field(default_factory=dict)
    max_request_bytes: int | None = None
    lose_ids: frozenset[str] = frozenset()
    reject_all_with: int | None = None
    lose_answers_to: frozenset[str] = frozenset()
    fail_first: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ProxyStats:
    bulk_requests: int = 0
    items_forwarded: int = 0
    injected: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    transient_failures: int = 0
    attempts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    authorization: list[str] = dataclasses.field(default_factory=list)


def _error_body(status: int, reason: str) -> dict:
    return {"type": _ERROR_TYPES.get(status, "injected_fault"), "reason": reason}


def _split_bulk(body: bytes) -> list[tuple[bytes, bytes | None, str, str]]:
    """``(action line, source line or None, op type, id)`` for each item of an NDJSON bulk body."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    items, i = [], 0
    while i < len(lines):
        action = lines[i]
        ((op, meta),) = json.loads(action).items()
        source = None
        if op != "delete":
            i += 1
            source = lines[i]
        items.append((action, source, op, str(meta.get("_id"))))
        i += 1
    return items


class FaultProxy:
    """``with FaultProxy(upstream, FaultPlan(...)) as proxy: ... proxy.url ...``"""

    def __init__(self, upstream: str, plan: FaultPlan | None = None):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.plan = plan or FaultPlan()
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._serve(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def base(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- forwarding ------------------------------------------------------------------------

    def _forward(self, method: str, path: str, headers, body: bytes):
        connection = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(
                method, path, body=body if body or method != "GET" else None, headers=sent
            )
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def _reply(self, handler, status: int, headers, data: bytes) -> None:
        handler.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                handler.send_header(key, value)
        if handler.command != "HEAD" or data:
            handler.send_header("Content-Length", str(len(data)))
        else:
            handler.send_header("Content-Length", "0")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def _reply_json(self, handler, status: int, payload: dict) -> None:
        headers = [("Content-Type", "application/json"), ("X-Elastic-Product", "Elasticsearch")]
        self._reply(handler, status, headers, json.dumps(payload).encode())

    def _serve(self, handler, body: bytes) -> None:
        auth = handler.headers.get("Authorization")
        with self._lock:
            if auth:
                self.stats.authorization.append(auth)
        plan = self.plan
        if plan.reject_all_with is not None:
            status = plan.reject_all_with
            with self._lock:
                self.stats.injected[f"request_{status}"] += 1
            self._reply_json(
                handler, status, {"error": _error_body(status, "injected"), "status": status}
            )
            return
        path = urlsplit(handler.path).path
        for ending, status in plan.fail_first.items():
            if path.endswith(ending) and not self.stats.injected[f"first {ending}"]:
                with self._lock:
                    self.stats.injected[f"first {ending}"] += 1
                body = {"error": _error_body(status, "injected"), "status": status}
                self._reply_json(handler, status, body)
                return
        if handler.command in ("POST", "PUT") and path.rstrip("/").endswith("_bulk"):
            self._serve_bulk(handler, body)
            return
        status, headers, data = self._forward(handler.command, handler.path, handler.headers, body)
        if path in plan.lose_answers_to:
            with self._lock:
                self.stats.injected[f"lost_answer {path}"] += 1
            handler.close_connection = True
            return
        self._reply(handler, status, headers, data)

    # -- bulk faults -----------------------------------------------------------------------

    def _serve_bulk(self, handler, body: bytes) -> None:
        plan = self.plan
        items = _split_bulk(body)
        with self._lock:
            self.stats.bulk_requests += 1
            attempts = []
            for *_, doc_id in items:
                attempts.append(self.stats.attempts[doc_id])
                self.stats.attempts[doc_id] += 1
        sent = ",".join(f"{doc_id}:{n}" for (*_, doc_id), n in zip(items, attempts, strict=True))
        digest = hashlib.sha256(sent.encode()).hexdigest()
        request_rng = random.Random(f"{plan.seed}:request:{digest}")
        if plan.max_request_bytes is not None and len(body) > plan.max_request_bytes:
            self._count("request_413")
            self._reply_json(
                handler, 413, {"error": _error_body(413, "request too large"), "status": 413}
            )
            return
        if request_rng.random() < plan.drop_connections:
            self._count("dropped_connection", transient=len(items))
            handler.close_connection = True
            return
        if request_rng.random() < plan.request_faults:
            status = request_rng.choice(plan.request_statuses)
            self._count(f"request_{status}", transient=len(items))
            self._reply_json(
                handler, status, {"error": _error_body(status, "injected"), "status": status}
            )
            return
        answers: list[dict | None] = []
        forwarded: list[bytes] = []
        for (action, source, op, doc_id), attempt in zip(items, attempts, strict=True):
            rng = random.Random(f"{plan.seed}:item:{doc_id}:{attempt}")
            status = plan.fail_ids.get(doc_id)
            if status is None and rng.random() < plan.item_faults:
                status = rng.choice(plan.item_statuses)
            if status is not None:
                self._count(f"item_{status}", transient=status == 429 or status >= 500)
                meta = {"_index": "?", "_id": doc_id, "status": status}
                meta["error"] = _error_body(status, "injected by the fault proxy")
                answers.append({op: meta})
            elif doc_id in plan.lose_ids:
                self._count("lost_write")
                answers.append({op: {"_id": doc_id, "status": 201, "result": "created"}})
            else:
                answers.append(None)
                forwarded.append(action)
                if source is not None:
                    forwarded.append(source)
        upstream_items: list[dict] = []
        headers = [("Content-Type", "application/json"), ("X-Elastic-Product", "Elasticsearch")]
        if forwarded:
            status, headers, data = self._forward(
                "POST", handler.path, handler.headers, b"\n".join(forwarded) + b"\n"
            )
            if status != 200:
                self._reply(handler, status, headers, data)
                return
            upstream_items = json.loads(data)["items"]
            with self._lock:
                self.stats.items_forwarded += len(upstream_items)
        upstream = iter(upstream_items)
        merged = [answer if answer is not None else next(upstream) for answer in answers]
        errors = any(
            not 200 <= next(iter(item.values())).get("status", 500) < 300 for item in merged
        )
        payload = {"took": 1, "errors": errors, "items": merged}
        self._reply(handler, 200, headers, json.dumps(payload).encode())

    def _count(self, kind: str, transient: int = 0) -> None:
        with self._lock:
            self.stats.injected[kind] += 1
            self.stats.transient_failures += int(transient)
