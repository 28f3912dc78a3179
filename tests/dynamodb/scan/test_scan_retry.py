"""A retried primary restriction: it stops where its range ends, and when it cannot
tell, what it reads again is written once.

The runner's retry is simulated step by step against the local server: a
segment is read page by page, cut after its third page into a primary
(``end_key``: that page's ``LastEvaluatedKey``) and a residual; the residual
is read; the table changes; the primary is read again.
"""

import time
from dataclasses import dataclass

import apache_beam as beam
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from dataclasses_json import dataclass_json

from tests.reindex_runs import dead_letters, index_rows
from tests.runners import reindex_counters, run_pipeline
from tests.tables import seeded_table, unique_name
from transforms import DecodeItems, WriteDeadLetters, WriteToIndex
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.errors import SegmentReadFailed
from transforms.dynamodb.scan.fn import _ScanSegmentsFn, _ScanSettings
from transforms.dynamodb.scan.outage import Outage
from transforms.dynamodb.scan.pages import RetryPolicy, ScanPageReader
from transforms.dynamodb.scan.request import ScanRequest, SegmentItem, SegmentScan
from transforms.dynamodb.scan.restriction import SegmentRestriction, SegmentRestrictionTracker

SEGMENT, TOTAL, PAGE = 0, 2, 4


@dataclass_json
@dataclass
class Numbered:
    id: str
    n: int


def _items():
    """80 items; every sixth has an ``n`` that does not decode."""
    return [
        {"id": {"S": f"r{i:02d}"}, "n": {"S": "x"} if i % 6 == 5 else {"N": str(i)}}
        for i in range(80)
    ]


@pytest.fixture
def table(dynamodb_client):
    return seeded_table(dynamodb_client, "retry", _items())


@pytest.fixture
def config(dynamodb_server):
    return DynamoDBClientConfig(region_name="us-east-1", endpoint_url=dynamodb_server.endpoint_url)


def _request(table, **options):
    return ScanRequest(table_name=table, total_segments=TOTAL, page_size=PAGE, **options)


def _pages(config, request):
    """Every page of the segment: ``(items, LastEvaluatedKey)``."""
    client = config.create_client()
    reader, pages, start = ScanPageReader(client, request), [], None
    while True:
        page = reader.read(SEGMENT, start)
        pages.append((page.items, page.last_evaluated_key))
        start = page.last_evaluated_key
        if start is None:
            return pages


def _read(config, request, restriction):
    """What the scan DoFn emits for ``restriction``, as a runner would run it."""
    settings = _ScanSettings(
        client_config=config,
        retry_policy=RetryPolicy(),
        with_segments=True,
        checkpoint_every_pages=None,
        checkpoint_every_seconds=None,
        read_share=None,
        scan_id="retry-test",
    )
    fn = _ScanSegmentsFn(settings)
    fn.setup()
    try:
        tracker = SegmentRestrictionTracker(restriction)
        scan = SegmentScan(request, restriction.segment)
        emitted = list(fn.process(scan, bundle_finalizer=None, tracker=tracker))
        tracker.check_done()
    finally:
        fn.teardown()
    return [out for out in emitted if isinstance(out, SegmentItem)]


def _ids(outputs):
    return [out.item["id"]["S"] for out in outputs]


def _split(config, request):
    """The primary and residual of a checkpoint after the third page, and the pages."""
    pages = _pages(config, request)
    assert len(pages) > 6
    end_key = pages[2][1]
    primary = SegmentRestriction(SEGMENT, TOTAL, None, end_key)
    residual = SegmentRestriction(SEGMENT, TOTAL, end_key, None)
    return primary, residual, pages


def _segment_ids(config, request):
    return sorted(item["id"]["S"] for items, _ in _pages(config, request) for item in items)


def test_retried_primary_stops_at_its_end_item_when_pages_moved(dynamodb_client, table, config):
    request = _request(table)
    primary, residual, pages = _split(config, request)
    after = _ids(_read(config, request, residual))
    first = pages[0][0][0]["id"]
    dynamodb_client.delete_item(TableName=table, Key={"id": first})  # every later page shifts
    again = _ids(_read(config, request, primary))
    assert not set(again) & set(after), "the retried primary read the residual's items"
    assert sorted(again + after) == _segment_ids(config, request)


def test_retried_primary_whose_end_item_was_deleted_stops_before_the_next_one(
    dynamodb_client, table, config
):
    request = _request(table)
    primary, residual, _ = _split(config, request)
    after = _ids(_read(config, request, residual))
    dynamodb_client.delete_item(TableName=table, Key=primary.end_key)
    again = _ids(_read(config, request, primary))
    assert not set(again) & set(after), "the retried primary read the residual's items"
    assert sorted(again + after) == _segment_ids(config, request)


def test_a_primary_that_reads_on_keeps_the_index_exact_and_writes_each_dead_letter_once(
    dynamodb_client, table, config, tmp_path
):
    """Pages moved, and a filter hides the end item and the one after it when the
    primary runs again: it cannot tell where its range ended and reads the
    residual's pages too."""
    request = _request(
        table,
        filter_expression="attribute_not_exists(#hidden)",
        expression_attribute_names={"#hidden": "hidden"},
    )
    primary, residual, pages = _split(config, request)
    after = _read(config, request, residual)
    following = after[0].item["id"]
    dynamodb_client.delete_item(TableName=table, Key={"id": pages[0][0][0]["id"]})
    for key in (primary.end_key, {"id": following}):
        dynamodb_client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #hidden = :t",
            ExpressionAttributeNames={"#hidden": "hidden"},
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )
    again = _read(config, request, primary)
    repeated = set(_ids(again)) & set(_ids(after))
    assert repeated, "the primary was expected to read on into the residual's items"
    visible = {item["id"]["S"]: item for items, _ in _pages(config, request) for item in items}
    read = {out.item["id"]["S"] for out in again + after}
    path = tmp_path / "index.db"

    def build(p):
        decoded = (
            p
            | beam.Create(again + after)
            | DecodeItems(
                Numbered, key_attributes=("id",), items_carry_segment=True, with_keys=True
            )
        )
        written = decoded.records | WriteToIndex(f"sqlite:///{path}", key_attributes=("id",))
        _ = (
            (decoded.dead_letters, written.dead_letters)
            | beam.Flatten()
            | WriteDeadLetters(str(tmp_path / "dead"))
        )

    result = run_pipeline(build)
    good = {i for i in read if "N" in _items()[int(i[1:])]["n"]}
    bad = sorted(read - good)
    assert set(index_rows(path)) == good
    assert sorted(dl["key"]["id"]["S"] for dl in dead_letters(tmp_path / "dead")) == bad
    doubled = [i for i in repeated if i in bad]
    assert doubled, "no undecodable item was read twice"
    assert reindex_counters(result)["dead_letters_repeated"] == len(doubled)
    assert set(visible) <= read


class _Unreachable:
    """A client whose every Scan fails as an endpoint that went away does."""

    def __init__(self):
        self.calls = 0

    def scan(self, **kwargs):
        self.calls += 1
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def test_a_retry_never_waits_past_the_retry_budget():
    """Backoff may ask for more than is left of ``max_retry_seconds``; it gets what is left."""
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        time.sleep(min(seconds, 0.05))

    budget = RetryPolicy(base_seconds=100, cap_seconds=100, max_retry_seconds=0.3)
    client = _Unreachable()
    reader = ScanPageReader(client, _request("any"), budget, sleep=sleep, seed=7)
    with pytest.raises(SegmentReadFailed):
        reader.read(SEGMENT, None)
    assert waits and all(wait <= 0.3 for wait in waits), waits
    assert client.calls == len(waits) + 1


class _Switchable:
    """A client whose Scans fail as an unreachable endpoint's do while ``down``."""

    def __init__(self, down: bool = True):
        self.down = down
        self.calls = 0

    def scan(self, **kwargs):
        self.calls += 1
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        return {"Items": [], "Count": 0, "ScannedCount": 0, "ResponseMetadata": {}}


_SHORT_BUDGET = RetryPolicy(base_seconds=0.01, cap_seconds=0.02, max_retry_seconds=0.3)


def _reader(client, table):
    return ScanPageReader(client, _request(table), _SHORT_BUDGET, seed=7)


def test_segments_read_one_after_another_share_the_outage_budget():
    """A worker that gave up on one segment tries the next once, not for a whole budget."""
    table = unique_name("outage")
    first, second = _Switchable(), _Switchable()
    with pytest.raises(SegmentReadFailed):
        _reader(first, table).read(0, None)
    assert first.calls > 2
    with pytest.raises(SegmentReadFailed, match=r"reads failing for \d+ s"):
        _reader(second, table).read(1, None)
    assert second.calls == 1


def test_a_page_read_whole_ends_the_outage():
    table = unique_name("outage")
    with pytest.raises(SegmentReadFailed):
        _reader(_Switchable(), table).read(0, None)
    _reader(_Switchable(down=False), table).read(1, None)
    again = _Switchable()
    with pytest.raises(SegmentReadFailed):
        _reader(again, table).read(0, None)
    assert again.calls > 2  # a budget of its own


def test_an_outage_is_the_tables_own():
    with pytest.raises(SegmentReadFailed):
        _reader(_Switchable(), unique_name("outage")).read(0, None)
    other = _Switchable()
    with pytest.raises(SegmentReadFailed):
        _reader(other, unique_name("outage")).read(0, None)
    assert other.calls > 2


def test_a_failure_a_budget_after_the_last_starts_a_new_outage():
    outage = Outage()
    assert outage.failed(100.0, stale_after=10) == 100.0
    assert outage.failed(108.0, stale_after=10) == 100.0
    assert outage.failed(117.0, stale_after=10) == 100.0  # 9 s after the last failure
    assert outage.failed(130.0, stale_after=10) == 130.0
    outage.ended()
    assert outage.failed(131.0, stale_after=10) == 131.0


class _Throttled(_Switchable):
    """A client whose Scans are throttled: the table answers, too busy."""

    def scan(self, **kwargs):
        self.calls += 1
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "Scan",
        )


def test_throttling_is_not_an_outage():
    """A hot partition that throttled one segment past its budget does not condemn the next."""
    table = unique_name("outage")
    with pytest.raises(SegmentReadFailed):
        _reader(_Throttled(), table).read(0, None)
    second = _Throttled()
    with pytest.raises(SegmentReadFailed):
        _reader(second, table).read(1, None)
    assert second.calls > 2  # a budget of its own
