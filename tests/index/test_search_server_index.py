"""The Elasticsearch and OpenSearch backends against real servers on loopback.

Servers (see ``tests/index_servers.py``): noida-db speaks the Elasticsearch 8
API and is driven with the ``elasticsearch`` client (``es@noida``) and with
``opensearch-py`` (``os@noida``); osmem-server speaks the OpenSearch API and
is driven with ``opensearch-py`` (``os@osmem``). Mapping errors (400) and
version conflicts (409) come from the servers themselves. What they cannot
produce on demand - 429s, 5xx, partial bulk failures, dropped connections,
413s, a 401 - comes from the seeded fault proxy in
``tests/bulk_fault_proxy.py`` placed in front of them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.display import DisplayData
from dataclasses_json import dataclass_json

from tests.bulk_fault_proxy import FaultPlan, FaultProxy
from tests.index_servers import elasticsearch_url, opensearch_url, unique_index  # noqa: F401
from tests.runners import reindex_counters, run_pipeline
from transforms.index import Document, backend_class, normalize_uri, open_backend
from transforms.index.elasticsearch import ElasticsearchIndex
from transforms.index.opensearch import OpenSearchIndex, aws_signing
from transforms.index.search_server import (
    IndexWriteError,
    RetryPolicy,
    basic_auth_from_environment,
    parse_server_uri,
)
from transforms.index.write import WriteToIndex, _WriteBatchesFn, external_version

FAST = "initial_backoff=0.01&max_backoff=0.05"
TARGETS = {
    "es@noida": ("elasticsearch+http", "elasticsearch_url"),
    "os@osmem": ("opensearch+http", "opensearch_url"),
    "os@noida": ("opensearch+http", "elasticsearch_url"),
}
MAIN_TARGETS = ["es@noida", "os@osmem"]
SECRET = "s3cr3t-marker-7f1c"


@dataclass_json
@dataclass
class Book:
    id: str
    title: str
    year: int | str
    version: int = 1


def _books(count: int, title: str = "Travels", version: int = 1) -> list[Book]:
    return [Book(f"b{n}", f"{title} number {n}", 1700 + n, version) for n in range(count)]


class Target:
    """One server reached with one client: its URL and the index URI base."""

    def __init__(self, request, name: str):
        self.name = name
        self.scheme, fixture = TARGETS[name]
        self.url = request.getfixturevalue(fixture)
        self.base = f"{self.scheme}://{self.url.split('://', 1)[1]}"

    def uri(self, index: str, query: str = FAST) -> str:
        return f"{self.base}/{index}" + (f"?{query}" if query else "")

    def proxied(self, proxy: FaultProxy, index: str, query: str = FAST) -> str:
        return f"{proxy.base(self.scheme)}/{index}" + (f"?{query}" if query else "")


@pytest.fixture(params=MAIN_TARGETS)
def target(request) -> Target:
    return Target(request, request.param)


def _http(method: str, url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _stored(target: Target, index: str) -> dict[str, dict]:
    """Every document of ``index`` as ``{id: source}``, read with plain HTTP."""
    _http("POST", f"{target.url}/{index}/_refresh")
    found = _http(
        "POST", f"{target.url}/{index}/_search", {"size": 10000, "query": {"match_all": {}}}
    )
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}


def _with_year_as_integer(target: Target, index: str) -> None:
    _http(
        "PUT", f"{target.url}/{index}", {"mappings": {"properties": {"year": {"type": "integer"}}}}
    )


def _documents(books: list[Book]) -> list[Document]:
    return [Document(b.id, b.to_json()) for b in books]


def _expected(books: list[Book]) -> dict[str, dict]:
    return {b.id: json.loads(b.to_json()) for b in books}


# -- URIs, policies, credentials (no server) ---------------------------------------------------


def test_uri_forms_are_parsed_and_normalized():
    location = parse_server_uri("ElasticSearch+HTTPS://a:9200,b:9201/works?timeout=5")
    assert location.product == "elasticsearch" and location.secure and not location.aws
    assert location.urls == ["https://a:9200", "https://b:9201"]
    assert str(location) == "elasticsearch+https://a:9200,b:9201/works?timeout=5"
    assert location.option("timeout") == 5.0
    aws = parse_server_uri("opensearch+aws+https://search-x.eu-west-1.es.amazonaws.com/w")
    assert aws.aws and aws.product == "opensearch" and aws.urls[0].startswith("https://")
    assert backend_class("elasticsearch+http://h:1/i") is ElasticsearchIndex
    assert backend_class("opensearch+aws+https://h/i") is OpenSearchIndex


@pytest.mark.parametrize(
    "uri, message",
    [
        ("elasticsearch+http://localhost:9200", "names no index"),
        ("elasticsearch+http://localhost:9200/Works", "must be lowercase"),
        ("elasticsearch+http://localhost:9200/_works", "cannot start with"),
        ("elasticsearch+http://localhost:9200/a/b", "one index name"),
        ("elasticsearch+http://localhost:99999/works", "bad host"),
        ("elasticsearch+http://localhost:9200/works?retries=3", "unknown option 'retries'"),
        ("elasticsearch+http://localhost:9200/works?timeout=-1", "must be positive"),
        ("opensearch+http://localhost:9200/works?region=eu-west-1", "applies only to opensearch"),
        ("elastic://localhost:9200/works", "unsupported index URI scheme 'elastic'"),
    ],
)
def test_bad_uris_are_clear_value_errors(uri, message):
    with pytest.raises(ValueError, match=message):
        normalize_uri(uri)


def test_credentials_in_the_uri_are_refused_without_repeating_them():
    with pytest.raises(ValueError) as caught:
        WriteToIndex(f"elasticsearch+https://admin:{SECRET}@es.example:9200/works")
    assert SECRET not in str(caught.value)
    assert "INDEX_USERNAME" in str(caught.value)


def test_retry_delays_grow_to_the_cap_with_jitter():
    import random

    policy = RetryPolicy(max_retries=8, initial_backoff=0.5, max_backoff=4.0)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        delays = {policy.delay(attempt, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 40


def test_credentials_come_from_the_environment(monkeypatch):
    for name in ("INDEX_USERNAME", "INDEX_PASSWORD", "INDEX_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert basic_auth_from_environment(allow_api_key=True) == {}
    monkeypatch.setenv("INDEX_USERNAME", "reader")
    with pytest.raises(ValueError, match="must be set together"):
        basic_auth_from_environment(allow_api_key=True)
    monkeypatch.setenv("INDEX_PASSWORD", SECRET)
    assert basic_auth_from_environment(allow_api_key=True) == {"basic_auth": ("reader", SECRET)}
    monkeypatch.setenv("INDEX_API_KEY", "key")
    with pytest.raises(ValueError, match="not both") as caught:
        basic_auth_from_environment(allow_api_key=True)
    assert SECRET not in str(caught.value)
    monkeypatch.delenv("INDEX_USERNAME")
    monkeypatch.delenv("INDEX_PASSWORD")
    assert basic_auth_from_environment(allow_api_key=True) == {"api_key": "key"}
    with pytest.raises(ValueError, match="does not take API keys"):
        basic_auth_from_environment(allow_api_key=False)


def test_aws_region_and_service_come_from_the_uri_or_the_endpoint():
    managed = parse_server_uri("opensearch+aws+https://search-x-abc.eu-west-1.es.amazonaws.com/w")
    assert aws_signing(managed) == ("eu-west-1", "es")
    serverless = parse_server_uri("opensearch+aws+https://abc.us-east-2.aoss.amazonaws.com/w")
    assert aws_signing(serverless) == ("us-east-2", "aoss")
    explicit = parse_server_uri("opensearch+aws+https://proxy.local/w?region=ap-south-1")
    assert aws_signing(explicit) == ("ap-south-1", "es")


@pytest.mark.parametrize(
    "value, expected",
    [
        (7, 7),
        (Decimal("12"), 12),
        (datetime(2026, 11, 28, 12, 0, 0, 5000, tzinfo=timezone.utc), 1795867200005),
        (datetime(1970, 1, 1, 0, 0, 1), 1000),
    ],
)
def test_external_versions(value, expected):
    assert external_version(value) == expected


@pytest.mark.parametrize("value", [True, -1, 2**63, Decimal("1.5"), "3", 1.0])
def test_invalid_external_versions(value):
    with pytest.raises((TypeError, ValueError)):
        external_version(value)


def test_version_field_needs_a_search_server(tmp_path):
    with pytest.raises(ValueError, match="external versions"):
        WriteToIndex(f"sqlite:///{tmp_path}/i.db", version_field="version")


def test_batch_defaults_follow_the_backend(tmp_path):
    server = WriteToIndex("opensearch+http://127.0.0.1:9/works").display_data()
    assert (server["batch_size"], server["batch_bytes"]) == (5000, 10 * 2**20)
    local = WriteToIndex(f"sqlite:///{tmp_path}/i.db").display_data()
    assert (local["batch_size"], local["batch_bytes"]) == (2000, 8 * 2**20)


# -- against the servers -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_documents_round_trip_by_id(request, name):
    target = Target(request, name)
    index = unique_index("round")
    books = _books(300)
    with open_backend(target.uri(index)) as backend:
        assert backend.count() == 0
        assert backend.write_batch(_documents(books)) == []
        assert backend.count() == 300
        hits = backend.search("number 17")
    assert _stored(target, index) == _expected(books)
    assert [hit.id for hit in hits] == ["b17"]
    assert json.loads(hits[0].body) == json.loads(books[17].to_json())


def test_writing_again_overwrites_and_never_duplicates(target):
    index = unique_index("again")
    with open_backend(target.uri(index)) as backend:
        backend.write_batch(_documents(_books(50, "First")))
        second = _books(30, "Second")
        backend.write_batch(_documents(second))
        assert backend.count() == 50
    stored = _stored(target, index)
    assert (
        stored["b0"]["title"] == "Second number 0" and stored["b40"]["title"] == "First number 40"
    )


def test_documents_the_server_refuses_come_back_with_its_reason(target):
    index = unique_index("refuse")
    _with_year_as_integer(target, index)
    books = _books(20)
    books[3].year = "unknown"
    books[11].year = "MDCCXXVI"
    with open_backend(target.uri(index)) as backend:
        refusals = backend.write_batch(_documents(books))
    assert [(r.position, r.id) for r in refusals] == [(3, "b3"), (11, "b11")]
    assert all(r.reason.startswith("400 ") and "year" in r.reason for r in refusals)
    assert set(_stored(target, index)) == {b.id for b in books} - {"b3", "b11"}


def test_external_versions_keep_the_newest(target):
    index = unique_index("versions")
    newer, older = Book("b1", "Newer", 1726, 9), Book("b1", "Older", 1726, 4)
    with open_backend(target.uri(index)) as backend:
        assert backend.write_batch(_documents([newer]), versions=[9]) == []
        assert backend.write_batch(_documents([older]), versions=[4]) == []
        assert backend.write_batch(_documents([newer]), versions=[9]) == []
        assert backend.write_counters()["version_conflicts"] == 2
    assert _stored(target, index) == {"b1": json.loads(newer.to_json())}


def test_ids_over_512_bytes_are_refused_before_sending(target):
    index = unique_index("long")
    documents = [Document("é" * 257, "{}"), Document("fine", "{}")]
    with open_backend(target.uri(index)) as backend:
        refusals = backend.write_batch(documents)
    assert [(r.position, r.reason) for r in refusals] == [
        (0, "the document id is 514 bytes; the server allows at most 512")
    ]
    assert set(_stored(target, index)) == {"fine"}


def test_delete_removes_only_existing_documents(target):
    index = unique_index("delete")
    with open_backend(target.uri(index)) as backend:
        backend.write_batch(_documents(_books(5)))
        assert backend.delete(["b1", "b3", "nope"]) == 2
        assert backend.count() == 3


def test_an_alias_without_a_write_index_fails_the_write_at_once(target):
    """Every write through it is refused (a per-item 400 about the alias, not the
    document): the run fails, rather than dead-lettering every document."""
    alias = unique_index("two")
    for suffix in ("a", "b"):
        _http("PUT", f"{target.url}/{alias}-{suffix}")
    actions = [{"add": {"index": f"{alias}-{suffix}", "alias": alias}} for suffix in "ab"]
    _http("POST", f"{target.url}/_aliases", {"actions": actions})
    with open_backend(target.uri(alias)) as backend:
        with pytest.raises(IndexWriteError, match=r"refused writes: .*no write index"):
            backend.write_batch(_documents(_books(3)))


def test_plain_search_takes_words_literally_and_raw_search_checks_syntax(target):
    index = unique_index("search")
    books = [Book("a", "Voyage to Lilliput (part one)", 1726), Book("b", "A+B travels", 1900)]
    with open_backend(target.uri(index)) as backend:
        assert backend.search("anything") == []
        backend.write_batch(_documents(books))
        assert backend.count() == 2
        assert [h.id for h in backend.search("lilliput (part")] == ["a"]
        assert [h.id for h in backend.search("lilli*")] == ["a"]
        assert [h.id for h in backend.search('"voyage" -')] == ["a"]
        assert backend.search("*** ---") == []
        with pytest.raises(ValueError, match="bad query"):
            backend.search("title:((", raw=True)


def test_count_matches_counts_every_hit_not_one_page(target):
    index = unique_index("count")
    with open_backend(target.uri(index)) as backend:
        assert backend.count_matches("travels") == 0
        backend.write_batch(_documents([*_books(12), Book("x", "Gulliver", 1726)]))
        assert backend.count() == 13
        assert len(backend.search("travels", limit=5)) == 5
        assert backend.count_matches("travels") == 12
        assert backend.count_matches("travels number 7") == 1
        assert backend.count_matches("*** ---") == 0


# -- faults ------------------------------------------------------------------------------------


def test_partial_bulk_failures_are_retried_until_every_document_is_in(target):
    """Seeded faults: 20% of items 429/503, 10% of requests 429/503, 5% dropped connections."""
    index = unique_index("faults")
    books = _books(2000)
    plan = FaultPlan(seed=11, item_faults=0.2, request_faults=0.1, drop_connections=0.05)
    with FaultProxy(target.url, plan) as proxy:
        uri = target.proxied(proxy, index, f"{FAST}&max_retries=10")
        with open_backend(uri) as backend:
            refusals = []
            for start in range(0, len(books), 500):
                refusals += backend.write_batch(_documents(books[start : start + 500]))
            counters = backend.write_counters()
    assert refusals == []
    assert _stored(target, index) == _expected(books)
    assert counters["retried"] == proxy.stats.transient_failures > 400
    print(
        f"\n{target.name}: 2,000 documents, {proxy.stats.bulk_requests} bulk requests, "
        f"{counters['retried']} documents retried, faults {dict(proxy.stats.injected)}, "
        "0 dead letters, 2,000 stored"
    )


def test_deletes_the_server_cannot_take_now_are_sent_again(target):
    """429s and 503s on delete items, whole requests and dropped connections, as for writes."""
    index = unique_index("deletes")
    books = _books(400)
    with open_backend(target.uri(index)) as backend:
        backend.write_batch(_documents(books))
    plan = FaultPlan(seed=5, item_faults=0.3, request_faults=0.1, drop_connections=0.05)
    with FaultProxy(target.url, plan) as proxy:
        with open_backend(target.proxied(proxy, index, f"{FAST}&max_retries=10")) as backend:
            deleted = backend.delete([b.id for b in books[:300]] + ["nope"])
            counters = backend.write_counters()
    assert deleted == 300 and counters["retried"] == proxy.stats.transient_failures > 30
    assert _stored(target, index) == _expected(books[300:])


def test_reads_after_the_writes_are_sent_again_when_the_server_is_busy(target):
    """A 503 on the refresh, the count or the read-back of a sample does not fail a
    run whose documents are all written."""
    index = unique_index("busy")
    books = _books(5)
    with open_backend(target.uri(index)) as backend:
        backend.write_batch(_documents(books))
    plan = FaultPlan(fail_first={"/_refresh": 503, "/_count": 429, "/_mget": 503})
    with FaultProxy(target.url, plan) as proxy:
        with open_backend(target.proxied(proxy, index)) as backend:
            assert backend.count() == 5
            assert set(backend.get([b.id for b in books])) == {b.id for b in books}
        assert sum(proxy.stats.injected.values()) == 3


def test_a_document_that_never_gets_through_fails_the_batch_after_max_retries(target):
    index = unique_index("forever")
    with FaultProxy(target.url, FaultPlan(fail_ids={"b7": 503})) as proxy:
        with open_backend(target.proxied(proxy, index, f"{FAST}&max_retries=3")) as backend:
            with pytest.raises(IndexWriteError, match=r"1 document\(s\) still failing after 3"):
                backend.write_batch(_documents(_books(10)))
        assert proxy.stats.attempts["b7"] == 4
    assert set(_stored(target, index)) == {f"b{n}" for n in range(10)} - {"b7"}


def test_too_large_requests_are_split_and_a_lone_oversize_document_refused(target):
    index = unique_index("split")
    books = _books(100)
    huge = Book("huge", "x" * 6000, 1)
    with FaultProxy(target.url, FaultPlan(max_request_bytes=5000)) as proxy:
        with open_backend(target.proxied(proxy, index)) as backend:
            refusals = backend.write_batch(_documents([*books[:50], huge, *books[50:]]))
            assert backend.write_counters()["split"] > 0
    assert [(r.position, r.id, r.reason[:4]) for r in refusals] == [(50, "huge", "413 ")]
    assert _stored(target, index) == _expected(books)


def test_wrong_credentials_fail_at_once_without_retries(target):
    with FaultProxy(target.url, FaultPlan(reject_all_with=401)) as proxy:
        with open_backend(target.proxied(proxy, unique_index("auth"))) as backend:
            with pytest.raises(IndexWriteError, match="401"):
                backend.write_batch(_documents(_books(3)))
        assert proxy.stats.injected["request_401"] == 1


@pytest.mark.parametrize(
    "scheme, environment, expected_prefix",
    [
        ("elasticsearch+http", {"INDEX_USERNAME": "reader", "INDEX_PASSWORD": SECRET}, "Basic "),
        ("opensearch+http", {"INDEX_USERNAME": "reader", "INDEX_PASSWORD": SECRET}, "Basic "),
        ("elasticsearch+http", {"INDEX_API_KEY": SECRET}, "ApiKey "),
        ("opensearch+aws+http", {}, "AWS4-HMAC-SHA256 Credential="),
    ],
)
def test_credentials_reach_the_server_as_headers(
    elasticsearch_url,  # noqa: F811
    monkeypatch,
    scheme,
    environment,
    expected_prefix,
):
    for name in ("INDEX_USERNAME", "INDEX_PASSWORD", "INDEX_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    query = "region=us-east-1" if "aws" in scheme else ""
    with FaultProxy(elasticsearch_url) as proxy:
        uri = f"{proxy.base(scheme)}/{unique_index('auth')}" + (f"?{query}" if query else "")
        with open_backend(uri) as backend:
            assert backend.write_batch(_documents(_books(2))) == []
    assert proxy.stats.authorization
    assert all(header.startswith(expected_prefix) for header in proxy.stats.authorization)
    if expected_prefix == "Basic ":
        assert base64.b64decode(proxy.stats.authorization[0][6:]).decode() == f"reader:{SECRET}"
    if "aws" in scheme:
        key = os.environ["AWS_ACCESS_KEY_ID"]
        assert f"Credential={key}/" in proxy.stats.authorization[0]
        assert "/us-east-1/es/aws4_request" in proxy.stats.authorization[0]


# -- pipelines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, runner",
    [
        ("es@noida", "in_process"),
        ("os@osmem", "in_process"),
        ("es@noida", "multi_process"),
        ("os@osmem", "portable"),
    ],
)
def test_pipeline_writes_every_record_and_the_index_holds_them(request, name, runner):
    target = Target(request, name)
    index = unique_index("pipeline")
    books = _books(1000)

    def build(p):
        written = (
            p
            | beam.Create(books)
            | beam.Reshuffle()
            | WriteToIndex(target.uri(index), batch_size=128)
        )
        assert_that(written.indexed, equal_to([b.id for b in books]), label="Ids")
        assert_that(written.dead_letters, equal_to([]), label="NoDeadLetters")

    result = run_pipeline(build, runner=runner)
    assert _stored(target, index) == _expected(books)
    if runner == "in_process":
        assert reindex_counters(result) == {"indexed": 1000}


def test_pipeline_retries_transient_faults_and_dead_letters_refusals(target):
    index = unique_index("pipefaults")
    _with_year_as_integer(target, index)
    books = _books(1500)
    for n in (5, 700, 1499):
        books[n].year = "unknown"
    refused = {books[n].id for n in (5, 700, 1499)}
    plan = FaultPlan(seed=5, item_faults=0.15, request_faults=0.05)
    with FaultProxy(target.url, plan) as proxy:
        uri = target.proxied(proxy, index, f"{FAST}&max_retries=10")

        def build(p):
            written = p | beam.Create(books) | WriteToIndex(uri, batch_bytes=20_000, table="books")
            letters = written.dead_letters | beam.Map(
                lambda dl: (dl["stage"], dl["error_type"], json.loads(dl["document"])["id"])
            )
            assert_that(letters, equal_to([("index", "IndexRefused", i) for i in refused]))
            reasons = written.dead_letters | beam.Map(
                lambda dl: dl["error"].startswith("400 ") and "year" in dl["error"]
            )
            assert_that(reasons, equal_to([True] * 3), label="Reasons")

        result = run_pipeline(build)
    counters = reindex_counters(result)
    assert counters["indexed"] == 1497 and counters["index_refused"] == 3
    assert counters["index_retries"] == proxy.stats.transient_failures > 100
    assert _stored(target, index) == _expected([b for b in books if b.id not in refused])
    print(
        f"\n{target.name}: 1,500 records through WriteToIndex, {proxy.stats.bulk_requests} bulk "
        f"requests, {counters['index_retries']} retried, faults {dict(proxy.stats.injected)}, "
        f"{counters['index_refused']} dead letters (400 mapping errors), "
        f"{counters['indexed']} indexed"
    )


def test_pipeline_version_field_never_lets_an_older_record_win(target):
    index = unique_index("pipeversion")
    newest = _books(200, "Newest", version=3)
    older = _books(200, "Older", version=2)
    with open_backend(target.uri(index)) as backend:
        backend.write_batch(_documents(newest), versions=[3] * 200)

    def build(p):
        written = p | beam.Create(older) | WriteToIndex(target.uri(index), version_field="version")
        assert_that(written.indexed, equal_to([b.id for b in older]))

    result = run_pipeline(build)
    assert reindex_counters(result) == {"indexed": 200, "index_version_conflicts": 200}
    assert _stored(target, index) == _expected(newest)


def test_secrets_never_travel_with_the_transform_or_reach_logs_and_dead_letters(
    elasticsearch_url,  # noqa: F811
    monkeypatch,
    caplog,
    tmp_path,
):
    monkeypatch.setenv("INDEX_USERNAME", "reader")
    monkeypatch.setenv("INDEX_PASSWORD", SECRET)
    monkeypatch.delenv("INDEX_API_KEY", raising=False)
    index = unique_index("secret")
    books = _books(40)
    books[9].title = {"not": "a string"}
    mapping = {"mappings": {"properties": {"title": {"type": "text"}}}}
    _http("PUT", f"{elasticsearch_url}/{index}", mapping)
    caplog.set_level(logging.DEBUG)
    with FaultProxy(elasticsearch_url, FaultPlan(seed=2, item_faults=0.2)) as proxy:
        uri = f"{proxy.base('elasticsearch+http')}/{index}?{FAST}"
        transform = WriteToIndex(uri, batch_size=16)
        fn = _WriteBatchesFn(transform._uri, ("id",), 16, None, None)
        assert SECRET.encode() not in pickler.dumps(transform)
        assert SECRET.encode() not in pickler.dumps(fn)
        fn.setup()
        assert SECRET.encode() not in pickler.dumps(fn)
        assert SECRET.encode() not in pickle.dumps(fn)
        fn.teardown()
        shown = DisplayData.create_from(transform).items
        assert SECRET not in repr([(item.key, item.value) for item in shown])
        dead_letters = tmp_path / "letters.jsonl"

        def build(p):
            written = p | beam.Create(books) | transform
            _ = (
                written.dead_letters
                | beam.Map(json.dumps)
                | beam.io.WriteToText(str(dead_letters), shard_name_template="")
            )

        run_pipeline(build)
    letters = dead_letters.read_text()
    assert letters.count('"stage": "index"') == 1 and "b9" in letters
    assert SECRET not in letters
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert proxy.stats.authorization and proxy.stats.injected
    expected = "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    assert set(proxy.stats.authorization) == {expected}
