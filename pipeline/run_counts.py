"""The counters of a reindex run: the runner's metrics, or a tally made in the pipeline.

The summaries read counters ``{(namespace, name): total}``. Where the runner
reports metrics they come from the result. Where it does not (Beam's Dask
runner), the reindex graph tallies the PCollections the summary counts
(:class:`~transforms.runners.tally.Tally`) into a file beside the dead letters, read
and removed after the run, and the dead letters are counted by stage from
the files written; the graph ends in one step after the tally and the
dead-letter files (:class:`~transforms.runners.tally.EndBranches`). Counters only the
steps themselves know (pages, read units, retries, checkpoints, compressed
bytes, deletes of existing documents) are then not known, and the summaries
say so.
"""

from __future__ import annotations

from collections import Counter as Occurrences
from collections.abc import Callable, Iterable
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline.summary import counter_totals
from transforms.dead_letters import read_dead_letters
from transforms.runners.capabilities import RunnerCapabilities
from transforms.runners.tally import Counter, read_tally

__all__ = [
    "SPINE_COUNTERS",
    "JobNotFinished",
    "check_tally_written",
    "needs_tally",
    "remove_stale_tally",
    "run_totals",
    "tally_path",
]

TALLY_NAME = "reindex-counts.json"


def needs_tally(capabilities: RunnerCapabilities) -> bool:
    """True where the counts must be made in the pipeline (no metrics, or not every branch run)."""
    return not (capabilities.metrics and capabilities.all_branches)


def tally_path(dead_letters: str) -> str:
    """Where the tally goes: inside the dead-letter folder, or beside the one dead-letter file.

    Workers write it and the launcher reads it, as they do the dead letters.
    """
    if dead_letters.endswith(".jsonl"):
        return dead_letters[: -len(".jsonl")] + ".counts.json"
    return FileSystems.join(dead_letters, TALLY_NAME)


def remove_stale_tally(tally: str | None) -> None:
    """Removes a tally an earlier run left at ``tally``, before the job starts:
    the launcher then reads this job's counts, or finds none."""
    if tally is not None and FileSystems.exists(tally):
        FileSystems.delete([tally])


class JobNotFinished(RuntimeError):
    """The runner said the job finished, but its tally was never written."""


def check_tally_written(tally: str | None) -> None:
    """Raises :class:`JobNotFinished` when the job had to write ``tally`` and did not
    (Beam's Dask runner ends a job whose scheduler was lost as if it had finished)."""
    if tally is not None and not FileSystems.exists(tally):
        raise JobNotFinished(
            f"the job ended without writing its counts to {tally}, so it did not run to its "
            "end: the Dask scheduler or its workers may have been lost"
        )


def _decoded(_) -> list[Counter]:
    return [("reindex", "decoded")]


def _indexed(_) -> list[Counter]:
    return [("reindex", "indexed")]


def _deleted(_) -> list[Counter]:
    return [("reindex", "index_deletes")]


SPINE_COUNTERS: dict[str, Callable[[Any], Iterable[Counter]]] = {
    "records": _decoded,
    "indexed": _indexed,
    "deleted": _deleted,
}
"""What the spine tallies of its own stages; a source adds its ``tally_counters``."""


def dead_letter_totals(dead_letters: str) -> dict[Counter, int]:
    """The counters of the dead letters written to ``dead_letters``: in all and by stage."""
    stages = Occurrences(letter["stage"] for letter in read_dead_letters(dead_letters))
    totals = {("reindex", f"dead_letters_{stage}"): count for stage, count in stages.items()}
    return {("reindex", "dead_letters"): sum(stages.values()), **totals}


def run_totals(result, tally: str | None, dead_letters: str) -> dict[Counter, int]:
    """The run's counters, from the metrics where ``tally`` is None.

    Otherwise from the tally at ``tally`` (removed once read) and the dead
    letters written to ``dead_letters``.
    """
    if tally is None:
        return counter_totals(result)
    totals = read_tally(tally)
    FileSystems.delete([tally])
    return {**totals, **dead_letter_totals(dead_letters)}
