"""The fast Scan page parser gives exactly what botocore's parser gives.

Two clients – ``DynamoDBClientConfig(fast_scan_parse=True)`` and ``False`` –
read the same bytes: canned responses handed over by a ``before-send`` hook
(generated bodies of every attribute type, odd spellings, errors, retries),
and real pages from the local DynamoDB server (every type, nested binaries,
binary keys in ``LastEvaluatedKey``).
"""

from __future__ import annotations

import base64
import gc
import json
import os
import threading
import time
import zlib

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transforms.dynamodb.scan.page_parse as scan_wire
from tests.tables import seeded_table
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.page_parse import split_scan_body
from transforms.dynamodb.scan.pages import ScanPageReader
from transforms.dynamodb.scan.request import ScanRequest

REGION = "us-east-1"
THROTTLE = (
    400,
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
    b'"message":"slow down"}',
)


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


class CannedClients:
    """A fast and a plain client that answer Scan from a list of (status, body)."""

    def __init__(self):
        self.responses: list[tuple[int, bytes, dict]] = []
        self.sent = 0
        self.fast = self._client(True)
        self.plain = self._client(False)

    def _client(self, fast: bool):
        config = DynamoDBClientConfig(
            region_name=REGION, endpoint_url="http://127.0.0.1:9", fast_scan_parse=fast
        )
        client = config.create_client()
        client.meta.events.register("before-send.dynamodb.Scan", self._answer)
        return client

    def _answer(self, request, **_kwargs):
        status, body, headers = self.responses[self.sent]
        self.sent += 1
        headers = {
            "x-amzn-requestid": f"r{self.sent}",
            "content-type": "application/x-amz-json-1.0",
            **headers,
        }
        return AWSResponse(request.url, status, headers, _Raw(body))

    def scan_both(self, *responses) -> tuple[object, object]:
        """What each client makes of the same responses: a result or an exception."""
        results = []
        for client in (self.fast, self.plain):
            self.responses = [_with_headers(r) for r in responses]
            self.sent = 0
            try:
                results.append(client.scan(TableName="t"))
            except Exception as error:  # compared below
                results.append(error)
        return results[0], results[1]


def _with_headers(response):
    if len(response) == 3:
        return response
    status, body = response
    return status, body, {"x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF)}


@pytest.fixture(scope="module")
def canned():
    return CannedClients()


def assert_same(fast, plain):
    if isinstance(plain, Exception):
        assert type(fast) is type(plain)
        assert str(fast) == str(plain)
    else:
        assert fast == plain


# ------------------------------------------------------------- generated bodies

_text = st.text(max_size=12)
_b64 = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
_number = st.integers(-(10**12), 10**12).map(str)
_scalar = st.one_of(
    _text.map(lambda s: {"S": s}),
    _number.map(lambda n: {"N": n}),
    _b64.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(_text, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
    st.lists(_number, min_size=1, max_size=3, unique=True).map(lambda v: {"NS": v}),
    st.lists(_b64, min_size=1, max_size=3, unique=True).map(lambda v: {"BS": v}),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(_text, inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)
_item = st.dictionaries(_text, _value, max_size=5)
_key = st.dictionaries(
    st.sampled_from(["id", "B", "k"]),
    st.one_of(
        _text.map(lambda s: {"S": s}),
        _number.map(lambda n: {"N": n}),
        _b64.map(lambda b: {"B": b}),
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def scan_bodies(draw) -> bytes:
    items = draw(st.lists(_item, max_size=6))
    body = {
        "Items": items,
        "Count": len(items),
        "ScannedCount": len(items) + draw(st.integers(0, 3)),
    }
    if draw(st.booleans()):
        body["LastEvaluatedKey"] = draw(_key)
    if draw(st.booleans()):
        body["ConsumedCapacity"] = {
            "TableName": "t",
            "CapacityUnits": draw(st.sampled_from([0.5, 1.0, 2, 128.5])),
        }
    compact = draw(st.booleans())
    text = json.dumps(
        body,
        ensure_ascii=draw(st.booleans()),
        separators=(",", ":") if compact else (", ", ": "),
    )
    return text.encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=scan_bodies())
def test_generated_pages_parse_exactly_as_botocore_parses_them(canned, body):
    assert_same(*canned.scan_both((200, body)))


def test_nested_binaries_and_binary_keys(canned):
    blob = base64.b64encode(b"\x00\xffbin").decode()
    item = {
        "id": {"B": blob},
        "set": {"BS": [blob, base64.b64encode(b"x").decode()]},
        "deep": {"L": [{"M": {"b": {"B": blob}, "l": {"L": [{"BS": [blob]}, {"S": "B"}]}}}]},
        "B": {"S": "an attribute named B"},
        "flag": {"BOOL": True},
    }
    body = json.dumps(
        {
            "Items": [item, {"id": {"S": "plain"}}],
            "Count": 2,
            "LastEvaluatedKey": {"id": {"B": blob}},
        }
    ).encode()
    fast, plain = canned.scan_both((200, body))
    assert fast == plain
    assert fast["Items"][0]["deep"]["L"][0]["M"]["b"] == {"B": b"\x00\xffbin"}
    assert fast["Items"][0]["set"] == {"BS": [b"\x00\xffbin", b"x"]}
    assert fast["LastEvaluatedKey"] == {"id": {"B": b"\x00\xffbin"}}


@pytest.mark.parametrize(
    "body",
    [
        # escaped tag letters: "\u0042" is B, "\u0053" is S
        b'{"Items":[{"a":{"M":{"x":{"\\u0042":"AAE="}}},"b":{"B\\u0053":["AAE="]}}],"Count":1}',
        # the tag count in the text is met at the top level only by a string "B"
        b'{"Items":[{"s":{"S":"B"},"m":{"M":{"x":{"B":"AAE="}}}}],"Count":1}',
        # nulls, which botocore drops from structures
        b'{"Items":[{"a":{"S":"x","N":null}}],"Count":1,"LastEvaluatedKey":null}',
        b'{"Items":[{"a":{"L":[null,{"S":"x"}]}}],"Count":1}',
        # whitespace everywhere
        b'{ "Items" : [ { "a" : { "B" : "AAE=" } } ] , "Count" : 1 }',
        # bodies the handler leaves to botocore
        b'{"Count": 0}',
        b'{"Items": {"not": "a list"}}',
        b"[]",
        b"not json",
        b"",
    ],
    ids=[
        "escaped-tags",
        "string-B-and-nested-binary",
        "null-member",
        "null-in-list",
        "whitespace",
        "no-items",
        "items-not-a-list",
        "array",
        "not-json",
        "empty",
    ],
)
def test_odd_bodies_parse_as_botocore_parses_them(canned, body):
    assert_same(*canned.scan_both((200, body)))


def test_invalid_base64_fails_as_botocore_fails(canned):
    body = b'{"Items":[{"a":{"B":"not base64!"}}],"Count":1}'
    fast, plain = canned.scan_both((200, body))
    assert_same(fast, plain)


def test_error_responses_are_left_to_botocore(canned):
    fast, plain = canned.scan_both(
        (400, b'{"__type":"com.amazon.coral.validate#ValidationException","message":"no"}')
    )
    assert isinstance(fast, ClientError)
    assert_same(fast, plain)


def test_retries_still_apply_to_throttling(canned):
    page = b'{"Items":[{"id":{"B":"AAE="}}],"Count":1,"ScannedCount":1}'
    fast, plain = canned.scan_both(THROTTLE, (200, page))
    assert fast == plain
    assert fast["ResponseMetadata"]["RetryAttempts"] == 1
    assert fast["Items"] == [{"id": {"B": b"\x00\x01"}}]


def test_a_corrupted_page_is_retried_by_its_crc32(canned):
    page = b'{"Items":[{"id":{"S":"a"}}],"Count":1,"ScannedCount":1}'
    corrupted = (200, page.replace(b'"a"', b'"b"'), {"x-amz-crc32": str(zlib.crc32(page))})
    fast, plain = canned.scan_both(corrupted, (200, page))
    assert fast == plain
    assert fast["ResponseMetadata"]["RetryAttempts"] == 1
    assert fast["Items"] == [{"id": {"S": "a"}}]


def test_a_type_botocore_does_not_know_is_passed_on_as_sent():
    """The one documented difference, for values DynamoDB does not send today."""
    items, rest = split_scan_body(b'{"Items":[{"a":{"NEW":"x"}}],"Count":1}')
    assert items == [{"a": {"NEW": "x"}}]
    assert json.loads(rest) == {"Count": 1}


def test_the_parser_is_installed_by_default(monkeypatch):
    calls = []
    original = scan_wire.split_scan_body

    def counting(body, item_decoder=None):
        calls.append(len(body))
        return original(body, item_decoder)

    monkeypatch.setattr(scan_wire, "split_scan_body", counting)
    clients = CannedClients()
    clients.scan_both((200, b'{"Items":[],"Count":0}'))
    assert len(calls) == 1  # the fast client only
    assert DynamoDBClientConfig().fast_scan_parse


class _OverlapCounter:
    """An item decoder that takes its time (sleeping, so another thread may run)
    and notes how many threads were decoding at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self.most = 0
        self.calls = 0

    def __call__(self, text) -> dict:
        with self._lock:
            self._inside += 1
            self.calls += 1
            self.most = max(self.most, self._inside)
        time.sleep(0.01)
        with self._lock:
            self._inside -= 1
        return json.loads(bytes(text))


def _client_answering(page: bytes, item_decoder):
    client = DynamoDBClientConfig(
        region_name=REGION, endpoint_url="http://127.0.0.1:9"
    ).create_client(item_decoder)
    status, body, headers = _with_headers((200, page))

    def answer(request, **_kwargs):
        return AWSResponse(request.url, status, {"x-amzn-requestid": "r", **headers}, _Raw(body))

    client.meta.events.register("before-send.dynamodb.Scan", answer)
    return client


def test_threads_parse_their_pages_one_at_a_time():
    """Pages that arrive at once are parsed in turns (``PARSE_TURN``), each whole."""
    items = [{"id": {"S": f"i{i}"}} for i in range(5)]
    page = json.dumps({"Items": items, "Count": 5, "ScannedCount": 5}).encode()
    decoder = _OverlapCounter()
    clients = [_client_answering(page, decoder) for _ in range(4)]
    pages: list = []
    threads = [
        threading.Thread(target=lambda c=c: pages.append(c.scan(TableName="t")["Items"]))
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pages == [items] * 4
    assert decoder.calls == 20
    assert decoder.most == 1


class _HeldDecoder:
    """An item decoder that holds its page's parse until ``release`` is set."""

    def __init__(self):
        self.inside = threading.Event()
        self.release = threading.Event()

    def __call__(self, text) -> dict:
        self.inside.set()
        self.release.wait(30)
        return json.loads(bytes(text))


def test_a_turn_is_nested_by_a_models_own_parse():
    """A model whose own code reads a page (inside its page's turn) does not wait for itself."""
    page = json.dumps({"Items": [{"id": {"S": "a"}}], "Count": 1}).encode()
    inner = _client_answering(page, None)
    outer = _client_answering(page, lambda text: inner.scan(TableName="t")["Items"])
    pages = []
    reading = threading.Thread(
        target=lambda: pages.append(outer.scan(TableName="t")["Items"]), daemon=True
    )
    reading.start()
    reading.join(30)  # a turn that waited for itself would never end
    assert pages == [[[{"id": {"S": "a"}}]]]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_parse_parses_and_collects():
    """The parsing thread is not in the child: its turn and its collector pause are not either."""
    assert gc.isenabled()
    page = json.dumps({"Items": [{"id": {"S": "a"}}], "Count": 1}).encode()
    decoder = _HeldDecoder()
    client = _client_answering(page, decoder)
    parsing = threading.Thread(target=lambda: client.scan(TableName="t"))
    parsing.start()
    try:
        assert decoder.inside.wait(30)
        assert not gc.isenabled()  # paused by the parse
        pid = os.fork()
        if pid == 0:  # the child: nothing that could wait on the parent's threads
            free = scan_wire.PARSE_TURN.acquire(blocking=False)
            os._exit(0 if free and gc.isenabled() else 1)
    finally:
        decoder.release.set()
        parsing.join(30)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gc.isenabled()


# --------------------------------------------------------- against a real server

BLOB = b"\x00\x01\xfe\xff"


def every_type_item(i: int, key: dict) -> dict:
    return {
        **key,
        "s": {"S": f"text {i} é \u2603"},
        "n": {"N": str(i * 1.5)},
        "b": {"B": BLOB + bytes([i % 256])},
        "ss": {"SS": [f"a{i}", "b"]},
        "ns": {"NS": ["1", str(i + 2)]},
        "bs": {"BS": [BLOB, bytes([i % 256, 7])]},
        "bool": {"BOOL": i % 2 == 0},
        "null": {"NULL": True},
        "l": {"L": [{"B": BLOB}, {"S": "x"}, {"M": {"deep": {"BS": [BLOB]}}}]},
        "m": {"M": {"b": {"B": bytes([i % 256])}, "l": {"L": [{"N": "1"}, {"B": BLOB}]}}},
        "B": {"S": "B"},
    }


def all_pages(client, table: str, segment: int, total: int, limit: int) -> list[dict]:
    request = ScanRequest(table_name=table, total_segments=total, page_size=limit)
    reader_pages, start = [], None
    while True:
        response = client.scan(**request.page_request(segment, start))
        response.pop("ResponseMetadata")
        reader_pages.append(response)
        start = response.get("LastEvaluatedKey")
        if start is None:
            return reader_pages


@pytest.mark.parametrize(
    "hash_key, range_key, make_key, total",
    [
        (("id", "S"), None, lambda i: {"id": {"S": f"w{i}"}}, 3),
        (
            ("h", "S"),
            ("r", "B"),
            lambda i: {"h": {"S": f"h{i % 12}"}, "r": {"B": BLOB + bytes([i])}},
            3,
        ),
        (("k", "B"), None, lambda i: {"k": {"B": bytes([i]) + BLOB}}, 1),
    ],
    ids=["hash-S", "hash-S-range-B", "hash-B"],
)
def test_real_pages_are_identical(
    dynamodb_server, dynamodb_client, hash_key, range_key, make_key, total
):
    items = [every_type_item(i, make_key(i)) for i in range(60)]
    table = seeded_table(dynamodb_client, "wire", items, hash_key=hash_key, range_key=range_key)
    fast = DynamoDBClientConfig(region_name=REGION, endpoint_url=dynamodb_server.endpoint_url)
    plain = DynamoDBClientConfig(
        region_name=REGION, endpoint_url=dynamodb_server.endpoint_url, fast_scan_parse=False
    )
    fast_client, plain_client = fast.create_client(), plain.create_client()
    seen = keys = 0
    for segment in range(total):
        fast_pages = all_pages(fast_client, table, segment, total, 7)
        assert fast_pages == all_pages(plain_client, table, segment, total, 7)
        seen += sum(len(page["Items"]) for page in fast_pages)
        keys += sum("LastEvaluatedKey" in page for page in fast_pages)
    assert seen == len(items)
    assert keys >= len(items) // 7 - total


def test_scan_page_reader_reads_the_same_pages(dynamodb_server, dynamodb_client):
    items = [every_type_item(i, {"id": {"S": f"r{i}"}}) for i in range(40)]
    table = seeded_table(dynamodb_client, "wire-reader", items)
    request = ScanRequest(table_name=table, total_segments=2, page_size=9)
    pages = {}
    for fast in (True, False):
        config = DynamoDBClientConfig(
            region_name=REGION, endpoint_url=dynamodb_server.endpoint_url, fast_scan_parse=fast
        )
        reader = ScanPageReader(config.create_client(), request)
        read = []
        for segment in range(2):
            start = None
            while True:
                page = reader.read(segment, start)
                read.append(
                    (
                        page.items,
                        page.last_evaluated_key,
                        page.consumed_read_units,
                        page.scanned_count,
                    )
                )
                start = page.last_evaluated_key
                if start is None:
                    break
        pages[fast] = read
    assert pages[True] == pages[False]
    assert sorted(item["id"]["S"] for page in pages[True] for item in page[0]) == sorted(
        item["id"]["S"] for item in items
    )
