"""Reading a segment's next page while the current one is processed.

``PageReadAhead`` alone: which read a page comes from, and what becomes of
errors and of reads that are never taken. Then the scan through Beam, behind
a proxy that records every request: the next page is asked for before the
current page's items are through the pipeline, and every request made is a
page claimed – with a checkpoint after every page too, and with several
worker threads, no page is read in vain.
"""

import concurrent.futures
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.summary import counter_totals
from tests.fault_proxy import FaultProxy
from tests.runners import MULTI_THREAD, run_pipeline
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.pages import ReadAbandoned, RetryPolicy, ScanPageReader
from transforms.dynamodb.scan.read_ahead import ActiveReaders, PageReadAhead
from transforms.dynamodb.scan.request import ScanRequest
from transforms.dynamodb.wire import dumps_item


@pytest.fixture
def executor():
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


class _Reads:
    """A page source: the start key comes back as the page; records each call's thread."""

    def __init__(self, failing=(), wait=0.0):
        self.calls = []
        self._wait = wait
        self._failing = set(failing)
        self.release = threading.Event()
        self.release.set()

    def __call__(self, start_key, abandoned=None):
        self.release.wait(10)
        self.abandoned = abandoned
        self.calls.append((start_key, threading.current_thread().name))
        time.sleep(self._wait)  # the round trip: no CPU
        if start_key in self._failing:
            raise RuntimeError(f"read of {start_key} failed")
        return f"page after {start_key}"


def test_a_page_read_ahead_is_the_one_taken(executor):
    reads = _Reads()
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0)
    assert pages.page(None) == "page after None"
    pages.ahead("k1")
    assert pages.page("k1") == "page after k1"
    assert [key for key, _ in reads.calls] == [None, "k1"]
    assert reads.calls[0][1] == threading.current_thread().name
    assert reads.calls[1][1] != threading.current_thread().name


def test_a_page_of_another_key_is_read_directly(executor):
    reads = _Reads()
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0)
    pages.ahead("k1")
    assert pages.page("k2") == "page after k2"
    assert pages.page("k1") == "page after k1"  # the read ahead was forgotten: read again
    assert sorted(key for key, _ in reads.calls) == ["k1", "k1", "k2"]


def test_the_error_of_a_page_read_ahead_comes_when_it_is_taken(executor):
    pages = PageReadAhead(executor, _Reads(failing={"bad"}), ActiveReaders(), min_wait=0)
    pages.ahead("bad")
    with pytest.raises(RuntimeError, match="read of bad failed"):
        pages.page("bad")


def test_a_dropped_read_is_never_taken_and_its_error_is_lost(executor):
    reads = _Reads(failing={"bad"})
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0)
    pages.ahead("bad")
    pages.drop()
    assert pages.page("good") == "page after good"


def test_a_dropped_read_is_told_it_is_abandoned(executor):
    reads = _Reads()
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0)
    pages.ahead("k1")
    executor.submit(lambda: None).result()  # the read ahead has run
    assert not reads.abandoned()
    pages.drop()
    assert reads.abandoned()


def test_an_abandoned_read_stops_retrying_a_failing_request(dynamodb_server, table_300):
    """Every Scan fails with a 500: a read would retry for its policy's 60 s;
    abandoned, it stops after the first failure."""
    fails = {"http500": 1.0}
    with FaultProxy(dynamodb_server.endpoint_url, fails, max_faults=None) as proxy:
        config = DynamoDBClientConfig(
            region_name="us-east-1", endpoint_url=proxy.url, max_attempts=1
        )
        client = config.create_client()
        reader = ScanPageReader(
            client,
            ScanRequest(table_name=table_300, total_segments=2, page_size=10),
            RetryPolicy(base_seconds=0.01, cap_seconds=0.02, max_retry_seconds=60),
        )
        with pytest.raises(ReadAbandoned):
            reader.read(0, None, abandoned=lambda: True)
        client.close()
        assert proxy.requests["Scan"] == 2  # one call: botocore's try and its one retry


def test_at_most_one_read_is_ahead(executor):
    reads = _Reads()
    reads.release.clear()  # the first read ahead waits
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0)
    pages.ahead("k1")
    pages.ahead("k2")  # replaces k1, which is then not taken (cancelled if not started)
    reads.release.set()
    assert pages.page("k2") == "page after k2"
    assert [key for key, _ in reads.calls][-1] == "k2"


def test_only_a_lone_reader_reads_ahead(executor):
    readers = ActiveReaders()
    reads = _Reads()
    pages = PageReadAhead(executor, reads, readers, min_wait=0)
    me = threading.current_thread().name
    with readers.reading():
        pages.ahead("k1")
        assert pages.page("k1") == "page after k1"
        assert reads.calls[-1] != ("k1", me)  # read on the executor's thread
        with readers.reading():  # a second restriction is read in this process
            pages.ahead("k2")
            assert pages.page("k2") == "page after k2"
            assert reads.calls[-1] == ("k2", me)  # not ahead: read when taken
        pages.ahead("k3")  # alone again
        assert pages.page("k3") == "page after k3"
        assert reads.calls[-1] != ("k3", me)
    assert len(reads.calls) == 3


@pytest.mark.parametrize("wait, ahead", [(0.0, False), (0.03, True)])
def test_only_a_read_that_waited_makes_the_next_pages_read_ahead(executor, wait, ahead):
    reads = _Reads(wait=wait)
    pages = PageReadAhead(executor, reads, ActiveReaders(), min_wait=0.02)
    me = threading.current_thread().name
    pages.page(None)  # a direct read, timed
    pages.ahead("k1")
    pages.page("k1")
    assert (reads.calls[-1][1] != me) is ahead


ITEMS = [{"id": {"S": f"r{i:03d}"}, "n": {"N": str(i)}} for i in range(300)]


@pytest.fixture(scope="module")
def table_300(dynamodb_client):
    return seeded_table(dynamodb_client, "readahead", ITEMS)


class _SlowSink(beam.DoFn):
    """Takes ``delay`` seconds per item for the first ``slow_items`` items and
    notes when each item is done."""

    done: list[float] = []

    def __init__(self, delay, slow_items):
        self._delay = delay
        self._slow_items = slow_items

    def process(self, item):
        if len(_SlowSink.done) < self._slow_items:
            time.sleep(self._delay)
        _SlowSink.done.append(time.monotonic())


def _read_behind_slow_proxy(server, table, slow_seconds, downstream, *runner_args, **options):
    """Runs ``ReadFromDynamoDB(table, **options)`` into ``downstream`` behind a
    proxy that answers every Scan ``slow_seconds`` late (a round trip worth
    hiding); returns the finished result and the proxy, with its records."""
    slow = {"slow": 1.0}
    with FaultProxy(server.endpoint_url, slow, max_faults=None, slow_seconds=slow_seconds) as proxy:

        def build(p):
            downstream(
                p
                | ReadFromDynamoDB(
                    table, endpoint_url=proxy.url, region_name="us-east-1", **options
                )
            )

        result = run_pipeline(build, *runner_args)
    return result, proxy


def test_the_next_page_is_asked_for_while_the_page_is_processed(dynamodb_server, table_300):
    _SlowSink.done = []
    _, proxy = _read_behind_slow_proxy(
        dynamodb_server,
        table_300,
        0.03,
        lambda items: items | beam.ParDo(_SlowSink(0.05, slow_items=20)),
        total_segments=1,
        page_size=10,
    )
    scans = proxy.request_times["Scan"]
    assert len(_SlowSink.done) == len(ITEMS)
    # The second page was requested before the first page's 10 items were
    # through the sink (0.5 s): read ahead, not after them.
    assert scans[1] < _SlowSink.done[9]


@pytest.mark.parametrize(
    "checkpoint_every_pages, runner_args", [(None, ()), (1, ()), (None, MULTI_THREAD[1:])]
)
def test_every_page_requested_is_a_page_claimed(
    dynamodb_server, table_300, checkpoint_every_pages, runner_args
):
    def check(items):
        assert_that(items | beam.Map(dumps_item), equal_to([dumps_item(i) for i in ITEMS]))

    result, proxy = _read_behind_slow_proxy(
        dynamodb_server,
        table_300,
        0.02,
        check,
        *runner_args,
        total_segments=4,
        page_size=20,
        checkpoint_every_pages=checkpoint_every_pages,
    )
    counters = counter_totals(result)
    assert proxy.requests["Scan"] == counters[("dynamodb", "pages")]
    if checkpoint_every_pages:
        assert counters[("dynamodb", "checkpoints")] >= 300 // 20 - 4
