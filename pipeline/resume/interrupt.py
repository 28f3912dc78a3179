"""Stopping a reindex on SIGINT or SIGTERM: within seconds, with one line, resumable.

:class:`SignalStop` makes the first SIGINT or SIGTERM raise
:class:`RunInterrupted` in the main thread, where Beam's in-process runner
runs the bundles (and where the launcher waits for any other runner); a
second signal ends the process at once. The command line then removes what
the run left half-written (``beam-temp-*`` folders, temporary journal and
dead-letter files), prints :func:`interruption_line` and exits with 130
(SIGINT) or 143 (SIGTERM). Nothing committed is lost: the journal records a
bundle only after its documents and dead letters were written.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from pipeline import CONSOLE_SCRIPT, ran_as_console_script
from pipeline.resume.journaled_run import (
    JournaledRun,
    forget_started_runs,
    job_started,
    last_started_run,
)
from transforms.dead_letters import FILE_SUFFIX
from transforms.journal import SWAPPED, VERIFIED
from transforms.journal.files import TEMPORARY_SUFFIX, delete_matching, is_local, matching

__all__ = [
    "RunInterrupted",
    "SignalStop",
    "clean_up_after_interrupt",
    "interruption_line",
    "remove_beam_temp",
    "stop_requested",
]

EXIT_GRACE_SECONDS = 3.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REQUESTED: list[int] = []


def stop_requested() -> bool:
    """True once a signal asked the run in this process to stop."""
    return bool(_REQUESTED)


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM arrived; not an ``Exception``, so no ``except Exception`` swallows it.

    Built with :meth:`by`. The arguments are ``(message, signum)`` so that Beam,
    which raises a step's failure again as ``type(error)(message + " [while
    running 'step']", *rest)``, keeps it a ``RunInterrupted``.
    """

    def __init__(self, message: str, signum: int):
        super().__init__(message, signum)
        self.signum = signum

    def __str__(self) -> str:
        return self.args[0]

    @classmethod
    def by(cls, signum: int) -> RunInterrupted:
        return cls(f"stopped by {signal.Signals(signum).name}", signum)


class SignalStop:
    """Within ``with SignalStop() as stop:`` SIGINT and SIGTERM stop the run.

    ``stop.signum`` is the signal that arrived (None if none did);
    ``stop.exit_code`` is 128 + that signal. Outside the main thread it does
    nothing (Python delivers signals to the main thread only).
    """

    def __init__(self):
        self.signum: int | None = None
        self._saved: dict[int, object] = {}

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def __enter__(self) -> SignalStop:
        _REQUESTED.clear()
        forget_started_runs()
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            again = (
                "run the same command with --resume to continue the run (it removes what "
                "was left half-written)"
                if last_started_run() is not None
                else "run the same command again (this run kept no journal to resume; a new "
                "index it was building is left: delete it)"
            )
            print(
                f"stopped at once by a second {signal.Signals(signum).name}, without cleaning "
                f"up: {again}",
                file=sys.stderr,
            )
            _flush_and_exit(128 + self.signum)
        self.signum = signum
        _REQUESTED.append(signum)
        raise RunInterrupted.by(signum)

    def exit_soon(self) -> None:
        """Ends the process after a short grace if threads the runner left keep it alive."""
        timer = threading.Timer(EXIT_GRACE_SECONDS, _flush_and_exit, args=(self.exit_code,))
        timer.daemon = True
        timer.start()


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _folder_of(dead_letters: str) -> str:
    if dead_letters.endswith(FILE_SUFFIX):
        return FileSystems.split(dead_letters)[0] or "."
    return dead_letters


def remove_beam_temp(dead_letters: str) -> int:
    """Removes the ``beam-temp-*`` folders in the dead-letter folder; returns how many."""
    folder = _folder_of(dead_letters)
    if is_local(folder):
        found = glob.glob(os.path.join(glob.escape(folder), "beam-temp-*"))
        for path in found:
            shutil.rmtree(path, ignore_errors=True)
        return len(found)
    files = matching(FileSystems.join(folder, "beam-temp-*/**"))
    if files:
        FileSystems.delete(files)
    return len({path.split("beam-temp-", 1)[1].split("/", 1)[0] for path in files})


def clean_up_after_interrupt(config) -> None:
    """Removes what an interrupted run may have left half-written; never raises."""
    try:
        remove_beam_temp(config.dead_letters)
        delete_matching(FileSystems.join(_folder_of(config.dead_letters), "*" + TEMPORARY_SUFFIX))
        run = last_started_run()
        if run is not None:
            run.journal.remove_temporary()
    except Exception:
        pass


def command_prefix() -> str:
    """How to run this command again: ``dynamodb-reindex`` when it ran as that script,
    else ``python -m pipeline`` with the interpreter that runs it (named ``python``
    when that is the ``python`` on the PATH, as in an activated virtualenv)."""
    if ran_as_console_script():
        return CONSOLE_SCRIPT
    on_path = shutil.which("python")
    if on_path and os.path.abspath(on_path) == os.path.abspath(sys.executable):
        return "python -m pipeline"
    return f"{shlex.quote(sys.executable)} -m pipeline"


def _command(argv: Sequence[str], *, resume: bool) -> str:
    args = [arg for arg in argv if arg != "--resume"]
    return f"{command_prefix()} " + shlex.join([*args, "--resume"] if resume else args)


_STAGE_TEXT = {
    VERIFIED: "; the new index was verified",
    SWAPPED: "; the new index is live",
}


def _done_text(run: JournaledRun) -> str:
    state = run.state()
    done = sum(1 for s in state.values() if s.done)
    items = sum(s.items for s in state.values())
    stage = _STAGE_TEXT.get(run.stage, "")
    return f"{done} of {len(state)} segment(s) done, {items:,} items committed{stage}"


def interruption_line(signum: int, config, argv: Sequence[str]) -> str:
    """The one line saying what was done and the exact command that resumes."""
    name = signal.Signals(signum).name
    run = last_started_run()
    if config.swap_alias is not None:
        return (
            f"interrupted by {name}: the new index was removed, the alias did not move; "
            f"run the same command again: {_command(argv, resume=False)}"
        )
    if config.from_export:
        return (
            f"interrupted by {name}: an export is read again whole; run the same command "
            f"again: {_command(argv, resume=False)}"
        )
    if run is None and job_started():  # a runner that keeps no journal (Beam's Dask runner)
        return (
            f"interrupted by {name}: this runner keeps no run journal, so the run cannot "
            f"be resumed; run the same command again: {_command(argv, resume=False)}"
        )
    if run is None:
        what = "resumed" if config.resume else "started"
        return (
            f"interrupted by {name} before the scan {what}, nothing was written; run the "
            f"same command again: {_command(argv, resume=config.resume)}"
        )
    try:
        done = _done_text(run)
    except Exception:
        done = "progress unknown (the journal could not be read)"
    return f"interrupted by {name}: {done}; resume with: {_command(argv, resume=True)}"
