"""A fault-injecting HTTP/1.1 proxy on loopback, for DynamoDB-compatible servers.

The pipeline talks to the proxy (``--endpoint-url``), the proxy to the real
(local) server. For each request that matches (by default only ``Scan``,
told by the ``X-Amz-Target`` header, so the ``DescribeTable`` preflight
passes) a seeded random draw decides whether to forward it untouched or to
inject one fault:

* ``throttle``: HTTP 400 ``ProvisionedThroughputExceededException``, as DynamoDB;
* ``http500``: HTTP 500 ``InternalServerError``;
* ``http503``: HTTP 503 ``ServiceUnavailable``;
* ``reset``: the connection is reset (RST) before any answer;
* ``slow``: the request is held ``slow_seconds``, then forwarded;
* ``truncate``: forwarded, but the body is cut in half and the connection closed;
* ``denied``: HTTP 400 ``AccessDeniedException`` (not retryable);
* ``expired_token``: HTTP 400 ``ExpiredTokenException`` (not retryable);
* ``kill_sender``: the process that sent the request is killed (SIGKILL) while
  it waits for the answer, then the connection is reset; only a descendant of
  this process can be killed.

Injection is bounded: at most ``max_faults`` in total (and ``limits`` per
kind), only before ``deadline_seconds`` have passed since the start, and only
after the first ``after_requests`` matching requests. What was injected is
counted in :attr:`FaultProxy.injected`; every request by operation in
:attr:`FaultProxy.requests`, with its arrival time (``time.monotonic()``) in
:attr:`FaultProxy.request_times` – the requests of every process that talks
to the proxy, so a test can measure a job's request rate on any runner.
The proxy answers with ``TCP_NODELAY`` so that it adds no delay of its own.
Each Scan answered in full, as ``(segment, items)``, is in
:attr:`FaultProxy.scans`.

::

    with FaultProxy(server.endpoint_url, {"throttle": 0.3}, seed=1, max_faults=10) as proxy:
        run(endpoint_url=proxy.url)
    assert proxy.injected["throttle"] == 10
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FAULT_KINDS", "FaultProxy"]

FAULT_KINDS = (
    "throttle",
    "http500",
    "http503",
    "reset",
    "slow",
    "truncate",
    "denied",
    "expired_token",
    "kill_sender",
)

LOOPBACK = "127.0.0.1"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
_ERRORS = {
    "throttle": (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    "http500": (500, "InternalServerError", "Internal server error (injected)"),
    "http503": (503, "ServiceUnavailable", "Service unavailable (injected)"),
    "denied": (
        400,
        "AccessDeniedException",
        "User: arn:aws:sts::000000000000:assumed-role/reindex/test is not authorized to "
        "perform this action on the table (injected)",
    ),
    "expired_token": (
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired (injected)",
    ),
}


class FaultProxy:
    """Forwards HTTP requests to ``upstream`` and injects faults; a context manager.

    ``rates`` maps fault kinds (:data:`FAULT_KINDS`) to the probability of
    that fault for each matching request; the rates must add up to at most 1.
    ``operations``: the DynamoDB operations that may be faulted (``None``:
    every request).
    """

    def __init__(
        self,
        upstream: str,
        rates: Mapping[str, float],
        *,
        seed: int = 0,
        max_faults: int | None = 100,
        limits: Mapping[str, int] | None = None,
        deadline_seconds: float = 120.0,
        after_requests: int = 0,
        operations: Iterable[str] | None = ("Scan",),
        slow_seconds: float = 0.3,
    ):
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if any(rate < 0 for rate in rates.values()) or sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be >= 0 and add up to at most 1, got {rates}")
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.hostname != LOOPBACK:
            raise ValueError(f"the proxy only forwards to {LOOPBACK}, not {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.rates = dict(rates)
        self.max_faults = max_faults
        self.limits = dict(limits or {})
        self.deadline_seconds = deadline_seconds
        self.after_requests = after_requests
        self.operations = None if operations is None else frozenset(operations)
        self.slow_seconds = slow_seconds
        self.injected: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.request_times: collections.defaultdict[str, list[float]] = collections.defaultdict(
            list
        )
        self.killed_pids: list[int] = []
        self.scans: list[tuple[int | None, int]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._matching = 0
        self._deadline = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> FaultProxy:
        server = _QuietServer((LOOPBACK, 0), _ProxyHandler)
        server.daemon_threads = True
        server.proxy = self
        self._server = server
        self._deadline = time.monotonic() + self.deadline_seconds
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        self.url = f"http://{LOOPBACK}:{server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def record_scan(self, request: bytes, answer: bytes) -> None:
        """Notes the segment asked for and the items answered by one Scan."""
        try:
            segment = json.loads(request).get("Segment")
            count = int(json.loads(answer).get("Count", 0))
        except (ValueError, AttributeError):
            return
        with self._lock:
            self.scans.append((segment, count))

    @property
    def scanned_items(self) -> int:
        """Items of every Scan answered in full."""
        with self._lock:
            return sum(count for _, count in self.scans)

    def stop_faults(self) -> None:
        """From now on every request is forwarded untouched."""
        with self._lock:
            self._deadline = 0.0

    # -- decisions -------------------------------------------------------

    def decide(self, operation: str | None) -> str | None:
        """The fault to inject for one request, or ``None`` to forward it."""
        with self._lock:
            self.requests[operation or "other"] += 1
            self.request_times[operation or "other"].append(time.monotonic())
            if self.operations is not None and operation not in self.operations:
                return None
            self._matching += 1
            if self._matching <= self.after_requests:
                return None
            if self.max_faults is not None and self.total_injected >= self.max_faults:
                return None
            if time.monotonic() > self._deadline:
                return None
            draw = self._rng.random()
            threshold = 0.0
            for kind in FAULT_KINDS:
                threshold += self.rates.get(kind, 0.0)
                if draw < threshold:
                    if kind in self.limits and self.injected[kind] >= self.limits[kind]:
                        return None
                    self.injected[kind] += 1
                    return kind
            return None


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client goes away mid-request (a process killed on purpose)."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        if self._upstream is not None:
            self._upstream.close()

    def log_message(self, format, *args) -> None:
        pass

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_DELETE = do_POST

    @property
    def _proxy(self) -> FaultProxy:
        return self.server.proxy

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target") or ""
        operation = target.rpartition(".")[2] or None
        fault = self._proxy.decide(operation)
        if fault in _ERRORS:
            self._send_error_response(*_ERRORS[fault])
            return
        if fault == "reset":
            self._reset()
            return
        if fault == "kill_sender":
            self._kill_sender()
            self._reset()
            return
        if fault == "slow":
            time.sleep(self._proxy.slow_seconds)
        try:
            status, reason, headers, data = self._forward(body)
        except (OSError, http.client.HTTPException):
            self._reset()
            return
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        try:
            self.wfile.write(data)
        except OSError:  # the sender went away (killed, interrupted)
            self.close_connection = True
            return
        if operation == "Scan" and status == 200:
            self._proxy.record_scan(body, data)

    def _forward(self, body: bytes):
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP or name.lower() == "content-length"
        }
        for attempt in range(2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self._proxy.upstream, timeout=60)
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            except (OSError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _send_error_response(self, status: int, error_type: str, message: str) -> None:
        data = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message}
        ).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", "INJECTEDFAULT0000000000000000000000000000000000000")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Closes the client connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _kill_sender(self) -> None:
        pid = _socket_owner(self.client_address[1], self.server.server_address[1])
        if pid is not None and _is_descendant(pid):
            os.kill(pid, signal.SIGKILL)
            self._proxy.killed_pids.append(pid)


def _socket_owner(client_port: int, server_port: int) -> int | None:
    """The pid of the process holding the loopback TCP socket ``client_port -> server_port``."""
    wanted_local = f"0100007F:{client_port:04X}"
    wanted_remote = f"0100007F:{server_port:04X}"
    inode = None
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == wanted_local and fields[2] == wanted_remote:
                inode = fields[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        folder = f"/proc/{entry}/fd"
        try:
            for fd in os.listdir(folder):
                if os.readlink(f"{folder}/{fd}") == target:
                    return int(entry)
        except OSError:
            continue
    return None


def _is_descendant(pid: int) -> bool:
    """True if ``pid`` is a (grand)child of this process."""
    me = os.getpid()
    seen = 0
    while pid > 1 and seen < 64:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if parent == me:
            return True
        pid = parent
        seen += 1
    return False
