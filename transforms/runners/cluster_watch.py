"""Watching a Dask cluster while a job waits for it to finish.

A job on Beam's Dask runner whose workers have all gone (killed, or a
cluster scaled to nothing) waits, silently, until a worker joins: that is
dask's behaviour, and the launcher would show nothing. While the launcher
waits, :func:`wait_until_finish` asks the scheduler how many workers it has
and logs one warning once there have been none for ``no_workers_after``
seconds, and one line when workers are back. On other runners it only
waits.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["NO_WORKERS_AFTER", "wait_until_finish"]

_LOGGER = logging.getLogger(__name__)

NO_WORKERS_AFTER = 30.0
"""Seconds without a worker before the launcher says so: longer than a
worker's restart after a crash (a nanny restarts one in a few seconds)."""
POLL_SECONDS = 5.0


def wait_until_finish(
    result, *, no_workers_after: float = NO_WORKERS_AFTER, poll_seconds: float = POLL_SECONDS
):
    """``result.wait_until_finish()``, saying when a Dask cluster has no workers."""
    client = getattr(result, "client", None)
    if client is None or not hasattr(client, "scheduler_info"):
        return result.wait_until_finish()
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch,
        args=(client, stop, no_workers_after, poll_seconds),
        name="dask-workers-watch",
        daemon=True,
    )
    watcher.start()
    try:
        return result.wait_until_finish()
    finally:
        stop.set()
        watcher.join(poll_seconds + 1.0)


def _workers(client) -> int | None:
    try:
        return len(client.scheduler_info(n_workers=-1)["workers"])
    except Exception:  # the scheduler is gone: the job's own wait reports it
        return None


def _watch(client, stop: threading.Event, no_workers_after: float, poll_seconds: float) -> None:
    address = getattr(getattr(client, "scheduler", None), "address", "its address")
    alone_since = None
    said = False
    while not stop.wait(poll_seconds):
        workers = _workers(client)
        if workers is None:
            continue
        if workers:
            if said:
                _LOGGER.warning("the Dask cluster has %d worker(s) again: the job goes on", workers)
            alone_since, said = None, False
            continue
        alone_since = alone_since if alone_since is not None else time.monotonic()
        if not said and time.monotonic() - alone_since >= no_workers_after:
            _LOGGER.warning(
                "the Dask cluster at %s has had no workers for %.0f s: the job waits until "
                "one joins (start one with: dask worker %s), or stop it with Ctrl-C",
                address,
                time.monotonic() - alone_since,
                address,
            )
            said = True
