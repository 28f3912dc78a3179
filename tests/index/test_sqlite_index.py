"""The embedded SQLite index: URIs, upserts, full-text search, concurrent writers."""

import json
import multiprocessing
import sqlite3
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reindex_runs import index_rows
from transforms.index import Document, SearchHit, missing_index, normalize_uri, open_backend
from transforms.index.sqlite import IndexSchemaError, SQLiteIndex, sqlite_path


def _doc(doc_id, **fields):
    return Document(doc_id, json.dumps({"id": doc_id, **fields}))


@pytest.fixture
def index(tmp_path):
    with SQLiteIndex(str(tmp_path / "index.db")) as backend:
        yield backend


@pytest.mark.parametrize(
    "uri, path",
    [
        ("sqlite:///out/index.db", "out/index.db"),
        ("sqlite:////srv/data/index.db", "/srv/data/index.db"),
        ("SQLite:///index.db", "index.db"),
    ],
)
def test_uri_path_follows_the_three_and_four_slash_convention(uri, path):
    assert sqlite_path(uri) == path


@pytest.mark.parametrize(
    "uri, message",
    [
        ("sqlite://out/index.db", "names a host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///out/index.db?mode=ro", r"has a query string \(\?mode=ro\); sqlite:///PATH"),
        ("sqlite+table:///out/x.db?mode=ro?table=t", r"has a query string \(\?mode=ro\)"),
        ("out/index.db", "has no scheme"),
        ("elasticsearch://localhost:9200/works", "supported: sqlite"),
    ],
)
def test_bad_uri_is_a_clear_value_error(uri, message):
    with pytest.raises(ValueError, match=message):
        normalize_uri(uri)


def test_normalized_uri_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_uri("sqlite:///out/index.db") == f"sqlite:///{tmp_path}/out/index.db"


def test_a_missing_index_file_is_named_without_being_created(tmp_path):
    path = tmp_path / "typo.db"
    assert missing_index(f"sqlite:///{path}") == f"there is no index file {path}"
    table = f"sqlite+table:///{path}?table=documents__1"
    assert missing_index(table) == f"there is no index file {path}"
    assert not path.exists()
    with open_backend(f"sqlite:///{path}"):
        pass
    assert missing_index(f"sqlite:///{path}") is None
    assert missing_index("opensearch+http://127.0.0.1:9/works") is None  # no answer: unknown


def test_open_backend_creates_file_and_folder(tmp_path):
    path = tmp_path / "new" / "index.db"
    with open_backend(f"sqlite:///{path}") as backend:
        assert isinstance(backend, SQLiteIndex)
        assert backend.count() == 0
    assert index_rows(path) == {}


def test_write_then_contract_query_returns_bodies(index):
    docs = [_doc("w1", title="Gulliver"), _doc("w2", title="Utopia")]
    assert index.write_batch(docs) == []
    assert index_rows(index.path) == dict(docs)


def test_ids_with_nul_and_unusual_characters_are_stored_exactly(index):
    docs = [_doc("a\x00b", title="nul"), _doc('é\u2028"\\', title="x"), _doc("😀", title="y")]
    assert index.write_batch(docs) == []
    assert index_rows(index.path) == dict(docs)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.text(min_size=1), st.text()), min_size=1, max_size=10, unique_by=lambda p: p[0]
    )
)
def test_any_ids_and_bodies_round_trip(tmp_path_factory, pairs):
    docs = [Document(doc_id, json.dumps({"t": text}, ensure_ascii=False)) for doc_id, text in pairs]
    path = tmp_path_factory.mktemp("roundtrip") / "index.db"
    with SQLiteIndex(str(path)) as index:
        assert index.write_batch(docs) == []
    assert index_rows(path) == dict(docs)


def test_upsert_overwrites_and_never_duplicates(index):
    index.write_batch([_doc("w1", title="old"), _doc("w2", title="two")])
    index.write_batch([_doc("w1", title="new"), _doc("w2", title="two")])
    assert index.count() == 2
    assert json.loads(index_rows(index.path)["w1"])["title"] == "new"


def test_search_finds_words_of_string_values_only(index):
    index.write_batch(
        [
            _doc("w1", title="Travels into Remote Nations", year=1726),
            _doc("w2", title="A Modest Proposal", notes=["satire", "Öffnung"]),
        ]
    )
    assert [hit.id for hit in index.search("remote travels")] == ["w1"]
    assert [hit.id for hit in index.search("offnung")] == ["w2"]
    assert index.search("title") == []
    assert index.search("1726") == []


def test_search_hit_has_score_and_body(index):
    doc = _doc("w1", title="utopia utopia")
    index.write_batch([doc, _doc("w2", title="utopia and more words here")])
    hits = index.search("utopia", limit=1)
    assert hits == [SearchHit("w1", hits[0].score, doc.body)]
    assert hits[0].score > 0


def test_count_matches_counts_every_hit_not_one_page(index, tmp_path):
    index.write_batch([_doc(f"w{n}", title=f"travels {n}") for n in range(12)])
    assert len(index.search("travels", limit=5)) == 5
    assert index.count_matches("travels") == 12
    assert index.count_matches("travels 7") == 1
    assert index.count_matches("nothing") == index.count_matches("*** ---") == 0
    assert index.count_matches("travels OR nothing", raw=True) == 12
    with pytest.raises(ValueError, match="bad full-text query"):
        index.count_matches("NEAR(", raw=True)
    with open_backend(f"sqlite+table:///{tmp_path}/index.db?table=documents__1") as build:
        build.write_batch([_doc("b1", title="travels")])
        assert build.count_matches("travels") == 1


def test_search_sees_updated_text_not_the_old(index):
    index.write_batch([_doc("w1", title="before")])
    index.write_batch([_doc("w1", title="after")])
    assert index.search("before") == []
    assert [hit.id for hit in index.search("after")] == ["w1"]


def test_prefix_search_with_trailing_star(index):
    index.write_batch([_doc("w1", title="cartography")])
    assert [hit.id for hit in index.search("carto*")] == ["w1"]


@pytest.mark.parametrize(
    "query",
    ['"', "(", ")", "*", "-", "^", "NEAR(", "a OR", "AND", 'foo"bar', "col:x", "\x00", "+ - :"],
)
def test_fts_syntax_characters_in_queries_do_not_crash(index, query):
    index.write_batch([_doc("w1", title="foo bar")])
    assert isinstance(index.search(query), list)


@settings(max_examples=200, deadline=None)
@given(query=st.text())
def test_any_text_query_does_not_crash(tmp_path_factory, query):
    path = tmp_path_factory.getbasetemp() / "fuzz.db"
    with SQLiteIndex(str(path)) as index:
        index.write_batch([_doc("w1", title="foo bar")])
        assert isinstance(index.search(query), list)


def test_raw_query_syntax_is_passed_through_when_asked(index):
    index.write_batch([_doc("w1", title="foo"), _doc("w2", title="bar")])
    assert {hit.id for hit in index.search("foo OR bar", raw=True)} == {"w1", "w2"}
    with pytest.raises(ValueError, match="bad full-text query"):
        index.search('"unbalanced', raw=True)


def test_refused_documents_are_reported_and_the_rest_written(index):
    docs = [_doc("w1", title="ok"), Document("w2", "{not json"), _doc("w3", title="ok")]
    refusals = index.write_batch(docs)
    assert [(r.position, r.id) for r in refusals] == [(1, "w2")]
    assert "malformed JSON" in refusals[0].reason
    assert set(index_rows(index.path)) == {"w1", "w3"}


def test_a_lone_surrogate_is_refused_and_the_rest_written_exactly(index):
    docs = [
        _doc("w1", title='quote " backslash \\ tab \t é 😀 \u2028'),
        Document("w2", '{"title": "\ud800"}'),
        _doc("w3", title="ok"),
    ]
    refusals = index.write_batch(docs)
    assert [(r.position, r.id) for r in refusals] == [(1, "w2")]
    assert index_rows(index.path) == {"w1": docs[0].body, "w3": docs[2].body}


def test_delete_removes_document_and_its_text(index):
    index.write_batch([_doc("w1", title="gone"), _doc("w2", title="kept")])
    assert index.delete(["w1", "absent"]) == 1
    assert index.count() == 1
    assert index.search("gone") == []


@pytest.mark.parametrize("table", ["documents", "customers"])
def test_foreign_sqlite_file_is_refused(tmp_path, table):
    """Another application's database is never taken over, whatever its tables."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} (x)")
    with pytest.raises(IndexSchemaError, match=rf"not an index .*tables \['{table}'\]"):
        SQLiteIndex(str(path))
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [(table,)]


def test_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(IndexSchemaError, match="not a SQLite database"):
        SQLiteIndex(str(path))


def _write_range(uri, start, stop, batch):
    with open_backend(uri) as index:
        for first in range(start, stop, batch):
            docs = [
                _doc(f"w{n}", title=f"title {n}") for n in range(first, min(first + batch, stop))
            ]
            assert index.write_batch(docs) == []


def test_two_processes_writing_one_file_lose_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_range, args=(uri, start, start + 3000, 100))
        for start in (0, 3000)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    rows = index_rows(tmp_path / "shared.db")
    assert set(rows) == {f"w{n}" for n in range(6000)}
    assert json.loads(rows["w4321"])["title"] == "title 4321"
    with open_backend(uri) as index:
        assert [hit.id for hit in index.search("4321")] == ["w4321"]


def test_a_batch_waits_for_another_writer_then_lands(index):
    """A batch is one statement without ``BEGIN``; it still waits for the write lock."""
    other = sqlite3.connect(index.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO documents (id, body) VALUES ('o1', '{}')")
    release = threading.Timer(0.3, other.execute, ("COMMIT",))
    release.start()
    try:
        assert index.write_batch([_doc("w1", title="after"), _doc("w2", title="after")]) == []
    finally:
        release.join()
        other.close()
    assert set(index_rows(index.path)) == {"o1", "w1", "w2"}
    assert {hit.id for hit in index.search("after")} == {"w1", "w2"}


def test_a_batch_that_cannot_get_the_lock_raises_and_writes_nothing(tmp_path):
    with SQLiteIndex(str(tmp_path / "index.db"), busy_timeout=0.2) as index:
        other = sqlite3.connect(index.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                index.write_batch([_doc("w1", title="t"), _doc("w2", title="t")])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert index.count() == 0
        assert index.write_batch([_doc("w3", title="t")]) == []
        assert set(index_rows(index.path)) == {"w3"}


@pytest.mark.parametrize(
    "uri", ["sqlite:///{}/index.db", "sqlite+table:///{}/index.db?table=documents__t1"]
)
def test_a_returned_batch_is_synced_to_disk(tmp_path, uri):
    """``synchronous = FULL``: WAL commits are synced, so a returned batch survives power loss."""
    with open_backend(uri.format(tmp_path)) as index:
        index.write_batch([_doc("w1", title="durable")])
        assert index._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert index._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("table", ["documents", "documents__20261130000000"])
def test_the_full_text_table_merges_sixteen_segments_at_a_time(tmp_path, table):
    uri = f"sqlite:///{tmp_path}/index.db"
    if table != "documents":
        uri = f"sqlite+table:///{tmp_path}/index.db?table={table}"
    with open_backend(uri) as backend:
        backend.write_batch([_doc("w1", title="merged")])
        assert [hit.id for hit in backend.search("merged")] == ["w1"]
    with sqlite3.connect(tmp_path / "index.db") as conn:
        config = dict(conn.execute(f"SELECT k, v FROM {table}_fts_config"))
    assert (config["automerge"], config["crisismerge"]) == (16, 64)


def test_a_file_sqlite_cannot_open_is_named_in_the_error(tmp_path):
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    with pytest.raises(sqlite3.OperationalError, match=f"unable to open database file: {folder}$"):
        SQLiteIndex(str(folder))
