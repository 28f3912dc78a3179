"""Reading a segment's next page while the current one is processed.

A Scan page is only known to exist once the previous one has ended (its
``LastEvaluatedKey``), so a segment read page after page waits for every
request in turn: the request's round trip, then the page's processing
(emitting, decoding, encoding, writing downstream in the same bundle). A
:class:`PageReadAhead` asks for the next page on a thread of its own as soon
as its start key is known, so that the round trip overlaps the processing.

It only reads: a page is claimed (and its items emitted) by the caller, in
order, exactly as without it. A page read ahead that is not taken – the
restriction was split, checkpointed or ended – is dropped, and with it any
error it raised (a read still retrying stops at its next failure); a page
that is taken re-raises its read's error as the direct read would have. At
most one read is ahead, so one more page of memory per reading DoFn, and
one more request for a restriction that stops early.

Reading ahead costs CPU (a second thread parsing while the first one
processes: about 4% of a reindex's CPU), so it is done only where it hides
a wait:

* by a lone reader: while several restrictions are read at once in one
  process (the local engine's worker threads), one's round trip already
  overlaps the others' processing, and the extra threads only contend for
  the interpreter;
* when the page read directly before (each restriction's first, or the
  first after a read ahead was not taken) waited at least
  :data:`MIN_WAIT_SECONDS` beyond its own CPU time.

Measured on the replay server (100,000 items, 8 segments, 2 CPUs): one
reader in the process at 30 ms per request, a reindex on one CPU 12.8 s →
11.4 s; 8 worker threads at 0 ms, read + decode 3.4–3.7 s → 4.0–4.8 s with
every reader reading ahead; 2 worker threads, no gain at 0 or 30 ms; one
reader at 0 ms, 4% more CPU for the same wall time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from transforms.dynamodb.scan.pages import ScanPage
from transforms.dynamodb.wire import Key

__all__ = ["MIN_WAIT_SECONDS", "READERS", "ActiveReaders", "PageReadAhead"]


class ActiveReaders:
    """How many restrictions are being read at once in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Counts one reader for the duration of the block."""
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    @property
    def alone(self) -> bool:
        """True while at most one reader is counted."""
        return self._count <= 1


MIN_WAIT_SECONDS = 0.01
"""A direct read must have waited this long beyond its CPU time for the next
pages to be read ahead (the round trip it would hide)."""

READERS = ActiveReaders()
"""The scan's readers in this process (:class:`~transforms.dynamodb.scan.fn._ScanSegmentsFn`)."""


class PageReadAhead:
    """Reads pages through ``read(start_key, abandoned=None)``, one page ahead when it pays.

    ``page(start_key)`` returns the page that starts after ``start_key``:
    the one read ahead for that key, or a direct read. ``ahead(start_key)``
    starts reading that page in the background when ``readers`` says this is
    the only reader and the last direct read waited at least ``min_wait``
    seconds beyond its own CPU time (the round trip: network and server).
    ``drop()`` forgets a read ahead that will not be taken, without waiting
    for it; its ``abandoned()`` turns true, so that it does not go on
    retrying a failing request.
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor,
        read: Callable[..., ScanPage],
        readers: ActiveReaders = READERS,
        min_wait: float = MIN_WAIT_SECONDS,
    ):
        self._executor = executor
        self._read = read
        self._readers = readers
        self._min_wait = min_wait
        self._waits = min_wait <= 0  # 0: always
        self._key: Key | None = None
        self._future: concurrent.futures.Future | None = None
        self._dropped = threading.Event()

    def ahead(self, start_key: Key) -> None:
        self.drop()
        if not (self._waits and self._readers.alone):
            return
        self._key, self._dropped = start_key, threading.Event()
        self._future = self._executor.submit(self._read, start_key, abandoned=self._dropped.is_set)

    def page(self, start_key: Key | None) -> ScanPage:
        if self._future is not None and self._key == start_key:
            future = self._future
            self._future = self._key = None
            return future.result()
        self.drop()
        wall, cpu = time.perf_counter(), time.thread_time()
        page = self._read(start_key)
        waited = (time.perf_counter() - wall) - (time.thread_time() - cpu)
        self._waits = self._min_wait <= 0 or waited >= self._min_wait
        return page

    def drop(self) -> None:
        if self._future is not None:
            self._future.cancel()
            self._dropped.set()  # a read retrying stops at its next failure
        self._future = self._key = None
