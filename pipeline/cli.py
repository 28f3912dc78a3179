"""Command line: ``python -m pipeline reindex|search|replay|catch-up ...``.

Options the CLI does not know are Beam pipeline options (``--runner``,
``--direct_num_workers``, ``--setup_file``, ...) and are checked before the
run, so a typo is an error rather than a silent default. Errors print one
line naming what to fix, and the exit code is non-zero:

* 0: finished, every item accounted for
* 1: finished, but the counts do not add up (see the summary)
* 2: bad command line or options
* 3: could not start or failed (missing table, unreachable endpoint, ...)
* 4: finished, but more items failed to decode than --max-dead-letter-fraction allows
* 5: finished, but --swap-alias did not move the alias (the new index failed
  verification or the counts do not add up); the new index is left for inspection
* 6: the stream cannot catch up (catch-up): the table has no enabled stream, or
  records the catch-up needs are not in it (trimmed after 24 hours, another
  stream); reindex
* 130, 143: stopped by SIGINT, SIGTERM; a reindex prints one line with the
  command that resumes it (catch-up with --follow: after saving the bookmark)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from pipeline.beam_args import BadBeamOption, check_beam_args
from pipeline.logs import configure_logging

__all__ = ["main"]

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_FAILED, EXIT_THRESHOLD = 0, 1, 2, 3, 4
EXIT_NOT_SWAPPED = 5
EXIT_NO_CATCH_UP, EXIT_INTERRUPTED = 6, 130
DEFAULT_PROGRESS_INTERVAL = 10.0

DEFAULT_RUNNER = "DirectRunner"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _segment_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated segment numbers, got {text!r}"
        ) from None


def _add_table_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="DynamoDB table to read")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. http://127.0.0.1:8000")
    parser.add_argument("--region", help="AWS region (default: boto3's configuration)")


def _attribute_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected HASH or HASH,RANGE attribute names, got {text!r}"
        )
    return names


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", help="DynamoDB table to scan")
    source.add_argument(
        "--from-export",
        metavar="URI",
        help="read a DynamoDB export instead: its folder .../AWSDynamoDB/<export id>/ "
        "(s3://, gs:// or local)",
    )
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. http://127.0.0.1:8000")
    parser.add_argument("--region", help="AWS region (default: boto3's configuration)")
    parser.add_argument(
        "--key-attributes",
        type=_attribute_list,
        help="with --from-export: the table's key attributes, hash key first (e.g. id or pk,sk)",
    )


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _add_rate_args(parser: argparse.ArgumentParser) -> None:
    ceiling = parser.add_mutually_exclusive_group()
    ceiling.add_argument(
        "--max-read-units-per-second",
        type=_positive_float,
        help="read-capacity ceiling for the whole job",
    )
    ceiling.add_argument(
        "--read-capacity-fraction",
        type=_fraction,
        help="ceiling as a share of the table's provisioned read capacity",
    )
    parser.add_argument(
        "--reading-processes",
        type=_positive_int,
        help="processes reading at once, to divide the ceiling (default: from the runner)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    reindex = commands.add_parser("reindex", help="read a whole table into the index")
    _add_source_args(reindex)
    reindex.add_argument("--model", required=True, help="MODULE:CLASS of the record dataclass")
    reindex.add_argument("--index", required=True, help="index URI, e.g. sqlite:///out/index.db")
    reindex.add_argument("--dead-letters", required=True, help="folder (local, gs://, s3://)")
    reindex.add_argument("--total-segments", type=int, help="TotalSegments (default: chosen)")
    reindex.add_argument("--segments", type=_segment_list, help="only these segments: 0,5,9")
    reindex.add_argument("--page-size", type=int, help="Scan Limit (default: 1 MB pages)")
    reindex.add_argument("--consistent-read", action="store_true")
    reindex.add_argument(
        "--strict-attributes",
        action="store_true",
        help="refuse attributes the model does not declare",
    )
    reindex.add_argument("--checkpoint-every-pages", type=_positive_int)
    reindex.add_argument("--checkpoint-every-seconds", type=float)
    reindex.add_argument(
        "--max-retry-seconds",
        type=_positive_float,
        default=300.0,
        help="how long a page is retried before its segment is reported unread (default 300)",
    )
    reindex.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=8,
        help="botocore's retries of a request before the scan's own retries (default 8)",
    )
    reindex.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of this same command from its journal",
    )
    reindex.add_argument(
        "--journal",
        metavar="PATH",
        help="folder of the run journal (default: DEAD_LETTERS/journal)",
    )
    reindex.add_argument(
        "--progress-interval",
        type=_non_negative_float,
        default=DEFAULT_PROGRESS_INTERVAL,
        metavar="SECONDS",
        help="seconds between progress lines on stderr; 0 for none (default 10)",
    )
    reindex.add_argument(
        "--resume-from",
        help="deprecated: use --resume (dead letters of an earlier run: read only the "
        "segments it left unread)",
    )
    reindex.add_argument(
        "--job-attempts",
        type=_positive_int,
        default=1,
        help="runs of the whole job if the runner fails it, e.g. a local worker dies (default 1)",
    )
    reindex.add_argument(
        "--workers", type=_positive_int, help="expected workers, used to choose the segment count"
    )
    reindex.add_argument(
        "--dataflow-region",
        help="Dataflow's (GCP) region, passed to Beam as --region; --region is the AWS one",
    )
    reindex.add_argument(
        "--batch-size",
        type=_positive_int,
        help="documents per index write (default: 500 for sqlite, 5000 for search servers)",
    )
    reindex.add_argument(
        "--batch-bytes",
        type=_positive_int,
        help="bytes of documents per index write (default: 8 MiB sqlite, 10 MiB servers)",
    )
    reindex.add_argument(
        "--version-field",
        help="model field with the record's version: an older record never overwrites a "
        "newer one (search servers)",
    )
    reindex.add_argument(
        "--swap-alias",
        nargs="?",
        const="",
        metavar="NAME",
        help="build a new index, verify it, then move the alias NAME (default: the index "
        "named by --index; 'documents' for sqlite) to it in one step",
    )
    reindex.add_argument(
        "--keep",
        type=_non_negative_int,
        help="with --swap-alias: previous indexes kept for rollback (default 1)",
    )

    _add_rate_args(reindex)
    reindex.add_argument(
        "--max-dead-letter-fraction",
        type=float,
        help="fail the job when a larger share of the items does not decode, e.g. 0.05",
    )

    plan = commands.add_parser("plan", help="what a reindex would do, without scanning")
    _add_table_args(plan)
    plan.add_argument("--workers", type=_positive_int, help="expected worker processes")
    plan.add_argument("--max-read-units-per-second", type=_positive_float)

    search = commands.add_parser("search", help="full-text search in an index")
    search.add_argument("--index", required=True)
    search.add_argument("--limit", type=_positive_int, default=10)
    search.add_argument("query", nargs="+")

    replay = commands.add_parser("replay", help="decode dead letters again and index them")
    replay.add_argument("--dead-letters", required=True, help="file, folder or glob")
    replay.add_argument("--model", required=True)
    replay.add_argument("--index", required=True)
    replay.add_argument(
        "--still-failing", help="folder for what fails again (default: beside --dead-letters)"
    )
    _add_catch_up_parser(commands)
    return parser


def _add_catch_up_parser(commands) -> None:
    from pipeline.catch_up_args import add_catch_up_arguments

    catch_up = commands.add_parser(
        "catch-up", help="apply the table's changes since the bookmark, from its stream"
    )
    _add_table_args(catch_up)
    add_catch_up_arguments(catch_up)


def _with_default_runner(beam_args: list[str]) -> list[str]:
    if any(arg == "--runner" or arg.startswith("--runner=") for arg in beam_args):
        return beam_args
    return [f"--runner={DEFAULT_RUNNER}", *beam_args]


def _reindex(args, beam_args, argv: Sequence[str]) -> int:
    from pipeline.reindex import ReindexConfig, run_reindex
    from pipeline.resume import SignalStop, clean_up_after_interrupt, interruption_line

    config = ReindexConfig(
        table=args.table,
        model=args.model,
        index=args.index,
        dead_letters=args.dead_letters,
        endpoint_url=args.endpoint_url,
        region=args.region,
        total_segments=args.total_segments,
        segments=args.segments,
        page_size=args.page_size,
        consistent_read=args.consistent_read,
        forbid_unknown=args.strict_attributes,
        checkpoint_every_pages=args.checkpoint_every_pages,
        checkpoint_every_seconds=args.checkpoint_every_seconds,
        workers=args.workers,
        batch_size=args.batch_size,
        max_read_units_per_second=args.max_read_units_per_second,
        read_capacity_fraction=args.read_capacity_fraction,
        reading_processes=args.reading_processes,
        max_retry_seconds=args.max_retry_seconds,
        max_attempts=args.max_attempts,
        job_attempts=args.job_attempts,
        resume_from=args.resume_from,
        from_export=args.from_export,
        key_attributes=args.key_attributes,
        max_dead_letter_fraction=args.max_dead_letter_fraction,
        batch_bytes=args.batch_bytes,
        version_field=args.version_field,
        swap_alias=args.swap_alias,
        keep=1 if args.keep is None else args.keep,
        resume=args.resume,
        journal=args.journal,
        progress_interval=args.progress_interval or None,
    )
    with SignalStop() as stop:
        try:
            summary = run_reindex(config, beam_args)
        except BaseException:
            if stop.signum is None:
                raise
            clean_up_after_interrupt(config)
            print(interruption_line(stop.signum, config, argv), file=sys.stderr)
            stop.exit_soon()
            return stop.exit_code
    print(summary.render())
    limit = config.max_dead_letter_fraction
    failed = summary.dead_lettered_by_stage.get("decode", 0)
    if limit is not None and summary.scanned and failed / summary.scanned > limit:
        print(
            f"error: {failed:,} of {summary.scanned:,} items ({failed / summary.scanned:.1%}) "
            f"did not decode, more than --max-dead-letter-fraction {limit:.1%}; the dead "
            f"letters in {config.dead_letters} say what to fix",
            file=sys.stderr,
        )
        return EXIT_THRESHOLD
    problem = summary.problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
    swap = summary.alias_swap
    if swap is not None and not swap.swapped:
        print(f"error: the alias {swap.alias!r} was not moved: {swap.reason}", file=sys.stderr)
        return EXIT_NOT_SWAPPED
    return EXIT_OK if summary.accounted_for else EXIT_MISMATCH


def _plan(args) -> int:
    from pipeline.plan import compare_read_paths, plan_reindex
    from transforms.dynamodb.client import DynamoDBClientConfig
    from transforms.dynamodb.scan.source import describe_table

    description = describe_table(
        DynamoDBClientConfig(region_name=args.region, endpoint_url=args.endpoint_url), args.table
    )
    print(plan_reindex(description, args.workers, args.max_read_units_per_second).render())
    print()
    print(
        compare_read_paths(
            description.size_bytes, description.item_count, args.max_read_units_per_second
        ).render()
    )
    return EXIT_OK


def _search(args) -> int:
    from transforms.index import open_backend

    with open_backend(args.index) as index:
        if not index.count():
            print(
                f"error: the index {args.index} holds no documents: check --index",
                file=sys.stderr,
            )
            return EXIT_FAILED
        hits = index.search(" ".join(args.query), limit=args.limit)
    for hit in hits:
        print(f"{hit.id}\t{hit.score:.3f}\t{hit.body[:160]}")
    print(f"{len(hits)} hit(s)", file=sys.stderr)
    return EXIT_OK


def _replay(args, beam_args) -> int:
    from pipeline.replay import ReplayConfig, run_replay

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    source = args.dead_letters.rstrip("/")
    if source.endswith(".jsonl"):
        default = f"{source[: -len('.jsonl')]}-replay-{stamp}.jsonl"
    else:
        default = f"{source}-replay-{stamp}"
    still_failing = args.still_failing or default
    summary = run_replay(
        ReplayConfig(args.dead_letters, args.model, args.index, still_failing), beam_args
    )
    print(summary.render())
    return EXIT_OK if summary.accounted_for else EXIT_MISMATCH


def _catch_up(args, beam_args) -> int:
    from pipeline.catch_up_command import CatchUpUsageError, run_catch_up_command
    from transforms.dynamodb.stream import BookmarkError, StreamCatchUpError

    try:
        outcome = run_catch_up_command(args, beam_args)
    except (CatchUpUsageError, BookmarkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StreamCatchUpError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_CATCH_UP
    except KeyboardInterrupt:
        print(
            "error: interrupted: the catch-up under way was abandoned, the bookmark stays "
            "where the last finished one left it",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if outcome.accounted_for else EXIT_MISMATCH


def _one_line(error: BaseException) -> str:
    """The most specific message in an exception chain, on one line."""
    from transforms.dynamodb.scan.errors import ScanError

    seen = error
    while seen is not None:
        if isinstance(seen, ScanError):
            return str(seen).splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    text = str(error).strip()
    for marker in (
        "ScanError",
        "SegmentReadFailed",
        "TableNotFound",
        "AccessDenied",
        "DeadLetterThresholdExceeded",
    ):
        if marker + ":" in text:
            return text.split(marker + ":", 1)[1].strip().splitlines()[0]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, beam_args = _parser().parse_known_args(argv)
        if args.command in ("search", "plan"):
            if beam_args:
                raise _UsageError(f"unknown option(s) for {args.command}: {' '.join(beam_args)}")
            return _search(args) if args.command == "search" else _plan(args)
        if getattr(args, "keep", None) is not None and args.swap_alias is None:
            raise _UsageError("--keep needs --swap-alias")
        if getattr(args, "dataflow_region", None):
            beam_args = [*beam_args, f"--region={args.dataflow_region}"]
        beam_args = _with_default_runner(beam_args)
        check_beam_args(beam_args)
    except (_UsageError, BadBeamOption) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    configure_logging()
    try:
        if args.command == "reindex":
            return _reindex(args, beam_args, argv)
        if args.command == "catch-up":
            return _catch_up(args, beam_args)
        return _replay(args, beam_args)
    except (ValueError, TypeError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
