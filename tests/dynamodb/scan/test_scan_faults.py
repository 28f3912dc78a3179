"""The scan under faults injected at the wire (botocore's before-send hook).

Throttles and 500s on a share of Scan calls are retried by botocore and then
by the source's own loop, which repeats the same page request: every item
still arrives exactly once. A fault that never ends fails the job with the
segment and the key to resume from.
"""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from tests import wire_faults
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.scan.errors import SegmentReadFailed
from transforms.dynamodb.scan.pages import RetryPolicy
from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.wire import dumps_item

FAST_RETRIES = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_retry_seconds=60)


@pytest.fixture(scope="module")
def table_800(dynamodb_client):
    items = [{"id": {"S": f"f{i:04d}"}, "n": {"N": str(i)}} for i in range(800)]
    return seeded_table(dynamodb_client, "faults", items), items


def faulty(server, rate, max_attempts, seed=1):
    return wire_faults.FaultyClientConfig(
        region_name="us-east-1",
        endpoint_url=server.endpoint_url,
        max_attempts=max_attempts,
        fault_rate=rate,
        seed=seed,
    )


@pytest.mark.slow
@pytest.mark.parametrize("rate, max_attempts", [(0.10, 8), (0.50, 3), (0.50, 1)])
def test_every_item_exactly_once_under_faults(dynamodb_server, table_800, rate, max_attempts):
    """max_attempts=1: every fault gets past botocore to the source's own loop."""
    table, items = table_800
    wire_faults.reset()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        found = p | ReadFromDynamoDB(
            table,
            total_segments=4,
            page_size=20,
            client_config=faulty(dynamodb_server, rate, max_attempts),
            retry_policy=FAST_RETRIES,
            checkpoint_every_pages=3,
        )
        assert_that(found | beam.Map(dumps_item), equal_to([dumps_item(i) for i in items]))
    injected = sum(wire_faults.INJECTED.values())
    assert injected >= 10 * rate, wire_faults.INJECTED


def test_parallel_scan_under_faults(dynamodb_server, table_800):
    table, items = table_800
    found = parallel_scan(
        table,
        total_segments=4,
        page_size=25,
        client_config=faulty(dynamodb_server, 0.5, 1, seed=5),
        retry_policy=FAST_RETRIES,
    )
    assert sorted(map(dumps_item, found)) == sorted(map(dumps_item, items))


def test_persistent_fault_names_segment_and_resume_key(dynamodb_server, table_800):
    table, _ = table_800
    never_ending = RetryPolicy(base_seconds=0.01, cap_seconds=0.02, max_retry_seconds=0.5)
    with pytest.raises(SegmentReadFailed, match=r"segment \d of 2 of table .* stopped at") as info:
        list(
            parallel_scan(
                table,
                total_segments=2,
                client_config=faulty(dynamodb_server, 1.0, 1),
                retry_policy=never_ending,
            )
        )
    assert info.value.total_segments == 2
    assert info.value.resume_key is None  # no page was read: resume from the start
