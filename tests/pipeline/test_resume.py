"""Interrupted reindexes continue from the run journal with ``--resume``.

Each kill test runs the real command line on a table of 280 works (5%
malformed; its segments hold 6, 8, 7 and 9 pages, so segment 3 is read alone
at the end) with ``--total-segments 4 --page-size 10 --checkpoint-every-pages
2``, kills it with SIGKILL at one point, then runs the same command plus
``--resume``. Over both runs the index equals the table's good records, each
malformed item is dead-lettered exactly once, and the items read twice – the
Scan answers the killed run received plus what the resumed run scanned, minus
the table – stay within one checkpoint interval per segment in flight:
2 pages x 10 items x the segments not finished when the run died.

The kills are precise: the fault proxy kills the process that sent the N-th
Scan while it waits for the answer (the in-process runner and the portable
runner's loopback worker run in the command's own process), N taken from the
request order of an uninterrupted run. To kill a run between the end of the
scan and its end, a FIFO placed among the journal's dead-letter parts holds
the run while it consolidates them.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import time

import pytest

from pipeline.resume import progress_line
from pipeline.resume.interrupt import command_prefix
from pipeline.resume.journaled_run import ResumeRefused, check_header
from tests.fault_proxy import FaultProxy
from tests.reindex_runs import (
    cli,
    dead_letters,
    index_rows,
    keyed_fields,
    reindex_args,
    reindex_config,
    sample_table,
    start_cli,
    summary_count,
)
from tests.runners import IN_PROCESS, MULTI_PROCESS, PORTABLE
from transforms.dead_letters import dead_letter, dumps_dead_letter
from transforms.journal import RunHeader, RunJournal

EVERY_PAGES, PAGE_SIZE, SEGMENTS = 2, 10, 4
SCAN = (
    f"--total-segments={SEGMENTS}",
    f"--page-size={PAGE_SIZE}",
    f"--checkpoint-every-pages={EVERY_PAGES}",
    "--progress-interval=0",
)
ITEMS = 280


@pytest.fixture(scope="module")
def works(dynamodb_client):
    """280 sample works, 5% malformed."""
    return sample_table(dynamodb_client, "resume", ITEMS, 0.05, seed=29)


def command(endpoint: str, table: str, tmp_path, *extra: str, runner=IN_PROCESS) -> list[str]:
    return [*reindex_args(endpoint, table, tmp_path), *SCAN, *runner, *extra]


def journal_of(tmp_path) -> RunJournal:
    return RunJournal(str(tmp_path / "dead" / "journal"))


def unfinished(tmp_path) -> list[int]:
    journal = journal_of(tmp_path)
    state = journal.state(journal.read_header())
    return [segment for segment, s in state.items() if not s.done]


def assert_exact(tmp_path, good, bad):
    """The index holds exactly the good records; each bad item is one dead letter."""
    assert index_rows(tmp_path / "index.db") == good
    letters = dead_letters(tmp_path / "dead")
    assert {letter["stage"] for letter in letters} == {"decode"}
    assert keyed_fields(letters) == sorted(bad.items())


def no_leftovers(tmp_path) -> list[str]:
    return sorted(
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.name.startswith("beam-temp") or path.name.endswith(".tmp")
    )


@pytest.fixture(scope="module")
def reference(dynamodb_server, works, tmp_path_factory):
    """An uninterrupted run through the proxy: its Scans in order and its stderr."""
    table, good, bad = works
    tmp_path = tmp_path_factory.mktemp("reference")
    with FaultProxy(dynamodb_server.endpoint_url, {}) as proxy:
        done = cli(*command(proxy.url, table, tmp_path, "--progress-interval=0.3"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_exact(tmp_path, good, bad)
    assert not journal_of(tmp_path).exists()
    return proxy.scans, done.stderr


def bundles(log) -> list[list[int]]:
    """The Scans of ``log`` grouped by bundle: each bundle of the in-process runner reads
    up to ``EVERY_PAGES`` pages of every unfinished segment, in segment order."""
    grouped: list[list[int]] = []
    pages: dict[int, int] = {}
    previous = None
    for index, (segment, _) in enumerate(log):
        if not grouped or segment < previous or pages.get(segment) == EVERY_PAGES:
            grouped.append([])
            pages = {}
        grouped[-1].append(index)
        pages[segment] = pages.get(segment, 0) + 1
        previous = segment
    return grouped


def first_page(log) -> int:
    return 0


def first_page_after_a_commit(log) -> int:
    return bundles(log)[1][0]


def mid_run(log) -> int:
    """The last Scan of the bundle in the middle of the run: the most a kill can lose."""
    middle = len(log) // 2
    return next(b for b in bundles(log) if middle in b)[-1]


def last_segment(log) -> int:
    """The last Scan of the first bundle that reads one segment only: all others are done."""
    alone = next(b for b in bundles(log) if len({log[i][0] for i in b}) == 1)
    return alone[-1]


KILL_POINTS = [first_page, first_page_after_a_commit, mid_run, last_segment]


def kill_at_scan(endpoint, table, tmp_path, n: int, runner=IN_PROCESS):
    """Runs the command and SIGKILLs it while it waits for its ``n``-th Scan (from 0)."""
    with FaultProxy(endpoint, {"kill_sender": 1.0}, after_requests=n, max_faults=1) as proxy:
        killed = cli(*command(proxy.url, table, tmp_path, runner=runner))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert proxy.killed_pids, proxy.requests
    return proxy


def resume_and_check(server, works, tmp_path, read_before: int, runner=IN_PROCESS) -> str:
    """Runs ``--resume``; checks content and the bound; returns the figures line."""
    table, good, bad = works
    in_flight = unfinished(tmp_path)
    resumed = cli(*command(server.endpoint_url, table, tmp_path, "--resume", runner=runner))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_exact(tmp_path, good, bad)
    assert no_leftovers(tmp_path) == []
    assert not journal_of(tmp_path).exists()
    scanned_again = summary_count(resumed.stdout, "scanned")
    reread = read_before + scanned_again - ITEMS
    bound = EVERY_PAGES * PAGE_SIZE * len(in_flight)
    figures = (
        f"killed run read {read_before}, resumed run {scanned_again}: re-read {reread} "
        f"(bound {bound}: {len(in_flight)} segment(s) in flight)"
    )
    print(figures)
    assert 0 <= reread <= bound, figures
    return figures


def test_dead_letters_lost_from_the_journal_fail_the_run(dynamodb_server, works, tmp_path):
    """The journal's dead-letter parts removed while the run writes (its folder deleted
    by hand): the run counted more dead letters than it can write, and says so."""
    table, _, bad = works
    journal = journal_of(tmp_path)
    parts = tmp_path / "dead" / "journal" / "dead-letters"
    with start_cli(*command(dynamodb_server.endpoint_url, table, tmp_path)) as run:
        deadline = time.monotonic() + 120
        while not journal.exists():
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        parts.mkdir(parents=True, exist_ok=True)
        held = parts / f"{journal.read_header().run_id}-{'9' * 20}-held.jsonl"
        os.mkfifo(held)  # the consolidation waits there, once every segment is read
        while unfinished(tmp_path):
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        lost = [part for part in parts.iterdir() if part != held]
        assert lost
        for part in lost:
            part.unlink()
        with open(held, "w"):  # lets the consolidation read on
            pass
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 5, stderr[-3000:]
    assert (
        f"check: dead letters written 0 == dead-lettered {len(bad)}: MISMATCH: the journal at "
        f"{journal.path} lost dead letters while the run wrote it" in stdout
    ), stdout
    assert "verify: the run's checks above hold: FAILED" in stdout


def test_a_bundle_of_short_segments_checkpoints_on_the_bundles_clock(
    dynamodb_server, works, tmp_path
):
    """Each segment is read in less than the interval, the bundle reading them one
    after another in more: it still checkpoints, so its commits are recorded in time
    (a clock per segment let such a bundle read the whole table without a commit)."""
    table, good, bad = works
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        f"--total-segments={SEGMENTS}",
        f"--page-size={PAGE_SIZE}",
        "--checkpoint-every-seconds=1",
        "--max-read-units-per-second=10",  # a page (one read unit on this server) per 0.1 s
        *IN_PROCESS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoints = int(re.search(r"([\d,]+) checkpoints", done.stdout).group(1))
    assert checkpoints >= 1, done.stdout
    assert_exact(tmp_path, good, bad)


@pytest.mark.parametrize("point", KILL_POINTS, ids=lambda point: point.__name__)
def test_sigkill_then_resume_is_exact_and_rereads_at_most_one_interval(
    dynamodb_server, works, reference, tmp_path, point
):
    table, _, _ = works
    n = point(reference[0])
    proxy = kill_at_scan(dynamodb_server.endpoint_url, table, tmp_path, n)
    if point is last_segment:
        assert len(unfinished(tmp_path)) == 1
    if point is first_page:
        assert len(unfinished(tmp_path)) == SEGMENTS
    resume_and_check(dynamodb_server, works, tmp_path, proxy.scanned_items)


def test_sigkill_after_the_scan_resumes_without_reading(dynamodb_server, works, tmp_path):
    """Killed while consolidating the dead letters: every segment is done, none is read again."""
    table, _, _ = works
    journal = journal_of(tmp_path)
    with start_cli(*command(dynamodb_server.endpoint_url, table, tmp_path)) as run:
        deadline = time.monotonic() + 120
        while not journal.exists():
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        parts = tmp_path / "dead" / "journal" / "dead-letters"
        parts.mkdir(parents=True, exist_ok=True)
        held = parts / f"{journal.read_header().run_id}-{'9' * 20}-held.jsonl"
        os.mkfifo(held)
        while unfinished(tmp_path):
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        assert run.poll() is None, "the run ended without reading the parts"
        run.kill()
        run.communicate(timeout=60)
    held.unlink()
    assert journal.exists()
    figures = resume_and_check(dynamodb_server, works, tmp_path, ITEMS)
    assert "re-read 0" in figures


def test_sigkill_on_the_portable_runner_then_resume(dynamodb_server, works, reference, tmp_path):
    table, _, _ = works
    n = mid_run(reference[0])
    proxy = kill_at_scan(dynamodb_server.endpoint_url, table, tmp_path, n, runner=PORTABLE)
    resume_and_check(dynamodb_server, works, tmp_path, proxy.scanned_items, runner=PORTABLE)


@pytest.mark.slow
def test_sigkill_on_the_multi_process_runner_then_resume(dynamodb_server, works, tmp_path):
    """Two worker processes, each checkpointing its segments every ``EVERY_PAGES``
    pages (``transforms.runners.local_workers`` keeps the residuals): what a
    finished round of bundles read is committed, and not read again. The whole
    process group is killed: the Scans come from the worker processes."""
    table, _, _ = works
    with FaultProxy(
        dynamodb_server.endpoint_url, {"slow": 1.0}, max_faults=None, slow_seconds=0.1
    ) as proxy:
        args = command(proxy.url, table, tmp_path, runner=MULTI_PROCESS)
        with start_cli(
            *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        ) as run:
            deadline = time.monotonic() + 120
            while len(proxy.scans) < 20:
                assert run.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
        read_before = proxy.scanned_items
    bound = EVERY_PAGES * PAGE_SIZE * len(unfinished(tmp_path))
    resume_and_check(dynamodb_server, works, tmp_path, read_before, runner=MULTI_PROCESS)
    assert bound < read_before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_with_one_line_and_the_printed_command_resumes(
    dynamodb_server, works, tmp_path, signum
):
    table, good, bad = works
    journal = journal_of(tmp_path)
    with FaultProxy(
        dynamodb_server.endpoint_url, {"slow": 1.0}, max_faults=None, slow_seconds=0.15
    ) as proxy:
        args = command(proxy.url, table, tmp_path)
        with start_cli(*args) as run:
            deadline = time.monotonic() + 120
            while not (journal.exists() and journal.records(journal.read_header().run_id)):
                assert run.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            sent = time.monotonic()
            run.send_signal(signum)
            out, err = run.communicate(timeout=60)
            took = time.monotonic() - sent
        assert run.returncode == 128 + signum, err[-3000:]
        assert took < 5, took
        assert "Traceback" not in err and out == ""
        name = signal.Signals(signum).name
        lines = [line for line in err.splitlines() if line.startswith("interrupted")]
        assert len(lines) == 1, err[-3000:]
        resume = f"{command_prefix()} " + shlex.join([*args, "--resume"])
        assert re.fullmatch(
            rf"interrupted by {name}: \d of 4 segment\(s\) done, [\d,]+ items committed; "
            rf"resume with: {re.escape(resume)}",
            lines[0],
        ), lines[0]
        assert no_leftovers(tmp_path) == []
        if signum == signal.SIGTERM:
            return
        proxy.stop_faults()
        in_flight = unfinished(tmp_path)
        read_before = proxy.scanned_items
        resumed = cli(*shlex.split(lines[0].split("resume with: ", 1)[1])[3:])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_exact(tmp_path, good, bad)
    reread = proxy.scanned_items - ITEMS
    print(f"SIGINT: killed run read {read_before}, re-read {reread}")
    assert 0 <= reread <= EVERY_PAGES * PAGE_SIZE * len(in_flight)


# --- progress -------------------------------------------------------------------

PROGRESS = re.compile(
    r"progress: (?P<done>[\d,]+) of ~280 items \((?P<share>[\d.]+)%; ItemCount is approximate\), "
    r"(?P<rate>[\d,]+) items/s, (?P<eta>ETA \d+:\d\d:\d\d|ETA unknown), "
    r"(?P<letters>[\d,]+) dead letters?"
)


def test_progress_lines_cover_the_whole_job(works, reference):
    _, _, bad = works
    _, stderr = reference
    lines = [line for line in stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 2, stderr[-3000:]
    matches = [PROGRESS.fullmatch(line) for line in lines]
    assert all(matches), lines
    done = [int(m["done"].replace(",", "")) for m in matches]
    assert done == sorted(done) and done[-1] == ITEMS
    assert matches[-1]["share"] == "100.0" and int(matches[-1]["letters"]) == len(bad)


def test_progress_line_format():
    assert progress_line(1234, 5000, 410.4, 3) == (
        "progress: 1,234 of ~5,000 items (24.7%; ItemCount is approximate), 410 items/s, "
        "ETA 0:00:09, 3 dead letters"
    )
    assert progress_line(12, None, 0.0, 1) == (
        "progress: 12 items (ItemCount unknown), 0 items/s, ETA unknown, 1 dead letter"
    )
    assert progress_line(2500, 5000, 100.0, 0, bar=True) == (
        "[##########----------]  50.0%  2,500 of ~5,000 items  100 items/s  ETA 0:00:25  "
        "0 dead letters"
    )


# --- what --resume refuses, and a new run over an old journal ---------------------


def written_header(tmp_path, name: str, **changes) -> RunHeader:
    config = reindex_config("http://unused", name, tmp_path)
    header = RunHeader(
        table=name,
        total_segments=SEGMENTS,
        segments=None,
        index=f"sqlite:///{tmp_path}/index.db",
        model=config.model,
        run_id="earlier",
        created="2026-01-01T00:00:00Z",
    )
    header = RunHeader(**(header.__dict__ | changes))
    journal_of(tmp_path).start(header)
    return header


@pytest.mark.parametrize(
    "changes,named",
    [
        ({"table": "other"}, "table 'other', not 'works'"),
        ({"total_segments": 8}, "TotalSegments 8, not 4"),
        ({"segments": (1, 2)}, "segments 1,2, not all segments"),
        ({"index": "sqlite:////elsewhere.db"}, "index sqlite:////elsewhere.db, not sqlite:///"),
        ({"model": "pipeline.models:Other"}, "model pipeline.models:Other, not pipeline.models"),
    ],
)
def test_resume_refuses_a_journal_of_another_command(tmp_path, changes, named):
    header = written_header(tmp_path, "works", **changes)
    config = reindex_config("http://unused", "works", tmp_path, total_segments=SEGMENTS)
    with pytest.raises(ResumeRefused) as refused:
        check_header(header, config, "JOURNAL")
    assert str(refused.value).startswith(f"the journal at JOURNAL was written for {named}")


def test_cli_resume_refusals_are_one_line(dynamodb_server, works, tmp_path):
    table, _, _ = works
    args = command(dynamodb_server.endpoint_url, table, tmp_path, "--resume")
    nothing = cli(*args)
    assert nothing.returncode == 2
    assert nothing.stderr.strip().splitlines() == [
        f"error: no run journal at {tmp_path / 'dead' / 'journal'}: nothing to resume (a run "
        "removes its journal once it has finished; run the command without --resume "
        "to start one)"
    ]
    written_header(tmp_path, "another-table")
    other = cli(*args)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"error: the journal at {tmp_path / 'dead' / 'journal'} was written for table "
        f"'another-table', not '{table}'"
    ]


def test_a_refused_run_neither_replaces_nor_says_it_replaces_a_journal(
    dynamodb_server, works, tmp_path
):
    table, _, _ = works
    header = written_header(tmp_path, table)
    refused = cli(*command(dynamodb_server.endpoint_url, table, tmp_path), "--segments", "1")
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert "Replacing the journal" not in refused.stderr
    assert journal_of(tmp_path).read_header() == header


@pytest.mark.parametrize(
    "stage, said",
    [(None, "items committed)"), ("swapped", "its new index swapped in but not caught up")],
)
def test_a_new_run_replaces_an_unfinished_journal(dynamodb_server, works, tmp_path, stage, said):
    table, good, bad = works
    header = written_header(tmp_path, table)
    if stage:
        journal_of(tmp_path).mark_stage(header, stage)
    done = cli(*command(dynamodb_server.endpoint_url, table, tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Replacing the journal at" in done.stderr and "add --resume" in done.stderr
    assert said in done.stderr
    assert not journal_of(tmp_path).exists()
    assert_exact(tmp_path, good, bad)


def test_deprecated_resume_from_still_reads_the_unread_segments(dynamodb_server, works, tmp_path):
    table, _, _ = works
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    letter = dead_letter(
        "scan",
        error_type="SegmentReadFailed",
        error="503",
        table=table,
        segment=2,
        total_segments=SEGMENTS,
    )
    (earlier / "dead-letters-00000-of-00001.jsonl").write_text(dumps_dead_letter(letter) + "\n")
    args = [*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), "--page-size=50"]
    done = cli(*args, "--resume-from", str(earlier), "--upsert", *IN_PROCESS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--resume-from is deprecated: run the same command with --resume" in done.stderr
    assert "1 of 4 segment(s)" in done.stdout


def uncommitted_documents(client, table: str, tmp_path) -> list[str]:
    """The ids of documents in the killed run's build whose pages it never committed:
    the items its unfinished segments hold after their committed keys."""
    journal = journal_of(tmp_path)
    header = journal.read_header()
    after_commits = set()
    for segment, state in journal.state(header).items():
        if state.done:
            continue
        request = {"TableName": table, "Segment": segment, "TotalSegments": SEGMENTS}
        if state.next_start_key is not None:
            request["ExclusiveStartKey"] = state.next_start_key
        while True:
            page = client.scan(**request)
            after_commits.update(item["id"]["S"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    with sqlite3.connect(tmp_path / "index.db") as connection:
        built = {row[0] for row in connection.execute(f'SELECT id FROM "{header.build_index}"')}
    return sorted(after_commits & built)


def test_items_deleted_or_broken_after_an_uncommitted_write_leave_no_document(
    dynamodb_server, dynamodb_client, reference, tmp_path
):
    """The killed run wrote documents of pages it never committed (``--batch-size 5``
    sends them as it reads); before the resume some of those items are deleted from
    the table and one is made undecodable. The resumed rebuild reads the pages again,
    and its index holds exactly the table's good records: no document of an item gone
    or broken, whose dead letter is there."""
    table, good, bad = sample_table(dynamodb_client, "resume-deletes", ITEMS, 0.05, seed=29)
    small_batches = ("--batch-size", "5")
    n = mid_run(reference[0])  # the same items as ``works``: the same Scans
    with FaultProxy(
        dynamodb_server.endpoint_url, {"kill_sender": 1.0}, after_requests=n, max_faults=1
    ) as proxy:
        killed = cli(*command(proxy.url, table, tmp_path, *small_batches))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    written = uncommitted_documents(dynamodb_client, table, tmp_path)
    assert len(written) >= 4, written
    broken, *deleted = written[: len(written) // 2 + 1]
    for doc_id in deleted:
        dynamodb_client.delete_item(TableName=table, Key={"id": {"S": doc_id}})
        good.pop(doc_id)
    dynamodb_client.update_item(
        TableName=table,
        Key={"id": {"S": broken}},
        UpdateExpression="SET workType = :bad",
        ExpressionAttributeValues={":bad": {"S": "not-a-work-type"}},
    )
    good.pop(broken)
    resumed = cli(
        *command(dynamodb_server.endpoint_url, table, tmp_path, "--resume", *small_batches)
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"removed {len(deleted)} document(s) of items deleted" in resumed.stdout
    assert_exact(tmp_path, good, {**bad, broken: "workType"})
    assert not journal_of(tmp_path).exists()
