"""``run_local.sh --out DIR``: only an earlier run's output is ever removed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.local.run_folder import MARKER, RunFolderError, prepare_run_folder
from tests.reindex_runs import ROOT, index_rows, summary_count


def _local_run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.local.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_folder_that_no_run_wrote_is_refused_and_kept(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "index.db").write_text("not from a run")
    done = _local_run("--out", str(tmp_path), "--items", "5", timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines() == [
        f"error: --out {tmp_path} is not empty and is not the output folder of an earlier "
        f"run (no {MARKER} file): choose a new or empty folder"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.db", "notes.txt"]


def test_an_earlier_runs_outputs_are_removed_and_nothing_else(tmp_path):
    (tmp_path / MARKER).write_text("")
    for name in ("index.db", "index.db-wal", "index.db-shm", "notes.txt"):
        (tmp_path / name).write_text("x")
    dead = tmp_path / "dead-letters"
    (dead / "beam-temp-dead-letters-1234").mkdir(parents=True)
    (dead / "dead-letters-00000-of-00001.jsonl").write_text("{}")
    (dead / "README").write_text("mine too")
    prepare_run_folder(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "dead-letters", "notes.txt"]
    assert [p.name for p in dead.iterdir()] == ["README"]


def test_a_folder_of_outputs_only_is_taken_as_an_earlier_run(tmp_path):
    (tmp_path / "index.db").write_text("x")
    (tmp_path / "dead-letters").mkdir()
    prepare_run_folder(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "dead-letters"]


def test_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        prepare_run_folder(str(tmp_path / "out"))


def test_a_run_marks_its_folder_and_runs_again_into_it(tmp_path):
    out = tmp_path / "new" / "run"
    first = _local_run("--out", str(out), "--items", "20", "--runner=FnApiRunner")
    assert first.returncode == 0, first.stderr[-3000:]
    assert (out / MARKER).is_file() and (out / "index.db").is_file()
    (out / "notes.txt").write_text("mine")
    second = _local_run("--out", str(out), "--items", "10", "--runner=FnApiRunner")
    assert second.returncode == 0, second.stderr[-3000:]
    assert summary_count(second.stdout, "scanned") == 10
    assert len(index_rows(out / "index.db")) == summary_count(second.stdout, "indexed")
    assert (out / "notes.txt").read_text() == "mine"
