"""``replay --reread``: the dead letters' keys re-read from the table, so the index
ends as a reindex with the fixed model would leave it, whatever changed since."""

from __future__ import annotations

import json

import pytest

from pipeline.local.sample_data import work_to_item
from pipeline.models import Work
from tests.reindex_runs import (
    cli,
    dead_letter_folder,
    dead_letters,
    index_rows,
    reindex_args,
    replay_args,
    sample_table,
)
from tests.runners import IN_PROCESS, MULTI_PROCESS
from tests.tables import unique_name
from transforms.dead_letters import dead_letter

FIXED = "tests.fixed_models:WorkWithOptionalTitle"


def _reread(endpoint_url: str, tmp_path, still: str, *extra: str):
    return cli(
        *replay_args(tmp_path / "dead", tmp_path, model=FIXED),
        "--reread",
        "--endpoint-url",
        endpoint_url,
        "--region",
        "us-east-1",
        "--still-failing",
        str(tmp_path / still),
        *extra,
    )


def _ids(letters) -> set[str]:
    return {letter["key"]["id"]["S"] for letter in letters}


@pytest.mark.parametrize("runner", [IN_PROCESS, MULTI_PROCESS], ids=["in_process", "multi"])
def test_reread_indexes_the_table_as_it_is_now(dynamodb_server, dynamodb_client, tmp_path, runner):
    url = dynamodb_server.endpoint_url
    table, _, _ = sample_table(dynamodb_client, "reread", 240, 0.25, seed=11)
    done = cli(*reindex_args(url, table, tmp_path), *IN_PROCESS)
    assert done.returncode == 0, done.stderr[-2000:]
    letters = dead_letters(tmp_path / "dead")
    untitled = sorted(_ids(dl for dl in letters if dl["item"].get("title") == {"NULL": True}))
    other = sorted(_ids(letters) - set(untitled))
    assert len(untitled) >= 4 and len(other) >= 2
    # A plain replay indexes the items as the letters hold them.
    plain = cli(*replay_args(tmp_path / "dead", tmp_path, model=FIXED), *IN_PROCESS)
    assert plain.returncode == 0, plain.stderr[-2000:]
    # Then the table changes: an untitled item gets a title, another is deleted,
    # an item the fixed model still refuses is deleted, another is repaired.
    changed, deleted = untitled[0], untitled[1]
    item = next(dl["item"] for dl in letters if dl["key"]["id"]["S"] == changed)
    dynamodb_client.put_item(TableName=table, Item=dict(item, title={"S": "Titled since"}))
    repaired = other[0]
    for key in (deleted, other[1]):
        dynamodb_client.delete_item(TableName=table, Key={"id": {"S": key}})
    stale = index_rows(tmp_path / "index.db")
    assert json.loads(stale[changed])["title"] is None and deleted in stale

    body = json.loads(next(body for key, body in stale.items() if key not in _ids(letters)))
    record = Work.from_dict(dict(body, id=repaired, title="Repaired in the table"))
    dynamodb_client.put_item(TableName=table, Item=work_to_item(record))

    reread = _reread(url, tmp_path, "still", *runner)
    assert reread.returncode == 0, reread.stderr[-3000:]

    # The index is what a rebuild with the fixed model leaves.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    rebuild = cli(*reindex_args(url, table, fresh), "--model", FIXED, *IN_PROCESS)
    assert rebuild.returncode == 0, rebuild.stderr[-2000:]
    assert index_rows(tmp_path / "index.db") == index_rows(fresh / "index.db")
    assert json.loads(index_rows(tmp_path / "index.db")[changed])["title"] == "Titled since"
    assert deleted not in index_rows(tmp_path / "index.db")
    assert repaired in index_rows(tmp_path / "index.db")
    still = dead_letters(tmp_path / "still")
    assert _ids(still) == _ids(dead_letters(fresh / "dead"))
    assert {dl["stage"] for dl in still} == {"decode"}
    out = reread.stdout
    keys = len(_ids(letters))
    assert f"re-read of {keys:,} key(s) from table {table!r}" in out
    assert f"({keys - 2:,} present, 2 gone)" in out
    assert "deleted                 2  (1 were in the index" in out, out
    assert "check: keys" in out and "MISMATCH" not in out


def _decode_letter(table: str, key: dict) -> dict:
    return dead_letter(
        "decode", error_type="MissingField", error="x", table=table, item=key, key=key
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--table", "works"], "error: --table goes with --reread"),
        (
            ["--endpoint-url", "http://127.0.0.1:1", "--region", "us-east-1"],
            "error: --endpoint-url, --region go with --reread",
        ),
        (
            ["--reread", "--key-attributes", "id", "--region", "us-east-1"],
            "error: --key-attributes does not go with --reread",
        ),
        (
            ["--reread", "--endpoint-url", "127.0.0.1:8000", "--region", "us-east-1"],
            "error: --endpoint-url 127.0.0.1:8000 has no scheme",
        ),
    ],
)
def test_options_of_the_table_need_reread(tmp_path, extra, message):
    folder = dead_letter_folder(tmp_path, [_decode_letter("works", {"id": {"S": "w1"}})])
    done = cli(*replay_args(folder, tmp_path, model=FIXED), *extra, *IN_PROCESS)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(message), done.stderr


def test_reread_refuses_letters_of_another_key(dynamodb_server, dynamodb_client, tmp_path):
    table = unique_name("reread-key")
    dynamodb_client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    folder = dead_letter_folder(tmp_path, [_decode_letter(table, {"isbn": {"S": "978"}})])
    done = _reread(dynamodb_server.endpoint_url, tmp_path, "still", *IN_PROCESS)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "differs from the keys the dead letters carry (isbn)" in done.stderr, done.stderr
    assert folder.exists() and not (tmp_path / "index.db").exists()


def test_reread_without_keys_says_to_reindex(dynamodb_server, dynamodb_client, tmp_path):
    table, _, _ = sample_table(dynamodb_client, "reread-none", 5, 0.0, seed=3)
    unread = dead_letter(
        "scan", error_type="SegmentReadFailed", error="throttled", table=table, segment=0
    )
    dead_letter_folder(tmp_path, [unread])
    done = _reread(dynamodb_server.endpoint_url, tmp_path, "still", *IN_PROCESS)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "names an item by its key" in done.stderr and "reindex the table" in done.stderr


def test_letters_without_a_key_are_kept(dynamodb_server, dynamodb_client, tmp_path):
    table, good, _ = sample_table(dynamodb_client, "reread-kept", 5, 0.0, seed=3)
    unread = dead_letter(
        "scan", error_type="SegmentReadFailed", error="throttled", table=table, segment=0
    )
    present = sorted(good)[0]
    letters = [_decode_letter(table, {"id": {"S": present}}), unread]
    dead_letter_folder(tmp_path, letters)
    done = _reread(dynamodb_server.endpoint_url, tmp_path, "still", *IN_PROCESS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kept                    1  (dead letters without a key to re-read)" in done.stdout
    assert index_rows(tmp_path / "index.db") == {present: good[present]}
    (kept,) = dead_letters(tmp_path / "still")
    assert kept == unread
