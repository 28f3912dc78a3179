"""``catch-up --follow``: keeps the index up with the table until SIGINT or SIGTERM, then
exits 130 or 143."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from pipeline.catch_up.args import DEFAULT_SAFETY_MARGIN_SECONDS
from pipeline.catch_up.job import catch_up
from pipeline.local.sample_data import seed_table
from tests.reindex_runs import ROOT, index_rows
from tests.runners import IN_PROCESS
from tests.stream_tables import (
    catch_up_args,
    catch_up_config,
    expected_rows,
    samples,
    stream_table_to_seed,
    writes,
)
from transforms.dynamodb.stream import DEFAULT_SAFETY_MARGIN, read_bookmark


def _lines(stream, into: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        into.put(line)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    "signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_follow_applies_new_writes_until_a_signal_and_saves_the_bookmark(
    dynamodb_server, dynamodb_client, tmp_path, signum, code
):
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    start = datetime.now(timezone.utc).isoformat()
    seed_table(dynamodb_client, table, samples(30))
    bookmark = str(tmp_path / "bookmark.json")
    command = [
        sys.executable,
        "-m",
        "pipeline",
        *catch_up_args(url, table, tmp_path, "--since", start, "--safety-margin", "0.5"),
        "--follow",
        "--interval",
        "0.3",
        *IN_PROCESS,
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
        assert first.startswith(f"catch-up of table {table!r} ") and "keys changed" in first
        _wait_for(
            lambda: index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table),
            30,
            "the seeded items",
        )
        for op in writes(dynamodb_client, table, 30, 0):
            op()
        _wait_for(
            lambda: index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table),
            30,
            "the new writes",
        )
        # The index can equal the table before the stream's last records are read (a
        # delete of an item already gone): a round started from now reads them all.
        while not lines.empty():
            lines.get_nowait()
        lines.get(timeout=60)  # the round under way
        lines.get(timeout=60)  # a round that started after the writes
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, stderr[-3000:]
    assert f"{signal.Signals(signum).name}: stopping once the catch-up under way" in stderr
    assert "the bookmark" in stderr and "is saved" in stderr
    after = catch_up(catch_up_config(url, table, tmp_path), bookmark, IN_PROCESS)
    assert after.summary.records_read == 0
    assert read_bookmark(bookmark) == after.bookmark


def test_the_command_line_default_margin_is_the_library_default():
    assert DEFAULT_SAFETY_MARGIN.total_seconds() == DEFAULT_SAFETY_MARGIN_SECONDS
