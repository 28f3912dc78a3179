"""The garbage collector's young-generation threshold, raised while workers decode.

A worker decodes pages of a thousand items into tens of thousands of small
objects that live until their bundle is written. With CPython's default
threshold (a collection every 700 new container objects) they are promoted
into the old generation, whose full passes then walk the whole heap of a Beam
worker (a few hundred thousand objects) every page or two. Measured with
``bench/page_cost.py``: about 200 ms per 1 MB page with the default, 75 ms
with a threshold of 10,000, for the same work. The count is of container
objects *alive* beyond those at the last collection, so records that are
written and dropped keep it low: with 50,000, a reindex of 100,000 items
(in process) runs 7 young collections instead of 525, and spends 0.15 s
instead of 0.7 s of its 10.5 s of CPU in the collector. Each young
collection still walks the pages in flight, so 200,000 (the threshold now)
gained again, measured side by side (whole processes, 5 pairs, medians):
reading and decoding 100,000 items with 2 worker threads ran no young
collection instead of 4 or 5 (0.18 s to 0.40 s of CPU), 0.92x the wall
time and 0.94x the CPU. An in-process reindex, which also encodes and
writes, gained little: 0.97x the CPU in one trial, no difference in
another; the same peak memory. Garbage without reference cycles is freed
at once whatever the threshold; only cycles wait for the next collection,
and only how often the collector runs changes.

The threshold belongs to the whole process, which on in-process runners is
the launching program too. So a DoFn *holds* the raised threshold from
``setup`` to ``teardown`` (:func:`hold_young_threshold`,
:func:`release_young_threshold`): the first holder raises it, the last one
to leave restores what was there before, unless someone else has set
another threshold meanwhile (theirs is kept). A threshold of 0 (automatic
collection off) or one already higher is never touched.
:func:`raise_young_threshold` raises it for good, for programs that own
their process (benchmarks).
"""

from __future__ import annotations

import gc
import threading

__all__ = [
    "WORKER_YOUNG_THRESHOLD",
    "hold_young_threshold",
    "raise_young_threshold",
    "release_young_threshold",
]

WORKER_YOUNG_THRESHOLD = 200_000

_LOCK = threading.Lock()
_holders = 0
_restore: tuple[tuple[int, ...], tuple[int, ...]] | None = None
"""(the thresholds before the first holder, the thresholds it set), while raised."""


def raise_young_threshold(minimum: int = WORKER_YOUNG_THRESHOLD) -> None:
    """Makes the young-generation threshold at least ``minimum``, for good.

    A higher threshold already set is kept, and so is a threshold of 0
    (automatic collection switched off).
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < minimum:
        gc.set_threshold(minimum, middle, old)


def hold_young_threshold(minimum: int = WORKER_YOUNG_THRESHOLD) -> None:
    """Raises the young-generation threshold to ``minimum`` for one more holder.

    Every call must be matched by one :func:`release_young_threshold`.
    Thread safe.
    """
    global _holders, _restore
    with _LOCK:
        _holders += 1
        if _holders > 1:
            return
        before = gc.get_threshold()
        young, middle, old = before
        if 0 < young < minimum:
            gc.set_threshold(minimum, middle, old)
            _restore = (before, gc.get_threshold())
        else:
            _restore = None


def release_young_threshold() -> None:
    """Ends one hold; the last one restores the threshold found by the first.

    The threshold is restored only if it is still the one the first holder
    set. A release without a hold does nothing.
    """
    global _holders, _restore
    with _LOCK:
        if _holders == 0:
            return
        _holders -= 1
        if _holders or _restore is None:
            return
        before, raised = _restore
        _restore = None
        if gc.get_threshold() == raised:
            gc.set_threshold(*before)
