"""A replay server: a DynamoDB endpoint that serves pre-built Scan pages from memory.

Benchmarks of the client need a server that costs almost nothing: moto re-walks
its table on every page (about 700 items/s), so against moto one measures moto.
This server generates the sample ``works`` table once (``pipeline.local.sample_data``,
deterministic for a seed), cuts each segment into pages the way DynamoDB does
(at most 1 MB of item data by DynamoDB's size rule, or ``Limit`` items; a page
cut by the limit carries a ``LastEvaluatedKey`` even when nothing follows, and
the next page is then empty), and keeps every page as ready JSON bytes with its
``x-amz-crc32``. A request is answered by a dictionary look-up of
``(TotalSegments, Limit, Segment, ExclusiveStartKey)`` and a write, after a
configurable latency that stands in for the real service.

It speaks the two operations a reindex uses, ``DescribeTable`` and ``Scan``
(``Segment``, ``TotalSegments``, ``Limit``, ``ExclusiveStartKey``,
``ConsistentRead``, ``ReturnConsumedCapacity``), over HTTP/1.1 keep-alive on
loopback, and refuses anything else with a DynamoDB-style error. Signatures are
not checked. Items go to segment ``md5(id) % TotalSegments``.

Run it alone::

    python bench/replay_server.py --items 100000 --latency-ms 30
    # prints: READY http://127.0.0.1:PORT  (table 'works', 100,000 items)

It stops by itself after ``--max-seconds`` (default one hour), or when its
standard input closes – which is how :class:`ReplayServer`, the context manager
that benchmarks use, ties its life to theirs. In the background, give it an
input that stays open without data, ``sleep infinity | python bench/replay_server.py
... &``: a script's background job reads ``/dev/null``, which ends at once, and
an endless input such as ``/dev/zero`` keeps a CPU busy reading it, which would
count against every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.local.sample_data import generate_items, item_size
from transforms.dynamodb.wire import item_to_json

__all__ = ["ReplayServer", "ReplayTable", "main"]

LOOPBACK = "127.0.0.1"
PAGE_BYTES = 1024 * 1024
"""DynamoDB's page limit: 1 MB of item data, by its own item-size rule."""
READ_UNIT_BYTES = 4096
_TARGET_PREFIX = "DynamoDB_20120810."
_JSON_TYPE = "application/x-amz-json-1.0"


def _canonical_key(key: Any) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Page:
    """One ready Scan response: its body without the closing brace, and the
    consumed-capacity member that goes before the brace when asked for."""

    __slots__ = ("body", "capacity", "crc_body")

    def __init__(self, body: bytes, capacity: bytes):
        self.body = body
        self.capacity = capacity
        self.crc_body = zlib.crc32(body)

    def response(self, with_capacity: bool) -> tuple[bytes, bytes, int]:
        tail = (self.capacity if with_capacity else b"") + b"}"
        return self.body, tail, zlib.crc32(tail, self.crc_body)


class _Segment:
    """The pages of one segment, found by the key they start after."""

    def __init__(self, pages: list[_Page], starts: dict[str, int]):
        self.pages = pages
        self.starts = starts


class ReplayTable:
    """The table served: items as ready JSON, and their pages per layout.

    A layout is ``(total_segments, limit, consistent)``; it is built on first
    use (or by :meth:`layout` ahead of time) and kept.
    """

    def __init__(self, name: str, entries: Sequence[tuple[str, bytes, bytes, int]]):
        self.name = name
        # (canonical key, key JSON, item JSON, DynamoDB item size) per item
        self._entries = entries
        self._hashes = [
            int.from_bytes(hashlib.md5(key.encode()).digest()[:8], "big") for key, *_ in entries
        ]
        self._layouts: dict[tuple[int, int | None, bool], list[_Segment]] = {}
        self._lock = threading.Lock()
        self.item_count = len(entries)
        self.size_bytes = sum(size for *_, size in entries)

    @classmethod
    def from_items(cls, name: str, items: Iterable[dict], hash_key: str = "id") -> ReplayTable:
        entries = []
        for item in items:
            key = {hash_key: item[hash_key]}
            key_json = item_to_json(key)
            entries.append(
                (
                    _canonical_key(key_json),
                    json.dumps(key_json, separators=(",", ":"), ensure_ascii=False).encode(),
                    json.dumps(
                        item_to_json(item), separators=(",", ":"), ensure_ascii=False
                    ).encode(),
                    item_size(item),
                )
            )
        return cls(name, entries)

    def layout(self, total_segments: int, limit: int | None, consistent: bool) -> list[_Segment]:
        key = (total_segments, limit, consistent)
        segments = self._layouts.get(key)
        if segments is None:
            with self._lock:
                segments = self._layouts.get(key)
                if segments is None:
                    segments = self._layouts[key] = self._build(total_segments, limit, consistent)
        return segments

    def _build(self, total: int, limit: int | None, consistent: bool) -> list[_Segment]:
        members: list[list[int]] = [[] for _ in range(total)]
        for index, value in enumerate(self._hashes):
            members[value % total].append(index)
        return [self._segment(indexes, limit, consistent) for indexes in members]

    def _segment(self, indexes: list[int], limit: int | None, consistent: bool) -> _Segment:
        pages: list[_Page] = []
        starts: dict[str, int] = {}
        position = 0
        start_key = ""
        while True:
            chosen, size, full = [], 0, False
            while position < len(indexes):
                item_bytes = self._entries[indexes[position]][3]
                if chosen and size + item_bytes > PAGE_BYTES:
                    full = True
                    break
                chosen.append(indexes[position])
                size += item_bytes
                position += 1
                if limit is not None and len(chosen) >= limit:
                    full = True
                    break
            starts[start_key] = len(pages)
            last = self._entries[chosen[-1]] if full else None
            pages.append(self._page(chosen, size, last, consistent))
            if last is None:
                return _Segment(pages, starts)
            start_key = last[0]

    def _page(self, chosen: list[int], size: int, last, consistent: bool) -> _Page:
        count = str(len(chosen)).encode()
        parts = [b'{"Items":[', b",".join(self._entries[i][2] for i in chosen), b"]"]
        parts += [b',"Count":', count, b',"ScannedCount":', count]
        if last is not None:
            parts += [b',"LastEvaluatedKey":', last[1]]
        units = math.ceil(size / READ_UNIT_BYTES) * (1.0 if consistent else 0.5)
        capacity = json.dumps({"TableName": self.name, "CapacityUnits": units}).encode()
        return _Page(b"".join(parts), b',"ConsumedCapacity":' + capacity)

    def describe(self) -> dict:
        return {
            "Table": {
                "TableName": self.name,
                "TableStatus": "ACTIVE",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "ItemCount": self.item_count,
                "TableSizeBytes": self.size_bytes,
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                "ProvisionedThroughput": {
                    "NumberOfDecreasesToday": 0,
                    "ReadCapacityUnits": 0,
                    "WriteCapacityUnits": 0,
                },
                "CreationDateTime": 1.7e9,
            }
        }


class _ClientError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


_SUPPORTED_SCAN_PARAMETERS = {
    "TableName",
    "Segment",
    "TotalSegments",
    "Limit",
    "ExclusiveStartKey",
    "ConsistentRead",
    "ReturnConsumedCapacity",
}


def _scan_page(table: ReplayTable, request: dict) -> tuple[bytes, bytes, int]:
    if request.get("TableName") != table.name:
        raise _ClientError(
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "Requested resource not found",
        )
    unsupported = sorted(set(request) - _SUPPORTED_SCAN_PARAMETERS)
    if unsupported:
        raise _ClientError(
            "com.amazon.coral.validate#ValidationException",
            f"the replay server does not support {', '.join(unsupported)}",
        )
    total = int(request.get("TotalSegments", 1))
    segment = int(request.get("Segment", 0))
    if not 0 <= segment < total:
        raise _ClientError("com.amazon.coral.validate#ValidationException", "bad Segment")
    limit = request.get("Limit")
    consistent = bool(request.get("ConsistentRead", False))
    pages = table.layout(total, int(limit) if limit else None, consistent)[segment]
    start = request.get("ExclusiveStartKey")
    index = pages.starts.get("" if start is None else _canonical_key(start))
    if index is None:
        raise _ClientError(
            "com.amazon.coral.validate#ValidationException",
            "The provided starting key is invalid",
        )
    wanted = request.get("ReturnConsumedCapacity", "NONE") != "NONE"
    return pages.pages[index].response(wanted)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ReplayHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        operation = target[len(_TARGET_PREFIX) :] if target.startswith(_TARGET_PREFIX) else ""
        if self.server.latency:
            time.sleep(self.server.latency)
        try:
            request = json.loads(raw or b"{}")
            if operation == "Scan":
                self._reply(200, *_scan_page(self.server.table, request))
            elif operation == "DescribeTable":
                if request.get("TableName") != self.server.table.name:
                    raise _ClientError(
                        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                        f"Requested resource not found: Table: {request.get('TableName')} "
                        "not found",
                    )
                body = json.dumps(self.server.table.describe()).encode()
                self._reply(200, body, b"", zlib.crc32(body))
            else:
                raise _ClientError(
                    "com.amazon.coral.service#UnknownOperationException",
                    f"the replay server does not serve {target or 'this request'}",
                )
        except _ClientError as error:
            body = json.dumps({"__type": error.code, "message": str(error)}).encode()
            self._reply(error.status, body, b"", zlib.crc32(body))
        except (ValueError, TypeError) as error:
            body = json.dumps(
                {"__type": "com.amazon.coral.service#SerializationException", "message": str(error)}
            ).encode()
            self._reply(400, body, b"", zlib.crc32(body))

    def _reply(self, status: int, body: bytes, tail: bytes, crc: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", _JSON_TYPE)
        self.send_header("Content-Length", str(len(body) + len(tail)))
        self.send_header("x-amz-crc32", str(crc & 0xFFFFFFFF))
        self.send_header("x-amzn-RequestId", f"replay-{next(self.server.request_ids)}")
        self.end_headers()
        self.wfile.write(body)
        if tail:
            self.wfile.write(tail)


class _ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, table: ReplayTable, latency: float, port: int = 0):
        super().__init__((LOOPBACK, port), _Handler)
        self.table = table
        self.latency = latency
        self.request_ids = _Counter()


class _Counter:
    def __init__(self):
        self._value = 0
        self._lock = threading.Lock()

    def __next__(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


def _stop_when_stdin_closes(server: ThreadingHTTPServer) -> None:
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()


def _parse_layouts(text: str) -> list[tuple[int, int | None]]:
    layouts = []
    for part in filter(None, text.split(",")):
        total, _, limit = part.partition(":")
        layouts.append((int(total), int(limit) if limit else None))
    return layouts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--malformed-fraction", type=float, default=0.0)
    parser.add_argument("--payload-bytes", type=int, default=0)
    parser.add_argument("--table", default="works")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--layouts",
        default="",
        help="build these pages before serving: TOTAL[:LIMIT],... e.g. 1,4,16:100",
    )
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)

    samples = generate_items(
        args.items,
        malformed_fraction=args.malformed_fraction,
        seed=args.seed,
        payload_bytes=args.payload_bytes,
    )
    table = ReplayTable.from_items(args.table, (sample.item for sample in samples))
    for total, limit in _parse_layouts(args.layouts):
        table.layout(total, limit, False)
    server = _ReplayHTTPServer(table, args.latency_ms / 1000.0, args.port)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    _stop_when_stdin_closes(server)
    host, port = server.server_address[:2]
    print(
        f"READY http://{host}:{port}  (table {args.table!r}, {table.item_count:,} items)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


class ReplayServer:
    """Runs :func:`main` in its own process on a free loopback port.

    A context manager: ``endpoint_url`` is set once the pages are built and the
    server answers; leaving the block (or the parent's exit) stops it.
    """

    def __init__(
        self,
        items: int,
        *,
        latency_ms: float = 0.0,
        seed: int = 0,
        malformed_fraction: float = 0.0,
        payload_bytes: int = 0,
        table: str = "works",
        layouts: Sequence[tuple[int, int | None]] = (),
        max_seconds: float = 3600.0,
        startup_timeout: float = 600.0,
    ):
        self.items = items
        self.table = table
        self._args = [
            f"--items={items}",
            f"--latency-ms={latency_ms}",
            f"--seed={seed}",
            f"--malformed-fraction={malformed_fraction}",
            f"--payload-bytes={payload_bytes}",
            f"--table={table}",
            "--layouts=" + ",".join(f"{t}:{lim}" if lim else str(t) for t, lim in layouts),
            f"--max-seconds={max_seconds}",
        ]
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen | None = None
        self.endpoint_url: str | None = None

    def __enter__(self) -> ReplayServer:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self._process.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(self._startup_timeout)
        line = ready[0] if ready else ""
        if not line.startswith("READY "):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the replay server did not start: {line!r}")
        self.endpoint_url = line.split()[1]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        process.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
