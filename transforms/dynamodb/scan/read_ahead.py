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
error it raised; a page that is taken re-raises its read's error as the
direct read would have. At most one read is ahead, so one more page of
memory per reading DoFn, and one more request for a restriction that
stops early.

Only a lone reader reads ahead: while several restrictions are read at once
in one process (the local engine's worker threads), one's round trip already
overlaps the others' processing, and the extra threads only contend for the
interpreter. Measured on the replay server (100,000 items, 8 segments, 2
CPUs): one reader in the process, 30 ms per request, a reindex 12.9 s → 11.7 s;
8 worker threads at 0 ms, read + decode 3.4–3.7 s → 4.0–4.8 s with every
reader reading ahead; 2 worker threads, no gain at 0 or 30 ms.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator

from transforms.dynamodb.scan.pages import ScanPage
from transforms.dynamodb.wire import Key

__all__ = ["READERS", "ActiveReaders", "PageReadAhead"]


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


READERS = ActiveReaders()
"""The scan's readers in this process (:class:`~transforms.dynamodb.scan.fn._ScanSegmentsFn`)."""


class PageReadAhead:
    """Reads pages through ``read(start_key)``, one page ahead when asked and alone.

    ``page(start_key)`` returns the page that starts after ``start_key``:
    the one read ahead for that key, or a direct read. ``ahead(start_key)``
    starts reading that page in the background, if ``readers`` says this is
    the only reader. ``drop()`` forgets a read ahead that will not be taken
    (without waiting for it).
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor,
        read: Callable[[Key | None], ScanPage],
        readers: ActiveReaders = READERS,
    ):
        self._executor = executor
        self._read = read
        self._readers = readers
        self._key: Key | None = None
        self._future: concurrent.futures.Future | None = None

    def ahead(self, start_key: Key) -> None:
        self.drop()
        if not self._readers.alone:
            return
        self._key = start_key
        self._future = self._executor.submit(self._read, start_key)

    def page(self, start_key: Key | None) -> ScanPage:
        future, key = self._future, self._key
        self._future = self._key = None
        if future is not None and key == start_key:
            return future.result()
        if future is not None:
            future.cancel()
        return self._read(start_key)

    def drop(self) -> None:
        if self._future is not None:
            self._future.cancel()
        self._future = self._key = None
