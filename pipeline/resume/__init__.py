"""Runs that survive interruption: the run journal, ``--resume``, signals, progress.

* :mod:`.journaled_run`: a fresh run or a resume, checked against the journal;
* :mod:`.interrupt`: SIGINT/SIGTERM stop the run with one line and exit 130/143;
* :mod:`.progress`: the whole job's progress, printed by the launcher.

The journal itself, and what workers write to it, is :mod:`transforms.journal`.
"""

from pipeline.resume.interrupt import (
    RunInterrupted,
    SignalStop,
    clean_up_after_interrupt,
    interruption_line,
    remove_beam_temp,
    stop_requested,
)
from pipeline.resume.journaled_run import (
    DEFAULT_CHECKPOINT_SECONDS,
    JournaledRun,
    default_journal_path,
    note_job_started,
    open_journaled_run,
)
from pipeline.resume.progress import ProgressReporter, progress_line

__all__ = [
    "DEFAULT_CHECKPOINT_SECONDS",
    "JournaledRun",
    "ProgressReporter",
    "RunInterrupted",
    "SignalStop",
    "clean_up_after_interrupt",
    "default_journal_path",
    "interruption_line",
    "note_job_started",
    "open_journaled_run",
    "progress_line",
    "remove_beam_temp",
    "stop_requested",
]
