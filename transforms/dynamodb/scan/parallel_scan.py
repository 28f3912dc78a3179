"""``parallel_scan``: the scan source without Beam, for scripts and notebooks.

Example::

    for item in parallel_scan("works", total_segments=8, threads=8):
        ...

Threads read segments with the same request building, retries and read
ceiling as ``ReadFromDynamoDB``. Memory holds at most about two pages per
thread: each thread hands over one page at a time through a bounded queue.
Items come out in wire format (binary as ``bytes``), in no particular order.
With ``decode_at_read=DecodeAtRead(Model, key_attributes)`` every item that
fits the model comes out as its :class:`~transforms.decode.keyed_record.KeyedRecord`
instead, decoded as its page is parsed (:mod:`transforms.decode.wire_structs`);
the others stay wire items, for ``compile_decoder(Model)`` to say why::

    decode = compile_decoder(Work)
    for item in parallel_scan("works", decode_at_read=DecodeAtRead(Work, ("id",))):
        record = item.record if isinstance(item, KeyedRecord) else decode(item)

Closing the iterator early stops the threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.rate_limit import ReadRateLimiter
from transforms.dynamodb.scan.pages import RetryPolicy, ScanPageReader
from transforms.dynamodb.scan.request import ScanRequest
from transforms.dynamodb.scan.restriction import validate_segments
from transforms.dynamodb.scan.source import (
    SegmentItem,
    build_scan_request,
    check_rate_options,
    scan_options,
)
from transforms.dynamodb.table_description import TableDescription

__all__ = ["parallel_scan"]

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _read_segments(
    request: ScanRequest,
    client_config: DynamoDBClientConfig,
    retry_policy: RetryPolicy,
    limiter: ReadRateLimiter | None,
    todo: queue.Queue,
    pages: queue.Queue,
    stop: threading.Event,
    decode_at_read: DecodeAtRead | None = None,
) -> None:
    item_decoder = decode_at_read.decoder() if decode_at_read is not None else None
    if item_decoder is None:
        client = client_config.create_client()
    else:
        client = client_config.create_client(item_decoder)
    reader = ScanPageReader(
        client, request, retry_policy, client_config.endpoint_url, limiter=limiter
    )
    try:
        while not stop.is_set():
            try:
                segment = todo.get_nowait()
            except queue.Empty:
                return
            start_key = None
            while not stop.is_set():
                page = reader.read(segment, start_key)
                _put(pages, (segment, page.items), stop)
                start_key = page.last_evaluated_key
                if start_key is None:
                    break
    except BaseException as error:  # handed to the consumer, which raises it
        _put(pages, _Failure(error), stop)
    finally:
        client.close()
        _put(pages, _DONE, stop)


def _put(pages: queue.Queue, value: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pages.put(value, timeout=0.2)
            return
        except queue.Full:
            continue


def parallel_scan(
    table_name: str,
    total_segments: int | None = None,
    page_size: int | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    *,
    segments: Sequence[int] | None = None,
    threads: int | None = None,
    consistent_read: bool = False,
    index_name: str | None = None,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    expression_attribute_names: Mapping[str, str] | None = None,
    expression_attribute_values: Mapping[str, Any] | None = None,
    max_read_units_per_second: float | None = None,
    with_segments: bool = False,
    table_description: TableDescription | None = None,
    client_config: DynamoDBClientConfig | None = None,
    retry_policy: RetryPolicy = RetryPolicy(),
    decode_at_read: DecodeAtRead | None = None,
) -> Iterator[Any]:
    """Yields every item of the table (or :class:`SegmentItem` with ``with_segments``).

    ``threads`` defaults to the number of segments read, at most 32. The
    options are those of ``ReadFromDynamoDB``; errors are the same
    :class:`~transforms.dynamodb.scan.errors.ScanError` subclasses.
    ``decode_at_read``: see the module docstring.
    """
    if total_segments is not None:
        validate_segments(total_segments, tuple(segments) if segments is not None else None)
    check_rate_options(max_read_units_per_second, None, None)
    client_config = client_config or DynamoDBClientConfig(
        region_name=region_name, endpoint_url=endpoint_url
    )
    request = build_scan_request(
        table_name,
        total_segments,
        tuple(segments) if segments is not None else None,
        threads,
        table_description,
        client_config,
        scan_options(
            page_size,
            consistent_read,
            index_name,
            projection,
            filter_expression,
            expression_attribute_names,
            expression_attribute_values,
        ),
    )
    chosen = request.segments if request.segments is not None else range(request.total_segments)
    threads = threads or min(len(chosen), 32)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return _scan(
        request,
        chosen,
        threads,
        client_config,
        retry_policy,
        max_read_units_per_second,
        with_segments,
        decode_at_read,
    )


def _scan(
    request, chosen, threads, client_config, retry_policy, ceiling, with_segments, decode_at_read
):
    limiter = ReadRateLimiter(ceiling) if ceiling else None
    todo: queue.Queue = queue.Queue()
    for segment in chosen:
        todo.put(segment)
    pages: queue.Queue = queue.Queue(maxsize=threads)
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=_read_segments,
            args=(request, client_config, retry_policy, limiter, todo, pages, stop, decode_at_read),
            name=f"parallel-scan-{n}",
            daemon=True,
        )
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            value = pages.get()
            if value is _DONE:
                running -= 1
            elif isinstance(value, _Failure):
                raise value.error
            elif with_segments:
                segment, items = value
                for item in items:
                    yield SegmentItem(segment, request.total_segments, item)
            else:
                yield from value[1]
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5)
