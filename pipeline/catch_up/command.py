"""The ``catch-up`` command: apply the table's changes since the bookmark, from its stream.

::

    python -m pipeline catch-up --table works --model pipeline.models:Work \\
        --index sqlite:///out/index.db --dead-letters out/dead-letters \\
        --bookmark out/bookmark.json [--follow [--interval 10]]

A run reads the bookmark, applies every change after it
(:func:`transforms.dynamodb.stream.catch_up`) and writes the advanced
bookmark. Without a bookmark, ``--since TIME`` starts one: every change
made since TIME is applied (use the time the reindex started). ``--follow``
runs again every ``--interval`` seconds until SIGINT: a catch-up under way
finishes and saves its bookmark first (a second SIGINT abandons it; the
bookmark then stays where the previous catch-up left it).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pipeline.catch_up.args import DEFAULT_INTERVAL_SECONDS
from pipeline.catch_up.job import (
    CatchUpConfig,
    CatchUpResult,
    catch_up,
    catch_up_since,
    check_bookmark_folder,
)
from pipeline.reindex import load_model
from pipeline.resume.interrupt import RunInterrupted
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.stream import bookmark_exists

__all__ = ["CatchUpUsageError", "CommandOutcome", "config_from_args", "run_catch_up_command"]


class CatchUpUsageError(ValueError):
    """The command line cannot work as given; the message says what to change."""


@dataclasses.dataclass
class CommandOutcome:
    """How a ``catch-up`` command ended: rounds run, all accounted for, stopped by SIGINT."""

    rounds: int
    accounted_for: bool
    interrupted: bool
    signum: int | None = None


def config_from_args(args: argparse.Namespace) -> CatchUpConfig:
    """The :class:`CatchUpConfig` of parsed ``catch-up`` arguments."""
    if args.dead_letters.endswith(".jsonl"):
        raise CatchUpUsageError(
            f"--dead-letters must be a folder (each catch-up writes its own file there), "
            f"not the file {args.dead_letters!r}"
        )
    return CatchUpConfig(
        table=args.table,
        model=load_model(args.model),
        index=args.index,
        dead_letters=args.dead_letters,
        client_config=DynamoDBClientConfig(
            region_name=args.region,
            endpoint_url=args.endpoint_url,
            max_attempts=args.max_attempts,
        ),
        streams_endpoint_url=args.streams_endpoint_url,
        forbid_unknown=args.strict_attributes,
        batch_size=args.batch_size,
        safety_margin=timedelta(seconds=args.safety_margin),
        version_field=args.version_field,
    )


def check_arguments(args: argparse.Namespace) -> None:
    """``CatchUpUsageError`` for options that do not go together."""
    if args.interval is not None and not args.follow:
        raise CatchUpUsageError("--interval needs --follow")
    if getattr(args, "version_field", None):
        from transforms.index import backend_class

        if not backend_class(args.index).SUPPORTS_VERSIONS:
            raise CatchUpUsageError(
                "--version-field needs an index with external versions (elasticsearch, "
                f"opensearch); {args.index.split(':', 1)[0]} has none"
            )


class _StopOnInterrupt:
    """While active, SIGINT or SIGTERM sets ``stop`` (and ``signum``) instead of
    raising; a second signal raises ``RunInterrupted`` (which a Beam step under
    way raises again as it is, and whose traceback is not logged)."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.stop.is_set():  # not a KeyboardInterrupt: Beam keeps it what it is
            raise RunInterrupted.by(signum)
        self.signum = signum
        self.stop.set()
        print(
            f"{signal.Signals(signum).name}: stopping once the catch-up under way has saved "
            "its bookmark (signal again to abandon it)",
            file=sys.stderr,
        )

    def __enter__(self) -> _StopOnInterrupt:
        for signum in self._SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def _first(
    args: argparse.Namespace, config: CatchUpConfig, beam_args: Sequence[str]
) -> CatchUpResult:
    if bookmark_exists(args.bookmark):
        return catch_up(config, args.bookmark, beam_args)
    if args.since is None:
        raise CatchUpUsageError(
            f"no bookmark at {args.bookmark}: a bookmark is written by `reindex --catch-up`; "
            "to start one, pass --since TIME (e.g. when the last reindex started) to apply "
            "every change since then"
        )
    return catch_up_since(args.since, config, beam_args, bookmark_path=args.bookmark)


def _report(result: CatchUpResult, full: bool, report: Callable[[str], None]) -> bool:
    summary = result.summary
    report(summary.render() if full else summary.line())
    problem = summary.problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
    return summary.accounted_for


def run_catch_up_command(
    args: argparse.Namespace,
    beam_args: Sequence[str],
    report: Callable[[str], None] = print,
) -> CommandOutcome:
    """Runs ``catch-up`` as parsed; ``report`` receives each summary.

    Raises ``CatchUpUsageError`` / ``BookmarkError`` for a command line that
    cannot work, ``StreamCatchUpError`` (``NoStream``, ``StreamGap``) when
    the stream cannot catch up, and ``RunInterrupted`` when a second signal
    abandoned a catch-up (its bookmark not advanced).
    """
    check_arguments(args)
    config = config_from_args(args)
    if args.since is not None and bookmark_exists(args.bookmark):
        raise CatchUpUsageError(
            f"a bookmark exists at {args.bookmark}: drop --since to go on from it "
            "(or remove it to start again from --since)"
        )
    check_bookmark_folder(args.bookmark)
    if not args.follow:
        ok = _report(_first(args, config, beam_args), True, report)
        return CommandOutcome(1, ok, interrupted=False)
    interval = DEFAULT_INTERVAL_SECONDS if args.interval is None else args.interval
    with _StopOnInterrupt() as interrupt:
        ok = _report(_first(args, config, beam_args), False, report)
        rounds = 1
        while not interrupt.stop.wait(interval):
            ok = _report(catch_up(config, args.bookmark, beam_args), False, report) and ok
            rounds += 1
    print(
        f"stopped after {rounds} catch-up(s); the bookmark {args.bookmark} is saved",
        file=sys.stderr,
    )
    return CommandOutcome(rounds, ok, interrupted=True, signum=interrupt.signum)
