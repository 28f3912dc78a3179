"""Worker failure: a worker killed mid-segment, a bundle that raises after some pages.

Beam's local runners do not retry a failed bundle: a lost worker or a bundle
that raises fails the whole job. ``--job-attempts N`` runs the job again; the
index takes documents written again as updates and the dead letters are
written whole by the attempt that succeeds, so the run ends with every item
exactly once. (Dataflow and Flink retry the bundle themselves; the source
claims each page before emitting it, so a retried bundle neither loses nor
repeats a page.)

The fault is injected at the wire by :class:`tests.fault_proxy.FaultProxy`:
``kill_sender`` kills the worker process that sent a Scan while it waits for
the page; ``denied`` answers one Scan with AccessDenied, which is not
retryable, so the bundle raises.
"""

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

SCAN_OPTIONS = ("--total-segments", "6", "--page-size", "30")


@pytest.fixture(scope="module")
def works(dynamodb_client):
    """300 sample works, 5% malformed."""
    return sample_table(dynamodb_client, "workers", 300, 0.05, seed=23)


def reindex_with_one_fault(dynamodb_server, table, tmp_path, fault: str, *options: str):
    """``reindex`` through a proxy that injects ``fault`` once, after five requests.

    Returns ``(proxy, completed process)``.
    """
    with FaultProxy(
        dynamodb_server.endpoint_url, {fault: 1.0}, after_requests=5, max_faults=1
    ) as proxy:
        done = cli(*reindex_args(proxy.url, table, tmp_path), *SCAN_OPTIONS, *options)
    return proxy, done


def assert_exactly_once(stdout, tmp_path, good, bad):
    assert index_rows(tmp_path / "index.db") == good
    assert keyed_fields(dead_letters(tmp_path / "dead")) == sorted(bad.items())
    assert summary_count(stdout, "scanned") == len(good) + len(bad)
    assert summary_count(stdout, "indexed") == len(good)


@pytest.mark.slow
def test_worker_killed_mid_segment_then_job_runs_again(dynamodb_server, works, tmp_path):
    table, good, bad = works
    proxy, done = reindex_with_one_fault(
        dynamodb_server, table, tmp_path, "kill_sender", "--job-attempts=2", *MULTI_PROCESS
    )
    assert len(proxy.killed_pids) == 1, proxy.injected
    assert done.returncode == 0, done.stderr[-3000:]
    assert "running it again, attempt 2 of 2" in done.stderr
    assert_exactly_once(done.stdout, tmp_path, good, bad)


def test_bundle_raising_after_some_pages_then_job_runs_again(dynamodb_server, works, tmp_path):
    table, good, bad = works
    proxy, done = reindex_with_one_fault(
        dynamodb_server, table, tmp_path, "denied", "--job-attempts=2", *IN_PROCESS
    )
    assert proxy.injected["denied"] == 1
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The job failed (AccessDenied: access denied to table" in done.stderr
    assert_exactly_once(done.stdout, tmp_path, good, bad)


def test_worker_killed_without_job_attempts_is_one_clear_line(dynamodb_server, works, tmp_path):
    table, _, _ = works
    proxy, done = reindex_with_one_fault(
        dynamodb_server, table, tmp_path, "kill_sender", *MULTI_PROCESS
    )
    assert len(proxy.killed_pids) == 1
    assert done.returncode == 3
    assert last_error_line(done.stderr).startswith("error: the runner failed the job")
