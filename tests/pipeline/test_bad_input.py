"""The bad-input catalogue: every kind gets a dead letter or one clear error line.

Items that do not fit the model become dead letters naming the field and the
reason, and the rest of the table is still indexed; items that are unusual but
valid (400 KB, deep maps, big numbers, emoji keys, odd attribute names) are
indexed exactly. Bad environments and options (missing table, wrong region,
refused or missing credentials, unreachable endpoint, invalid segments, an
unwritable dead-letter folder, a corrupt dead-letter file...) stop the command
before anything is read, with one line naming what to fix.
"""

import copy
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.local.dynamodb_server import free_port
from pipeline.local.sample_data import generate_items, item_size, seed_table, work_to_item
from tests.catalogue_models import OddlyNamed
from tests.fault_proxy import FaultProxy
from tests.reindex_runs import (
    ROOT,
    cli,
    dead_letters,
    index_rows,
    last_error_line,
    reindex_args,
    replay_args,
)
from tests.runners import IN_PROCESS
from tests.stream_tables import catch_up_args
from tests.tables import create_table, seeded_table, unique_name
from transforms import ReadFromDynamoDB
from transforms.dead_letters import dead_letter, dumps_dead_letter
from transforms.dynamodb.scan.errors import InvalidScanRequest
from transforms.index import Document, open_backend
from transforms.index.identity import IndexIdentity
from transforms.index.upsert import prepare_upsert

DEEP_LEVELS = 32
ITEM_BYTES = 403_000


def _deep_map(levels: int) -> dict:
    value = {"S": "bottom"}
    for level in range(levels):
        value = {"M": {f"level{level}": value}}
    return value


def _works(count: int):
    return [s.record for s in generate_items(count, malformed_fraction=0.0, seed=41)]


def _good_items():
    """``{id: (item, expected body)}`` of unusual but valid items."""
    works = _works(6)
    big, unicode, empty, numbers, odd, deep = works

    big.id = "ok-400kb"
    big.notes = []
    item = work_to_item(big)
    filler = "Grand livre de comptes, folio " * 5000
    big.notes = [filler[: (ITEM_BYTES - item_size(item)) // 3 - 3] for _ in range(3)]

    unicode.id = "ok-Ærø-東京-🚀"
    unicode.title = "Ærøskøbing — 東京 🚀 «Ünïcödé» 👩‍👩‍👧"
    unicode.subjects = ["עברית", "العربية", "e\u0301", 'tab\tnew\nline "quoted" \\']

    empty.id = "ok-empty-collections"
    empty.subtitle = ""
    empty.languages, empty.subjects, empty.notes = set(), [], []

    numbers.id = "ok-big-numbers"
    numbers.price = Decimal("12345678901234567890.123456789012345678")
    numbers.page_count = 10**125

    odd.id = "ok-odd-attribute-names"
    deep.id = "ok-deep-map"

    items = {work.id: (work_to_item(work), work.to_json()) for work in works}
    items["ok-odd-attribute-names"][0].update(
        {
            "a.b": {"S": "dotted"},
            "x-y": {"N": "1"},
            "name": {"S": "reserved word"},
            "size": {"N": "3"},
            "status": {"BOOL": True},
            "#hash": {"S": "h"},
            ":colon": {"S": "c"},
            "Ключ 🔑": {"S": "emoji name"},
        }
    )
    items["ok-deep-map"][0]["extra"] = _deep_map(DEEP_LEVELS - 1)
    return items


def _bad_items():
    """``{id: (item, error_type, field)}`` of items that do not fit ``Work``."""
    works = _works(12)
    made = {}

    def bad(index, key, error_type, field, change):
        item = work_to_item(works[index])
        item["id"] = {"S": key}
        change(item)
        made[key] = (item, error_type, field)

    bad(0, "bad-wrong-type", "TypeMismatch", "title", lambda i: i.update(title={"N": "42"}))
    bad(1, "bad-missing-required", "MissingField", "modifiedAt", lambda i: i.pop("modifiedAt"))
    bad(2, "bad-null", "NullNotAllowed", "title", lambda i: i.update(title={"NULL": True}))
    bad(
        3,
        "bad-not-integer",
        "InvalidNumber",
        "pageCount",
        lambda i: i.update(pageCount={"N": "3.5"}),
    )
    bad(
        4,
        "bad-invalid-date",
        "DecoderFailed",
        "modifiedAt",
        lambda i: i.update(modifiedAt={"S": "2021-13-45T00:00:00Z"}),
    )
    bad(
        5,
        "bad-date-without-zone",
        "DecoderFailed",
        "modifiedAt",
        lambda i: i.update(modifiedAt={"S": "2021-03-04T12:00:00"}),
    )
    bad(6, "bad-enum", "InvalidEnum", "workType", lambda i: i.update(workType={"S": "novel"}))
    bad(
        7,
        "bad-binary-for-string",
        "TypeMismatch",
        "title",
        lambda i: i.update(title={"B": b"\x00\xff"}),
    )
    bad(
        8,
        "bad-bool-as-number",
        "TypeMismatch",
        "available",
        lambda i: i.update(available={"N": "1"}),
    )

    def second_contributor_born_in_letters(item):
        ok = {"M": {"agent": {"M": {"label": {"S": "Ok"}}}}}
        wrong = {"M": {"agent": {"M": {"label": {"S": "X"}, "bornYear": {"S": "abc"}}}}}
        item["contributors"] = {"L": [ok, wrong]}

    def title_missing_and_deep_map(item):
        del item["title"]
        item["extra"] = _deep_map(DEEP_LEVELS - 1)

    bad(
        9,
        "bad-nested",
        "TypeMismatch",
        "contributors[1].agent.bornYear",
        second_contributor_born_in_letters,
    )
    bad(10, "bad-deep-🚀-ключ", "MissingField", "title", title_missing_and_deep_map)
    return made


@pytest.fixture(scope="module")
def catalogue_run(dynamodb_client, dynamodb_server, tmp_path_factory):
    good, bad = _good_items(), _bad_items()
    table = unique_name("catalogue")
    create_table(dynamodb_client, table)
    items = [item for item, _ in good.values()] + [entry[0] for entry in bad.values()]
    assert seed_table(dynamodb_client, table, copy.deepcopy(items)) == len(items)
    tmp_path = tmp_path_factory.mktemp("catalogue")
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        "--total-segments=3",
        *IN_PROCESS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    letters = {dl["key"]["id"]["S"]: dl for dl in dead_letters(tmp_path / "dead")}
    assert len(letters) == len(dead_letters(tmp_path / "dead")), "a dead letter came twice"
    return good, bad, index_rows(tmp_path / "index.db"), letters, table, tmp_path


def test_catalogue_run_accounts_for_every_item(catalogue_run):
    good, bad, rows, letters, _, _ = catalogue_run
    assert rows == {key: body for key, (_, body) in good.items()}
    assert set(letters) == set(bad)


@pytest.mark.parametrize("key", sorted(_bad_items()))
def test_item_that_does_not_fit_is_a_dead_letter(catalogue_run, key):
    _, bad, _, letters, table, _ = catalogue_run
    item, error_type, field = bad[key]
    letter = letters[key]
    assert (letter["error_type"], letter["field"]) == (error_type, field)
    assert letter["error"] and letter["stage"] == "decode" and letter["table"] == table
    assert letter["key"] == {"id": {"S": key}}
    assert letter["item"] == item  # the raw item, exactly as read


@pytest.mark.parametrize("key", sorted(_good_items()))
def test_unusual_but_valid_item_is_indexed_exactly(catalogue_run, key):
    good, _, rows, _, _, _ = catalogue_run
    assert rows[key] == good[key][1]


def test_400kb_item_is_near_the_limit(catalogue_run):
    good, _, _, _, _, _ = catalogue_run
    assert ITEM_BYTES - 1000 < item_size(good["ok-400kb"][0]) <= ITEM_BYTES


def test_unicode_values_are_searchable(catalogue_run):
    _, _, _, _, _, tmp_path = catalogue_run
    done = cli("search", "--index", f"sqlite:///{tmp_path}/index.db", "東京")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\t")[0] == "ok-Ærø-東京-🚀"


def test_awkward_attribute_names_in_the_model(dynamodb_client, dynamodb_server, tmp_path):
    """Fields stored as ``first.name``, ``ratio %``, ``size``, ``status``; hash key ``item-id``."""
    items = [
        {"item-id": {"S": "n1"}, "first.name": {"S": "Ada"}, "size": {"N": "3"}},
        {
            "item-id": {"S": "n-2"},
            "first.name": {"S": "Bo"},
            "status": {"S": "x"},
            "name": {"S": "y"},
        },
        {"item-id": {"S": "n3"}, "first.name": {"N": "7"}, "ratio %": {"N": "0.5"}},
    ]
    table = seeded_table(dynamodb_client, "odd-names", items, hash_key=("item-id", "S"))
    done = cli(
        *reindex_args(
            dynamodb_server.endpoint_url, table, tmp_path, model="tests.catalogue_models:OddlyNamed"
        ),
        *IN_PROCESS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {
        "n1": OddlyNamed("n1", "Ada", size=3).to_json(),
        "n-2": OddlyNamed("n-2", "Bo", name="y", status="x").to_json(),
    }
    assert index_rows(tmp_path / "index.db") == expected
    (letter,) = dead_letters(tmp_path / "dead")
    assert (letter["key"], letter["field"], letter["error_type"]) == (
        {"item-id": {"S": "n3"}},
        "first.name",
        "TypeMismatch",
    )


def test_items_dynamodb_cannot_hold_replayed_from_hand_made_dead_letters(tmp_path):
    """Empty sets and numbers beyond DynamoDB's range only reach us in edited dead letters."""
    base = _works(3)
    empty_set = work_to_item(base[0]) | {"id": {"S": "r-empty-set"}, "languages": {"SS": []}}
    huge = work_to_item(base[1]) | {"id": {"S": "r-1e400"}, "price": {"N": "1e400"}}
    nan = work_to_item(base[2]) | {"id": {"S": "r-nan"}, "price": {"N": "NaN"}}
    folder = tmp_path / "edited"
    folder.mkdir()
    lines = [
        dumps_dead_letter(
            dead_letter(
                "decode", error_type="Edited", error="by hand", item=item, key={"id": item["id"]}
            )
        )
        for item in (empty_set, huge, nan)
    ]
    (folder / "dead-letters-00000-of-00001.jsonl").write_text("\n".join(lines) + "\n")
    done = cli(
        *replay_args(folder, tmp_path), "--still-failing", str(tmp_path / "still"), *IN_PROCESS
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = index_rows(tmp_path / "index.db")
    assert sorted(rows) == ["r-1e400", "r-empty-set"]
    assert json.loads(rows["r-empty-set"])["languages"] == []
    assert json.loads(rows["r-1e400"])["price"] == "1E+400"
    (still,) = dead_letters(tmp_path / "still")
    assert (still["item"]["id"], still["error_type"], still["field"]) == (
        {"S": "r-nan"},
        "InvalidNumber",
        "price",
    )


def _letters_of_table(folder, table: str) -> None:
    """One replayable decode dead letter of ``table``, and one that carries neither
    the item nor the document (an index-stage ``EncodeError``)."""
    item = work_to_item(_works(1)[0]) | {"id": {"S": "r-1"}}
    key = {"id": {"S": "r-1"}}
    letters = [
        dead_letter("decode", error_type="Edited", error="e", item=item, key=key, table=table),
        dead_letter(
            "index", error_type="EncodeError", error="e", key={"id": {"S": "r-2"}}, table=table
        ),
    ]
    folder.mkdir()
    text = "".join(dumps_dead_letter(letter) + "\n" for letter in letters)
    (folder / "dead-letters-00000-of-00001.jsonl").write_text(text)


def test_replay_into_another_tables_index_is_refused_unless_forced(tmp_path):
    prepare_upsert(
        f"sqlite:///{tmp_path}/index.db", IndexIdentity("other", ("id",), "pipeline.models:Work")
    )
    _letters_of_table(tmp_path / "dead", "works-a")
    args = [*replay_args(tmp_path / "dead", tmp_path), "--still-failing", str(tmp_path / "still")]
    refused = cli(*args, *IN_PROCESS)
    assert one_line_error(refused, 3) == (
        f"error: the index sqlite:///{tmp_path}/index.db holds table 'other', not table "
        "'works-a': check --index and --dead-letters, or pass --force to write into it"
    )
    assert index_rows(tmp_path / "index.db") == {}
    forced = cli(*args, "--force", *IN_PROCESS)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert sorted(index_rows(tmp_path / "index.db")) == ["r-1"]
    assert (
        "1 dead letter(s) carry neither the item nor the document (the record could not be "
        "written, e.g. EncodeError): they stay failing; after fixing the model, reindex the "
        "table (or reindex --upsert) to index them"
    ) in forced.stderr
    (still,) = dead_letters(tmp_path / "still")
    assert still["key"] == {"id": {"S": "r-2"}}

    fresh = cli(*replay_args(tmp_path / "dead", tmp_path / "fresh"), *IN_PROCESS)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    with open_backend(f"sqlite:///{tmp_path}/fresh/index.db") as index:
        assert index.metadata()["table"] == "works-a"  # a later reindex of another is refused


# --- environment and options: one clear line, nothing read -------------------


@pytest.fixture(scope="module")
def small_table(dynamodb_client):
    return seeded_table(dynamodb_client, "small", [work_to_item(work) for work in _works(3)])


def one_line_error(done, code):
    assert done.returncode == code, done.stderr[-3000:]
    return last_error_line(done.stderr)


def test_missing_table(dynamodb_server, tmp_path):
    done = cli(*reindex_args(dynamodb_server.endpoint_url, "no-such-table", tmp_path), *IN_PROCESS)
    assert one_line_error(done, 3) == (
        f"error: table 'no-such-table' was not found at endpoint "
        f"{dynamodb_server.endpoint_url}: check --table and --region"
    )


def test_wrong_region(dynamodb_server, small_table, tmp_path):
    args = reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path)
    args[args.index("us-east-1")] = "eu-west-3"
    done = cli(*args, *IN_PROCESS)
    assert one_line_error(done, 3).endswith(
        f"table '{small_table}' was not found at endpoint {dynamodb_server.endpoint_url}: "
        "check --table and --region"
    )


def test_missing_secondary_index(dynamodb_server, small_table):
    with pytest.raises(InvalidScanRequest, match="does not have the specified index: nope"):
        with beam.Pipeline(options=PipelineOptions(list(IN_PROCESS))) as p:
            _ = p | ReadFromDynamoDB(
                small_table,
                total_segments=2,
                index_name="nope",
                endpoint_url=dynamodb_server.endpoint_url,
                region_name="us-east-1",
            )


def test_search_in_a_missing_index(tmp_path):
    done = cli("search", "--index", f"sqlite:///{tmp_path}/typo.db", "word")
    assert one_line_error(done, 3) == (
        f"error: there is no index file {tmp_path}/typo.db: check --index"
    )
    assert list(tmp_path.iterdir()) == []  # a mistyped path creates nothing


def test_search_in_an_empty_index(tmp_path):
    with open_backend(f"sqlite:///{tmp_path}/empty.db"):
        pass
    done = cli("search", "--index", f"sqlite:///{tmp_path}/empty.db", "word")
    assert one_line_error(done, 3) == (
        f"error: the index sqlite:///{tmp_path}/empty.db holds no documents: check --index"
    )


@pytest.mark.parametrize("query", ["", "  ", "--", "* ?"])
def test_a_search_with_no_word_is_a_usage_error(tmp_path, query):
    """Not "0 hits" (exit 0): a query without a letter or digit can match nothing."""
    with open_backend(f"sqlite:///{tmp_path}/index.db") as index:
        index.write_batch([Document("w1", '{"title": "word"}')])
    done = cli("search", "--index", f"sqlite:///{tmp_path}/index.db", "--", query)
    assert one_line_error(done, 2) == (
        f"error: the query {query!r} has no word to search for (a word holds a letter or a digit)"
    )


def test_table_key_the_model_does_not_hold(dynamodb_client, dynamodb_server, tmp_path):
    """A missing key attribute: the table's hash key ``pk`` is no field of ``Work``."""
    item = work_to_item(_works(1)[0]) | {"pk": {"S": "p1"}}
    table = seeded_table(dynamodb_client, "other-key", [item], hash_key=("pk", "S"))
    done = cli(*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), *IN_PROCESS)
    assert one_line_error(done, 2) == (
        "error: model Work has no field for the key attribute(s) pk; "
        "add them so documents get stable ids"
    )


def test_unreachable_endpoint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(*reindex_args(url, "works", tmp_path), *IN_PROCESS)
    assert one_line_error(done, 3).startswith(f"error: cannot reach endpoint {url}: check")


def test_endpoint_that_resets_every_connection(dynamodb_server, small_table, tmp_path):
    with FaultProxy(
        dynamodb_server.endpoint_url, {"reset": 1.0}, operations=None, max_faults=20
    ) as proxy:
        done = cli(*reindex_args(proxy.url, small_table, tmp_path), *IN_PROCESS)
    assert one_line_error(done, 3).startswith(f"error: cannot reach endpoint {proxy.url}: check")


@pytest.mark.parametrize(
    "fault, expected",
    [
        (
            "expired_token",
            "error: the credentials were refused (ExpiredTokenException): check AWS_PROFILE or "
            "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN in use",
        ),
        ("denied", "error: access denied to table '{table}': the credentials need "),
    ],
)
def test_refused_credentials(dynamodb_server, small_table, tmp_path, fault, expected):
    with FaultProxy(
        dynamodb_server.endpoint_url, {fault: 1.0}, operations=("DescribeTable",), max_faults=5
    ) as proxy:
        done = cli(*reindex_args(proxy.url, small_table, tmp_path), *IN_PROCESS)
    assert one_line_error(done, 3).startswith(expected.format(table=small_table))


def test_missing_credentials(dynamodb_server, small_table, tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") or name == "AWS_DEFAULT_REGION"
    }
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path), *IN_PROCESS, env=env
    )
    assert one_line_error(done, 3).startswith("error: no AWS credentials found: set AWS_PROFILE")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--total-segments=0"], "argument --total-segments: must be from 1 to 1,000,000, got 0"),
        (["--total-segments=1000001"], "--total-segments: must be from 1 to 1,000,000, got 1,"),
        (["--total-segments=4", "--segments=4"], "segment 4 is outside 0..3 (total_segments=4)"),
        (["--total-segments=4", "--segments=1,1"], "segments lists a segment twice: [1, 1]"),
        (["--segments=a,b"], "expected comma-separated segment numbers, got 'a,b'"),
        (["--page-size=0"], "argument --page-size: must be from 1 to 1,000,000, got 0"),
        (["--table="], "argument --table: must not be empty"),
        (["--region= "], "argument --region: must not be empty"),
        (["--endpoint-url=http://127.0.0.1:99999"], "argument --endpoint-url: has a bad port"),
        (["--dead-letters= "], "argument --dead-letters: must not be empty"),
        (["--catch-up", "--bookmark="], "argument --bookmark: must not be empty"),
    ],
)
def test_invalid_segment_options(dynamodb_server, small_table, tmp_path, options, message):
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path), *options, *IN_PROCESS
    )
    line = one_line_error(done, 2)
    assert message in line
    assert not (tmp_path / "index.db").exists() or not index_rows(tmp_path / "index.db")


def test_unwritable_dead_letter_path(dynamodb_server, small_table, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    args = reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path)
    args[args.index("--dead-letters") + 1] = str(tmp_path / "a-file" / "dead")
    done = cli(*args, *IN_PROCESS)
    assert one_line_error(done, 3).startswith(
        f"error: cannot create the dead-letter folder '{tmp_path}/a-file/dead'"
    )


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (
            ["--journal", "{tmp}/a-file"],
            3,
            "error: cannot create the journal folder '{tmp}/a-file': ",
        ),
        (
            ["--catch-up", "--bookmark", "{tmp}/a-file/bookmark.json"],
            3,
            "error: cannot create the bookmark's folder '{tmp}/a-file': ",
        ),
        (
            ["--catch-up", "--bookmark", "{tmp}"],
            2,
            "error: --bookmark '{tmp}' is a folder: give the bookmark's file, e.g. "
            "{tmp}/bookmark.json",
        ),
        (
            ["--catch-up", "--bookmark", "{tmp}/a-file"],
            2,
            "error: --bookmark {tmp}/a-file is a file that is not a bookmark (",
        ),
        (
            ["--catch-up", "--bookmark", "{tmp}/settings.json"],
            2,
            "error: --bookmark {tmp}/settings.json is a file that is not a bookmark (",
        ),
    ],
    ids=[
        "journal_is_a_file",
        "bookmark_under_a_file",
        "bookmark_is_a_folder",
        "bookmark_is_another_file",
        "bookmark_is_other_json",
    ],
)
def test_unwritable_journal_or_bookmark_is_said_before_anything_is_read(
    dynamodb_server, small_table, tmp_path, extra, code, message
):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "settings.json").write_text('{"colour": "blue"}')
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path), *extra, *IN_PROCESS
    )
    line = one_line_error(done, code)
    assert line.startswith(message.format(tmp=tmp_path)), line
    assert not (tmp_path / "index.db").exists()
    assert (tmp_path / "a-file").read_text() == "not a folder"  # nothing overwritten
    assert (tmp_path / "settings.json").read_text() == '{"colour": "blue"}'


def test_catch_up_with_an_unwritable_bookmark_reads_nothing(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    args = catch_up_args("http://127.0.0.1:9", "works", tmp_path)
    args[args.index("--bookmark") + 1] = str(tmp_path / "a-file" / "bookmark.json")
    line = one_line_error(cli(*args, *IN_PROCESS), 3)
    assert line.startswith(f"error: cannot create the bookmark's folder '{tmp_path}/a-file': ")
    assert line.endswith("check --bookmark")


def test_index_file_that_is_not_an_index(dynamodb_server, small_table, tmp_path):
    (tmp_path / "index.db").write_bytes(b"this is not SQLite" * 100)
    done = cli(*reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path), *IN_PROCESS)
    assert one_line_error(done, 3).startswith(
        f"error: cannot open the index 'sqlite:///{tmp_path}/index.db'"
    )


def test_model_that_cannot_be_imported(dynamodb_server, small_table, tmp_path):
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path, model="no_such:Model"),
        *IN_PROCESS,
    )
    assert one_line_error(done, 2).startswith(
        "error: cannot import the model's module 'no_such': No module named 'no_such'"
    )


_WHOLE_TABLE = "; add --upsert to write into the live index in place"


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ("--segments", "0,1", *IN_PROCESS),
            "a rebuild (the default) needs the whole table: --segments reads only some "
            "segments, so the new index would miss the others" + _WHOLE_TABLE,
        ),
        (
            ("--resume-from", "earlier", *IN_PROCESS),
            "a rebuild (the default) cannot be combined with --resume-from: a resumed run "
            "reads only the segments left unread, so the new index would miss everything "
            "else" + _WHOLE_TABLE,
        ),
        (
            ("--swap-alias", "live", *IN_PROCESS),
            "the live table of a SQLite index is always 'documents'; got alias 'live'",
        ),
        (
            ("--upsert", "--index-config", "SETTINGS", *IN_PROCESS),
            "--index-config applies to Elasticsearch and OpenSearch indexes; a SQLite index "
            "has a fixed schema",
        ),
        (
            ("--key-attributes", "id,title", *IN_PROCESS),
            "--key-attributes goes with --from-export: a scan takes the table's key from "
            "DescribeTable",
        ),
        (
            ("--resume", "--runner=DaskRunner"),
            "--resume needs a runner that finalizes bundles; this one does not, so no journal "
            "is kept: run the command again without --resume",
        ),
    ],
    ids=[
        "segments",
        "resume_from",
        "sqlite_alias",
        "sqlite_config",
        "key_attributes",
        "resume_on_dask",
    ],
)
def test_options_that_cannot_go_together_are_usage_errors(
    dynamodb_server, small_table, tmp_path, options, message
):
    """Exit 2, as for any usage error, with one line; no index is created."""
    settings = tmp_path / "settings.json"
    settings.write_text("{}")  # even an empty one
    options = [str(settings) if option == "SETTINGS" else option for option in options]
    done = cli(*reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path), *options)
    assert one_line_error(done, 2) == f"error: {message}"
    assert not (tmp_path / "index.db").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        (
            "tests.unusable_models:WithCallable",
            "error: WithCallable.hook: cannot decode type Callable[[int], int]; give the "
            "field a decoder with dataclasses_json.config(decoder=...)",
        ),
        (
            "tests.unusable_models:IntKeyed",
            "error: field IntKeyed.id is int, which cannot hold the table's key attribute id "
            "(S, a string): every item would fail to decode; change the field's type or give "
            "it a decoder",
        ),
        (
            "tests.unusable_models:Dated",
            "error: to_json() cannot write the values of Dated.day (a date), "
            "Prices.by_amount (map keys of type Decimal: JSON keys are strings), so no "
            "record holding one could be indexed: give each such field an encoder, "
            "field(metadata=dataclasses_json.config(encoder=...))",
        ),
        (
            "tests.unusable_models:ManyUnusable",
            "error: ManyUnusable.hook: cannot decode type Callable[[], None]; give the field a "
            "decoder with dataclasses_json.config(decoder=...); ManyUnusable.other: cannot "
            "decode type Callable[[int], None]; give the field a decoder with "
            "dataclasses_json.config(decoder=...); to_json() cannot write the values of "
            "ManyUnusable.day (a date), Prices.by_amount (map keys of type Decimal: JSON keys "
            "are strings), so no record holding one could be indexed: give each such field an "
            "encoder, field(metadata=dataclasses_json.config(encoder=...))",
        ),
    ],
    ids=["undecodable", "key_type", "unwritable", "every_field_named"],
)
def test_model_that_cannot_be_used_is_refused_before_anything_is_created(
    dynamodb_server, small_table, tmp_path, model, message
):
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path, model=model),
        *IN_PROCESS,
    )
    assert one_line_error(done, 2) == message
    assert list(tmp_path.iterdir()) == []  # no index, no dead-letter folder, no journal


@pytest.mark.parametrize(
    "source, error",
    [
        ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
        ("print(undefined_name)\n", "NameError: name 'undefined_name' is not defined"),
    ],
    ids=["raises", "name_error"],
)
def test_model_module_that_fails_at_import_is_named(
    dynamodb_server, small_table, tmp_path, source, error
):
    (tmp_path / "broken_models.py").write_text(source)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    model = "broken_models:M"
    args = reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path, model=model)
    done = cli(*args, *IN_PROCESS, env=env)
    assert one_line_error(done, 2) == (
        f"error: importing the model's module 'broken_models' failed: {error}"
    )


def test_corrupt_dead_letter_file_given_to_replay(tmp_path):
    folder = tmp_path / "dead"
    folder.mkdir()
    good = dead_letter("decode", error_type="X", error="e", item={"id": {"S": "w1"}})
    path = folder / "dead-letters-00000-of-00001.jsonl"
    path.write_text(dumps_dead_letter(good) + "\n" + '{"stage": "decode", "item": \n')
    done = cli(*replay_args(folder, tmp_path), *IN_PROCESS)
    assert one_line_error(done, 2).startswith(f"error: {path}:2: corrupt dead letter: not JSON")
    assert not (tmp_path / "index.db").exists() or not index_rows(tmp_path / "index.db")


@pytest.mark.slow
def test_an_endpoint_that_never_answers_is_reported_within_a_minute(silent_endpoint, tmp_path):
    """DescribeTable, before the run: 3 attempts of 10 s, once; nothing created."""
    started = time.monotonic()
    done = cli(*reindex_args(silent_endpoint, "works", tmp_path), timeout=120)
    line = one_line_error(done, 3)
    assert line.startswith(f"error: cannot reach endpoint {silent_endpoint}"), line
    assert time.monotonic() - started < 60
    assert not (tmp_path / "index.db").exists()


def test_an_index_file_that_is_also_the_dead_letters_is_refused(tmp_path):
    same = tmp_path / "out.jsonl"
    args = reindex_args("http://127.0.0.1:9", "works", tmp_path)
    args[args.index("--index") + 1] = f"sqlite:///{same}"
    args[args.index("--dead-letters") + 1] = str(same)
    line = one_line_error(cli(*args), 2)
    assert line == (
        f"error: --dead-letters {same} is the index file: give the dead letters a "
        "folder (or .jsonl file) of their own"
    )
    assert not same.exists()


@pytest.mark.parametrize("spelling", ["{dead}", "{dead}/", "./dead"])
def test_replay_refuses_to_write_what_fails_again_over_the_letters_it_reads(
    tmp_path, monkeypatch, spelling
):
    dead = tmp_path / "dead"
    dead.mkdir()
    letters = dead / "dead-letters-00000-of-00001.jsonl"
    letters.write_text('{"stage": "decode"}\n')
    monkeypatch.chdir(tmp_path)
    still_failing = spelling.format(dead=dead)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            *replay_args(dead, tmp_path),
            "--still-failing",
            still_failing,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = one_line_error(done, 2)
    assert line.startswith(f"error: --still-failing {dead} is --dead-letters"), line
    assert letters.read_text() == '{"stage": "decode"}\n'


def test_catch_up_refuses_a_version_field_the_embedded_index_cannot_keep(tmp_path):
    args = catch_up_args("http://127.0.0.1:9", "works", tmp_path)
    line = one_line_error(cli(*args, "--version-field", "modifiedAt", *IN_PROCESS), 2)
    assert line == (
        "error: --version-field needs an index with external versions (elasticsearch, "
        "opensearch); sqlite has none"
    )


def test_an_endpoint_that_is_not_dynamodb_is_said_to_be_one_to_check(tmp_path):
    """A web server answers DescribeTable with an HTML page: the line says so."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        done = cli(*reindex_args(endpoint, "works", tmp_path), timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    line = one_line_error(done, 3)
    assert line.startswith(f"error: endpoint {endpoint} answered HTTP 501 without a DynamoDB"), line
    assert line.endswith("is it a DynamoDB endpoint? check --endpoint-url and --region")
    assert not (tmp_path / "index.db").exists()
