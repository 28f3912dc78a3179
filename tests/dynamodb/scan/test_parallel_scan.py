"""parallel_scan, the scan without Beam, against the local server."""

import threading

import pytest

from tests.tables import seeded_table
from transforms import SegmentItem
from transforms.dynamodb.scan.errors import TableNotFound
from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.wire import dumps_item


@pytest.fixture(scope="module")
def table_900(dynamodb_client):
    items = [{"id": {"S": f"p{i:04d}"}, "b": {"B": bytes([i % 256])}} for i in range(900)]
    return seeded_table(dynamodb_client, "plain", items), items


def scan(server, table, **kwargs):
    return parallel_scan(table, endpoint_url=server.endpoint_url, region_name="us-east-1", **kwargs)


@pytest.mark.parametrize("total_segments, page_size, threads", [(1, None, 1), (8, 13, 3)])
def test_every_item_exactly_once(dynamodb_server, table_900, total_segments, page_size, threads):
    table, items = table_900
    found = scan(
        dynamodb_server, table, total_segments=total_segments, page_size=page_size, threads=threads
    )
    assert sorted(map(dumps_item, found)) == sorted(map(dumps_item, items))


def test_with_segments(dynamodb_server, table_900):
    table, items = table_900
    found = list(scan(dynamodb_server, table, total_segments=4, with_segments=True))
    assert all(isinstance(s, SegmentItem) and s.total_segments == 4 for s in found)
    assert {s.segment for s in found} == {0, 1, 2, 3}
    assert len(found) == len(items)


def test_closing_early_stops_the_threads(dynamodb_server, table_900):
    table, _ = table_900
    before = threading.active_count()
    iterator = scan(dynamodb_server, table, total_segments=8, page_size=5, threads=4)
    assert next(iterator)
    iterator.close()
    assert threading.active_count() <= before


def test_missing_table_is_raised_to_the_caller(dynamodb_server):
    with pytest.raises(TableNotFound, match="'nothing-here' was not found"):
        list(scan(dynamodb_server, "nothing-here", total_segments=2))
