"""Logging for the command line: our progress at INFO, everything else at WARNING.

Importing Apache Beam without its Google Cloud extras logs a warning about
``apitools`` that concerns only BigQuery; it is dropped so that errors stay
one clear line.
"""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_NOISE = ("apitools not found",)


class _DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(noise) for noise in _NOISE)


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
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("pipeline", "transforms"):
        logging.getLogger(name).setLevel(logging.INFO)
    from transforms.dynamodb.log_redaction import (
        install_secret_redaction,  # imports Beam: after the handler
    )

    install_secret_redaction()
