"""Run-journal overhead: a whole reindex with and without the journal and its checkpoints.

Every run reads the same replay-server table (``bench/replay_server.py``),
decodes it and writes a fresh SQLite index and the dead letters, on the
in-process runner. The baseline is the pipeline without a journal (dead
letters written at the end, no self-checkpoints), then the same with a
self-checkpoint after every page (Beam's own cost of a bundle); the others run through
``run_reindex`` with the journal (dead letters per bundle, a position record
per committed bundle, consolidation at the end) and self-checkpoints every
N pages, or every 30 s (the CLI's default; longer than these runs, so only
the journal's own cost shows). Wall clock of the whole run, best of
``--repeats``, alternating. Writes ``bench/results/journal_overhead.{md,json}``::

    python bench/journal_overhead.py [--items 20000] [--segments 4] [--page-size 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from bench.replay_server import ReplayServer
from bench.report import machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials
from pipeline.reindex import ReindexConfig, build_reindex, load_model, run_reindex
from pipeline.sources import open_source

RUNNER = ["--runner=FnApiRunner"]


def _config(endpoint: str, folder: str, args, **options) -> ReindexConfig:
    return ReindexConfig(
        table="works",
        model="pipeline.models:Work",
        index=f"sqlite:///{folder}/index.db",
        dead_letters=f"{folder}/dead",
        endpoint_url=endpoint,
        region="us-east-1",
        total_segments=args.segments,
        page_size=args.page_size,
        **options,
    )


def without_journal(endpoint: str, args, **checkpoint) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = _config(endpoint, folder, args, **checkpoint)
        started = time.monotonic()
        with beam.Pipeline(options=PipelineOptions(RUNNER)) as p:
            build_reindex(p, config, load_model(config.model), open_source(config))
        return time.monotonic() - started


def with_journal(endpoint: str, args, **checkpoint) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = _config(endpoint, folder, args, **checkpoint)
        started = time.monotonic()
        summary = run_reindex(config, RUNNER)
        assert summary.accounted_for and summary.scanned == args.items
        return time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    variants = {
        "no journal, no self-checkpoints": lambda url: without_journal(url, args),
        "no journal, checkpoint every page": lambda url: without_journal(
            url, args, checkpoint_every_pages=1
        ),
        "journal, checkpoint every 30 s (default)": lambda url: with_journal(url, args),
        "journal, checkpoint every 10 pages": lambda url: with_journal(
            url, args, checkpoint_every_pages=10
        ),
        "journal, checkpoint every page": lambda url: with_journal(
            url, args, checkpoint_every_pages=1
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with ReplayServer(
        args.items,
        latency_ms=args.latency_ms,
        malformed_fraction=0.01,
        layouts=[(args.segments, args.page_size)],
    ) as server:
        for _ in range(args.repeats):
            for name, run in variants.items():
                times[name].append(run(server.endpoint_url))
    best = {name: min(values) for name, values in times.items()}
    base = best["no journal, no self-checkpoints"]
    pages = args.items / args.page_size
    rows = [
        [name, f"{seconds:.2f}", f"{args.items / seconds:,.0f}", f"{seconds / base - 1:+.1%}"]
        for name, seconds in best.items()
    ]
    markdown = "\n".join(
        [
            "# Run-journal overhead",
            "",
            f"{args.items:,} items, {args.segments} segments, pages of {args.page_size} "
            f"({pages:,.0f} pages), {args.latency_ms} ms per Scan, SQLite index, "
            f"in-process runner, best of {args.repeats}. {machine_line()}",
            "",
            markdown_table(["run", "seconds", "items/s", "vs no journal"], rows),
        ]
    )
    write_results("journal_overhead", markdown, {"seconds": best, "items": args.items})
    return 0


if __name__ == "__main__":
    sys.exit(main())
