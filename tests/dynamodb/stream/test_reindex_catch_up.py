"""``reindex --catch-up``: writers change the table throughout a reindex; at the
end the index equals a consistent read of the table, and ``catch-up
--bookmark`` keeps it so."""

import dataclasses
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

from pipeline.local.sample_data import seed_table
from tests.conftest import REGION
from tests.export_folders import full_records, incremental_record, write_export
from tests.fault_proxy import FaultProxy
from tests.reindex_runs import cli, index_rows, reindex_args, reindex_config, start_cli
from tests.stream_tables import (
    catch_up_args,
    create_stream_table,
    expected_rows,
    samples,
    seeded_stream_table,
    set_title,
    writes,
)
from tests.tables import seeded_table
from transforms.dynamodb.stream import read_bookmark
from transforms.journal import RunJournal

SEEDED = 60
BUSY = range(40, 45)
MARGIN = "0.5"


def _reindex_catch_up_args(endpoint_url: str, table: str, tmp_path, *extra: str) -> list[str]:
    """``reindex --catch-up`` of ``table`` in 4 segments of 4-item pages, in process."""
    return [
        *reindex_args(endpoint_url, table, tmp_path),
        "--catch-up",
        "--bookmark",
        str(tmp_path / "bookmark.json"),
        "--safety-margin",
        MARGIN,
        "--total-segments",
        "4",
        "--page-size",
        "4",
        "--runner=FnApiRunner",
        *extra,
    ]


def _reindex_while_writing(server, client, table, tmp_path, *extra):
    """Runs ``reindex --catch-up`` in a subprocess, through a proxy that slows every
    Scan, while a thread writes to the table until the first catch-up starts;
    returns the finished process."""
    with FaultProxy(
        server.endpoint_url, {"slow": 1.0}, max_faults=None, slow_seconds=0.25
    ) as proxy:
        args = _reindex_catch_up_args(proxy.url, table, tmp_path, *extra)
        process = start_cli(*args)
        catching_up = threading.Event()
        stderr: list[str] = []

        def watch():
            for line in process.stderr:
                stderr.append(line)
                if "catching up" in line:
                    catching_up.set()
            catching_up.set()

        failures = []

        def write():
            try:
                for op in writes(client, table, SEEDED, 0):
                    op()
                    catching_up.wait(0.05)
                cycle = 0
                while not catching_up.is_set() and cycle < 5000:
                    for n in BUSY:
                        set_title(client, table, n, {"S": f"Busy {cycle}"})
                    cycle += 1
            except Exception as error:
                failures.append(error)

        watcher = threading.Thread(target=watch)
        writer = threading.Thread(target=write)
        watcher.start()
        writer.start()
        try:
            out = process.stdout.read()
            process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
            writer.join(timeout=60)
            watcher.join(timeout=60)
    assert not failures and not writer.is_alive()
    return subprocess.CompletedProcess(args, process.returncode, out, "".join(stderr))


def _killed(server, table, tmp_path, extra, **when) -> RunJournal:
    """Runs ``reindex --catch-up`` through a proxy that kills it once, ``when`` it
    says (its FaultProxy options); returns the journal the killed run left."""
    with FaultProxy(server.endpoint_url, {"kill_sender": 1.0}, max_faults=1, **when) as proxy:
        killed = cli(*_reindex_catch_up_args(proxy.url, table, tmp_path, *extra))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    return RunJournal(str(tmp_path / "dead" / "journal"))


def _resumed_to_the_table(server, client, table, tmp_path, extra):
    """The same command with ``--resume``: it succeeds and the index equals the table."""
    args = _reindex_catch_up_args(server.endpoint_url, table, tmp_path, *extra)
    resumed = cli(*args, "--resume", timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "MISMATCH" not in resumed.stdout
    assert index_rows(tmp_path / "index.db") == expected_rows(client, table)
    return resumed


@pytest.mark.slow
@pytest.mark.parametrize("upsert", [False, True], ids=["rebuild", "upsert"])
@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_AND_OLD_IMAGES"])
def test_the_index_equals_the_table_after_a_reindex_with_writes_then_after_catch_up(
    dynamodb_server, dynamodb_client, tmp_path, view_type, upsert
):
    table = seeded_stream_table(dynamodb_client, view_type, SEEDED)
    extra = ("--upsert",) if upsert else ()
    done = _reindex_while_writing(dynamodb_server, dynamodb_client, table, tmp_path, *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "catch-up 1" in done.stdout and "MISMATCH" not in done.stdout
    assert ("catch-up 2" in done.stdout) is not upsert  # a rebuild catches up after its swap
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)
    bookmark = read_bookmark(str(tmp_path / "bookmark.json"))

    for op in writes(dynamodb_client, table, SEEDED + 12, 1):
        op()
    run = cli(
        *catch_up_args(dynamodb_server.endpoint_url, table, tmp_path),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)
    assert read_bookmark(str(tmp_path / "bookmark.json")) != bookmark


def test_an_upsert_catches_up_from_the_bookmark_it_finds_so_earlier_deletes_are_applied(
    dynamodb_server, dynamodb_client, tmp_path
):
    """An item deleted after the last catch-up and before an ``--upsert``
    reindex: the upsert cannot see the delete, the catch-up from the bookmark
    already there does (a catch-up from the run's start would skip it)."""
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", 12)
    args = _reindex_catch_up_args(dynamodb_server.endpoint_url, table, tmp_path)
    first = cli(*args, timeout=180)
    assert first.returncode == 0, first.stderr[-3000:]
    dynamodb_client.delete_item(TableName=table, Key={"id": {"S": "w00000003"}})
    time.sleep(float(MARGIN) + 1.0)  # the delete is before the upsert's start less the margin
    upsert = cli(*args, "--upsert", timeout=180)
    assert upsert.returncode == 0, upsert.stderr[-3000:]
    rows = index_rows(tmp_path / "index.db")
    assert "w00000003" not in rows
    assert rows == expected_rows(dynamodb_client, table)


def test_a_reindex_from_an_export_catches_up_from_its_export_time(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", SEEDED)
    exported_at = datetime.now(timezone.utc)
    export = write_export(
        tmp_path / "export",
        full_records(samples(SEEDED)),
        table=table,
        export_time=exported_at.isoformat().replace("+00:00", "Z"),
    )
    for op in writes(dynamodb_client, table, SEEDED, 0):
        op()
    done = cli(
        "reindex",
        "--from-export",
        export.root,
        "--key-attributes",
        "id",
        "--model",
        "pipeline.models:Work",
        "--index",
        f"sqlite:///{tmp_path}/index.db",
        "--dead-letters",
        str(tmp_path / "dead"),
        "--endpoint-url",
        dynamodb_server.endpoint_url,
        "--region",
        REGION,
        "--catch-up",
        "--bookmark",
        str(tmp_path / "bookmark.json"),
        "--safety-margin",
        MARGIN,
        "--runner=FnApiRunner",
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "catch-up 2" in done.stdout and "MISMATCH" not in done.stdout
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)


def _refused_reindex_with_catch_up(server, table: str, tmp_path):
    """``reindex --catch-up`` that must exit 6: the run and its error lines."""
    done = cli(
        *reindex_args(server.endpoint_url, table, tmp_path),
        "--catch-up",
        "--bookmark",
        str(tmp_path / "bookmark.json"),
        "--runner=FnApiRunner",
        timeout=120,
    )
    assert done.returncode == 6, done.stderr[-3000:]
    return done, [line for line in done.stderr.splitlines() if line.startswith("error: ")]


def test_a_table_without_a_stream_is_refused_before_the_scan(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = seeded_table(dynamodb_client, "nostream", [{"id": {"S": "w1"}}])
    done, errors = _refused_reindex_with_catch_up(dynamodb_server, table, tmp_path)
    assert len(errors) == 1 and "has no" in errors[0] and "stream" in errors[0], done.stderr
    assert "StreamEnabled=true" in errors[0]
    assert not (tmp_path / "index.db").exists() or not index_rows(tmp_path / "index.db")


def test_a_stream_enabled_just_now_is_refused_before_the_scan(
    dynamodb_server, dynamodb_client, tmp_path
):
    """Enabled less than the safety margin ago: said at once, with when a reindex is covered."""
    table = create_stream_table(dynamodb_client, "fresh", "KEYS_ONLY")
    seed_table(dynamodb_client, table, samples(5))
    done, errors = _refused_reindex_with_catch_up(dynamodb_server, table, tmp_path)
    assert len(errors) == 1 and "its stream was enabled at" in errors[0], done.stderr
    assert "(a reindex started after " in errors[0] and "is covered)" in errors[0]
    assert "scanned" not in done.stdout and not (tmp_path / "index.db").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--catch-up",), "--catch-up needs --bookmark"),
        (("--bookmark", "b.json"), "--bookmark goes with --catch-up"),
        (("--safety-margin", "5"), "--safety-margin goes with --catch-up"),
    ],
)
def test_catch_up_options_go_together(dynamodb_server, tmp_path, args, message):
    done = cli(*reindex_args(dynamodb_server.endpoint_url, "t", tmp_path), *args, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), done.stderr


def _resumed_start(tmp_path, created: str | None) -> datetime:
    """The start time ``reindex --resume --catch-up`` takes from a journal whose
    run was ``created`` then (None: no journal)."""
    from pipeline.catch_up.during_reindex import _start
    from pipeline.reindex import ReindexConfig
    from tests.journal.test_journal import header
    from transforms.journal import RunJournal

    config = ReindexConfig(
        table="works",
        model="pipeline.models:Work",
        index=f"sqlite:///{tmp_path}/index.db",
        dead_letters=str(tmp_path / "dead"),
        resume=True,
    )
    if created is not None:
        RunJournal(str(tmp_path / "dead" / "journal")).start(header(created=created))
    table, started = _start(config)
    assert table == "works"
    return started


def test_a_resumed_reindex_catches_up_from_when_the_interrupted_run_started(tmp_path):
    assert _resumed_start(tmp_path, None) > datetime(2026, 1, 1, tzinfo=timezone.utc)  # now
    assert _resumed_start(tmp_path, "2026-11-30T03:00:05Z") == datetime(
        2026, 11, 30, 3, 0, 5, tzinfo=timezone.utc
    )


def test_a_resumed_catch_up_starts_at_the_interrupted_runs_start_to_the_microsecond(tmp_path):
    """A start time cut to the whole second moves the catch-up's start up to 1 s
    back, before a stream enabled just in time: the resumed run then refused."""
    from transforms.journal.journal import utc_now

    before = datetime.now(timezone.utc)
    started = _resumed_start(tmp_path, utc_now())
    assert before <= started <= datetime.now(timezone.utc)


@pytest.mark.slow
@pytest.mark.parametrize("upsert", [False, True], ids=["rebuild", "upsert"])
def test_a_killed_reindex_resumed_catches_up_from_when_it_first_started(
    dynamodb_server, dynamodb_client, tmp_path, upsert
):
    """Killed mid-scan, then written to, then ``--resume``d: the pages the killed
    run committed are not read again, so only a catch-up from the first start
    brings their changes; the index ends equal to the table."""
    table = seeded_stream_table(dynamodb_client, "NEW_AND_OLD_IMAGES", SEEDED)
    extra = ("--checkpoint-every-pages", "1", *(("--upsert",) if upsert else ()))
    journal = _killed(dynamodb_server, table, tmp_path, extra, after_requests=10)
    committed = journal.state(journal.read_header()).values()
    assert sum(state.items for state in committed) > 0  # pages the resumed run skips
    for op in writes(dynamodb_client, table, SEEDED, 0):
        op()
    resumed = _resumed_to_the_table(dynamodb_server, dynamodb_client, table, tmp_path, extra)
    assert "catch-up 1" in resumed.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "upsert, shard_iterators_before",
    [(False, 1), (True, 0)],
    ids=["rebuild_after_its_swap", "upsert_in_its_catch_up"],
)
def test_a_reindex_killed_in_its_last_catch_up_resumes_to_an_index_equal_to_the_table(
    dynamodb_server, dynamodb_client, tmp_path, upsert, shard_iterators_before
):
    """Killed in the catch-up that writes the bookmark (a rebuild's after its
    swap, an upsert's after its job): the journal is still there, ``--resume``
    reads nothing again, catches up from the first start and writes the bookmark."""
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", SEEDED)
    extra = ("--upsert",) if upsert else ()
    journal = _killed(
        dynamodb_server,
        table,
        tmp_path,
        extra,
        operations=("GetShardIterator",),
        after_requests=shard_iterators_before,
    )
    header = journal.read_header()
    assert all(state.done for state in journal.state(header).values())
    assert journal.stage(header) == (None if upsert else "swapped")
    assert not (tmp_path / "bookmark.json").exists()
    for op in writes(dynamodb_client, table, SEEDED, 0):  # deletes among them
        op()

    resumed = _resumed_to_the_table(dynamodb_server, dynamodb_client, table, tmp_path, extra)
    assert "nothing left to scan" in resumed.stdout
    assert read_bookmark(str(tmp_path / "bookmark.json")) is not None
    assert not journal.exists()


def test_a_reindex_from_an_incremental_export_catches_up_from_its_export_to_time(tmp_path):
    """AWS writes no exportTime for an incremental export: the table is as of exportToTime."""
    from pipeline.catch_up.during_reindex import _start

    keys = {"id": {"S": "w1"}}
    export = write_export(tmp_path, [incremental_record(keys, {**keys})], incremental=True)
    config = dataclasses.replace(
        reindex_config("http://127.0.0.1:9", "", tmp_path), from_export=export.root
    )
    assert _start(config) == ("works", datetime(2026, 11, 4, 8, 28, 34, 28000, tzinfo=timezone.utc))
