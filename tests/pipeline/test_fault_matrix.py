"""The fault matrix: ``reindex`` end to end with faults injected at the wire.

Each row runs the real command line against a fault-injecting proxy
(:mod:`tests.fault_proxy`) in front of the local DynamoDB server, then checks
content: the index holds exactly the table's good records, the dead letters
are exactly its bad ones, each once, and the exit code is 0. Where the fault
persists, the run ends with exit 1 and one line naming the unread segments and
their resume keys; the same command with ``--resume`` completes the job, still
with every item exactly once. The sink rows fault the embedded SQLite index
(busy, refusing, losing documents); faults of the Elasticsearch/OpenSearch
backends are covered with those backends' own bulk proxy.

Faults are seeded and capped in number, and the proxy stops injecting after a
deadline, so every run ends by itself.
"""

import re
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from tests.fault_proxy import FaultProxy
from tests.reindex_runs import (
    cli,
    dead_letters,
    index_rows,
    keyed_fields,
    last_error_line,
    reindex_args,
    sample_table,
    summary_count,
)
from tests.runners import IN_PROCESS, MULTI_PROCESS
from transforms.dynamodb.wire import dumps_item
from transforms.index.sqlite import SQLiteIndex
from transforms.journal import RunJournal

SCAN_OPTIONS = ("--total-segments", "4", "--page-size", "30", "--max-attempts", "1")

# fault: (rates, cap on injected faults, runner)
MATRIX = {
    "throttle": ({"throttle": 0.3}, 6, IN_PROCESS),
    "http500": ({"http500": 0.3}, 6, IN_PROCESS),
    "http503": ({"http503": 0.3}, 6, IN_PROCESS),
    "reset": ({"reset": 0.3}, 6, IN_PROCESS),
    "slow": ({"slow": 0.3}, 6, IN_PROCESS),
    "truncate": ({"truncate": 0.3}, 6, IN_PROCESS),
    "mix": (
        {kind: 0.06 for kind in ("throttle", "http500", "http503", "reset", "slow", "truncate")},
        10,
        MULTI_PROCESS,
    ),
}


@pytest.fixture(scope="module")
def works(dynamodb_client):
    """400 sample works, 5% malformed."""
    return sample_table(dynamodb_client, "matrix", 400, 0.05, seed=11)


def assert_exactly_once(tmp_path, good, bad, *folders):
    assert index_rows(tmp_path / "index.db") == good
    letters = dead_letters(*(tmp_path / folder for folder in folders))
    assert keyed_fields(letter for letter in letters if letter["stage"] == "decode") == sorted(
        bad.items()
    )


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(MATRIX))
def test_fault_is_survived_with_every_item_once(dynamodb_server, works, tmp_path, fault):
    table, good, bad = works
    rates, cap, runner = MATRIX[fault]
    with FaultProxy(dynamodb_server.endpoint_url, rates, seed=7, max_faults=cap) as proxy:
        done = cli(*reindex_args(proxy.url, table, tmp_path), *SCAN_OPTIONS, *runner)
    assert done.returncode == 0, done.stderr[-3000:]
    assert proxy.total_injected > 0, proxy.requests
    assert_exactly_once(tmp_path, good, bad, "dead")
    assert summary_count(done.stdout, "scanned") == len(good) + len(bad)
    assert summary_count(done.stdout, "indexed") == len(good)
    if fault != "slow":
        assert summary_count(done.stdout, "retries") > 0


def _through_persistent_503(dynamodb_server, table: str, tmp_path, *extra: str):
    """A reindex through a proxy answering 503 to every Scan after the first six pages."""
    with FaultProxy(
        dynamodb_server.endpoint_url, {"http503": 1.0}, after_requests=6, max_faults=None
    ) as proxy:
        return cli(
            *reindex_args(proxy.url, table, tmp_path),
            *SCAN_OPTIONS,
            "--max-retry-seconds=1",
            *extra,
            *IN_PROCESS,
        )


@pytest.mark.slow
def test_persistent_fault_names_unread_segments_and_resume_completes(
    dynamodb_server, works, tmp_path
):
    """503 on every Scan after the first six pages, for as long as the run lasts."""
    table, good, bad = works
    failed = _through_persistent_503(dynamodb_server, table, tmp_path, "--upsert")
    assert failed.returncode == 1, failed.stderr[-3000:]
    unread = dead_letters(tmp_path / "dead", stage="scan")
    assert unread, failed.stdout
    error = last_error_line(failed.stderr)
    assert f"of table '{table}' were not read to their end" in error
    journal = RunJournal(str(tmp_path / "dead" / "journal"))
    committed = journal.state(journal.read_header())
    for letter in unread:
        assert letter["table"] == table and letter["total_segments"] == 4
        assert letter["error_type"] == "SegmentReadFailed"
        assert "ServiceUnavailable" in letter["error"]
        start = f"ExclusiveStartKey {dumps_item(letter['key'])}" if letter["key"] else "its start"
        assert f"segment {letter['segment']} from {start}" in error
        assert committed[letter["segment"]].next_start_key == letter["key"]
    assert "run the same command with --resume to read the rest" in error
    assert any(letter["key"] for letter in unread), "no segment stopped midway"
    # one worker thread reads the segments in turn: only the first to meet the
    # outage spends the retry budget (two retries at least, within a second);
    # the others are reported after one more try each at most
    retries = Counter(re.findall(r"Scan of segment (\d+)/4 failed .*; retrying", failed.stderr))
    first, *others = sorted(retries.values(), reverse=True)
    assert len(unread) > 1 and first >= 2 and all(n <= 1 for n in others), failed.stderr[-3000:]
    assert summary_count(failed.stdout, "retries") >= first  # the failed pages' retries count

    # nothing already read is lost: what was scanned is indexed or dead-lettered
    read = index_rows(tmp_path / "index.db")
    decoded_letters = dead_letters(tmp_path / "dead", stage="decode")
    assert summary_count(failed.stdout, "scanned") == len(read) + len(decoded_letters)
    assert all(good[key] == body for key, body in read.items())

    resumed = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        *SCAN_OPTIONS,
        "--resume",
        "--upsert",
        *IN_PROCESS,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert summary_count(failed.stdout, "scanned") + summary_count(
        resumed.stdout, "scanned"
    ) == len(good) + len(bad)
    assert_exactly_once(tmp_path, good, bad, "dead")
    assert not dead_letters(tmp_path / "dead", stage="scan")


@pytest.mark.slow
def test_a_rebuild_with_unread_segments_is_not_swapped_and_says_to_resume(
    dynamodb_server, works, tmp_path
):
    """The same fault on a rebuild: the build is kept, and --resume finishes and swaps it."""
    table, good, _ = works
    failed = _through_persistent_503(dynamodb_server, table, tmp_path)
    assert failed.returncode == 5, failed.stderr[-3000:]
    error = last_error_line(failed.stderr)
    assert error.startswith("error: not swapped, the alias 'documents' was not moved: ")
    assert f"of table '{table}' were not read to their end" in error
    assert "run the same command with --resume to read the rest" in error
    assert index_rows(tmp_path / "index.db") == {}

    resumed = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        *SCAN_OPTIONS,
        "--resume",
        *IN_PROCESS,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert index_rows(tmp_path / "index.db") == good


# --- the sink: the embedded SQLite index ----------------------------------------


def prepared_index(tmp_path, *statements):
    with SQLiteIndex.open(f"sqlite:///{tmp_path}/index.db"):
        pass
    with sqlite3.connect(tmp_path / "index.db") as connection:
        for statement in statements:
            connection.execute(statement)


def reindex_with_trigger(dynamodb_server, table, tmp_path, *, when: str, ids, action: str):
    """``reindex --upsert`` into an index that runs ``action`` ``when`` one of ``ids`` is inserted.

    ``when`` is ``BEFORE`` or ``AFTER``: the timing of the SQLite INSERT trigger (on the
    live table ``documents``, so the run writes there in place).
    """
    listed = ", ".join(f"'{key}'" for key in ids)
    prepared_index(
        tmp_path,
        f"CREATE TRIGGER fault {when} INSERT ON documents WHEN new.id IN ({listed}) "
        f"BEGIN {action}; END",
    )
    return cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path), "--upsert", *IN_PROCESS
    )


HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def test_busy_index_is_waited_for(dynamodb_server, works, tmp_path):
    """Another writer holds the index's write lock for 1.5 s as the run starts."""
    table, good, bad = works
    prepared_index(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "index.db"), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout.readline().strip() == "locked"
        done = cli(*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), *IN_PROCESS)
        assert holder.wait(timeout=60) == 0
    assert done.returncode == 0, done.stderr[-3000:]
    assert_exactly_once(tmp_path, good, bad, "dead")


def test_documents_the_index_refuses_become_dead_letters(dynamodb_server, works, tmp_path):
    table, good, bad = works
    refused = sorted(good)[::40]
    done = reindex_with_trigger(
        dynamodb_server,
        table,
        tmp_path,
        when="BEFORE",
        ids=refused,
        action="SELECT RAISE(ABORT, 'refused by the index')",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert index_rows(tmp_path / "index.db") == {k: v for k, v in good.items() if k not in refused}
    letters = dead_letters(tmp_path / "dead")
    assert keyed_fields(dl for dl in letters if dl["stage"] == "decode") == sorted(bad.items())
    by_index = [dl for dl in letters if dl["stage"] == "index"]
    assert sorted(dl["document"] for dl in by_index) == sorted(good[key] for key in refused)
    assert all("refused by the index" in dl["error"] for dl in by_index)


def test_index_that_loses_documents_fails_the_reconciliation(dynamodb_server, works, tmp_path):
    """The index takes every write but keeps fewer documents: exit 1, named."""
    table, good, _ = works
    lost = sorted(good)[:5]
    done = reindex_with_trigger(
        dynamodb_server,
        table,
        tmp_path,
        when="AFTER",
        ids=lost,
        action="DELETE FROM documents WHERE id = new.id",
    )
    assert done.returncode == 1, done.stderr[-3000:]
    held = len(good) - len(lost)
    assert f"check: index holds {held:,} documents >= indexed {len(good):,}: MISMATCH" in (
        done.stdout
    )
    assert last_error_line(done.stderr) == (
        f"error: the counts do not add up: index holds {held:,} documents >= indexed {len(good):,}"
    )
