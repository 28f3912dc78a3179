"""End to end: peak memory and client CPU of a full ``reindex``, and the naive script.

The DynamoDB endpoint is the replay server (``bench/replay_server.py``), a
DynamoDB-compatible endpoint for ``DescribeTable`` and ``Scan`` that serves
the sample ``works`` table from memory: moto scans about 700 items/s, too slow
for 100,000 items, and would measure itself rather than the client. Each run
is a child process – ``python -m pipeline reindex`` on the DirectRunner's
in-process engine (``--runner=FnApiRunner``), or ``bench/naive_reindex.py``
(threads over segments, boto3 ``scan``, ``TypeDeserializer``, ``from_dict``,
``to_json``, ``executemany``) – whose CPU time (user + system) and peak RSS
come from the kernel (``wait4``); start-up is included on both sides.

* memory: peak RSS of a reindex of ``--small`` and of ``--large`` items;
* CPU: the reindex and the naive script on the same ``--large`` table, same
  server, same segment count; both indexes are then compared row by row.

Each reindex runs ``--repeats`` times (3) and the run of median CPU stands
for it (a child's CPU varied by 15% from one run to the next on a shared
machine); the naive script, two minutes of CPU, runs once.

Writes ``bench/results/reindex_cost.{md,json,png}``::

    python bench/reindex_cost.py [--small 10000] [--large 100000] [--segments 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class ChildRun:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output: str


def run_child(command: Sequence[str], cpus: set[int] | None = None) -> ChildRun:
    """Runs ``command`` (bound to ``cpus`` if given); its CPU and peak RSS as the
    kernel reports them, its own and its children's."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {process.returncode}:\n{output[-3000:]}")
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def reindex_command(endpoint: str, folder: str, name: str, *extra: str) -> list[str]:
    """``python -m pipeline reindex`` of the replay table into ``folder``, plus ``extra``."""
    return [
        sys.executable,
        "-m",
        "pipeline",
        "reindex",
        "--table=works",
        "--model=pipeline.models:Work",
        f"--index=sqlite:///{folder}/{name}.db",
        f"--dead-letters={folder}/{name}-dead-letters",
        f"--endpoint-url={endpoint}",
        "--region=us-east-1",
        *extra,
    ]


def reindex(endpoint: str, folder: str, name: str, segments: int) -> ChildRun:
    extra = (f"--total-segments={segments}", "--runner=FnApiRunner")
    return run_child(reindex_command(endpoint, folder, name, *extra))


def naive(endpoint: str, folder: str, segments: int) -> ChildRun:
    return run_child(
        [
            sys.executable,
            str(ROOT / "bench" / "naive_reindex.py"),
            f"--endpoint-url={endpoint}",
            "--table=works",
            f"--index={folder}/naive.db",
            f"--segments={segments}",
        ]
    )


def index_digest(path: str) -> tuple[int, str]:
    """Row count and a digest of ``SELECT id, body`` in id order."""
    digest = hashlib.sha256()
    connection = sqlite3.connect(path)
    try:
        rows = 0
        for doc_id, body in connection.execute("SELECT id, body FROM documents ORDER BY id"):
            digest.update(doc_id.encode() + b"\0" + body.encode() + b"\0")
            rows += 1
    finally:
        connection.close()
    return rows, digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    cpu_of_each: dict[str, list[float]] = {}

    runs: dict[str, ChildRun] = {}
    with tempfile.TemporaryDirectory(prefix="bench-reindex-") as folder:
        for name, count in (("small", args.small), ("large", args.large)):
            with ReplayServer(
                count, latency_ms=args.latency_ms, layouts=[(args.segments, None)]
            ) as server:
                repeated = [
                    reindex(server.endpoint_url, folder, f"{name}-{round_}", args.segments)
                    for round_ in range(args.repeats)
                ]
                by_cpu = sorted(repeated, key=lambda run: run.cpu_seconds)
                runs[f"reindex {count:,}"] = by_cpu[(len(by_cpu) - 1) // 2]
                cpu_of_each[f"reindex {count:,}"] = [run.cpu_seconds for run in repeated]
                if name == "large" and not args.skip_naive:
                    runs[f"naive script {count:,}"] = naive(
                        server.endpoint_url, folder, args.segments
                    )
        ours_rows, ours_digest = index_digest(f"{folder}/large-0.db")
        if ours_rows != args.large:
            raise SystemExit(f"the reindex indexed {ours_rows:,} of {args.large:,} items")
        if not args.skip_naive:
            naive_rows, naive_digest = index_digest(f"{folder}/naive.db")
            if (naive_rows, naive_digest) != (ours_rows, ours_digest):
                raise SystemExit("the naive script's index differs from the reindex's")

    small = runs[f"reindex {args.small:,}"]
    large = runs[f"reindex {args.large:,}"]
    targets = [
        Target(
            f"peak RSS {args.large:,} / {args.small:,} items",
            large.peak_rss_mb / small.peak_rss_mb,
            1.2,
            False,
            "x",
        )
    ]
    if not args.skip_naive:
        naive_run = runs[f"naive script {args.large:,}"]
        targets.append(
            Target(
                "client CPU, naive script / reindex",
                naive_run.cpu_seconds / large.cpu_seconds,
                3.0,
                True,
                "x",
            )
        )
    rows = [
        [
            name,
            f"{run.wall_seconds:.1f}",
            f"{run.cpu_seconds:.1f}",
            f"{run.peak_rss_mb:,.0f}",
        ]
        for name, run in runs.items()
    ]
    text = "\n".join(
        [
            "# End to end: a full reindex – peak memory, and client CPU against the naive script",
            "",
            f"Sample `works` table served by the replay server ({args.latency_ms:g} ms per "
            f"request; a DynamoDB endpoint for DescribeTable and Scan), {args.segments} "
            "segments, 1 MB pages. Reindex: `python -m pipeline reindex --runner=FnApiRunner` "
            "into the embedded index; naive script: `bench/naive_reindex.py`. Child processes; "
            "CPU (user + system) and peak RSS from `wait4`, start-up included; each reindex "
            f"run {args.repeats} times, the run of median CPU shown. Both indexes "
            f"compared row by row: identical. {machine_line()}. "
            "Produced by `python bench/reindex_cost.py`.",
            "",
            markdown_table(["run", "wall s", "CPU s", "peak RSS MB"], rows),
            "",
            *[
                f"CPU of each {name}: " + ", ".join(f"{cpu:.1f} s" for cpu in cpus) + "."
                for name, cpus in cpu_of_each.items()
            ],
            "",
            *[f"- {target.line()}" for target in targets],
        ]
    )

    def plot(figure):
        left, right = figure.subplots(1, 2)
        names = list(runs)
        left.barh(names, [runs[n].cpu_seconds for n in names], color="#4c72b0")
        left.set_xlabel("client CPU seconds")
        right.barh(names, [runs[n].peak_rss_mb for n in names], color="#dd8452")
        right.set_xlabel("peak RSS (MB)")
        right.set_yticks([])
        figure.suptitle("Full reindex against the replay server")

    figures = {
        "runs": {
            name: {k: v for k, v in dataclasses.asdict(run).items() if k != "output"}
            for name, run in runs.items()
        },
        "segments": args.segments,
        "repeats": args.repeats,
        "cpu_of_each": cpu_of_each,
    }
    write_results("reindex_cost", text, figures, targets, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
