"""Progress of the whole job, printed by the launcher at a steady interval.

Every worker process writes its running counts to the journal
(:mod:`transforms.journal.progress`); a thread of the launcher sums them
every ``interval`` seconds and prints, on stderr, one plain line (wrapped here)::

    progress: 1,234 of ~5,000 items (24.7%; ItemCount is approximate), 410 items/s,
    ETA 0:00:09, 3 dead letters

or, when stderr is a terminal, redraws one live bar::

    [#####---------------]  24.7%  1,234 of ~5,000 items  410 items/s  ETA 0:00:09  3 dead letters

Items count what the scan read, including what earlier attempts of a
resumed run committed; the total is the table's ``ItemCount`` from
``DescribeTable``, which DynamoDB refreshes about every six hours, so the
percentage may stop short of or pass 100%. ``items/s`` is this attempt's
average and the ETA divides what is left by it (``ETA unknown`` before the
first items, and once the count passes the estimate). Without an
``ItemCount`` the line reads ``1,234 items (ItemCount unknown)``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from transforms.journal import JournalRef, read_progress

__all__ = ["ProgressReporter", "eta_text", "progress_line"]

BAR_WIDTH = 20


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA unknown"
    seconds = round(seconds)
    return f"ETA {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _eta(done: int, total: int | None, rate: float) -> float | None:
    if not total or rate <= 0 or done >= total:
        return None
    return (total - done) / rate


def progress_line(
    done: int, total: int | None, rate: float, dead_letters: int, *, bar: bool = False
) -> str:
    """One progress line (see the module docstring); ``bar`` for the terminal form."""
    eta = eta_text(_eta(done, total, rate))
    letters = f"{dead_letters:,} dead letter{'' if dead_letters == 1 else 's'}"
    if bar:
        share = min(done / total, 1.0) if total else 0.0
        filled = round(share * BAR_WIDTH)
        count = f"{done:,} of ~{total:,} items" if total else f"{done:,} items"
        percent = f"{done / total:6.1%}" if total else "     ?"
        return (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent}  {count}  "
            f"{rate:,.0f} items/s  {eta}  {letters}"
        )
    if total:
        count = f"{done:,} of ~{total:,} items ({done / total:.1%}; ItemCount is approximate)"
    else:
        count = f"{done:,} items (ItemCount unknown)"
    return f"progress: {count}, {rate:,.0f} items/s, {eta}, {letters}"


class ProgressReporter:
    """Prints the job's progress every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        ref: JournalRef,
        *,
        approximate_items: int | None,
        items_before: int = 0,
        dead_letters_before: int = 0,
        interval: float = 10.0,
        stream: TextIO | None = None,
    ):
        self._ref = ref
        self._total = approximate_items or None
        self._items_before = items_before
        self._interval = interval
        self._stream = stream or sys.stderr
        self._bar = bool(getattr(self._stream, "isatty", lambda: False)())
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reindex-progress", daemon=True)
        self._started = time.monotonic()
        self._letters_before = dead_letters_before

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread and prints a last line."""
        if not self._thread.is_alive():
            return
        self._stopped.set()
        self._thread.join(timeout=10)

    def line(self) -> str:
        counts = read_progress(self._ref.path, self._ref.attempt_id)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return progress_line(
            self._items_before + counts.items,
            self._total,
            counts.items / elapsed,
            self._letters_before + counts.dead_letters,
            bar=self._bar,
        )

    def _print(self, *, last: bool = False) -> None:
        try:
            text = self.line()
        except Exception:  # a progress line must never stop the job
            return
        if self._bar:
            self._stream.write(f"\r{text}\x1b[K" + ("\n" if last else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self._print()
        self._print(last=True)
