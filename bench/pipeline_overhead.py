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
the read-ahead keeps a request in flight while a page is processed.

Every path also reads a table of ``--fixed-items`` (1,000), which splits
its time into a fixed part and a part per item; and Beam's floor
(:func:`~bench.pipeline_runs.run_beam_floor`: the same shape of pipeline
passing ready objects, nothing read or decoded, on ``--few-workers``
threads) shows the most any pipeline of this shape could reach against the
loop. Writes ``bench/results/pipeline_overhead.{md,json,png}``::

    python bench/pipeline_overhead.py [--items 100000] [--segments 8] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_runs import Run, run_bare_loop, run_beam_floor, run_pipeline
from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials


def _fastest(runs: dict[str, list[Run]]) -> dict[str, Run]:
    """Each path's run of least wall time."""
    return {name: min(values, key=lambda run: run.wall_seconds) for name, values in runs.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=None, help="Scan Limit; default 1 MB")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--few-workers", type=int, default=2)
    parser.add_argument("--fixed-items", type=int, default=1_000)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())

    many = f"pipeline, {args.segments} worker threads"
    few = f"pipeline, {args.few_workers} worker threads"
    floor = f"Beam's floor, {args.few_workers} worker threads"
    sizes = (args.items, args.fixed_items)
    runs_by_size: dict[int, dict[str, list[Run]]] = {
        size: {"bare loop": [], many: [], few: [], floor: []} for size in sizes
    }
    layouts = [(args.segments, args.page_size)]
    with (
        ReplayServer(args.items, latency_ms=args.latency_ms, layouts=layouts) as server,
        ReplayServer(args.fixed_items, latency_ms=args.latency_ms, layouts=layouts) as small,
    ):
        for _ in range(args.repeats):
            for size, endpoint in ((args.items, server), (args.fixed_items, small)):
                shape = (endpoint.endpoint_url, endpoint.table, args.segments, args.page_size, size)
                runs = runs_by_size[size]
                runs["bare loop"].append(run_bare_loop(*shape))
                runs[many].append(run_pipeline(*shape))
                runs[few].append(run_pipeline(*shape, workers=args.few_workers))
                runs[floor].append(run_beam_floor(size, args.segments, args.few_workers))

    runs = runs_by_size[args.items]
    best, best_small = _fastest(runs), _fastest(runs_by_size[args.fixed_items])
    bare, piped = best["bare loop"], best[many]
    ceiling = bare.wall_seconds / (bare.wall_seconds + best[floor].wall_seconds)
    split = {
        name: (
            best_small[name].wall_seconds,
            (best[name].wall_seconds - best_small[name].wall_seconds)
            / (args.items - args.fixed_items)
            * 1e6,
        )
        for name in best
    }
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
        if name != floor
    ]
    split_rows = [
        [name, f"{fixed:.3f}", f"{per_item:.1f}", f"{best[name].wall_seconds:.2f}"]
        for name, (fixed, per_item) in split.items()
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
            f"Fixed part and part per item (wall, best runs): the fixed part is a read of "
            f"{args.fixed_items:,} items, the part per item what the {args.items:,}-item read "
            "takes beyond it. Beam's floor passes as many ready objects through a splittable "
            "DoFn, a pass-through DoFn and a null sink, nothing read or decoded.",
            "",
            markdown_table(
                ["path", "fixed s", "µs per item", f"{args.items:,} items, s"],
                split_rows,
            ),
            "",
            f"A pipeline that added only Beam's floor to the bare loop would reach "
            f"{ceiling:.2f}x of it ({bare.wall_seconds:.2f} s / "
            f"({bare.wall_seconds:.2f} s + {best[floor].wall_seconds:.2f} s)).",
            "",
            f"- {target.line()} ({args.segments} worker threads, one per segment)",
            f"- {few_target.line()}",
        ]
    )

    def plot(figure):
        axes = figure.add_subplot()
        names = [name for name in best if name != floor]
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
        "fixed_items": args.fixed_items,
        "fixed_items_runs": {
            name: [run.__dict__ for run in values]
            for name, values in runs_by_size[args.fixed_items].items()
        },
        "fixed_seconds_and_us_per_item": split,
        "floor_ceiling": ceiling,
        "ratio": ratio,
        "active_ratio": active_ratio,
        "few_workers": args.few_workers,
        "few_workers_ratio": few_ratio,
    }
    write_results("pipeline_overhead", text, figures, [target, few_target], plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
