"""Every core: items/s of the same local ``reindex`` on two CPUs against one.

The command is the one a user types, with no runner option: ``python -m
pipeline reindex`` picks its own default from the CPUs the process may use
(``pipeline.beam_args.with_default_runner``: one worker process per usable
CPU, or in-process on one). Each run is a child process bound to the first
CPU, or to the first two, by its affinity (``os.sched_setaffinity``, as
``taskset`` does), so the default sees one CPU or two. The DynamoDB endpoint
is the replay server (``bench/replay_server.py``) answering every request
after ``--latency-ms`` (30 ms by default); it is not bound, so on one CPU it
runs beside the job and on two it shares them, which counts against two.

Rates are items over the child's whole wall time (start-up, the scan, the
verification and the alias swap included), at each ``--items`` size, the
two bindings alternating for ``--repeats`` rounds (best of each). Both
indexes are checked to hold every item. Writes ``bench/results/cores.{md,json}``::

    python bench/cores.py [--items 100000,300000] [--latency-ms 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reindex_cost import ChildRun, index_digest, reindex_command, run_child
from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials
from transforms.dynamodb.table_description import SEGMENTS_PER_WORKER

GOAL = 1.7

LAYOUTS = [(SEGMENTS_PER_WORKER * workers, None) for workers in (1, 2)]
"""The scan layouts the two runs ask for (the default segment count: so many
per worker process), built by the replay server before the first run, so
that neither pays for building its pages."""


def reindex_on(cpus: set[int], endpoint: str, folder: str, name: str) -> ChildRun:
    """The default ``reindex`` of the replay table, its process bound to ``cpus``."""
    return run_child(reindex_command(endpoint, folder, name), cpus=cpus)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="100000,300000")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        raise SystemExit("this benchmark needs two CPUs")
    bindings = {"1 CPU": {available[0]}, "2 CPUs": set(available[:2])}
    sizes = [int(part) for part in args.items.split(",")]

    rows, figures, targets = [], {}, []
    for items in sizes:
        best: dict[str, ChildRun] = {}
        with ReplayServer(items, latency_ms=args.latency_ms, layouts=LAYOUTS) as server:
            with tempfile.TemporaryDirectory(prefix="bench-cores-") as folder:
                for round_ in range(args.repeats):
                    for label, cpus in bindings.items():
                        name = f"{label[0]}-{round_}"
                        run = reindex_on(cpus, server.endpoint_url, folder, name)
                        rows_held, _ = index_digest(f"{folder}/{name}.db")
                        if rows_held != items:
                            raise SystemExit(f"{label}: the index holds {rows_held:,} of {items:,}")
                        if label not in best or run.wall_seconds < best[label].wall_seconds:
                            best[label] = run
        one, two = best["1 CPU"], best["2 CPUs"]
        ratio = one.wall_seconds / two.wall_seconds
        for label, run in best.items():
            rows.append(
                [
                    f"{items:,}",
                    label,
                    f"{run.wall_seconds:.1f}",
                    f"{items / run.wall_seconds:,.0f}",
                    f"{run.cpu_seconds:.1f}",
                    f"{ratio:.2f}x" if label == "2 CPUs" else "1.00x",
                ]
            )
        figures[str(items)] = {
            label: {"wall_seconds": run.wall_seconds, "cpu_seconds": run.cpu_seconds}
            for label, run in best.items()
        }
        targets.append(Target(f"2 cores / 1 core, {items:,} items", ratio, GOAL, True, "x"))

    table = markdown_table(
        ["items", "CPUs", "wall s (best)", "items/s", "CPU s (all processes)", "vs 1 CPU"], rows
    )
    lines = [
        "# Every core: a local reindex on 2 CPUs against 1",
        "",
        f"`python -m pipeline reindex` with no runner option (its default: one worker process "
        f"per usable CPU), bound to 1 or 2 CPUs; replay server at {args.latency_ms:g} ms per "
        f"request, 1 MB pages, best of {args.repeats}. {machine_line()}. "
        "Produced by `python bench/cores.py`.",
        "",
        table,
        "",
        *(f"- {target.line()}" for target in targets),
    ]
    write_results("cores", "\n".join(lines), figures, targets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
