"""Scaling: items/s of the pipeline for 1, 2, 4, 8, 16 segments at a fixed latency.

The replay server (``bench/replay_server.py``) answers every request after
``--latency-ms`` (30 ms by default), standing in for the real service, and
costs next to nothing itself – so what is measured is the client: the
pipeline (read + decode + null sink, one worker thread per segment, see
``bench/pipeline_runs.py``). Each segment count is run at two page sizes:
DynamoDB's full 1 MB pages and ``--small-page`` items per page. With one
segment, time per page is latency + client CPU; with many, the client's CPU
(one interpreter, one GIL) becomes the ceiling, so the best speed-up is about
``1 + latency / (client CPU per page)``: small for 1 MB pages, larger for small
ones. The bare threaded loop of ``bench/pipeline_runs.py`` runs beside it, to
show what the runner's threads cost. Rates are from the first record to the
last (start-up excluded), best of ``--repeats``. Writes ``bench/results/scaling.{md,json,png}``::

    python bench/scaling.py [--items 24000] [--latency-ms 30] [--small-page 50]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_runs import run_bare_loop, run_pipeline
from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials

SEGMENTS = (1, 2, 4, 8, 16)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=24_000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--small-page", type=int, default=50)
    parser.add_argument("--segments", default=",".join(map(str, SEGMENTS)))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    counts = [int(part) for part in args.segments.split(",")]
    page_sizes: list[int | None] = [None, args.small_page]

    rates: dict[str, dict[int, float]] = {}
    cpu: dict[str, dict[int, float]] = {}
    layouts = [(count, size) for size in page_sizes for count in counts]
    with ReplayServer(args.items, latency_ms=args.latency_ms, layouts=layouts) as server:
        for size in page_sizes:
            pages = "1 MB pages" if size is None else f"pages of {size} items"
            for kind, run in (("pipeline", run_pipeline), ("bare loop", run_bare_loop)):
                label = f"{kind}, {pages}"
                rates[label], cpu[label] = {}, {}
                for count in counts:
                    runs = [
                        run(server.endpoint_url, server.table, count, size, args.items)
                        for _ in range(args.repeats)
                    ]
                    best = max(runs, key=lambda run: run.active_items_per_second)
                    rates[label][count] = best.active_items_per_second
                    cpu[label][count] = best.cpu_seconds / best.items * 1e6

    top = max(counts)
    targets = [
        Target(f"{top} / 1 segments, {label}", by_count[top] / by_count[1], 10.0, True, "x")
        for label, by_count in rates.items()
        if label.startswith("pipeline")
    ]
    header = ["segments"] + [f"items/s, {label}" for label in rates]
    header += [f"speed-up, {label}" for label in rates]
    rows = []
    for count in counts:
        row = [str(count)]
        row += [f"{by_count[count]:,.0f}" for by_count in rates.values()]
        row += [f"{by_count[count] / by_count[1]:.1f}x" for by_count in rates.values()]
        rows.append(row)
    text = "\n".join(
        [
            f"# Scaling: pipeline items/s by segment count, {args.latency_ms:g} ms per request",
            "",
            f"{args.items:,} items of the sample table on the replay server; read + decode + "
            "null sink on the FnApiRunner, multi-threaded, one worker thread per segment "
            "(and the bare loop, one thread per segment, for comparison); "
            f"rate from first to last record, best of {args.repeats}. {machine_line()}. "
            "Produced by `python bench/scaling.py`.",
            "",
            markdown_table(header, rows),
            "",
            "Client CPU per item (µs, whole run): "
            + "; ".join(
                f"{label}: " + ", ".join(f"{c}: {v:.0f}" for c, v in by_count.items())
                for label, by_count in cpu.items()
            ),
            "",
            *[f"- {target.line()}" for target in targets],
        ]
    )

    def plot(figure):
        axes = figure.add_subplot()
        for label, by_count in rates.items():
            style = "-" if label.startswith("pipeline") else "--"
            axes.plot(counts, [by_count[c] for c in counts], style, marker="o", label=label)
        ideal = rates[[label for label in rates if label.startswith("pipeline")][-1]][1]
        axes.plot(counts, [ideal * c for c in counts], linestyle=":", color="grey")
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(counts, [str(c) for c in counts])
        axes.set_xlabel("segments (one worker thread each)")
        axes.set_ylabel("items/s")
        axes.set_title(f"Scaling at {args.latency_ms:g} ms per request (dotted: linear)")
        axes.legend(fontsize="small")

    figures = {"items": args.items, "latency_ms": args.latency_ms, "rates": rates, "cpu": cpu}
    write_results("scaling", text, figures, targets, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
