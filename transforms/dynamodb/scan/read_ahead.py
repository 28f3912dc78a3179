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
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from transforms.dynamodb.scan.pages import ScanPage
from transforms.dynamodb.wire import Key

__all__ = ["PageReadAhead"]


class PageReadAhead:
    """Reads pages through ``read(start_key)``, one page ahead when asked.

    ``page(start_key)`` returns the page that starts after ``start_key``:
    the one read ahead for that key, or a direct read. ``ahead(start_key)``
    starts reading that page in the background. ``drop()`` forgets a read
    ahead that will not be taken (without waiting for it).
    """

    def __init__(
        self, executor: concurrent.futures.Executor, read: Callable[[Key | None], ScanPage]
    ):
        self._executor = executor
        self._read = read
        self._key: Key | None = None
        self._future: concurrent.futures.Future | None = None

    def ahead(self, start_key: Key) -> None:
        self.drop()
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
