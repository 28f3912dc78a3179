"""Running ``python -m pipeline`` in a subprocess and reading back what it left.

Shared by the reliability tests (fault matrix, bad input, worker failure,
security): each runs the real command line against a loopback server and
compares the index and the dead letters with the table's content.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

from pipeline.sample_data import create_table, generate_items, seed_table
from tests.tables import unique_name
from transforms.dead_letters import read_dead_letters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_PROCESS = ("--runner=FnApiRunner",)
MULTI_PROCESS = (
    "--runner=FnApiRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
)


def cli(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` from the project root; never hangs past ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def reindex_args(
    endpoint_url: str,
    table: str,
    tmp_path,
    *,
    dead_letters: str = "dead",
    model: str = "pipeline.models:Work",
) -> list[str]:
    return [
        "reindex",
        "--table",
        table,
        "--model",
        model,
        "--index",
        f"sqlite:///{tmp_path}/index.db",
        "--dead-letters",
        str(tmp_path / dead_letters),
        "--endpoint-url",
        endpoint_url,
        "--region",
        "us-east-1",
    ]


def sample_table(client, prefix: str, items: int, malformed_fraction: float, seed: int):
    """A seeded table of sample works: ``(name, good {id: json}, bad {id: field})``."""
    samples = list(generate_items(items, malformed_fraction=malformed_fraction, seed=seed))
    name = unique_name(prefix)
    create_table(client, name)
    seed_table(client, name, [s.item for s in samples])
    good = {s.record.id: s.record.to_json() for s in samples if s.defect is None}
    bad = {s.item["id"]["S"]: s.defect_field for s in samples if s.defect is not None}
    return name, good, bad


def index_rows(db_path) -> dict[str, str]:
    with sqlite3.connect(db_path) as connection:
        return dict(connection.execute("SELECT id, body FROM documents").fetchall())


def dead_letters(*paths, stage: str | None = None) -> list[dict]:
    """Every dead letter in ``paths`` (optionally of one stage), in file order."""
    letters = [letter for path in paths for letter in read_dead_letters(str(path))]
    return [letter for letter in letters if stage is None or letter["stage"] == stage]


def keyed_fields(letters) -> list[tuple[str, str]]:
    """``(id, field)`` of each dead letter, sorted; duplicates kept so they show."""
    return sorted((letter["key"]["id"]["S"], letter["field"]) for letter in letters)


def summary_count(stdout: str, label: str) -> int:
    """A count from the printed summary: ``scanned``, ``indexed``, ``retries``..."""
    if label == "retries":
        match = re.search(r"([\d,]+) retries", stdout)
    else:
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d,]+)", stdout, re.MULTILINE)
    assert match, f"no {label!r} in the summary:\n{stdout}"
    return int(match.group(1).replace(",", ""))


def last_error_line(stderr: str) -> str:
    """The CLI's own ``error: ...`` line (Beam workers may log before it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]
