"""Pipeline overhead: the DirectRunner pipeline against a bare threaded scan loop.

Both read the same replay-server table (``bench/replay_server.py``) with the
same segments, client and decoder, and drop the records (see
``bench/pipeline_runs.py``): the difference is what Beam costs – the
splittable DoFn, bundles, element passing, metrics. Runs alternate, best of
``--repeats``. The ratio is pipeline items/s over loop items/s, wall clock
from start to end (the pipeline's construction and start-up included); the
rate from first to last record is shown beside it.

The pipeline runs twice: with one worker thread per segment, as many threads
as the loop (the goal's figure, as measured before), and with
``--few-workers`` threads (2), each reading its segments in turn with the
next page read ahead: fewer threads contend for the one interpreter, and
the read-ahead keeps a request in flight while a page is processed. Writes
``bench/results/pipeline_overhead.{md,json,png}``::

    python bench/pipeline_overhead.py [--items 100000] [--segments 8] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_runs import Run, run_bare_loop, run_pipeline
from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=None, help="Scan Limit; default 1 MB")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--few-workers", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())

    many = f"pipeline, {args.segments} worker threads"
    few = f"pipeline, {args.few_workers} worker threads"
    runs: dict[str, list[Run]] = {"bare loop": [], many: [], few: []}
    with ReplayServer(
        args.items, latency_ms=args.latency_ms, layouts=[(args.segments, args.page_size)]
    ) as server:
        shape = (server.endpoint_url, server.table, args.segments, args.page_size, args.items)
        for _ in range(args.repeats):
            runs["bare loop"].append(run_bare_loop(*shape))
            runs[many].append(run_pipeline(*shape))
            runs[few].append(run_pipeline(*shape, workers=args.few_workers))

    best = {name: min(values, key=lambda run: run.wall_seconds) for name, values in runs.items()}
    bare, piped = best["bare loop"], best[many]
    ratio = piped.items_per_second / bare.items_per_second
    active_ratio = piped.active_items_per_second / bare.active_items_per_second
    few_ratio = best[few].items_per_second / bare.items_per_second
    target = Target("pipeline / bare loop", ratio, 0.9, True, "x")
    few_target = Target(
        f"pipeline with {args.few_workers} threads / bare loop", few_ratio, 0.9, True, "x"
    )
    rows = [
        [
            name,
            f"{run.wall_seconds:.2f}",
            f"{run.items_per_second:,.0f}",
            f"{run.active_items_per_second:,.0f}",
            f"{run.cpu_seconds:.2f}",
            f"{run.cpu_seconds / run.items * 1e6:.0f}",
        ]
        for name, run in best.items()
    ]
    pages = "1 MB pages" if args.page_size is None else f"pages of {args.page_size} items"
    text = "\n".join(
        [
            "# Pipeline overhead: DirectRunner pipeline vs a bare threaded scan loop",
            "",
            f"{args.items:,} items of the sample table on the replay server "
            f"({args.latency_ms:g} ms per request), {args.segments} segments, {pages}; "
            "read + decode (`compile_decoder(Work)`) + a null sink. Pipeline: FnApiRunner "
            f"multi-threaded with {args.segments} workers, and with {args.few_workers}; "
            f"loop: {args.segments} threads, "
            f"one client each. Best of {args.repeats} alternating runs. {machine_line()}. "
            "Produced by `python bench/pipeline_overhead.py`.",
            "",
            markdown_table(
                [
                    "path",
                    "wall s",
                    "items/s",
                    "items/s first to last record",
                    "CPU s",
                    "CPU µs/item",
                ],
                rows,
            ),
            "",
            f"First to last record only (start-up excluded): {active_ratio:.2f}x "
            f"with {args.segments} worker threads.",
            "",
            f"- {target.line()} ({args.segments} worker threads, one per segment)",
            f"- {few_target.line()}",
        ]
    )

    def plot(figure):
        axes = figure.add_subplot()
        names = list(best)
        wall = [best[name].items_per_second for name in names]
        active = [best[name].active_items_per_second for name in names]
        positions = range(len(names))
        axes.bar([p - 0.2 for p in positions], wall, 0.4, label="whole run")
        axes.bar([p + 0.2 for p in positions], active, 0.4, label="first to last record")
        axes.set_xticks(list(positions), names)
        axes.set_ylabel("items/s")
        axes.set_title(f"Read + decode, {args.segments} segments, {args.latency_ms:g} ms latency")
        axes.legend()

    figures = {
        "items": args.items,
        "segments": args.segments,
        "latency_ms": args.latency_ms,
        "page_size": args.page_size,
        "runs": {name: [run.__dict__ for run in values] for name, values in runs.items()},
        "ratio": ratio,
        "active_ratio": active_ratio,
        "few_workers": args.few_workers,
        "few_workers_ratio": few_ratio,
    }
    write_results("pipeline_overhead", text, figures, [target, few_target], plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
