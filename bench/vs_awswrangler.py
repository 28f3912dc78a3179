"""Against what a Python user would pick instead: awswrangler's ``read_items``.

The same table is read whole, one path after the other, in this process:

* ours: ``parallel_scan(table, total_segments=4, threads=4,
  decode_at_read=DecodeAtRead(Work, ("id",)))``, which decodes each item into
  a ``Work`` instance (strictly checked against the model) as its page is
  parsed, and ``compile_decoder(Work)`` on any item it leaves in wire format,
  into a list of ``Work`` instances;
* awswrangler: ``wr.dynamodb.read_items(table_name=..., allow_full_scan=True,
  use_threads=4)`` into a pandas DataFrame (4 segments, no validation);
* awswrangler + from_dict (``--from-dict``): the same read with
  ``as_dataframe=False`` and ``Work.from_dict`` on each of its items.

The table is the sample ``works`` table (``pipeline.local.sample_data``, no
malformed items) on the local DynamoDB server (``--server moto``, moto in its
own process, seeded first) or on the replay server (``--server replay``,
``bench/replay_server.py``: pages from memory, so that the figures show the
client rather than the server). Each run is timed in wall seconds and in CPU
seconds of this process (all its threads; the server runs in another
process); paths alternate for ``--repeats`` rounds and the best run of each
counts. Every run must return every item. The garbage collector keeps its
default settings, as in a user's script; ``--worker-gc`` raises its young
threshold for both paths, as ``DecodeItems`` does in a Beam worker
(:mod:`transforms.decode.gc_thresholds`).

awswrangler is an optional dependency (``pip install -e '.[bench]'``); without
it the benchmark says so and exits without writing results. Writes
``bench/results/vs_awswrangler.{md,json,png}``::

    python bench/vs_awswrangler.py [--items 30000] [--server moto|replay]
                                   [--from-dict] [--worker-gc]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import LocalDynamoDB, dummy_credentials
from pipeline.local.sample_data import create_table, generate_items, seed_table
from pipeline.models import Work
from transforms.decode.decoder import compile_decoder
from transforms.decode.gc_thresholds import raise_young_threshold
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.scan.parallel_scan import parallel_scan

REGION = "us-east-1"
TABLE = "works"
SEGMENTS = 4


class Run:
    """One timed read: items returned, wall and CPU seconds."""

    def __init__(self, items: int, wall: float, cpu: float):
        self.items = items
        self.wall = wall
        self.cpu = cpu


def timed(read: Callable[[], int]) -> Run:
    wall, cpu = time.perf_counter(), time.process_time()
    items = read()
    return Run(items, time.perf_counter() - wall, time.process_time() - cpu)


@contextlib.contextmanager
def served_table(server: str, items: int, seed: int) -> Iterator[str]:
    """The endpoint URL of a server holding the sample table of ``items`` items."""
    if server == "replay":
        with ReplayServer(items, seed=seed, table=TABLE, layouts=[(SEGMENTS, None)]) as replay:
            yield replay.endpoint_url
        return
    with LocalDynamoDB() as local:
        client = boto3.client("dynamodb", endpoint_url=local.endpoint_url, region_name=REGION)
        create_table(client, TABLE)
        samples = generate_items(items, malformed_fraction=0.0, seed=seed)
        started = time.perf_counter()
        seed_table(client, TABLE, (sample.item for sample in samples))
        print(f"seeded {items:,} items in {time.perf_counter() - started:.1f} s", flush=True)
        yield local.endpoint_url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--server", choices=("moto", "replay"), default="moto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--from-dict", action="store_true", help="also awswrangler items + Work.from_dict"
    )
    parser.add_argument(
        "--worker-gc", action="store_true", help="the collector's threshold of a Beam worker"
    )
    args = parser.parse_args(argv)

    if importlib.util.find_spec("awswrangler") is None:
        print(
            "awswrangler is not installed: comparison skipped "
            "(install the bench extra: pip install -e '.[bench]')"
        )
        return 0
    import awswrangler as wr

    os.environ.update(dummy_credentials())
    os.environ["AWS_DEFAULT_REGION"] = REGION
    warnings.filterwarnings("ignore", message="Attempting DynamoDB Scan")
    decode = compile_decoder(Work)
    if args.worker_gc:
        raise_young_threshold()

    with served_table(args.server, args.items, args.seed) as endpoint_url:
        wr.config.dynamodb_endpoint_url = endpoint_url

        def ours() -> int:
            scan = parallel_scan(
                TABLE,
                total_segments=SEGMENTS,
                threads=SEGMENTS,
                endpoint_url=endpoint_url,
                region_name=REGION,
                decode_at_read=DecodeAtRead(Work, ("id",)),
            )
            records = [item.record if type(item) is KeyedRecord else decode(item) for item in scan]
            return len(records)

        def awswrangler_frame() -> int:
            frame = wr.dynamodb.read_items(
                table_name=TABLE, allow_full_scan=True, use_threads=SEGMENTS
            )
            return len(frame)

        def awswrangler_from_dict() -> int:
            items = wr.dynamodb.read_items(
                table_name=TABLE, allow_full_scan=True, use_threads=SEGMENTS, as_dataframe=False
            )
            return len([Work.from_dict(item) for item in items])

        paths: dict[str, Callable[[], int]] = {
            "ours: parallel_scan decoding at read (Work instances)": ours,
            "awswrangler read_items (DataFrame)": awswrangler_frame,
        }
        if args.from_dict:
            paths["awswrangler read_items + Work.from_dict"] = awswrangler_from_dict
        runs: dict[str, list[Run]] = {name: [] for name in paths}
        for _ in range(args.repeats):
            for name, read in paths.items():
                run = timed(read)
                if run.items != args.items:
                    raise SystemExit(f"{name} returned {run.items:,} of {args.items:,} items")
                runs[name].append(run)
                print(f"{name}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU", flush=True)

    best_wall = {name: min(run.wall for run in values) for name, values in runs.items()}
    best_cpu = {name: min(run.cpu for run in values) for name, values in runs.items()}
    ours_name, theirs_name = list(paths)[:2]
    wall_ratio = best_wall[theirs_name] / best_wall[ours_name]
    cpu_ratio = best_cpu[theirs_name] / best_cpu[ours_name]
    targets = [
        Target("awswrangler / ours, wall", wall_ratio, 5.0, True, "x"),
        Target("awswrangler / ours, CPU", cpu_ratio, 5.0, True, "x"),
    ]
    rows = [
        [
            name,
            f"{best_wall[name]:.2f}",
            f"{args.items / best_wall[name]:,.0f}",
            f"{best_cpu[name]:.2f}",
            f"{best_wall[name] / best_wall[ours_name]:.1f}x",
            f"{best_cpu[name] / best_cpu[ours_name]:.1f}x",
        ]
        for name in paths
    ]
    server = (
        "the local DynamoDB server (moto, its own process)"
        if args.server == "moto"
        else "the replay server (pages from memory, its own process)"
    )
    text = "\n".join(
        [
            "# Ours against awswrangler: a whole table into Python",
            "",
            f"{args.items:,} items of the sample `works` table on {server}, "
            f"{SEGMENTS} segments and threads on each side, best of {args.repeats} alternating "
            f"runs; every run returned every item; garbage collector "
            f"{'threshold of a Beam worker' if args.worker_gc else 'as by default'}. "
            f"awswrangler {wr.__version__}. "
            f"{machine_line()}. Produced by `python bench/vs_awswrangler.py "
            f"--items {args.items} --server {args.server}"
            f"{' --from-dict' if args.from_dict else ''}"
            f"{' --worker-gc' if args.worker_gc else ''}`.",
            "",
            markdown_table(
                ["path", "wall s", "items/s", "CPU s", "wall vs ours", "CPU vs ours"], rows
            ),
            "",
            *[f"- {target.line()}" for target in targets],
        ]
    )

    def plot(figure):
        axes = figure.add_subplot()
        names = list(paths)
        positions = range(len(names))
        axes.barh([p - 0.2 for p in positions], [best_wall[n] for n in names], 0.4, label="wall")
        axes.barh([p + 0.2 for p in positions], [best_cpu[n] for n in names], 0.4, label="CPU")
        axes.set_yticks(list(positions), [name.split(" (")[0] for name in names])
        axes.tick_params(axis="y", labelsize="small")
        axes.set_xlabel(f"seconds for {args.items:,} items")
        axes.legend()

    figures = {
        "items": args.items,
        "server": args.server,
        "worker_gc": args.worker_gc,
        "best_wall_seconds": best_wall,
        "best_cpu_seconds": best_cpu,
        "runs": {name: [run.__dict__ for run in values] for name, values in runs.items()},
    }
    write_results("vs_awswrangler", text, figures, targets, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
