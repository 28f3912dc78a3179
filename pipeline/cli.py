"""Command line: ``python -m pipeline reindex|rollback|plan|search|replay|catch-up ...``.

``pip install`` also puts it on the PATH as ``dynamodb-reindex``, which
behaves the same: the current folder comes first on ``sys.path`` (so
``--model mymodels:Book`` imports ``./mymodels.py``) and logging is set up
before Beam is imported.

``reindex`` rebuilds by default: a new index, verified, then swapped in
behind the name given as ``--index``; ``--upsert`` writes into that index in
place. ``rollback --index URI`` puts the previous index back behind the name.

Options the CLI does not know are Beam pipeline options (``--runner``,
``--direct_num_workers``, ``--setup_file``, ...) and are checked before the
run, so a typo is an error rather than a silent default; the runner's module
is imported first, so its own options (``--dask_client_address``...) are
known. Errors print one
line naming what to fix, and the exit code is non-zero:

* 0: done; for reindex, catch-up and replay: every item accounted for
* 1: finished, but the counts do not add up (see the summary)
* 2: bad command line or options: a value, options that cannot go together,
  a --model that cannot be imported or used
* 3: could not start or failed (missing table, unreachable endpoint, ...)
* 4: finished, but more items were dead-lettered (decode and index) than
  --max-dead-letter-fraction allows; a rebuild was not swapped in
* 5: finished, but the rebuilt index was not swapped in (the run's checks or
  the new index's verification failed); the live index is unchanged and the
  new one is left for inspection
* 6: the stream cannot catch up (catch-up, reindex --catch-up): the table has no enabled stream, or
  records the catch-up needs are not in it (trimmed after 24 hours, another
  stream)
* 130, 143: stopped by SIGINT, SIGTERM; a reindex prints one line with the
  command that resumes it (catch-up with --follow: after saving the bookmark)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pipeline import CONSOLE_SCRIPT, ran_as_console_script
from pipeline.arg_types import endpoint_url as _endpoint_url
from pipeline.arg_types import folder_path as _folder_path
from pipeline.arg_types import index_uri as _index_uri
from pipeline.arg_types import int_between as _int_between
from pipeline.arg_types import name as _name
from pipeline.arg_types import non_negative_float as _non_negative_float
from pipeline.arg_types import non_negative_int as _non_negative_int
from pipeline.arg_types import positive_float as _positive_float
from pipeline.arg_types import positive_int as _positive_int
from pipeline.errors import CommandInterrupted, UsageError
from pipeline.logs import configure_logging

__all__ = ["main"]

_LOGGER = logging.getLogger(__name__)

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_FAILED, EXIT_THRESHOLD = 0, 1, 2, 3, 4
EXIT_NOT_SWAPPED = 5
EXIT_NO_CATCH_UP, EXIT_INTERRUPTED = 6, 130
DEFAULT_PROGRESS_INTERVAL = 10.0
MAX_TOTAL_SEGMENTS = 1_000_000  # DynamoDB's limits, as the scan checks them
MAX_PAGE_SIZE = 1_000_000
MAX_SAMPLE_SEGMENTS = 1_000  # as pipeline.plan.sample checks it


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _segment_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated segment numbers, got {text!r}"
        ) from None


def _add_table_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", required=True, metavar="NAME", type=_name, help="DynamoDB table to read"
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        type=_endpoint_url,
        help="DynamoDB endpoint, e.g. http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--region", metavar="REGION", type=_name, help="AWS region (default: boto3's configuration)"
    )


def _attribute_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected HASH or HASH,RANGE attribute names, got {text!r}"
        )
    return names


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", metavar="NAME", type=_name, help="DynamoDB table to scan")
    source.add_argument(
        "--from-export",
        metavar="URI",
        help="read a DynamoDB export instead: its folder .../AWSDynamoDB/<export id>/ "
        "(s3://, gs:// or local)",
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        type=_endpoint_url,
        help="DynamoDB endpoint, e.g. http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--region", metavar="REGION", type=_name, help="AWS region (default: boto3's configuration)"
    )
    parser.add_argument(
        "--key-attributes",
        metavar="HASH[,RANGE]",
        type=_attribute_list,
        help="with --from-export: the table's key attributes, hash key first (e.g. id or pk,sk)",
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _add_rate_args(parser: argparse.ArgumentParser) -> None:
    ceiling = parser.add_mutually_exclusive_group()
    ceiling.add_argument(
        "--max-read-units-per-second",
        metavar="UNITS",
        type=_positive_float,
        help="read-capacity ceiling for the whole job",
    )
    ceiling.add_argument(
        "--read-capacity-fraction",
        metavar="F",
        type=_fraction,
        help="ceiling as a share of the table's provisioned read capacity",
    )
    parser.add_argument(
        "--reading-processes",
        metavar="N",
        type=_positive_int,
        help="processes reading at once, to divide the ceiling (default: from the runner)",
    )


_BEAM_OPTIONS_HELP = (
    "Any other --flag is a Beam pipeline option (e.g. --runner=DataflowRunner,\n"
    "--direct_num_workers=4, --setup_file=./setup.py), checked before the run.\n"
    "Without --runner a reindex runs one worker process per usable CPU, or in\n"
    "this process for a table under 32 MB (--direct_num_workers=N to choose)."
)


def _exit_codes(codes: Sequence[int] = (*range(7), 130, 143)) -> str:
    """``codes`` as the module docstring lists them, in plain text for ``--help``."""
    items = __doc__.split("\n* ", 1)[1].strip().split("\n* ")
    lines = [
        textwrap.fill(
            " ".join(item.split()), width=79, initial_indent="  ", subsequent_indent="     "
        )
        for item in items
        if any(int(code) in codes for code in item.split(":", 1)[0].split(","))
    ]
    return "exit codes:\n" + "\n".join(lines)


def _command(
    commands, name: str, summary: str, description: str, codes: Sequence[int], epilog: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with ``epilog`` and the exit ``codes`` it can return."""
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, width=79),
        epilog="\n\n".join(part for part in (epilog, _exit_codes(codes)) if part),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_prog(),
        description=textwrap.fill(
            "Reindex a whole DynamoDB table with Apache Beam: plan the read, run it, search "
            "the index, replay the dead letters. Installed by pip as the "
            f"{CONSOLE_SCRIPT} command, which is the same as python -m pipeline.",
            width=79,
        ),
        epilog=f"Run '{_prog()} COMMAND --help' for a command's options.\n\n{_exit_codes()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    reindex = _command(
        commands,
        "reindex",
        "read a whole table into the index",
        "Scan a DynamoDB table (or read an export of it), decode every item into the model "
        "and write it to the index; what does not fit becomes a dead letter.",
        (*range(7), 130, 143),
        _BEAM_OPTIONS_HELP,
    )
    source = reindex.add_argument_group("source", "what to read and how")
    rate = reindex.add_argument_group("rate", "how fast to read, to spare production traffic")
    decode = reindex.add_argument_group("decode", "the model, and items that do not fit it")
    index = reindex.add_argument_group("index", "where the documents go")
    run = reindex.add_argument_group("run", "how the job runs")
    _add_source_args(source)
    decode.add_argument(
        "--model", required=True, metavar="MODULE:CLASS", help="the record dataclass"
    )
    index.add_argument(
        "--index",
        required=True,
        metavar="URI",
        type=_index_uri,
        help="index URI, e.g. sqlite:///out/index.db",
    )
    decode.add_argument(
        "--dead-letters",
        required=True,
        metavar="PATH",
        type=_folder_path,
        help="folder for what does not decode or index (local, gs://, s3://), or a .jsonl file",
    )
    source.add_argument(
        "--total-segments",
        metavar="N",
        type=_int_between(1, MAX_TOTAL_SEGMENTS),
        help="TotalSegments (default: chosen)",
    )
    source.add_argument(
        "--segments", metavar="LIST", type=_segment_list, help="only these segments: 0,5,9"
    )
    source.add_argument(
        "--page-size",
        metavar="N",
        type=_int_between(1, MAX_PAGE_SIZE),
        help="Scan Limit (default: 1 MB pages)",
    )
    source.add_argument(
        "--consistent-read",
        action="store_true",
        help="strongly consistent reads: twice the read units of the default",
    )
    decode.add_argument(
        "--strict-attributes",
        action="store_true",
        help="refuse attributes the model does not declare",
    )
    run.add_argument(
        "--checkpoint-every-pages",
        type=_positive_int,
        metavar="N",
        help="let the runner take a segment's rest elsewhere every N pages (default: every "
        "30 s where a run journal is kept, so that its commits are recorded; else only when "
        "the runner asks)",
    )
    run.add_argument(
        "--checkpoint-every-seconds",
        type=_positive_float,
        metavar="S",
        help="the same once a bundle has read for S seconds (its segments, one after another)",
    )
    source.add_argument(
        "--max-retry-seconds",
        metavar="S",
        type=_positive_float,
        default=300.0,
        help="how long a page is retried before its segment is reported unread, counted from "
        "the start of an outage of the table's reads in the worker (default 300)",
    )
    source.add_argument(
        "--max-attempts",
        metavar="N",
        type=_positive_int,
        default=8,
        help="botocore's retries of a request before the scan's own retries (default 8)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of this same command from its journal",
    )
    run.add_argument(
        "--journal",
        metavar="PATH",
        type=_folder_path,
        help="folder of the run journal (default: DEAD_LETTERS/journal)",
    )
    run.add_argument(
        "--progress-interval",
        type=_non_negative_float,
        default=DEFAULT_PROGRESS_INTERVAL,
        metavar="SECONDS",
        help="seconds between progress lines on stderr; 0 for none (default 10)",
    )
    source.add_argument(
        "--resume-from",
        metavar="PATH",
        help="deprecated: use --resume (dead letters of an earlier run: read only the "
        "segments it left unread)",
    )
    run.add_argument(
        "--job-attempts",
        metavar="N",
        type=_positive_int,
        default=1,
        help="runs of the whole job if the runner fails it, e.g. a local worker dies (default 1)",
    )
    source.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        help="expected workers, used to choose the segment count (default: the local "
        "engine's worker processes or threads, 1 in this process; 4 on other runners)",
    )
    run.add_argument(
        "--dataflow-region",
        metavar="REGION",
        help="Dataflow's (GCP) region, passed to Beam as --region; --region is the AWS one",
    )
    index.add_argument(
        "--batch-size",
        metavar="N",
        type=_positive_int,
        help="documents per index write (default: 500 for sqlite, 5000 for search servers)",
    )
    index.add_argument(
        "--batch-bytes",
        metavar="BYTES",
        type=_positive_int,
        help="bytes of documents per index write (default: 8 MiB sqlite, 10 MiB servers)",
    )
    index.add_argument(
        "--version-field",
        metavar="FIELD",
        help="model field with the record's version: an older record never overwrites a "
        "newer one (search servers)",
    )
    source.add_argument(
        "--catch-up",
        action="store_true",
        help="after the scan (or export), apply the writes made since it started, from the "
        "table's stream, before and after the swap; needs --bookmark",
    )
    source.add_argument(
        "--bookmark",
        metavar="PATH",
        type=_folder_path,
        help="with --catch-up: where to write the stream bookmark for the catch-up command",
    )
    source.add_argument(
        "--safety-margin",
        type=_positive_float,
        metavar="SECONDS",
        help="with --catch-up: changes this long before the start are applied too, an "
        "allowance for clock skew (default 60)",
    )
    index.add_argument(
        "--upsert",
        action="store_true",
        help="write into the live index in place (incremental; documents of items deleted "
        "from the table stay) instead of rebuilding it",
    )
    index.add_argument(
        "--swap-alias",
        nargs="?",
        const="",
        metavar="NAME",
        help="the default: build a new index, verify it, then move the alias NAME (default: "
        "the index named by --index; 'documents' for sqlite) to it in one step",
    )
    index.add_argument(
        "--keep",
        metavar="N",
        type=_non_negative_int,
        help="previous indexes kept for rollback (default 1)",
    )
    index.add_argument(
        "--verify-sample",
        type=_non_negative_int,
        help="documents read back from the new index and compared with the records before "
        "the swap (default 100; 0: none)",
    )
    index.add_argument(
        "--index-config",
        metavar="FILE",
        help="JSON with settings and mappings for a new search-server index (default: the "
        "live index's)",
    )
    index.add_argument(
        "--force",
        action="store_true",
        help="write into an index that holds another table, or swap in a build left "
        "empty because every item was dead-lettered",
    )

    _add_rate_args(rate)
    decode.add_argument(
        "--max-dead-letter-fraction",
        metavar="F",
        type=_share,
        help="exit 4 (and do not swap) when a larger share of the items is dead-lettered "
        "(does not decode or is refused by the index), e.g. 0.05",
    )

    rollback = _command(
        commands,
        "rollback",
        "put the previous index back behind the name, in one step",
        "Points the index name (the SQLite file's documents table, or the search server's "
        "alias) back at the index it served before the last reindex.",
        (EXIT_OK, EXIT_USAGE, EXIT_FAILED),
    )
    rollback.add_argument(
        "--index",
        required=True,
        metavar="URI",
        type=_index_uri,
        help="the index URI given to reindex",
    )

    plan = _command(
        commands,
        "plan",
        "what a reindex would do, without scanning",
        "The segment count, read units, time and cost of a reindex, and a scan compared "
        "with an export, from DescribeTable; nothing is read unless --sample-segments asks "
        "for it.",
        (EXIT_OK, EXIT_USAGE, EXIT_FAILED),
    )
    _add_table_args(plan)
    plan.add_argument(
        "--workers", metavar="N", type=_positive_int, help="expected worker processes"
    )
    plan.add_argument(
        "--max-read-units-per-second",
        metavar="UNITS",
        type=_positive_float,
        help="the read rate you can spare, to estimate the time",
    )
    plan.add_argument(
        "--sample-segments",
        metavar="N",
        type=_int_between(1, MAX_SAMPLE_SEGMENTS),
        help="estimate the size from a short scan of N segments, read one after the other "
        f"(at most {MAX_SAMPLE_SEGMENTS:,}; DescribeTable reports 0 bytes for hours after "
        "a table is created); the plan states the read units it used",
    )

    search = _command(
        commands,
        "search",
        "full-text search in an index",
        "The best matches for every word of the query, best first: one line per hit, "
        "ID<TAB>SCORE<TAB>EXCERPT (or one JSON object per hit with --json), then the "
        "number shown of the total on stderr.",
        (EXIT_OK, EXIT_USAGE, EXIT_FAILED),
    )
    search.add_argument(
        "--index",
        required=True,
        metavar="URI",
        type=_index_uri,
        help="index URI, e.g. sqlite:///out/index.db",
    )
    search.add_argument(
        "--limit", metavar="N", type=_positive_int, default=10, help="hits to show (default 10)"
    )
    search.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per hit, {id, score, document}, for machines",
    )
    search.add_argument("query", nargs="+", help="words that every hit holds; word* for a prefix")

    replay = _command(
        commands,
        "replay",
        "decode dead letters again and index them",
        "Decode dead letters again with a (fixed) model and index what fits now; what "
        "still fails goes to a new dead-letter folder.",
        (EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_FAILED, 130, 143),
        _BEAM_OPTIONS_HELP,
    )
    replay.add_argument(
        "--dead-letters",
        required=True,
        metavar="PATH",
        type=_folder_path,
        help="file, folder or glob",
    )
    replay.add_argument(
        "--model", required=True, metavar="MODULE:CLASS", help="the record dataclass"
    )
    replay.add_argument(
        "--index",
        required=True,
        metavar="URI",
        type=_index_uri,
        help="index URI, e.g. sqlite:///out/index.db",
    )
    replay.add_argument(
        "--still-failing",
        metavar="PATH",
        type=_folder_path,
        help="folder for what fails again (default: beside --dead-letters)",
    )
    replay.add_argument(
        "--key-attributes",
        metavar="HASH[,RANGE]",
        type=_attribute_list,
        help="the table's key attributes, hash key first (default: the keys the dead "
        "letters carry)",
    )
    replay.add_argument(
        "--force",
        action="store_true",
        help="write even into an index that holds another table than the dead letters'",
    )
    reread = replay.add_argument_group(
        "re-read",
        "index the items as the table holds them now, not as the dead letters hold them",
    )
    reread.add_argument(
        "--reread",
        action="store_true",
        help="re-read each dead letter's key from the table (strongly consistent): an item "
        "changed since is indexed as it is now, a deleted one has no document; for a "
        "table that keeps changing, or after a catch-up",
    )
    reread.add_argument(
        "--table",
        metavar="NAME",
        type=_name,
        help="with --reread: the table (default: the dead letters')",
    )
    reread.add_argument(
        "--endpoint-url", metavar="URL", type=_endpoint_url, help="with --reread: DynamoDB endpoint"
    )
    reread.add_argument(
        "--region",
        metavar="REGION",
        type=_name,
        help="with --reread: AWS region (default: boto3's)",
    )
    _add_catch_up_parser(commands)
    return parser


def _add_catch_up_parser(commands) -> None:
    from pipeline.catch_up.args import add_catch_up_arguments

    catch_up = _command(
        commands,
        "catch-up",
        "apply the table's changes since the bookmark, from its stream",
        "Reads the table's DynamoDB stream from the bookmark (or --since) to its current "
        "end, re-reads every changed key with a strongly consistent read and upserts or "
        "deletes its document; then advances the bookmark. --follow repeats until "
        "interrupted.",
        (0, 1, 2, 3, 6, 130, 143),
    )
    _add_table_args(catch_up)
    add_catch_up_arguments(catch_up)


def _check_dynamodb_location(endpoint_url: str | None, region: str | None) -> None:
    """Refuses an endpoint without ``http(s)://`` and a missing region, before any request."""
    if endpoint_url is not None:
        scheme, separator, rest = endpoint_url.partition("://")
        if not separator:
            raise _UsageError(
                f"--endpoint-url {endpoint_url} has no scheme: add http:// (or https://), "
                f"e.g. --endpoint-url http://{endpoint_url}"
            )
        if scheme.lower() not in ("http", "https") or not rest:
            raise _UsageError(
                f"--endpoint-url {endpoint_url} must start with http:// or https:// and name "
                "a host, e.g. http://127.0.0.1:8000"
            )
    if region:
        return
    import boto3

    if not boto3.session.Session().region_name:
        raise _UsageError(
            "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_DEFAULT_REGION"
        )


def _reindex(args, beam_args, argv: Sequence[str]) -> int:
    from pipeline.beam_args import local_readers
    from pipeline.reindex import ReindexConfig
    from transforms.index.index_config import load_index_config
    from transforms.index.rebuild import DEFAULT_SAMPLE_SIZE

    index_config = load_index_config(args.index_config) if args.index_config else None
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
        workers=args.workers or (None if args.from_export else local_readers(beam_args)),
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
        upsert=args.upsert,
        force=args.force,
        index_config=index_config,
        verify_sample=DEFAULT_SAMPLE_SIZE if args.verify_sample is None else args.verify_sample,
        resume=args.resume,
        journal=args.journal,
        progress_interval=args.progress_interval or None,
    )
    from pipeline.resume import SignalStop, clean_up_after_interrupt, interruption_line

    with SignalStop() as stop:
        try:
            summary = _run_reindex(args, config, beam_args)
        except BaseException:
            if stop.signum is None:
                raise
            clean_up_after_interrupt(config)
            print(interruption_line(stop.signum, config, argv), file=sys.stderr)
            stop.exit_soon()
            return stop.exit_code
    if summary is None:
        return EXIT_NO_CATCH_UP
    print(summary.render())
    excess = summary.dead_letter_excess(config.max_dead_letter_fraction)
    hint = f"; the dead letters in {config.dead_letters} say what to fix" if excess else ""
    swap = summary.alias_swap
    if swap is not None and not swap.swapped:
        print(
            f"error: not swapped, the alias {swap.alias!r} was not moved: {swap.reason}{hint}; "
            f"the live index is unchanged ({swap.new_index} is left for inspection)",
            file=sys.stderr,
        )
        return EXIT_THRESHOLD if excess else EXIT_NOT_SWAPPED
    if excess:
        print(f"error: {excess}{hint}", file=sys.stderr)
        return EXIT_THRESHOLD
    problem = summary.problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_OK if summary.accounted_for else EXIT_MISMATCH


def _small_table(args) -> bool:
    """True when ``DescribeTable`` says the table is read faster in this process
    than with worker processes (``pipeline.beam_args.small_for_workers``); False
    for a reindex from an export, or when the table cannot be described (the
    job says why, without waiting again for an endpoint that did not answer)."""
    if args.from_export:
        return False
    from pipeline.beam_args import IN_PROCESS_BELOW_BYTES, small_for_workers
    from transforms.dynamodb.client import DynamoDBClientConfig
    from transforms.dynamodb.scan.source import describe_table

    client_config = DynamoDBClientConfig(region_name=args.region, endpoint_url=args.endpoint_url)
    try:
        description = describe_table(client_config, args.table)
    except Exception:  # the job says what is wrong, after the usage checks
        return False
    small = small_for_workers(description.size_bytes, description.item_count)
    if small:  # DEBUG: a usage error found later must stay the only line
        _LOGGER.debug(
            "%s holds about %s items (%s bytes): read in this process; worker processes "
            "pay off above %d MB (--direct_num_workers=N to choose)",
            args.table,
            f"{description.item_count:,}",
            f"{description.size_bytes:,}",
            IN_PROCESS_BELOW_BYTES // 2**20,
        )
    return small


def _run_reindex(args, config, beam_args):
    """The reindex, with ``--catch-up`` when asked; None when the stream cannot catch up
    (the one line saying why is printed)."""
    from pipeline.reindex import run_reindex

    if not args.catch_up:
        return run_reindex(config, beam_args)
    from pipeline.catch_up.during_reindex import reindex_with_catch_up
    from transforms.dynamodb.stream import StreamCatchUpError

    try:
        return reindex_with_catch_up(
            config, args.bookmark, beam_args, safety_margin=args.safety_margin
        )
    except StreamCatchUpError as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return None


def _rollback(args) -> int:
    from transforms.index import missing_index
    from transforms.index.alias import rollback

    try:
        missing = missing_index(args.index)
        if missing:
            raise ValueError(f"{missing}: check --index")
        done = rollback(args.index)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    replaced = ", ".join(done.replaced) or "nothing"
    print(
        f"{args.index}: {done.restored} is live again; {replaced}, which it replaced, is no "
        "longer live nor kept for rollback (delete it when done)"
    )
    return EXIT_OK


def _plan(args) -> int:
    from pipeline.plan import plan_reindex
    from pipeline.plan.read_paths import compare_read_paths
    from transforms.dynamodb.client import DynamoDBClientConfig
    from transforms.dynamodb.scan.source import describe_table

    client_config = DynamoDBClientConfig(region_name=args.region, endpoint_url=args.endpoint_url)
    description = describe_table(client_config, args.table)
    sample = None
    if args.sample_segments:
        from pipeline.plan.sample import sample_table

        sample = sample_table(client_config, args.table, args.sample_segments)
    plan = plan_reindex(description, args.workers, args.max_read_units_per_second, sample)
    print(plan.render())
    print()
    print(_catch_up_plan(client_config, args.table, plan.eventual_seconds).render())
    print()
    if not plan.size_known:
        print("scan or export: to compare them, the table's size is needed (--sample-segments N)")
        return EXIT_OK
    size = plan.description
    print(
        compare_read_paths(
            size.size_bytes, size.item_count, args.max_read_units_per_second
        ).render()
    )
    return EXIT_OK


def _catch_up_plan(client_config, table: str, scan_seconds: float | None):
    from pipeline.plan.catch_up import CatchUpPlan
    from transforms.dynamodb.stream import NoStream, describe_table_stream

    client = client_config.create_client()
    try:
        stream = describe_table_stream(client, table, client_config.endpoint_url)
    except NoStream:
        stream = None
    finally:
        client.close()
    return CatchUpPlan(table, stream, scan_seconds)


def _on_index(command, args) -> int:
    """``command(args)``, an error of the index's server named with its URI."""
    from transforms.index.identity import shown_uri

    try:
        return command(args)
    except (ValueError, TypeError, _UsageError):
        raise
    except Exception as error:
        print(f"error: {shown_uri(args.index)}: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED


def _search(args) -> int:
    from pipeline.search_output import hit_json, hit_line, hits_summary
    from transforms.index import missing_index, open_backend

    query = " ".join(args.query)
    if not any(ch.isalnum() for ch in query):
        print(
            f"error: the query {query!r} has no word to search for (a word holds a letter "
            "or a digit)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    missing = missing_index(args.index)
    if missing:
        print(f"error: {missing}: check --index", file=sys.stderr)
        return EXIT_FAILED
    with open_backend(args.index) as index:
        if not index.count():
            print(
                f"error: the index {args.index} holds no documents: check --index",
                file=sys.stderr,
            )
            return EXIT_FAILED
        hits = index.search(query, limit=args.limit)
        try:
            total = index.count_matches(query)
        except NotImplementedError:
            total = None
    try:
        for hit in hits:
            print(hit_json(hit) if args.json else hit_line(hit, args.query))
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped (search ... | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    print(hits_summary(len(hits), total), file=sys.stderr)
    return EXIT_OK


def _replay(args, beam_args) -> int:
    from pipeline.replay import ReplayConfig, run_replay, run_reread
    from transforms.dynamodb.client import DynamoDBClientConfig

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    source = args.dead_letters.rstrip("/")
    if source.endswith(".jsonl"):
        default = f"{source[: -len('.jsonl')]}-replay-{stamp}.jsonl"
    else:
        default = f"{source}-replay-{stamp}"
    still_failing = args.still_failing or default
    config = ReplayConfig(
        args.dead_letters,
        args.model,
        args.index,
        still_failing,
        args.key_attributes,
        force=args.force,
        table=args.table,
        client_config=DynamoDBClientConfig(region_name=args.region, endpoint_url=args.endpoint_url),
    )
    summary = (run_reread if args.reread else run_replay)(config, beam_args)
    print(summary.render())
    return EXIT_OK if summary.accounted_for else EXIT_MISMATCH


def _catch_up(args, beam_args) -> int:
    from pipeline.catch_up.command import CatchUpUsageError, run_catch_up_command
    from pipeline.resume.interrupt import RunInterrupted
    from transforms.dynamodb.stream import BookmarkError, StreamCatchUpError

    try:
        outcome = run_catch_up_command(args, beam_args)
    except (CatchUpUsageError, BookmarkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StreamCatchUpError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_CATCH_UP
    except (KeyboardInterrupt, RunInterrupted) as error:
        print(
            "error: interrupted: the catch-up under way was abandoned, the bookmark stays "
            "where the last finished one left it",
            file=sys.stderr,
        )
        return 128 + getattr(error, "signum", EXIT_INTERRUPTED - 128)
    if outcome.interrupted:
        return 128 + (outcome.signum or 2)  # 130 for SIGINT, 143 for SIGTERM
    return EXIT_OK if outcome.accounted_for else EXIT_MISMATCH


def _given_flags(args, *flags: str) -> list[str]:
    """Those of ``flags`` (``--swap-alias``...) given on the command line, in order."""
    return [flag for flag in flags if getattr(args, flag[2:].replace("-", "_")) is not None]


def _check_replay_args(args) -> None:
    """Refuses the table's options without ``--reread``, and ``--key-attributes`` with it."""
    given = _given_flags(args, "--table", "--endpoint-url", "--region")
    if given and not args.reread:
        verb = "goes" if len(given) == 1 else "go"
        raise _UsageError(f"{', '.join(given)} {verb} with --reread")
    if args.reread and args.key_attributes:
        raise _UsageError(
            "--key-attributes does not go with --reread, which takes the key from the table"
        )
    if args.reread:
        _check_dynamodb_location(args.endpoint_url, args.region)
    if args.still_failing and _same_place(args.still_failing, args.dead_letters):
        raise _UsageError(
            f"--still-failing {args.still_failing} is --dead-letters: the letters being read "
            "would be overwritten; give another folder (by default one beside them)"
        )


def _same_place(first: str, second: str) -> bool:
    """True when two paths (or URLs) name the same file or folder."""

    def place(path: str) -> str:
        path = path.rstrip("/") or "/"
        return path if "://" in path else os.path.abspath(os.path.expanduser(path))

    return place(first) == place(second)


def _check_index_apart(args) -> None:
    """Refuses an embedded index file that is also the dead letters' path."""
    index = getattr(args, "index", None)
    dead_letters = getattr(args, "dead_letters", None)
    if not index or not dead_letters or not index.lower().startswith("sqlite:///"):
        return
    from transforms.index.sqlite import sqlite_path

    if _same_place(sqlite_path(index), dead_letters):
        raise _UsageError(
            f"--dead-letters {dead_letters} is the index file: give the dead letters a "
            "folder (or .jsonl file) of their own"
        )


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


def _prog() -> str:
    return CONSOLE_SCRIPT if ran_as_console_script() else "python -m pipeline"


def _current_folder_first_on_path() -> None:
    """Puts the working directory first on ``sys.path``, as ``python -m`` does, so that
    ``--model mymodels:Book`` imports ``./mymodels.py`` from the console script too."""
    here = os.getcwd()
    if not any(os.path.abspath(entry or os.curdir) == here for entry in sys.path):
        sys.path.insert(0, here)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns its exit code. Also the ``dynamodb-reindex`` console script.

    SIGINT and SIGTERM end it with one line and exit code 130 or 143 at any
    moment (a run's own handlers, installed when it starts, stop it cleanly).
    """
    previous = _raise_on_signals()
    try:
        configure_logging()  # before Beam is imported: its import logs
        from transforms.runners.temp_folder import private_temp_folder

        with private_temp_folder():  # what Beam leaves in the temporary folder goes with it
            return _run_command(argv)
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        print(f"error: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_on_signals() -> dict[int, Any]:
    """SIGINT and SIGTERM raise :class:`CommandInterrupted` (in the main thread);
    returns the handlers they had."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum: int, frame) -> None:
        raise CommandInterrupted(signum)

    return {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}


def _run_command(argv: Sequence[str] | None) -> int:
    _current_folder_first_on_path()
    configure_logging()  # before Beam is imported: its import logs
    from transforms.runners.process_exit import skip_final_collection

    skip_final_collection()  # the OS reclaims the heap: 0.35 s less at every exit
    from pipeline.beam_args import (
        BadBeamOption,
        check_beam_args,
        check_dask_scheduler,
        chooses_workers,
        resolve_runner_args,
        starts_worker_processes,
        with_default_runner,
    )

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, beam_args = _parser().parse_known_args(argv)
        _check_index_apart(args)
        if args.command == "replay":
            _check_replay_args(args)
        elif getattr(args, "table", None):
            _check_dynamodb_location(args.endpoint_url, args.region)
        if args.command in ("search", "plan", "rollback"):
            if beam_args:
                raise _UsageError(f"unknown option(s) for {args.command}: {' '.join(beam_args)}")
            if args.command == "plan":
                return _plan(args)
            return _on_index({"search": _search, "rollback": _rollback}[args.command], args)
        if args.command == "reindex" and not args.catch_up and args.safety_margin:
            raise _UsageError("--safety-margin goes with --catch-up")
        if args.command == "reindex" and bool(args.catch_up) != bool(args.bookmark):
            raise _UsageError(
                "--catch-up needs --bookmark PATH (where the stream position is kept)"
                if args.catch_up
                else "--bookmark goes with --catch-up"
            )
        if args.command == "reindex" and args.upsert:
            given = _given_flags(args, "--swap-alias", "--keep", "--verify-sample")
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise _UsageError(
                    f"{', '.join(given)} {verb} to a rebuild; --upsert writes in place"
                )
        if getattr(args, "dataflow_region", None):
            beam_args = [*beam_args, f"--region={args.dataflow_region}"]
        # A reindex reads the whole table: every core, unless the table is small.
        # A catch-up or a replay reads little, and --follow runs a job every
        # interval: in-process.
        cores = None if args.command == "reindex" else 1
        checked = resolve_runner_args(with_default_runner(beam_args, cores))
        check_beam_args(checked, args.command)
        if cores is None and chooses_workers(beam_args) and _small_table(args):
            checked = resolve_runner_args(with_default_runner(beam_args, 1))
        beam_args = checked
        check_dask_scheduler(beam_args)
        if starts_worker_processes(beam_args):
            from transforms.runners.local_workers import start_workers_quietly

            start_workers_quietly()
    except (_UsageError, BadBeamOption) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.command == "reindex":
            return _reindex(args, beam_args, argv)
        if args.command == "catch-up":
            return _catch_up(args, beam_args)
        return _replay(args, beam_args)
    except (ValueError, TypeError, UsageError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
