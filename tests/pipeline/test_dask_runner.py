"""The scan, the export read and the whole reindex on Beam's DaskRunner.

Pipelines run on a dask.distributed cluster of two worker processes
(``tests/dask_cluster.py``) against the loopback DynamoDB server. Beam 2.77's
DaskRunner splits no initial restriction, drops checkpoint residuals,
reports no metrics, hands every output of a multi-output ``ParDo`` to each
consumer, drops what ``finish_bundle`` emits and runs only the branch that
ends in the last step applied (see ``transforms/runners/capabilities.py``):
every test checks content item by item, so none of that can go unnoticed.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import re
import shutil
import threading
import time
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from pipeline.catch_up.job import catch_up_runner_args, catch_up_since
from pipeline.local.sample_data import generate_items, seed_table
from pipeline.models import Work
from pipeline.reindex import build_reindex
from pipeline.sources import scan_source
from tests.dask_cluster import WORKERS, dask_args
from tests.export_folders import full_records, incremental_record, write_export
from tests.fault_proxy import FaultProxy
from tests.reindex_runs import (
    cli,
    dead_letters,
    index_rows,
    index_sink_args,
    keyed_fields,
    last_error_line,
    reindex_args,
    reindex_config,
    replay_args,
    sample_table,
    summary_count,
)
from tests.runners import IN_PROCESS
from tests.stream_tables import catch_up_config, expected_rows, samples, stream_table_to_seed
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.export.manifest import read_export_manifest
from transforms.dynamodb.export.reindex_source import ExportSource
from transforms.dynamodb.table_description import TableDescription
from transforms.dynamodb.wire import dumps_item
from transforms.runners.capabilities import reading_processes, runner_capabilities

pytestmark = pytest.mark.dask

ITEMS = 300


@pytest.fixture(scope="module")
def works_table(dynamodb_client):
    """300 sample works, 5% malformed: ``(name, good {id: json}, bad {id: field})``."""
    return sample_table(dynamodb_client, "dask-works", ITEMS, 0.05, seed=23)


def run_on_dask(address: str, build) -> None:
    """Runs ``build(pipeline)`` on the cluster to its end, then closes the runner's client."""
    pipeline = beam.Pipeline(options=PipelineOptions(list(dask_args(address))))
    build(pipeline)
    result = pipeline.run()
    try:
        result.wait_until_finish()
    finally:
        result.client.close()


def _content_and_processes(expected: list[str], segments: int):
    def check(actual):
        found = sorted(text for text, _, _ in actual)
        if found != expected:
            raise BeamAssertException(f"{len(found)} items read, {len(expected)} expected")
        processes = {pid for _, _, pid in actual}
        if len({segment for _, segment, _ in actual}) != segments or len(processes) < 2:
            raise BeamAssertException(f"segments read by {len(processes)} process(es)")

    return check


def _tagged_with_process(segment_item):
    return dumps_item(segment_item.item), segment_item.segment, os.getpid()


# --- the source ----------------------------------------------------------------


def test_assert_that_fails_on_dask_when_it_should(dask_cluster):
    """The checks below rely on assert_that, which the DaskRunner runs as the last step."""

    def build(p):
        assert_that(p | beam.Create([1, 2]), equal_to([1, 3]))

    with pytest.raises(Exception, match="missing elements \\[3\\]"):
        run_on_dask(dask_cluster, build)


def test_scan_reads_every_item_once_in_several_processes(
    dynamodb_server, dynamodb_client, dask_cluster
):
    items = [{"id": {"S": f"d{i:04d}"}, "n": {"N": str(i)}} for i in range(ITEMS)]
    table = seeded_table(dynamodb_client, "dask-scan", items)
    expected = sorted(dumps_item(item) for item in items)

    def build(p):
        read = ReadFromDynamoDB(
            table_name=table,
            total_segments=4,
            page_size=20,
            endpoint_url=dynamodb_server.endpoint_url,
            region_name="us-east-1",
            with_segments=True,
            checkpoint_every_pages=1,  # off on Dask: a residual would be lost
        )
        found = p | read | beam.Map(_tagged_with_process)
        assert_that(found, _content_and_processes(expected, 4))

    run_on_dask(dask_cluster, build)


def test_capabilities_and_reading_processes_on_dask(dask_cluster):
    pipeline = beam.Pipeline(options=PipelineOptions(list(dask_args(dask_cluster))))
    capabilities = runner_capabilities(pipeline)
    assert capabilities.runner == "DaskRunner" and capabilities.known
    assert not (capabilities.initial_splitting or capabilities.residuals or capabilities.metrics)
    assert reading_processes(pipeline, 8) == WORKERS
    assert reading_processes(pipeline, 1) == 1


# --- the shape of the reindex graphs on Dask ---------------------------------------


class _Leaves(PipelineVisitor):
    def __init__(self):
        self.leaves = []

    def visit_transform(self, node):
        self.leaves.append(node)


def _upstream(node, seen):
    for pcoll in [*node.inputs, *(side.pvalue for side in node.side_inputs)]:
        producer = getattr(pcoll, "producer", None)
        if producer is not None and producer not in seen:
            seen.add(producer)
            _upstream(producer, seen)
    return seen


def assert_one_last_step_after_everything(pipeline):
    """No side inputs, and every step is upstream of the last one applied."""
    visitor = _Leaves()
    pipeline.visit(visitor)
    with_side_inputs = [leaf.full_label for leaf in visitor.leaves if leaf.side_inputs]
    assert with_side_inputs == []
    last = visitor.leaves[-1]
    upstream = _upstream(last, set())
    assert [leaf.full_label for leaf in visitor.leaves[:-1] if leaf not in upstream] == []


def test_scan_reindex_graph_on_dask(tmp_path):
    pipeline = beam.Pipeline(options=PipelineOptions(list(dask_args("tcp://127.0.0.1:1"))))
    config = reindex_config("http://127.0.0.1:1", "works", tmp_path, total_segments=3)
    description = TableDescription("works", ("id",), item_count=10, size_bytes=1000)
    outputs = build_reindex(pipeline, config, Work, scan_source(config, description))
    assert outputs.tally == str(tmp_path / "dead" / "reindex-counts.json")
    assert_one_last_step_after_everything(pipeline)


def test_export_reindex_graph_on_dask(tmp_path):
    samples = list(generate_items(10, malformed_fraction=0.0, seed=3))
    full = write_export(tmp_path / "full", full_records([s.item for s in samples]), files=2)
    pipeline = beam.Pipeline(options=PipelineOptions(list(dask_args("tcp://127.0.0.1:1"))))
    config = reindex_config(None, None, tmp_path, from_export=full.root)
    manifest = read_export_manifest(full.root)
    outputs = build_reindex(pipeline, config, Work, ExportSource(manifest, ("id",)))
    assert outputs.tally is not None
    assert_one_last_step_after_everything(pipeline)


# --- the reindex through the command line ----------------------------------------


SCAN = ("--total-segments=4", "--page-size=50")


def timed_reindex(server, table, out, runner):
    """``reindex`` of ``table`` into ``out`` on ``runner``: the run and how long it took."""
    started = time.monotonic()
    done = cli(*reindex_args(server.endpoint_url, table, out), *SCAN, *runner)
    return done, time.monotonic() - started


def assert_exact(done, out, good, bad):
    assert done.returncode == 0, done.stderr[-3000:]
    assert index_rows(out / "index.db") == good
    letters = dead_letters(out / "dead")
    assert keyed_fields(letters) == sorted(bad.items())
    assert {letter["stage"] for letter in letters} == {"decode"}
    assert summary_count(done.stdout, "scanned") == ITEMS
    assert summary_count(done.stdout, "indexed") == len(good)
    assert f"check: scanned {ITEMS} == indexed {len(good)} + dead-lettered {len(bad)}: OK" in (
        done.stdout
    )


def timing(name, done, wall):
    run = re.search(r"segment\(s\) in ([\d.]+) s", done.stdout).group(1)
    return f"{name} {run} s run, {wall:.1f} s command"


@pytest.fixture(scope="module")
def in_process_reindex(dynamodb_server, works_table, tmp_path_factory):
    """The reference: the same reindex on the in-process runner, its folder and timing."""
    table, good, bad = works_table
    out = tmp_path_factory.mktemp("in-process")
    done, wall = timed_reindex(dynamodb_server, table, out, IN_PROCESS)
    assert_exact(done, out, good, bad)
    return out, timing("in-process", done, wall)


def test_cli_reindex_of_a_table_is_exact_and_timed(
    dynamodb_server, dask_cluster, works_table, in_process_reindex, tmp_path
):
    """The same reindex on Dask as in process, item by item; prints both times."""
    table, good, bad = works_table
    done, wall = timed_reindex(dynamodb_server, table, tmp_path, dask_args(dask_cluster))
    assert_exact(done, tmp_path, good, bad)
    assert "per segment    not known (the runner reports no metrics)" in done.stdout
    assert "partition size" not in done.stderr  # Beam's note on its own earlier versions
    reference = in_process_reindex[1]
    print(f"\nreindex of {ITEMS} items, 4 segments: {timing('dask', done, wall)}; {reference}")


def test_cli_reindex_of_an_empty_table_on_dask_says_what_is_not_known(
    dynamodb_server, dynamodb_client, dask_cluster, tmp_path
):
    """No metrics on Dask: the summary does not show zero pages of an empty table as read."""
    table = seeded_table(dynamodb_client, "empty", [])
    done, _ = timed_reindex(dynamodb_server, table, tmp_path, dask_args(dask_cluster))
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary_count(done.stdout, "scanned") == 0
    assert "pages, read units, retries and checkpoints are not known" in done.stdout
    assert "0 pages" not in done.stdout


def test_cli_reindex_from_full_then_incremental_export(dask_cluster, tmp_path):
    samples = list(generate_items(ITEMS, malformed_fraction=0.05, seed=29))
    full = write_export(tmp_path / "full", full_records([s.item for s in samples]), files=4)
    sink = index_sink_args(tmp_path)
    done = cli(
        "reindex",
        "--from-export",
        full.root,
        "--key-attributes",
        "id",
        *sink,
        *dask_args(dask_cluster),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    good = {s.id: s.record.to_json() for s in samples if s.defect is None}
    bad = {s.id: s.defect_field for s in samples if s.defect is not None}
    assert index_rows(tmp_path / "index.db") == good
    assert keyed_fields(dead_letters(tmp_path / "dead")) == sorted(bad.items())
    assert f"check: manifest {ITEMS} == read {ITEMS} == indexed {len(good)}" in done.stdout

    kept, removed = sorted(good)[:-20], sorted(good)[-20:]
    changed = {sid: f"changed {sid}" for sid in kept[:30]}
    records = [
        incremental_record({"id": {"S": sid}}, dict(_item_of(samples, sid), title={"S": title}))
        for sid, title in changed.items()
    ]
    records += [incremental_record({"id": {"S": sid}}) for sid in removed]
    incremental = write_export(tmp_path / "incr", records, incremental=True, files=3)
    done = cli(
        "reindex", "--from-export", incremental.root, "--upsert", *sink, *dask_args(dask_cluster)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {sid: body for sid, body in good.items() if sid not in removed}
    for sid, title in changed.items():
        expected[sid] = Work.from_json(good[sid]).to_dict() | {"title": title}
        expected[sid] = Work.from_dict(expected[sid]).to_json()
    assert index_rows(tmp_path / "index.db") == expected
    assert dead_letters(tmp_path / "dead") == []
    assert "indexed 30 + deleted 20 + dead-lettered 0: OK" in done.stdout


def _item_of(samples, sid):
    return next(s.item for s in samples if s.id == sid)


def test_cli_unread_segments_then_resume_on_dask(
    dynamodb_server, dask_cluster, works_table, tmp_path
):
    """503 on every Scan after the first four pages: segments are reported unread, then resumed."""
    table, good, bad = works_table
    scan = ("--total-segments=4", "--page-size=30", "--max-attempts=1", "--max-retry-seconds=1")
    with FaultProxy(
        dynamodb_server.endpoint_url, {"http503": 1.0}, after_requests=4, max_faults=None
    ) as proxy:
        failed = cli(
            *reindex_args(proxy.url, table, tmp_path, dead_letters="first"),
            "--upsert",
            *scan,
            *dask_args(dask_cluster),
        )
    assert failed.returncode == 1, failed.stderr[-3000:]
    unread = dead_letters(tmp_path / "first", stage="scan")
    assert unread and all(letter["error_type"] == "SegmentReadFailed" for letter in unread)
    assert f"--resume-from {tmp_path / 'first'}" in last_error_line(failed.stderr)
    scanned = summary_count(failed.stdout, "scanned")
    assert scanned == len(index_rows(tmp_path / "index.db")) + len(
        dead_letters(tmp_path / "first", stage="decode")
    )

    resumed = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path, dead_letters="second"),
        "--upsert",
        "--resume-from",
        str(tmp_path / "first"),
        "--page-size=30",
        *dask_args(dask_cluster),
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert scanned + summary_count(resumed.stdout, "scanned") == ITEMS
    assert index_rows(tmp_path / "index.db") == good
    letters = dead_letters(tmp_path / "first", tmp_path / "second", stage="decode")
    assert keyed_fields(letters) == sorted(bad.items())


def test_cli_replay_on_dask(dask_cluster, works_table, in_process_reindex, tmp_path):
    """Dead letters of the in-process run replayed on Dask, with a model accepting a null title."""
    _, _, bad = works_table
    shutil.copytree(in_process_reindex[0] / "dead", tmp_path / "dead")
    letters = dead_letters(tmp_path / "dead")
    fixed = {dl["key"]["id"]["S"] for dl in letters if dl["item"].get("title") == {"NULL": True}}
    assert fixed

    replay = cli(
        *replay_args(tmp_path / "dead", tmp_path, model="tests.fixed_models:WorkWithOptionalTitle"),
        "--still-failing",
        str(tmp_path / "still"),
        *dask_args(dask_cluster),
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert f"indexed now        {len(fixed):>10,}" in replay.stdout
    rows = index_rows(tmp_path / "index.db")
    assert set(rows) == fixed and all(json.loads(body)["title"] is None for body in rows.values())
    still = dead_letters(tmp_path / "still")
    assert keyed_fields(still) == sorted((i, f) for i, f in bad.items() if i not in fixed)


def test_a_catch_up_asked_of_the_dask_runner_runs_in_this_process(
    dask_cluster, dynamodb_server, dynamodb_client, tmp_path
):
    """The Dask runner reports no metrics, which a catch-up counts with; it reads little."""
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    started = datetime.now(timezone.utc)
    seed_table(dynamodb_client, table, samples(12))
    config = catch_up_config(url, table, tmp_path)
    args = catch_up_runner_args(dask_args(dask_cluster))
    assert runner_capabilities(beam.Pipeline(options=PipelineOptions(args))).metrics
    result = catch_up_since(started, config, dask_args(dask_cluster))
    assert result.summary.accounted_for
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)


def test_a_job_the_scheduler_cannot_load_names_the_models_module(tmp_path):
    from pipeline.reindex import _hint

    config = dataclasses.replace(
        reindex_config("http://127.0.0.1:9", "works", tmp_path), model="books:Book"
    )
    error = RuntimeError(
        "Error during deserialization of the task graph.\n"
        "https://docs.dask.org/en/stable/deployment-considerations.html"
        "#consistent-software-environments"
    )
    assert "import this project and the model's module 'books'" in _hint(error, config)
    assert _hint(RuntimeError("IndexWriteError: 3 documents"), config) == ""


def test_an_address_where_no_scheduler_answers_is_refused_in_one_line(tmp_path):
    """A dashboard's port (HTTP) never answers dask's handshake: the job would wait
    forever there. The command says so within seconds."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    try:
        done = cli(
            *reindex_args("http://127.0.0.1:9", "works", tmp_path), *dask_args(address), timeout=120
        )
    finally:
        server.shutdown()
    assert done.returncode == 3, done.stderr[-3000:]
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: no dask scheduler answered at {address} within 10 s")
    assert "not its dashboard's (8787)" in line
    assert list(tmp_path.iterdir()) == []
