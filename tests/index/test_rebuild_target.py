"""The rebuild target without a pipeline: identity, reopening a build, verification, settings.

SQLite for real; Elasticsearch on noida-db and OpenSearch on osmem-server.
The runs' summaries are made by hand, so each verification check is tried
on its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.summary import ReindexSummary
from tests.index_contents import SERVERS
from tests.index_servers import elasticsearch_url, opensearch_url, unique_index  # noqa: F401
from transforms.dynamodb.source import Check, SourceReport
from transforms.index import Document, open_backend
from transforms.index.alias import rollback
from transforms.index.identity import IndexIdentity, read_identity, table_conflict
from transforms.index.index_config import carried_over, load_index_config
from transforms.index.rebuild import prepare_rebuild
from transforms.index.sample import compare_sample, sample_rank

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
WORKS = IndexIdentity("works", ("id",), "pipeline.models:Work", "arn:aws:dynamodb:x:1:table/works")
OTHER = IndexIdentity("other", ("pk",), "m:Other", "arn:aws:dynamodb:x:1:table/other")


def _docs(count: int, word: str = "w") -> list[Document]:
    return [
        Document(f"d{n}", json.dumps({"id": f"d{n}", "title": f"{word} {n}"})) for n in range(count)
    ]


def _write(uri: str, documents: list[Document]) -> None:
    with open_backend(uri) as index:
        assert index.write_batch(documents) == []


def _summary(indexed: int, *, read: int | None = None, checks=(), index_letters: int = 0):
    read = indexed + index_letters if read is None else read
    source = SourceReport("t", "scanned", read, read, 0, checks=list(checks))
    return ReindexSummary(
        source=source,
        table="works",
        index="x",
        dead_letters_path="unused",
        decoded=read,
        dead_lettered=index_letters,
        dead_lettered_by_stage={"index": index_letters} if index_letters else {},
        indexed=indexed,
        deleted=0,
        deleted_existing=0,
        index_count=indexed,
        elapsed_seconds=1.0,
    )


def _verify(rebuild, summary: ReindexSummary, limit: float | None = None):
    return rebuild.verify(indexed=summary.indexed, run_checks=summary.rebuild_checks(limit))


def _sample_file(path, documents: list[Document]) -> None:
    path.write_text("".join(json.dumps([d.id, d.body]) + "\n" for d in documents))


@pytest.fixture(params=["sqlite", *sorted(SERVERS)])
def live_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/index.db"
    scheme, fixture = SERVERS[request.param]
    url = request.getfixturevalue(fixture)
    return f"{scheme}://{url.split('://', 1)[1]}/{unique_index('target')}"


# -- identity --------------------------------------------------------------------------------


def test_identity_compares_arns_when_both_are_known_else_names():
    assert WORKS.same_table(IndexIdentity("works", ("id",), "m:Changed", WORKS.table_arn))
    assert not WORKS.same_table(
        IndexIdentity("works", ("id",), "m:W", "arn:aws:dynamodb:y:2:table/works")
    )
    assert WORKS.same_table(IndexIdentity("works", ("id",), "m:W"))
    assert not WORKS.same_table(IndexIdentity("other", ("id",), "m:W"))
    assert IndexIdentity.from_meta(WORKS.to_meta()) == WORKS
    assert IndexIdentity.from_meta({"hand": "made"}) is None
    assert table_conflict(None, WORKS, "sqlite:///i.db", action="replace it") is None
    assert table_conflict(OTHER, WORKS, "sqlite:///i.db", action="replace it") == (
        "the index sqlite:///i.db holds table 'other' (arn:aws:dynamodb:x:1:table/other), not "
        "table 'works' (arn:aws:dynamodb:x:1:table/works): check --index and --table, or pass "
        "--force to replace it"
    )


def test_writes_in_place_also_refuse_the_same_table_under_other_key_attributes():
    """Its records would get other document ids: every one written twice."""
    by_title = IndexIdentity("works", ("id", "title"), "m:W", WORKS.table_arn)
    assert table_conflict(by_title, WORKS, "sqlite:///i.db", action="replace it") is None
    assert table_conflict(
        by_title, WORKS, "sqlite:///i.db", action="write into it anyway", same_key=True
    ) == (
        "the index sqlite:///i.db holds table 'works' (arn:aws:dynamodb:x:1:table/works) "
        "keyed by id, title, not by id: its records would be written again under other "
        "document ids; check --index and --table and the key attributes, or pass --force "
        "to write into it anyway"
    )
    assert table_conflict(WORKS, WORKS, "sqlite:///i.db", action=None, same_key=True) is None
    assert table_conflict(OTHER, WORKS, "sqlite:///i.db", action=None, check="--index") == (
        "the index sqlite:///i.db holds table 'other' (arn:aws:dynamodb:x:1:table/other), not "
        "table 'works' (arn:aws:dynamodb:x:1:table/works): check --index"
    )


def test_metadata_follows_the_live_name_through_swaps_and_rollback(live_uri):
    first = prepare_rebuild(live_uri, identity=WORKS, now=T0)
    _write(first.build_uri, _docs(3))
    assert first.swap().swapped
    second = prepare_rebuild(live_uri, identity=OTHER, now=T0 + timedelta(hours=1))
    with open_backend(second.build_uri) as build:
        assert read_identity(build) == OTHER
    with open_backend(live_uri) as live:
        assert read_identity(live) == WORKS
    _write(second.build_uri, _docs(2))
    result = second.swap()
    assert result.swapped and result.kept == (first.build_name,)
    with open_backend(live_uri) as live:
        assert read_identity(live) == OTHER and live.count() == 2

    assert rollback(live_uri).restored == first.build_name
    with open_backend(live_uri) as live:
        assert read_identity(live) == WORKS and live.count() == 3


def test_a_build_can_be_reopened_by_name_until_it_is_live(live_uri):
    started = prepare_rebuild(live_uri, identity=WORKS, now=T0)
    _write(started.build_uri, _docs(2))
    again = prepare_rebuild(live_uri, build_name=started.build_name)
    assert again.build_uri == started.build_uri
    _write(again.build_uri, _docs(5)[2:])
    result = again.swap()
    assert result.swapped and result.found == 5
    with open_backend(live_uri) as live:
        assert read_identity(live) == WORKS

    with pytest.raises(ValueError, match="has been live"):
        prepare_rebuild(live_uri, build_name=started.build_name)
    missing = started.build_name[:-2] + "59"
    with pytest.raises(ValueError, match="to go on building"):
        prepare_rebuild(live_uri, build_name=missing)
    with pytest.raises(ValueError, match="is not a build"):
        prepare_rebuild(live_uri, build_name="unrelated")


def test_the_first_sqlite_swap_leaves_nothing_to_roll_back_to(tmp_path):
    uri = f"sqlite:///{tmp_path}/index.db"
    rebuild = prepare_rebuild(uri, identity=WORKS, now=T0)
    _write(rebuild.build_uri, _docs(1))
    result = rebuild.swap()
    assert result.swapped and result.previous == () and result.kept == ()
    with pytest.raises(ValueError, match="no retired index"):
        rollback(uri)


# -- verification ----------------------------------------------------------------------------


def test_verification_passes_and_each_check_can_fail_alone(tmp_path):
    uri = f"sqlite:///{tmp_path}/index.db"
    rebuild = prepare_rebuild(uri, identity=WORKS, sample_folder=str(tmp_path), now=T0)
    docs = _docs(6)
    _write(rebuild.build_uri, docs)

    _sample_file(tmp_path / "sample", docs[:4])
    rebuild.sample_path = str(tmp_path / "sample")
    good = _verify(rebuild, _summary(6), 0.5)
    assert good.holds, good.render()
    assert [line.split(": ", 1)[1] for line in good.render()] == [
        "the run's checks above hold: OK",
        "dead letters 0 of 6 items within --max-dead-letter-fraction 50.0%: OK",
        f"{rebuild.build_name} holds 6 documents == indexed 6: OK",
        "4 of 4 sampled documents equal the records' JSON: OK",
    ]
    assert not (tmp_path / "sample").exists()

    _sample_file(tmp_path / "sample", docs[:4])
    counts = _verify(rebuild, _summary(7))
    assert counts.reason == f"{rebuild.build_name} holds 6 documents == indexed 7"

    _sample_file(tmp_path / "sample", [*docs[:3], Document("d3", '{"id": "d3", "title": "x"}')])
    differs = _verify(rebuild, _summary(6))
    assert differs.reason == ("of 4 sampled documents, 1 differ from the record's JSON (e.g. 'd3')")

    _sample_file(tmp_path / "sample", [*docs[:3], Document("gone", "{}")])
    missing = _verify(rebuild, _summary(6))
    assert missing.reason == "of 4 sampled documents, 1 missing (e.g. 'gone')"

    _sample_file(tmp_path / "sample", docs[:4])
    unread = _verify(
        rebuild, _summary(6, checks=[Check("4 of 5 segment(s) read to their end", False)])
    )
    assert unread.reason == "the run's checks failed: 4 of 5 segment(s) read to their end"

    _sample_file(tmp_path / "sample", docs[:4])
    over = _verify(rebuild, _summary(6, read=8, index_letters=2), 0.1)
    assert over.reason == (
        "2 of 8 items (25.0%) were dead-lettered (decode 0, index 2), more than "
        "--max-dead-letter-fraction 10.0%"
    )

    result = rebuild.not_swapped(over.reason)
    assert not result.swapped and "NOT MOVED" in result.render()
    with open_backend(uri) as live:
        assert live.count() == 0


def test_a_missing_sample_fails_the_verification(tmp_path):
    rebuild = prepare_rebuild(
        f"sqlite:///{tmp_path}/index.db", sample_folder=str(tmp_path / "nowhere"), now=T0
    )
    verification = _verify(rebuild, _summary(0))
    assert not verification.holds
    assert "--temp_location" in verification.reason


def test_sampled_documents_refused_by_the_index_are_accounted_for(tmp_path):
    uri = f"sqlite:///{tmp_path}/index.db"
    _write(uri, _docs(2))
    sample = {"d0": _docs(1)[0].body, "refused": '{"id": "refused"}'}
    with open_backend(uri) as index:
        assert not compare_sample(index, sample).holds
        check = compare_sample(index, sample, ['{"id": "refused"}'])
    assert check.holds and check.refused == 1
    assert check.describe() == (
        "1 of 2 sampled documents equal the records' JSON (1 refused by the index, in the "
        "dead letters)"
    )
    assert sample_rank("a") == sample_rank("a") != sample_rank("b")


# -- settings and mappings -------------------------------------------------------------------


def test_carried_over_drops_what_the_server_assigns():
    reported = {
        "settings": {
            "index": {
                "number_of_shards": "2",
                "uuid": "u",
                "creation_date": "1",
                "provided_name": "works-1",
                "version": {"created": "8"},
                "routing": {
                    "allocation": {"initial_recovery": {"_id": "x"}, "include": {"a": "b"}}
                },
                "blocks": {"write": "true"},
                "analysis": {"analyzer": {"folded": {"type": "custom"}}},
            },
            "index.history.uuid": "h",
        },
        "mappings": {
            "_meta": {"dynamodb_reindex": {"table": "works"}, "owner": "me"},
            "properties": {"title": {"type": "text"}},
        },
    }
    assert carried_over(reported) == {
        "settings": {
            "index": {
                "number_of_shards": "2",
                "routing": {"allocation": {"include": {"a": "b"}}},
                "analysis": {"analyzer": {"folded": {"type": "custom"}}},
            }
        },
        "mappings": {"_meta": {"owner": "me"}, "properties": {"title": {"type": "text"}}},
    }
    assert carried_over({"settings": {"index": {"uuid": "u"}}, "mappings": {}}) == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "is not JSON"),
        ("[]", "must hold a JSON object"),
        ('{"settings": {}, "aliases": {}}', "unknown key(s) aliases"),
        ('{"mappings": []}', "mappings must be a JSON object"),
    ],
)
def test_index_config_file_errors_are_one_line(tmp_path, text, message):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_index_config(str(tmp_path / "config.json"))
    with pytest.raises(ValueError, match="cannot read --index-config"):
        load_index_config(str(tmp_path / "missing.json"))
