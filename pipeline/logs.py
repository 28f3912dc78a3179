"""Logging for the command line: our progress at INFO, everything else at WARNING.

Importing Apache Beam without its Google Cloud extras logs a warning about
``apitools`` that concerns only BigQuery; it is dropped so that errors stay
one clear line. Beam's file sink warns "Deleting N existing files in target
path matching: -*-of-%(num_shards)05d" when a run rewrites a dead-letter
folder (the only files written through Beam's sinks); that is said instead as
one INFO line in the project's words. When SIGINT or SIGTERM stops a run,
Beam logs the interruption with its traceback for the step it stopped in;
that is dropped too, since the command line says in one line what was done
and how to resume.
"""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_NOISE = ("apitools not found",)


class _DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(noise) for noise in _NOISE)


class _DropInterruptTracebacks(logging.Filter):
    """Drops records logged while a signal's ``RunInterrupted`` is being raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        from pipeline.resume.interrupt import RunInterrupted  # imports Beam: not at start-up

        return not isinstance(record.exc_info[1], RunInterrupted)


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
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("pipeline", "transforms"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger(_BEAM_FILE_SINK).addFilter(_ReplacedFilesInOurWords())
    from transforms.dynamodb.log_redaction import (
        install_secret_redaction,  # imports Beam: after the handler
    )

    install_secret_redaction()
