"""Catching up from the stream on the local server: the index ends equal to the table.

Writers put, update and delete items (and re-create a deleted one) while a
reindex scans the table; a catch-up since the reindex's start time then
leaves the SQLite index (``SELECT id, body FROM documents``) equal to what a
consistent read of the table decodes to, ids and bodies. More writes and a
``catch-up --bookmark`` on the command line: equal again.
"""

import dataclasses
import json
import threading
from datetime import datetime, timedelta, timezone

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.catch_up import job as catch_up_job
from pipeline.catch_up.job import catch_up, catch_up_from, catch_up_since
from pipeline.errors import ReindexError
from pipeline.local.sample_data import seed_table
from pipeline.models import Work
from pipeline.reindex import build_reindex
from pipeline.sources import scan_source
from tests.reindex_runs import cli, index_rows, reindex_config, table_description
from tests.runners import IN_PROCESS
from tests.stream_tables import (
    catch_up_args,
    catch_up_config,
    create_stream_table,
    expected_rows,
    samples,
    seeded_stream_table,
    set_title,
    stream_table_to_seed,
    wait_past_stream_start,
    work_id,
    writes,
)
from transforms.dead_letters import read_dead_letters
from transforms.dynamodb.stream import NoStream, StreamGap, read_bookmark
from transforms.index import Document, open_backend
from transforms.index.identity import IndexIdentity, write_identity

SEEDED = 60


KEPT_BUSY = range(40, 45)


def reindex_while_writing(server, client, table, tmp_path, ops):
    """Runs the reindex graph while a thread makes ``ops``, then keeps updating the
    items ``KEPT_BUSY`` until the reindex has finished, and once more after."""
    done = threading.Event()
    failures = []

    def write():
        try:
            for op in ops:
                op()
                done.wait(0.01)
            cycle = 0
            while True:
                last = done.is_set()
                for n in KEPT_BUSY:
                    set_title(client, table, n, {"S": f"Busy {cycle}"})
                cycle += 1
                if last:
                    return
        except Exception as error:
            failures.append(error)

    writer = threading.Thread(target=write)
    config = reindex_config(server.endpoint_url, table, tmp_path, total_segments=4, page_size=8)
    description = table_description(server.endpoint_url, table)
    writer.start()
    with beam.Pipeline(options=PipelineOptions(list(IN_PROCESS))) as p:
        build_reindex(p, config, Work, scan_source(config, description))
    done.set()
    writer.join(timeout=60)
    assert not failures and not writer.is_alive()


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_AND_OLD_IMAGES"])
def test_writes_during_a_reindex_are_caught_up_then_kept_up_by_the_command(
    dynamodb_server, dynamodb_client, tmp_path, view_type
):
    url = dynamodb_server.endpoint_url
    table = seeded_stream_table(dynamodb_client, view_type, SEEDED)
    start = datetime.now(timezone.utc)
    reindex_while_writing(
        dynamodb_server, dynamodb_client, table, tmp_path, writes(dynamodb_client, table, SEEDED, 0)
    )
    bookmark = str(tmp_path / "bookmark.json")
    assert index_rows(tmp_path / "index.db") != expected_rows(dynamodb_client, table)

    result = catch_up_since(
        start, catch_up_config(url, table, tmp_path), IN_PROCESS, bookmark_path=bookmark
    )

    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)
    summary = result.summary
    assert summary.accounted_for, summary.render()
    assert summary.keys_changed == 10 + 12 + len(KEPT_BUSY) and summary.gone == 3
    assert summary.dead_lettered_by_stage == {"decode": 1}
    assert read_bookmark(bookmark) == result.bookmark
    undecodable = {
        letter["key"]["id"]["S"]
        for letter in read_dead_letters(str(tmp_path / "dead" / "catch-up-*.jsonl"))
    }
    assert work_id(7) in undecodable

    assert work_id(17) in index_rows(tmp_path / "index.db")
    for op in writes(dynamodb_client, table, SEEDED + 12, 1):
        op()
    run = cli(*catch_up_args(dynamodb_server.endpoint_url, table, tmp_path), timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "keys changed" in run.stdout and "MISMATCH" not in run.stdout
    rows = index_rows(tmp_path / "index.db")
    assert rows == expected_rows(dynamodb_client, table)
    assert work_id(17) not in rows  # made undecodable: its earlier document is removed
    advanced = read_bookmark(bookmark)
    (shard,) = advanced.shards.values()
    (before,) = result.bookmark.shards.values()
    assert int(shard.sequence_number) > int(before.sequence_number)


def test_a_catch_up_since_before_every_write_builds_the_whole_index_and_is_idempotent(
    dynamodb_server, dynamodb_client, tmp_path
):
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    start = datetime.now(timezone.utc)
    seed_table(dynamodb_client, table, samples(30))
    for op in writes(dynamodb_client, table, 30, 0):
        op()
    config = catch_up_config(url, table, tmp_path)
    first = catch_up_since(start, config, IN_PROCESS)
    rows = index_rows(tmp_path / "index.db")
    again = catch_up_since(start, config, IN_PROCESS)
    assert index_rows(tmp_path / "index.db") == rows == expected_rows(dynamodb_client, table)
    assert again.summary.keys_changed == first.summary.keys_changed
    idle = catch_up_from(again.bookmark, config, IN_PROCESS)
    assert idle.summary.records_read == 0 and idle.summary.keys_changed == 0
    assert idle.bookmark.shards == again.bookmark.shards
    assert f"(none) -> {config.dead_letters}\n" in idle.summary.render()  # no file named


def test_a_table_without_a_stream_is_refused_with_how_to_enable_one(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = create_stream_table(dynamodb_client, "nostream", None)
    run = cli(
        *catch_up_args(
            dynamodb_server.endpoint_url, table, tmp_path, "--since", "2026-01-01T00:00:00Z"
        )
    )
    assert run.returncode == 6, run.stderr[-3000:]
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert f"cannot catch up table {table!r} from its stream: it has no stream" in line
    assert (
        f"`aws dynamodb update-table --table-name {table} "
        "--stream-specification StreamEnabled=true,StreamViewType=KEYS_ONLY`"
    ) in line


def test_a_disabled_stream_is_refused(dynamodb_server, dynamodb_client, tmp_path):
    url = dynamodb_server.endpoint_url
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", 5)
    config = catch_up_config(url, table, tmp_path)
    result = catch_up_since(datetime.now(timezone.utc), config, IN_PROCESS)
    dynamodb_client.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    with pytest.raises(NoStream, match="its stream is disabled"):
        catch_up_from(result.bookmark, config, IN_PROCESS)


def test_a_bookmark_of_another_stream_is_a_gap(dynamodb_server, dynamodb_client, tmp_path):
    url = dynamodb_server.endpoint_url
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", 5)
    bookmark = str(tmp_path / "bookmark.json")
    first = catch_up_since(
        datetime.now(timezone.utc),
        catch_up_config(url, table, tmp_path),
        IN_PROCESS,
        bookmark_path=bookmark,
    )
    dynamodb_client.delete_table(TableName=table)
    create_stream_table(dynamodb_client, "", "KEYS_ONLY", name=table)
    run = cli(*catch_up_args(dynamodb_server.endpoint_url, table, tmp_path))
    assert run.returncode == 6, run.stderr[-3000:]
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert f"the bookmark is of the stream {first.bookmark.stream_arn}, but" in line
    assert "reindex the table" in line
    assert read_bookmark(bookmark) == first.bookmark


def test_a_start_beyond_the_retention_or_before_the_stream_is_a_gap(
    dynamodb_server, dynamodb_client, tmp_path
):
    url = dynamodb_server.endpoint_url
    before_the_stream = datetime.now(timezone.utc)
    table = create_stream_table(dynamodb_client, "late", "KEYS_ONLY")
    config = catch_up_config(url, table, tmp_path)
    with pytest.raises(StreamGap, match="24-hour retention"):
        catch_up_since(datetime.now(timezone.utc) - timedelta(hours=25), config, IN_PROCESS)
    with pytest.raises(StreamGap, match=r"its stream was enabled at .*, after"):
        catch_up_since(before_the_stream, config, IN_PROCESS)
    wait_past_stream_start(url, dynamodb_client, table, config.safety_margin)
    assert catch_up_since(datetime.now(timezone.utc), config, IN_PROCESS).summary.accounted_for


def test_a_start_in_the_future_is_refused(dynamodb_server, dynamodb_client, tmp_path):
    """It would skip every change and set the bookmark past them."""
    run = cli(
        *catch_up_args(
            dynamodb_server.endpoint_url, "any-table", tmp_path, "--since", "2030-01-01T00:00:00Z"
        )
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.splitlines()[-1] == (
        "error: --since 2030-01-01T00:00:00.000000Z is in the future: every change would be "
        "skipped and the bookmark set past them; give the time the last reindex started"
    )
    assert not (tmp_path / "bookmark.json").exists()


def test_an_index_of_another_table_is_refused(dynamodb_server, dynamodb_client, tmp_path):
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    index_uri = f"sqlite:///{tmp_path}/index.db"
    with open_backend(index_uri) as index:
        write_identity(index, IndexIdentity("other", ("id",), "m:Other"))
        index.write_batch([Document("w00000001", '{"id": "w00000001"}')])
    seed_table(dynamodb_client, table, samples(3))
    config = catch_up_config(url, table, tmp_path)
    with pytest.raises(ReindexError, match=r"holds table 'other', not table '.*': check --index$"):
        catch_up_since(datetime.now(timezone.utc) - timedelta(seconds=30), config, IN_PROCESS)
    assert index_rows(tmp_path / "index.db") == {"w00000001": '{"id": "w00000001"}'}


def test_a_missing_bookmark_is_a_usage_error_saying_how_to_start_one(
    dynamodb_server, dynamodb_client, tmp_path
):
    run = cli(*catch_up_args(dynamodb_server.endpoint_url, "any-table", tmp_path))
    assert run.returncode == 2
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert "no bookmark at" in line and "--since TIME" in line and "reindex --catch-up" in line


def test_since_is_refused_when_a_bookmark_exists(dynamodb_server, dynamodb_client, tmp_path):
    (tmp_path / "bookmark.json").write_text(json.dumps({"format": "x"}))
    run = cli(
        *catch_up_args(
            dynamodb_server.endpoint_url, "any-table", tmp_path, "--since", "2026-01-01T00:00:00Z"
        )
    )
    assert run.returncode == 2
    assert "a bookmark exists at" in run.stderr


def test_catch_up_reads_and_advances_a_bookmark_file(dynamodb_server, dynamodb_client, tmp_path):
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    bookmark = str(tmp_path / "bookmark.json")
    config = catch_up_config(url, table, tmp_path)
    catch_up_since(datetime.now(timezone.utc), config, IN_PROCESS, bookmark_path=bookmark)
    seed_table(dynamodb_client, table, samples(30))
    for op in writes(dynamodb_client, table, 30, 0):
        op()
    result = catch_up(config, bookmark, IN_PROCESS)
    assert read_bookmark(bookmark) == result.bookmark
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)


def test_the_bookmark_is_not_advanced_when_the_counts_do_not_add_up(
    dynamodb_server, dynamodb_client, tmp_path, monkeypatch
):
    url = dynamodb_server.endpoint_url
    table = seeded_stream_table(dynamodb_client, "KEYS_ONLY", 3)
    bookmark = str(tmp_path / "bookmark.json")
    config = catch_up_config(url, table, tmp_path)
    first = catch_up_since(datetime.now(timezone.utc), config, IN_PROCESS, bookmark_path=bookmark)
    dynamodb_client.delete_item(TableName=table, Key={"id": {"S": work_id(0)}})
    summarize = catch_up_job.summarize

    def losing_one(*args, **kwargs):
        summary = summarize(*args, **kwargs)
        summary.indexed -= 1
        return summary

    monkeypatch.setattr(catch_up_job, "summarize", losing_one)
    result = catch_up(config, bookmark, IN_PROCESS)
    assert not result.summary.accounted_for
    assert "the counts do not add up" in result.summary.problem()
    assert read_bookmark(bookmark) == first.bookmark


def test_a_catch_up_from_a_bookmark_into_no_index_is_refused(
    dynamodb_server, dynamodb_client, tmp_path
):
    """Its bookmark says changes went to an index that is not there (a mistyped
    --index, an index deleted by hand): a new one of the changed items only is not made."""
    url = dynamodb_server.endpoint_url
    table = stream_table_to_seed(dynamodb_client, url, "KEYS_ONLY")
    bookmark = str(tmp_path / "bookmark.json")
    config = catch_up_config(url, table, tmp_path)
    catch_up_since(datetime.now(timezone.utc), config, IN_PROCESS, bookmark_path=bookmark)
    assert (tmp_path / "index.db").exists()  # a first catch-up that changed nothing made it
    seed_table(dynamodb_client, table, samples(3))
    elsewhere = dataclasses.replace(config, index=f"sqlite:///{tmp_path}/typo.db")
    with pytest.raises(ReindexError, match=r"there is no index file .*typo\.db, though the"):
        catch_up(elsewhere, bookmark, IN_PROCESS)
    assert not (tmp_path / "typo.db").exists()
    catch_up(config, bookmark, IN_PROCESS)
    assert index_rows(tmp_path / "index.db") == expected_rows(dynamodb_client, table)


def test_a_catch_up_writes_with_the_reindexs_versions(tmp_path):
    """Catch-ups write the versions the reindex wrote with (search servers): a write
    without one raises the server's own count, and a newer record is then refused."""
    from pipeline.catch_up.during_reindex import catch_up_config_of

    config = reindex_config("http://127.0.0.1:9", "works", tmp_path, version_field="version")
    caught_up = catch_up_config_of(config, "works")
    assert caught_up.version_field == "version"
    assert catch_up_job._spine_config(caught_up, "dead").version_field == "version"
