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

from pipeline.local.sample_data import create_table, generate_items, seed_table
from pipeline.reindex import ReindexConfig
from tests.tables import unique_name
from transforms.dead_letters import dumps_dead_letter, read_dead_letters
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.source import describe_table
from transforms.dynamodb.table_description import TableDescription

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` from the project root; never hangs past ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def start_cli(*args: str, **popen) -> subprocess.Popen:
    """``python -m pipeline ARGS`` started from the project root, its output read
    as text through pipes unless ``popen`` says otherwise; the caller waits for
    it, or stops it."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, **options)


def index_sink_args(
    tmp_path,
    *,
    dead_letters: str = "dead",
    model: str = "pipeline.models:Work",
    index: str | None = None,
) -> list[str]:
    """``--model MODEL --index INDEX --dead-letters TMP/DEAD``.

    ``index`` defaults to the SQLite index ``sqlite:///TMP/index.db``.
    """
    return [
        "--model",
        model,
        "--index",
        index or f"sqlite:///{tmp_path}/index.db",
        "--dead-letters",
        str(tmp_path / dead_letters),
    ]


def reindex_args(endpoint_url: str, table: str, tmp_path, **sink: str) -> list[str]:
    """``reindex`` of ``table`` at ``endpoint_url``; ``sink`` as for :func:`index_sink_args`."""
    return [
        "reindex",
        "--table",
        table,
        *index_sink_args(tmp_path, **sink),
        "--endpoint-url",
        endpoint_url,
        "--region",
        "us-east-1",
    ]


def replay_args(dead_letters_path, tmp_path, *, model: str = "pipeline.models:Work") -> list[str]:
    """``replay`` of the dead letters at ``dead_letters_path`` into ``tmp_path``'s index."""
    return [
        "replay",
        "--dead-letters",
        str(dead_letters_path),
        "--model",
        model,
        "--index",
        f"sqlite:///{tmp_path}/index.db",
    ]


def reindex_config(endpoint_url: str, table: str, tmp_path, **overrides) -> ReindexConfig:
    """What :func:`reindex_args` asks for, as a config for ``build_reindex`` in this process."""
    return ReindexConfig(
        table=table,
        model="pipeline.models:Work",
        index=f"sqlite:///{tmp_path}/index.db",
        dead_letters=str(tmp_path / "dead"),
        endpoint_url=endpoint_url,
        region="us-east-1",
        **overrides,
    )


def table_description(endpoint_url: str, table: str) -> TableDescription:
    """``DescribeTable`` of ``table`` at ``endpoint_url`` (region us-east-1)."""
    config = DynamoDBClientConfig(region_name="us-east-1", endpoint_url=endpoint_url)
    return describe_table(config, table)


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
    """``{id: body}`` of every document in the SQLite index at ``db_path``."""
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


def dead_letter_folder(tmp_path, letters: list[dict]):
    """``tmp_path/dead`` holding ``letters`` in one dead-letter file, as a run writes them."""
    folder = tmp_path / "dead"
    folder.mkdir()
    lines = "".join(dumps_dead_letter(letter) + "\n" for letter in letters)
    (folder / "dead-letters-00000-of-00001.jsonl").write_text(lines)
    return folder
