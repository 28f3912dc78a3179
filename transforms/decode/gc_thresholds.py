"""The garbage collector's young-generation threshold, raised for workers.

A worker decodes pages of a thousand items into tens of thousands of small
objects that live until their bundle is written. With CPython's default
threshold (a collection every 700 new container objects) they are promoted
into the old generation, whose full passes then walk the whole heap of a Beam
worker (a few hundred thousand objects) every page or two. Measured with
``bench/page_cost.py``: about 200 ms per 1 MB page with the default, 75 ms
with a threshold of 10,000, for the same work. Nothing is collected later
than a few thousand allocations: only how often the collector runs changes.
"""

from __future__ import annotations

import gc

__all__ = ["WORKER_YOUNG_THRESHOLD", "raise_young_threshold"]

WORKER_YOUNG_THRESHOLD = 10_000


def raise_young_threshold(minimum: int = WORKER_YOUNG_THRESHOLD) -> None:
    """Makes the young-generation threshold at least ``minimum``.

    A higher threshold already set is kept, and so is a threshold of 0
    (automatic collection switched off).
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < minimum:
        gc.set_threshold(minimum, middle, old)
