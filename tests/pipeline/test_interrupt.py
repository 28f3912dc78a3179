"""What an interrupted reindex leaves and says, without running one."""

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.resume import SignalStop, interruption_line, remove_beam_temp, stop_requested
from pipeline.resume.interrupt import command_prefix
from pipeline.resume.journaled_run import forget_started_runs, note_job_started
from tests.reindex_runs import ROOT, index_sink_args, reindex_config, start_cli

ARGV = ["reindex", "--table", "works", "--dead-letters", "out/dead letters"]


def test_beam_temp_folders_are_removed_and_nothing_else(tmp_path):
    dead = tmp_path / "dead"
    (dead / "beam-temp-dead-letters-1234" / "sub").mkdir(parents=True)
    (dead / "beam-temp-dead-letters-1234" / "sub" / "part").write_text("x")
    (dead / "beam-temp-empty").mkdir()
    (dead / "dead-letters-00000-of-00001.jsonl").write_text("")
    (dead / "journal").mkdir()
    assert remove_beam_temp(str(dead)) == 2
    assert sorted(p.name for p in dead.iterdir()) == [
        "dead-letters-00000-of-00001.jsonl",
        "journal",
    ]
    (tmp_path / "beam-temp-x").mkdir()
    assert remove_beam_temp(str(tmp_path / "single.jsonl")) == 1


def test_lines_when_there_is_nothing_to_resume(tmp_path):
    forget_started_runs()
    config = reindex_config("http://unused", "works", tmp_path)
    assert interruption_line(signal.SIGINT, config, ARGV) == (
        "interrupted by SIGINT before the scan started, nothing was written; run the same "
        f"command again: {command_prefix()} reindex --table works --dead-letters "
        "'out/dead letters'"
    )
    swap = reindex_config("http://unused", "works", tmp_path, swap_alias="")
    assert interruption_line(signal.SIGTERM, swap, [*ARGV, "--swap-alias"]).startswith(
        "interrupted by SIGTERM: the new index was removed, the alias did not move; run the "
        f"same command again: {command_prefix()} reindex"
    )
    export = reindex_config("http://unused", "", tmp_path, from_export="s3://b/e")
    assert "an export is read again whole" in interruption_line(signal.SIGINT, export, ARGV)
    resumed = reindex_config("http://unused", "works", tmp_path, resume=True)
    assert interruption_line(signal.SIGINT, resumed, [*ARGV, "--resume"]).endswith(
        "before the scan resumed, nothing was written; run the same command again: "
        f"{command_prefix()} reindex --table works --dead-letters 'out/dead letters' --resume"
    )


def test_a_job_without_a_journal_is_said_to_start_again(tmp_path):
    """Beam's Dask runner keeps no journal: the job ran, and runs again whole."""
    forget_started_runs()
    note_job_started()
    try:
        config = reindex_config("http://unused", "works", tmp_path)
        assert interruption_line(signal.SIGTERM, config, ARGV) == (
            "interrupted by SIGTERM: this runner keeps no run journal, so the run cannot be "
            f"resumed; run the same command again: {command_prefix()} reindex --table works "
            "--dead-letters 'out/dead letters'"
        )
    finally:
        forget_started_runs()


def test_signal_stop_raises_once_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    caught = None
    with SignalStop() as stop:
        try:
            signal.raise_signal(signal.SIGTERM)
        except BaseException as error:
            caught = error
    assert type(caught).__name__ == "RunInterrupted" and not isinstance(caught, Exception)
    assert stop.signum == signal.SIGTERM and stop.exit_code == 143 and stop_requested()
    assert signal.getsignal(signal.SIGTERM) is before


class _SignalAtStartBundle(beam.DoFn):
    """A step after the first of its stage that gets SIGTERM while starting a bundle."""

    def start_bundle(self):
        signal.raise_signal(signal.SIGTERM)

    def process(self, element):
        yield element


def _run_into_a_signal_at_start_bundle():
    options = PipelineOptions(runner="FnApiRunner")
    with beam.Pipeline(options=options) as p:
        _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x) | beam.ParDo(_SignalAtStartBundle())


def test_a_signal_inside_a_beam_step_stays_a_run_interrupted():
    """Beam raises a step's failure again with the step's name; it stays a
    ``RunInterrupted`` (an ``Exception`` could be swallowed on its way up)."""
    caught = None
    with SignalStop() as stop:
        try:
            _run_into_a_signal_at_start_bundle()
        except BaseException as error:
            caught = error
    assert type(caught).__name__ == "RunInterrupted", repr(caught)
    assert caught.signum == signal.SIGTERM == stop.signum
    assert str(caught).startswith("stopped by SIGTERM")


def test_a_second_signal_to_a_following_catch_up_inside_a_beam_step_is_an_interruption(capsys):
    """``catch-up --follow``: the first signal asks to stop after the catch-up under way,
    a second one abandons it, also while a Beam step runs (exit 130/143, not a failure)."""
    from pipeline.catch_up.command import _StopOnInterrupt

    caught = None
    with _StopOnInterrupt() as interrupt:
        signal.raise_signal(signal.SIGTERM)
        assert interrupt.stop.is_set() and interrupt.signum == signal.SIGTERM
        try:
            _run_into_a_signal_at_start_bundle()
        except BaseException as error:
            caught = error
    assert type(caught).__name__ == "RunInterrupted", repr(caught)
    assert caught.signum == signal.SIGTERM
    assert "SIGTERM: stopping once the catch-up under way" in capsys.readouterr().err


def test_a_signal_inside_a_beam_step_logs_no_traceback():
    """Beam logs a failing step with its traceback; for an interruption the
    command line's one line is all that is said."""
    script = textwrap.dedent(
        """
        from pipeline.logs import configure_logging
        configure_logging()
        from pipeline.resume import SignalStop
        from tests.pipeline.test_interrupt import _run_into_a_signal_at_start_bundle
        with SignalStop():
            try:
                _run_into_a_signal_at_start_bundle()
            except BaseException as error:
                print(type(error).__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "RunInterrupted\n"
    assert "Traceback" not in done.stderr and "stopped by" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "journaled, advice",
    [
        (
            True,
            "run the same command with --resume to continue the run (it removes what was "
            "left half-written)",
        ),
        (
            False,
            "run the same command again (this run kept no journal to resume; a new index it "
            "was building is left: delete it)",
        ),
    ],
    ids=["journal", "no_journal"],
)
def test_a_second_signal_ends_the_process_at_once_with_one_line(journaled, advice):
    script = textwrap.dedent(
        f"""
        import signal
        from pipeline.resume import RunInterrupted, SignalStop, journaled_run
        with SignalStop():
            if {journaled}:
                journaled_run._STARTED.append(object())  # a run whose journal is kept
            try:
                signal.raise_signal(signal.SIGINT)
            except RunInterrupted:
                signal.raise_signal(signal.SIGTERM)  # while the first one is handled
        print("not reached")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 130 and done.stdout == ""
    assert done.stderr.splitlines()[-1:] == [
        f"stopped at once by a second SIGTERM, without cleaning up: {advice}"
    ]


def test_the_command_to_run_again_names_the_interpreter_that_ran_it(tmp_path, monkeypatch):
    """``python`` only when the ``python`` on the PATH is this interpreter (an activated
    virtualenv); else its path, so that the printed command finds the installed packages."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "python").write_text("#!/bin/sh\n")
    (other / "python").chmod(0o755)
    monkeypatch.setenv("PATH", str(other))
    assert command_prefix() == f"{shlex.quote(sys.executable)} -m pipeline"
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    if os.path.basename(sys.executable) == "python":
        assert command_prefix() == "python -m pipeline"
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/dynamodb-reindex", "reindex"])
    assert command_prefix() == "dynamodb-reindex"


# -- a signal before the run's own handlers ------------------------------------------------


def _stopped_by(signum: int, process: subprocess.Popen) -> tuple[int, list[str]]:
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running 30 s after {signal.Signals(signum).name}")
    return process.returncode, [line for line in stderr.splitlines() if "apitools" not in line]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["plan", "reindex"])
def test_a_signal_while_the_endpoint_does_not_answer_ends_the_command_in_one_line(
    silent_endpoint, tmp_path, signum, command
):
    args = ["plan", "--table", "works"]
    if command == "reindex":
        args = ["reindex", "--table", "works", *index_sink_args(tmp_path)]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = start_cli(*args, "--endpoint-url", silent_endpoint, "--region", "us-east-1", env=env)
    time.sleep(4)  # past the start-up: waiting for DescribeTable's answer
    code, lines = _stopped_by(signum, process)
    assert code == 128 + signum, lines
    assert lines == [f"error: interrupted by {signal.Signals(signum).name}"]
    assert not (tmp_path / "index.db").exists()


def _catches(process: subprocess.Popen, signum: int) -> bool:
    """Whether ``process`` has a handler for ``signum`` (Linux: the SigCgt mask)."""
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _wait_until_it_catches(process: subprocess.Popen, signum: int) -> None:
    """Until the package's first statement has run: before it, the interpreter is
    still starting and the signal's default action ends the process."""
    deadline = time.monotonic() + 30
    while not _catches(process, signum):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no handler 30 s after the start"
        time.sleep(0.002)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0, 0.05, 0.4])
def test_a_signal_while_the_command_starts_ends_it_in_one_line(tmp_path, signum, delay):
    """Once ``python -m pipeline`` runs its first statement -- before the command line is
    read, or while Beam is imported -- a signal ends it in one line, no traceback."""
    process = start_cli("reindex", "--table", "works", *index_sink_args(tmp_path))
    _wait_until_it_catches(process, signal.SIGTERM)  # the interpreter catches SIGINT itself
    time.sleep(delay)
    code, lines = _stopped_by(signum, process)
    assert code == 128 + signum, lines
    assert lines == [f"error: interrupted by {signal.Signals(signum).name}"]
