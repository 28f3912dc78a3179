"""The journal folder: header, records of this run only, temporary files, finishing."""

import json

import pytest

from transforms.journal import BundleCommits, JournalError, RunHeader, RunJournal


def header(run_id="run-1", **changes) -> RunHeader:
    fields = dict(
        table="works",
        total_segments=4,
        segments=None,
        index="sqlite:////tmp/index.db",
        model="pipeline.models:Work",
        run_id=run_id,
        created="2026-11-30T00:00:00Z",
    )
    return RunHeader(**(fields | changes))


def test_header_round_trips_and_names_its_fields(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    written = header(segments=(1, 3), build_index="works-v2", start_keys=((3, '{"id":{"S":"a"}}'),))
    journal.start(written)
    assert journal.read_header() == written
    on_disk = json.loads((tmp_path / "journal" / "run.json").read_text())
    assert {
        "table",
        "TotalSegments",
        "segments",
        "index",
        "build_index",
        "model",
        "created",
    } <= set(on_disk)


def test_missing_or_corrupt_header_is_a_journal_error(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    with pytest.raises(JournalError, match="no run journal"):
        journal.read_header()
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "run.json").write_text("{not json")
    with pytest.raises(JournalError, match="not a run-journal header"):
        journal.read_header()


def commit(journal, head, segment, pages, *, attempt="a1"):
    commits = BundleCommits(journal.ref(head, attempt))
    one = commits.segment(segment, None)
    for page in range(pages):
        last = page == pages - 1
        commits.claimed(one, 10, None if last else {"id": {"S": f"k{segment}-{page}"}})
    commits.write()


def test_bundle_commits_become_segment_state(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    head = header()
    journal.start(head)
    commit(journal, head, 0, 3)
    state = journal.state(head)
    assert state[0].done and state[0].items == 30 and not state[1].started


def test_start_replaces_an_earlier_run_and_its_records_are_ignored(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    first = header("run-1")
    journal.start(first)
    commit(journal, first, 0, 3)
    (tmp_path / "journal" / "dead-letters").mkdir()
    (tmp_path / "journal" / "dead-letters" / "run-1-x.jsonl").write_text("{}\n")
    second = header("run-2")
    journal.start(second)
    assert not list((tmp_path / "journal").glob("*/*"))
    stale = BundleCommits(journal.ref(first, "late"))  # a worker of the replaced run
    stale.claimed(stale.segment(1, None), 5, None)
    stale.write()
    assert not journal.state(second)[1].done


def test_temporary_files_are_not_records_and_can_be_removed(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    head = header()
    journal.start(head)
    positions = tmp_path / "journal" / "positions"
    positions.mkdir()
    (positions / "0001.json.abc.tmp").write_text("{half")
    assert journal.records(head.run_id) == []
    assert journal.remove_temporary() == 1
    assert not list(positions.iterdir())


def test_remove_leaves_only_what_the_journal_does_not_own(tmp_path):
    journal = RunJournal(str(tmp_path / "journal"))
    head = header()
    journal.start(head)
    commit(journal, head, 0, 2)
    journal.remove()
    assert not (tmp_path / "journal").exists()
    shared = RunJournal(str(tmp_path / "shared"))
    shared.start(head)
    (tmp_path / "shared" / "notes.txt").write_text("mine")
    shared.remove()
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["notes.txt"]
