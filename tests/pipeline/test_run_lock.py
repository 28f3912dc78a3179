"""One run at a time per journal: a second run sharing it is refused in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.resume.run_lock import RunLocked, index_lock, run_lock
from tests.reindex_runs import ROOT, cli, last_error_line, reindex_args
from tests.runners import IN_PROCESS
from tests.tables import seeded_table

HOLD = (
    "import sys, time\n"
    "from pipeline.resume.run_lock import run_lock\n"
    "with run_lock(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


def test_a_second_holder_is_refused_and_the_lock_file_goes_with_the_run(tmp_path):
    journal = str(tmp_path / "dead" / "journal")
    with run_lock(journal):
        assert os.path.exists(journal + ".lock")
        with pytest.raises(RunLocked, match=r"another run is using the journal .* \(process "):
            with run_lock(journal):
                pass
    assert not os.path.exists(journal + ".lock")
    with run_lock(journal):  # free again
        pass


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    journal = str(tmp_path / "journal")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, journal], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RunLocked, match=f"process {holder.pid} since "):
            with run_lock(journal):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:  # the kernel releases the lock with the process
        try:
            with run_lock(journal):
                break
        except RunLocked:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_reindex_sharing_a_running_reindexs_dead_letter_folder_is_refused(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = seeded_table(dynamodb_client, "locked", [{"id": {"S": "w1"}}])
    journal = tmp_path / "dead" / "journal"
    with run_lock(str(journal)):
        done = cli(*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), *IN_PROCESS)
    assert done.returncode == 3, done.stderr[-3000:]
    line = last_error_line(done.stderr)
    assert line.startswith(
        f"error: another run is using the dead letters at {tmp_path / 'dead'} "
        f"(process {os.getpid()} since "
    )
    assert line.endswith(
        "two runs sharing it would lose each other's dead letters; wait for it to end, or "
        "give this run another --dead-letters"
    )
    assert not (tmp_path / "index.db").exists() and not journal.exists()


def test_a_journal_elsewhere_does_not_let_two_runs_share_a_dead_letter_folder(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = seeded_table(dynamodb_client, "locked", [{"id": {"S": "w1"}}])
    args = reindex_args(dynamodb_server.endpoint_url, table, tmp_path)
    with run_lock(str(tmp_path / "dead" / "journal")):
        shared = cli(*args, "--journal", str(tmp_path / "own-journal"), *IN_PROCESS)
    assert shared.returncode == 3, shared.stderr[-3000:]
    assert "another run is using the dead letters at" in last_error_line(shared.stderr)
    with run_lock(str(tmp_path / "journal-in-use")):
        other = cli(*args, "--journal", str(tmp_path / "journal-in-use"), *IN_PROCESS)
    assert other.returncode == 3, other.stderr[-3000:]
    assert last_error_line(other.stderr).endswith("give this run another --journal")
    done = cli(*args, "--journal", str(tmp_path / "own-journal"), *IN_PROCESS)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_reindex_of_an_index_another_reindex_writes_is_refused(
    dynamodb_server, dynamodb_client, tmp_path
):
    """Two rebuilds of one embedded index would each swap in their own build (and,
    started in the same second, could take one build name): the second waits its turn."""
    table = seeded_table(dynamodb_client, "locked", [{"id": {"S": "w1"}}])
    index = tmp_path / "index.db"
    with index_lock(f"sqlite:///{index}"):
        other = tmp_path / "other"
        args = reindex_args(dynamodb_server.endpoint_url, table, other, index=f"sqlite:///{index}")
        done = cli(*args, *IN_PROCESS)
    assert done.returncode == 3, done.stderr[-3000:]
    line = last_error_line(done.stderr)
    assert line.startswith(f"error: another run is using the index sqlite:///{index} (process ")
    assert line.endswith("wait for it to end, or give this run another --index")
    assert not index.exists() and not (tmp_path / "index.db.lock").exists()
    free = cli(*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), *IN_PROCESS)
    assert free.returncode == 0, free.stderr[-3000:]


def test_the_index_lock_is_the_files_whatever_the_uri_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with index_lock("sqlite:///index.db"):
        with pytest.raises(RunLocked, match="another run is using the index"):
            with index_lock(f"sqlite:///{tmp_path}/./index.db"):
                pass
    with index_lock("elasticsearch://127.0.0.1:9/works"), index_lock("sqlite:///index.db"):
        pass
