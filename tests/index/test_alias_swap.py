"""Zero-downtime reindex: build behind the live name, verify, swap atomically, keep, roll back.

SQLite for real; Elasticsearch on noida-db and OpenSearch on osmem-server
(``tests/index_servers.py``). The "server that acknowledges writes and loses
them" case, which no real server does on purpose, comes from the fault proxy
(``tests/bulk_fault_proxy.py``, ``lose_ids``) in front of noida-db.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.local.sample_data import create_table, generate_items, seed_table
from tests.bulk_fault_proxy import FaultPlan, FaultProxy
from tests.index_servers import elasticsearch_url, opensearch_url, unique_index  # noqa: F401
from tests.reindex_runs import ROOT, cli, index_rows, reindex_args
from tests.tables import unique_name
from transforms.index import Document, open_backend
from transforms.index.alias import prepare_swap, rollback

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
SERVERS = {
    "es@noida": ("elasticsearch+http", "elasticsearch_url"),
    "os@osmem": ("opensearch+http", "opensearch_url"),
}


def _docs(prefix: str, count: int, word: str) -> list[Document]:
    return [Document(f"{prefix}{n}", json.dumps({"title": f"{word} {n}"})) for n in range(count)]


def _write(uri: str, documents: list[Document]) -> None:
    with open_backend(uri) as backend:
        assert backend.write_batch(documents) == []


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _search_ids(uri: str, query: str) -> set[str]:
    with open_backend(uri) as backend:
        return {hit.id for hit in backend.search(query, limit=100)}


# -- SQLite ------------------------------------------------------------------------------------


def test_sqlite_first_swap_retires_the_plain_index_in_one_step(tmp_path):
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    _write(uri, _docs("old", 5, "apple"))
    swap = prepare_swap(uri, now=T0)
    assert swap.build_name == "documents__20261128120000"
    _write(swap.build_uri, _docs("new", 8, "banana"))
    assert set(index_rows(path)) == {f"old{n}" for n in range(5)}
    assert _search_ids(uri, "banana") == set()

    result = swap.complete(8)

    assert result.swapped and result.found == 8
    assert index_rows(path) == {d.id: d.body for d in _docs("new", 8, "banana")}
    assert _search_ids(uri, "banana") == {f"new{n}" for n in range(8)}
    assert _search_ids(uri, "apple") == set()
    (retired,) = result.previous
    assert result.kept == (retired,) and retired in _tables(path)
    assert _search_ids(f"sqlite+table:///{path}?table={retired}", "apple") == {
        f"old{n}" for n in range(5)
    }


def test_sqlite_keep_prunes_the_oldest_and_rollback_restores_the_previous(tmp_path):
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    results = []
    for run, word in enumerate(["alpha", "beta", "gamma"]):
        swap = prepare_swap(uri, "documents", now=T0 + timedelta(hours=run))
        _write(swap.build_uri, _docs(word, 3 + run, word))
        results.append(swap.complete(3 + run, keep=1))
    first, second, third = results
    assert third.previous == (second.new_index,) and third.kept == (second.new_index,)
    assert first.new_index in third.deleted
    assert first.new_index not in _tables(path) and f"{first.new_index}_fts" not in _tables(path)
    assert _search_ids(uri, "gamma") == {f"gamma{n}" for n in range(5)}

    assert rollback(uri).restored == second.new_index
    assert set(index_rows(path)) == {f"beta{n}" for n in range(4)}
    assert _search_ids(uri, "beta") == {f"beta{n}" for n in range(4)}
    assert _search_ids(uri, "gamma") == set()

    swap = prepare_swap(uri, now=T0 + timedelta(hours=5))
    _write(swap.build_uri, _docs("delta", 2, "delta"))
    after = swap.complete(2, keep=1)
    assert after.leftovers == (third.new_index,)
    assert after.kept == (second.new_index,)


def test_sqlite_failed_verification_moves_nothing_and_is_never_kept_for_rollback(tmp_path):
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    good = prepare_swap(uri, now=T0)
    _write(good.build_uri, _docs("good", 4, "good"))
    assert good.complete(4).swapped
    bad = prepare_swap(uri, now=T0 + timedelta(hours=1))
    _write(bad.build_uri, _docs("bad", 3, "bad"))

    result = bad.complete(5)

    assert not result.swapped and result.found == 3
    assert "holds 3 documents, but 5 were written" in result.reason
    assert set(index_rows(path)) == {f"good{n}" for n in range(4)}
    assert "NOT MOVED" in result.render()
    later = prepare_swap(uri, now=T0 + timedelta(hours=2))
    _write(later.build_uri, _docs("later", 2, "later"))
    done = later.complete(2, keep=1)
    assert done.kept == (good.build_name,) and done.leftovers == (bad.build_name,)


def test_sqlite_abort_reason_skips_verification_and_abandon_drops_the_build(tmp_path):
    uri = f"sqlite:///{tmp_path / 'index.db'}"
    swap = prepare_swap(uri, now=T0)
    _write(swap.build_uri, _docs("x", 2, "x"))
    result = swap.complete(2, abort_reason="the run's counts do not add up")
    assert not result.swapped and result.found == 2
    swap.abandon()
    assert swap.build_name not in _tables(tmp_path / "index.db")


def test_sqlite_open_readers_follow_the_swap(tmp_path):
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    _write(uri, _docs("old", 3, "apple"))
    reader = sqlite3.connect(path)
    searcher = open_backend(uri)
    try:
        assert len(reader.execute("SELECT id FROM documents").fetchall()) == 3
        assert len(searcher.search("apple")) == 3
        swap = prepare_swap(uri, now=T0)
        _write(swap.build_uri, _docs("new", 6, "banana"))
        assert swap.complete(6).swapped
        assert len(reader.execute("SELECT id FROM documents").fetchall()) == 6
        assert {hit.id for hit in searcher.search("banana")} == {f"new{n}" for n in range(6)}
        assert searcher.search("apple") == []
    finally:
        reader.close()
        searcher.close()


def test_sqlite_readers_never_see_a_half_swapped_index(tmp_path):
    """A reader polling during many swaps always sees one whole generation."""
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    sizes = [3, 7, 5, 9, 4, 6]
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def poll():
        conn = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            with conn:
                rows = conn.execute("SELECT id FROM documents").fetchall()
            generations = {doc_id.split("-")[0] for (doc_id,) in rows}
            seen.append((len(rows), len(generations)))
        conn.close()

    _write(uri, _docs("g0-", sizes[0], "zero"))
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    for run, size in enumerate(sizes[1:], start=1):
        swap = prepare_swap(uri, now=T0 + timedelta(hours=run))
        _write(swap.build_uri, _docs(f"g{run}-", size, f"gen{run}"))
        assert swap.complete(size, keep=1).swapped
    stop.set()
    thread.join(timeout=30)
    assert seen and all(generations == 1 for _, generations in seen)
    assert {count for count, _ in seen} <= set(sizes)


def test_sqlite_tables_are_named_in_build_order(tmp_path):
    """The retired plain index sorts before its successor; later builds sort after."""
    path = tmp_path / "index.db"
    uri = f"sqlite:///{path}"
    _write(uri, _docs("old", 2, "apple"))
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    first = prepare_swap(uri, now=past)
    _write(first.build_uri, _docs("new", 3, "banana"))
    result = first.complete(3)
    (retired,) = result.previous
    assert retired == "documents__20191231235959" < result.new_index == "documents__20200101000000"
    same_second = prepare_swap(uri, now=past)
    assert same_second.build_name == "documents__20200101000001"
    clock_went_back = prepare_swap(uri, now=past - timedelta(days=1))
    assert clock_went_back.build_name == "documents__20200101000002"


PREPARE_AT = (
    "import sys, time\n"
    "from datetime import datetime, timezone\n"
    "from transforms.index.alias import prepare_swap\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
    "print(prepare_swap(sys.argv[1], now=datetime(2020, 1, 1, tzinfo=timezone.utc)).build_name)\n"
)


def test_sqlite_builds_prepared_at_once_take_distinct_names(tmp_path):
    """A name is chosen and its table created in one write transaction: two processes
    preparing a build of one new index at the same moment never take one name (they
    did in about half of such races, when the table was created after the choice)."""
    for race in range(6):
        folder = tmp_path / str(race)
        folder.mkdir()
        start = time.time() + 2.5  # both processes started and imported by then
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", PREPARE_AT, f"sqlite:///{folder}/index.db", str(start)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        names = sorted(process.communicate(timeout=120)[0].strip() for process in processes)
        assert names == ["documents__20200101000000", "documents__20200101000001"], race


def test_sqlite_alias_other_than_documents_is_refused(tmp_path):
    with pytest.raises(ValueError, match="always 'documents'"):
        prepare_swap(f"sqlite:///{tmp_path / 'index.db'}", "works")


# -- Elasticsearch / OpenSearch ----------------------------------------------------------------


@pytest.fixture(params=sorted(SERVERS))
def server(request):
    scheme, fixture = SERVERS[request.param]
    url = request.getfixturevalue(fixture)
    return scheme, url, f"{scheme}://{url.split('://', 1)[1]}"


def _aliases(url: str, alias: str) -> list[str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_alias/{alias}", timeout=30) as response:
            return sorted(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise


def test_server_swaps_move_the_alias_keep_one_and_roll_back(server):
    _, url, base = server
    alias = unique_index("works")
    uri = f"{base}/{alias}"
    results = []
    for run, word in enumerate(["alpha", "beta", "gamma"]):
        swap = prepare_swap(uri, now=T0 + timedelta(hours=run))
        stamp = (T0 + timedelta(hours=run)).strftime("%Y%m%d%H%M%S")
        assert swap.build_name == f"{alias}-{stamp}"
        _write(swap.build_uri, _docs(word, 3 + run, word))
        results.append(swap.complete(3 + run, keep=1))
        assert _aliases(url, alias) == [swap.build_name]
        with open_backend(uri) as live:
            assert live.count() == 3 + run
        assert _search_ids(uri, word) == {f"{word}{n}" for n in range(3 + run)}
    first, second, third = results
    assert first.previous == () and second.previous == (first.new_index,)
    assert third.kept == (second.new_index,) and third.deleted == (first.new_index,)
    assert _aliases(url, f"{alias}-retired") == [second.new_index]

    assert rollback(uri).restored == second.new_index
    assert _aliases(url, alias) == [second.new_index]
    assert _search_ids(uri, "beta") == {f"beta{n}" for n in range(4)}


def _http_post(url: str, body: dict) -> None:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=30).close()


def _alias_definition(url: str, alias: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_alias/{alias}", timeout=30) as response:
        ((_, found),) = json.loads(response.read()).items()
    return found["aliases"][alias]


def test_the_alias_keeps_its_filter_and_write_index_through_swap_and_rollback(server):
    """An alias that filters what it serves goes on filtering: the swap and the
    rollback give the new index what the old one had (a plain add would not)."""
    _, url, base = server
    alias = unique_index("filtered")
    uri = f"{base}/{alias}"
    first = prepare_swap(uri, now=T0)
    _write(first.build_uri, _docs("shown", 2, "public") + _docs("hidden", 3, "secret"))
    assert first.complete(5).swapped
    definition = {"filter": {"term": {"title": "public"}}, "is_write_index": True}
    actions = [{"add": {"index": first.build_name, "alias": alias, **definition}}]
    _http_post(f"{url}/_aliases", {"actions": actions})
    second = prepare_swap(uri, now=T0 + timedelta(hours=1))
    _write(second.build_uri, _docs("shown", 2, "public") + _docs("hidden", 3, "secret"))
    assert second.complete(5).swapped
    for step in ("swap", "rollback"):
        if step == "rollback":
            assert rollback(uri).restored == first.build_name
        found = _alias_definition(url, alias)
        assert found.get("filter") == definition["filter"] and found.get("is_write_index")
        assert _search_ids(uri, "secret") == set()
        assert _search_ids(uri, "public") == {"shown0", "shown1"}


def test_a_swap_whose_answer_is_lost_is_a_swap(server):
    """The server applied the alias update but its answer never came (a timeout, a
    dropped connection): the alias is read again, and the run says what happened."""
    scheme, url, base = server
    alias = unique_index("lost")
    first = prepare_swap(f"{base}/{alias}", now=T0)
    _write(first.build_uri, _docs("one", 2, "one"))
    assert first.complete(2).swapped
    with FaultProxy(url, FaultPlan(lose_answers_to=frozenset({"/_aliases"}))) as proxy:
        uri = f"{proxy.base(scheme)}/{alias}"
        second = prepare_swap(uri, now=T0 + timedelta(hours=1))
        _write(second.build_uri, _docs("two", 3, "two"))
        result = second.complete(3)
        assert proxy.stats.injected["lost_answer /_aliases"] == 1
    assert result.swapped and result.previous == (first.build_name,)
    assert _aliases(url, alias) == [second.build_name]


def test_a_swap_the_server_is_too_busy_for_is_sent_again(server):
    scheme, url, _ = server
    alias = unique_index("busy")
    with FaultProxy(url, FaultPlan(fail_first={"/_aliases": 503})) as proxy:
        swap = prepare_swap(f"{proxy.base(scheme)}/{alias}", now=T0)
        _write(swap.build_uri, _docs("one", 2, "one"))
        assert swap.complete(2).swapped
        assert proxy.stats.injected["first /_aliases"] == 1
    assert _aliases(url, alias) == [swap.build_name]


def test_server_failed_verification_leaves_the_alias_where_it_was(server):
    _, url, base = server
    alias = unique_index("works")
    uri = f"{base}/{alias}"
    good = prepare_swap(uri, now=T0)
    _write(good.build_uri, _docs("good", 4, "good"))
    assert good.complete(4).swapped
    bad = prepare_swap(uri, now=T0 + timedelta(hours=1))
    _write(bad.build_uri, _docs("bad", 2, "bad"))

    result = bad.complete(3)

    assert not result.swapped and result.found == 2
    assert _aliases(url, alias) == [good.build_name]
    later = prepare_swap(uri, now=T0 + timedelta(hours=2))
    _write(later.build_uri, _docs("later", 1, "later"))
    done = later.complete(1, keep=1)
    assert done.kept == (good.build_name,) and done.leftovers == (bad.build_name,)


def test_server_index_with_the_alias_name_is_refused_before_anything_is_built(server):
    _, _, base = server
    name = unique_index("plain")
    _write(f"{base}/{name}", _docs("p", 1, "plain"))
    with pytest.raises(ValueError, match="is an index, not an alias"):
        prepare_swap(f"{base}/{name}")
    with pytest.raises(ValueError, match="differs from the index"):
        prepare_swap(f"{base}/{name}", "other")


def test_lost_writes_fail_verification(elasticsearch_url):  # noqa: F811
    alias = unique_index("lossy")
    base = f"elasticsearch+http://{elasticsearch_url.split('://', 1)[1]}"
    records = [Document(f"d{n}", json.dumps({"n": n})) for n in range(50)]
    with FaultProxy(elasticsearch_url, FaultPlan(lose_ids=frozenset({"d3", "d30"}))) as proxy:
        swap = prepare_swap(f"{proxy.base('elasticsearch+http')}/{alias}", now=T0)
        with open_backend(swap.build_uri) as backend:
            assert backend.write_batch(records) == []
        result = swap.complete(50)
    assert not result.swapped and result.found == 48
    with pytest.raises(ValueError):
        rollback(f"{base}/{alias}")


# -- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_table(dynamodb_client):
    samples = [s for s in generate_items(150, malformed_fraction=0.0, seed=21)]
    name = unique_name("swap")
    create_table(dynamodb_client, name)
    seed_table(dynamodb_client, name, [s.item for s in samples])
    return name, {s.record.id: s.record.to_json() for s in samples}


def _reindex(dynamodb_server, table, index, tmp_path, *extra):
    return cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path, index=index),
        "--runner",
        "FnApiRunner",
        *extra,
    )


def test_cli_swap_alias_on_sqlite_twice(dynamodb_server, small_table, tmp_path):
    table, good = small_table
    uri = f"sqlite:///{tmp_path}/index.db"
    first = _reindex(dynamodb_server, table, uri, tmp_path, "--swap-alias")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "alias          documents -> documents__" in first.stdout
    assert index_rows(tmp_path / "index.db") == good
    second = _reindex(dynamodb_server, table, uri, tmp_path, "--swap-alias", "documents")
    assert second.returncode == 0, second.stderr[-2000:]
    assert index_rows(tmp_path / "index.db") == good
    found = cli("search", "--index", uri, "--limit", "2", "the")
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2


def test_cli_swap_alias_on_elasticsearch_and_refusal_exit_code(
    dynamodb_server,
    small_table,
    tmp_path,
    elasticsearch_url,  # noqa: F811
):
    table, good = small_table
    alias = unique_index("cliworks")
    base = f"elasticsearch+http://{elasticsearch_url.split('://', 1)[1]}"
    done = _reindex(dynamodb_server, table, f"{base}/{alias}", tmp_path, "--swap-alias", alias)
    assert done.returncode == 0, done.stderr[-2000:]
    (live,) = _aliases(elasticsearch_url, alias)
    with open_backend(f"{base}/{alias}") as index:
        assert index.count() == len(good)
    found = cli("search", "--index", f"{base}/{alias}", "--limit", "3", "the")
    assert found.returncode == 0, found.stderr[-2000:]
    assert all(line.split("\t")[0] in good for line in found.stdout.splitlines())

    lost = frozenset(list(good)[:2])
    with FaultProxy(elasticsearch_url, FaultPlan(lose_ids=lost)) as proxy:
        uri = f"{proxy.base('elasticsearch+http')}/{alias}"
        refused = _reindex(dynamodb_server, table, uri, tmp_path, "--swap-alias", "--keep", "0")
    assert refused.returncode == 5, refused.stderr[-2000:]
    assert "NOT MOVED" in refused.stdout and "was not moved" in refused.stderr
    assert f"holds {len(good) - 2} documents" in refused.stdout
    assert _aliases(elasticsearch_url, alias) == [live]


def test_cli_keep_needs_a_rebuild(tmp_path):
    done = cli(
        "reindex",
        "--table",
        "t",
        "--model",
        "pipeline.models:Work",
        "--index",
        f"sqlite:///{tmp_path}/i.db",
        "--dead-letters",
        str(tmp_path / "dead"),
        "--keep",
        "2",
        "--upsert",
    )
    assert done.returncode == 2 and "--keep applies to a rebuild" in done.stderr


def test_cli_swap_alias_refuses_a_resumed_run(dynamodb_server, small_table, tmp_path):
    table, _ = small_table
    (tmp_path / "earlier").mkdir()
    done = _reindex(
        dynamodb_server,
        table,
        f"sqlite:///{tmp_path}/index.db",
        tmp_path,
        "--swap-alias",
        "--resume-from",
        str(tmp_path / "earlier"),
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: --swap-alias cannot be combined with --resume-from: a resumed run reads only "
        "the segments left unread, so the new index would miss everything else"
    ]
