"""Logging for the command line: our progress at INFO, everything else at WARNING.

Importing Apache Beam without its Google Cloud extras logs a warning about
``apitools`` that concerns only BigQuery; it is dropped so that errors stay
one clear line. Beam's file sink warns "Deleting N existing files in target
path matching: -*-of-%(num_shards)05d" when a run rewrites a dead-letter
folder (the only files written through Beam's sinks); that is said instead as
one INFO line in the project's words. When SIGINT or SIGTERM stops a run,
Beam logs the interruption with its traceback for the step it stopped in;
that is dropped too, since the command line says in one line what was done
and how to resume. When a worker process dies, Beam's threads and loggers
report it with a traceback each (a dozen of them for two workers); each is
said in one line instead (its message and the exception's last line), and
the command's own error line says what happened to the run. The Dask
client's records are dropped (a traceback per lost connection when its
scheduler goes): the job's failure is its one error line.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

__all__ = ["configure_logging"]

_NOISE = (
    "apitools not found",
    # Beam's S3 writer logs the traceback of an upload it could not start (a missing
    # bucket, say), then raises the error, which the command says in one line
    "Error in _start_upload while inserting file",
)


class _DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(noise) for noise in _NOISE)


class _QuietDask(logging.Filter):
    """Drops dask.distributed's records below CRITICAL: its client logs its start and,
    when the scheduler goes, a traceback per lost connection, while the job's failure
    is one error line. A filter on the handler, as dask sets its own loggers' levels
    when it is imported, after ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("distributed") and record.levelno < logging.CRITICAL)


class _DropInterruptTracebacks(logging.Filter):
    """Drops records logged while a signal's ``RunInterrupted`` is being raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        from pipeline.resume.interrupt import RunInterrupted  # imports Beam: not at start-up

        return not isinstance(record.exc_info[1], RunInterrupted)


_RUNNER_PACKAGES = ("/apache_beam/", "/grpc/")


def _one_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__


class _OneLineRunnerTracebacks(logging.Filter):
    """Beam's own records with a traceback become one line: the message and the exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.startswith("apache_beam"):
            record.msg = f"{record.getMessage()} ({_one_line(record.exc_info[1])})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def _raised_in_runner(traceback: TracebackType | None) -> bool:
    """True when the innermost frame of ``traceback`` is Beam's or gRPC's code."""
    last = None
    while traceback is not None:
        last, traceback = traceback, traceback.tb_next
    return last is not None and any(
        package in last.tb_frame.f_code.co_filename for package in _RUNNER_PACKAGES
    )


def _runner_thread_errors_in_one_line(default_hook):
    """A ``threading.excepthook`` that says a failure inside a runner's thread in one line."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if not _raised_in_runner(args.exc_traceback):
            default_hook(args)
            return
        name = args.thread.name if args.thread is not None else "?"
        logging.getLogger("pipeline").warning(
            "the runner's thread %s stopped: %s", name, _one_line(args.exc_value)
        )

    return hook


_BEAM_FILE_SINK = "apache_beam.io.filebasedsink"
_BEAM_REPLACES_FILES = "Deleting %d existing files in target path matching"
_DEAD_LETTERS_LOGGER = logging.getLogger("transforms.dead_letters")


class _ReplacedFilesInOurWords(logging.Filter):
    """Turns Beam's warning about the files a sink replaces into our INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(_BEAM_REPLACES_FILES)):
            return True
        count = record.args[0] if isinstance(record.args, tuple) and record.args else "the"
        _DEAD_LETTERS_LOGGER.info("replacing %s dead-letter file(s) of an earlier run", count)
        return False


def configure_logging() -> None:
    """Call before importing Beam; safe to call twice.

    Log records redact credentials and signatures (``transforms.dynamodb.log_redaction``).
    """
    root = logging.getLogger()
    if any(isinstance(f, _DropKnownNoise) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_DropKnownNoise())
    handler.addFilter(_DropInterruptTracebacks())
    handler.addFilter(_OneLineRunnerTracebacks())
    handler.addFilter(_QuietDask())
    root.addHandler(handler)
    threading.excepthook = _runner_thread_errors_in_one_line(threading.excepthook)
    root.setLevel(logging.WARNING)
    for name in ("pipeline", "transforms"):
        logging.getLogger(name).setLevel(logging.INFO)
    for name in ("opensearch", "elasticsearch", "elastic_transport"):  # a traceback per failed
        logging.getLogger(name).setLevel(logging.ERROR)  # request; errors say it in one line
    # Beam's Dask runner warns, for each in-memory input it makes a bag of, that its
    # default partition size has changed since an earlier Beam version
    logging.getLogger("apache_beam.runners.dask.transform_evaluator").setLevel(logging.ERROR)
    logging.getLogger(_BEAM_FILE_SINK).addFilter(_ReplacedFilesInOurWords())
    from transforms.dynamodb.log_redaction import (
        install_secret_redaction,  # imports Beam: after the handler
    )

    install_secret_redaction()
