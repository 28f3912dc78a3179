"""Peak memory when every item is dead-lettered, and when those letters are replayed.

A wrong model dead-letters every item it reads; the run must still end (its
dead letters written, each once) in the memory a good run takes, whatever the
table's size, and so must the ``replay`` of those letters once the model is
fixed. Each run is a child process against the replay server
(``bench/replay_server.py``) on the in-process engine (``--runner=FnApiRunner``):

* ``reindex --upsert`` with :class:`TitleAsNumber` (``title`` declared ``int``:
  every item fails to decode);
* ``replay`` of its dead letters with ``pipeline.models:Work`` into a fresh index.

Peak RSS from ``wait4`` (the process and its children), start-up included, at
``--small`` and ``--large`` items. Writes ``bench/results/dead_letter_memory.{md,json}``::

    python bench/dead_letter_memory.py [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses_json import LetterCase, dataclass_json

from bench.reindex_cost import ChildRun, run_child
from bench.replay_server import ReplayServer
from bench.report import Target, machine_line, markdown_table, write_results
from pipeline.local.dynamodb_server import dummy_credentials
from pipeline.models import Work

IN_PROCESS = "--runner=FnApiRunner"


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclasses.dataclass
class TitleAsNumber(Work):
    """The sample model with ``title`` declared a number: no sample item decodes."""

    title: int


def pipeline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args, IN_PROCESS]


def runs_of(count: int, folder: str) -> dict[str, ChildRun]:
    """The reindex that dead-letters ``count`` items, then the replay of its letters."""
    letters = f"{folder}/wrong-{count}-dead-letters"
    with ReplayServer(count, layouts=[(4, None)]) as server:
        reindexed = run_child(
            pipeline_command(
                "reindex",
                "--table=works",
                "--model=bench.dead_letter_memory:TitleAsNumber",
                f"--index=sqlite:///{folder}/wrong-{count}.db",
                f"--dead-letters={letters}",
                f"--endpoint-url={server.endpoint_url}",
                "--region=us-east-1",
                "--upsert",
                "--total-segments=4",
                "--progress-interval=0",
            )
        )
    replayed = run_child(
        pipeline_command(
            "replay",
            f"--dead-letters={letters}",
            "--model=pipeline.models:Work",
            f"--index=sqlite:///{folder}/replayed-{count}.db",
            f"--still-failing={folder}/still-failing-{count}",
        )
    )
    indexed = re.search(r"indexed now\s+([\d,]+)", replayed.output)
    if indexed is None or int(indexed.group(1).replace(",", "")) != count:
        raise SystemExit(f"the replay did not index {count:,} records:\n{replayed.output}")
    return {"every item dead-lettered": reindexed, "replay of those letters": replayed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    with tempfile.TemporaryDirectory(prefix="bench-dead-letter-memory-") as folder:
        small = runs_of(args.small, folder)
        large = runs_of(args.large, folder)
    targets = [
        Target(
            f"peak RSS {args.large:,} / {args.small:,} items, {name}",
            large[name].peak_rss_mb / small[name].peak_rss_mb,
            1.2,
            False,
            "x",
        )
        for name in small
    ]
    rows = [
        [name, f"{count:,}", f"{run.wall_seconds:.1f}", f"{run.peak_rss_mb:,.0f}"]
        for count, runs in ((args.small, small), (args.large, large))
        for name, run in runs.items()
    ]
    text = "\n".join(
        [
            "# Dead letters: peak memory when every item is dead-lettered, and of their replay",
            "",
            "Sample `works` table served by the replay server, 4 segments, in-process engine "
            "(`--runner=FnApiRunner`). `reindex --upsert` with a model that no item fits, then "
            "`replay` of its dead letters with the sample model. Child processes; peak RSS "
            f"from `wait4`, start-up included. {machine_line()}. "
            "Produced by `python bench/dead_letter_memory.py`.",
            "",
            markdown_table(["run", "items", "wall s", "peak RSS MB"], rows),
            "",
            *[f"- {target.line()}" for target in targets],
        ]
    )
    figures = {
        "runs": {
            f"{name}, {count:,}": {
                k: v for k, v in dataclasses.asdict(run).items() if k != "output"
            }
            for count, runs in ((args.small, small), (args.large, large))
            for name, run in runs.items()
        }
    }
    write_results("dead_letter_memory", text, figures, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
