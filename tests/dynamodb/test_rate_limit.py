"""The read ceiling: unit behaviour of the limiter, then measured against moto."""

import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests import wire_faults
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.rate_limit import ReadRateLimiter, process_share
from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.scan.source import job_read_ceiling
from transforms.dynamodb.table_description import TableDescription


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_reservations_are_spaced_by_the_rate():
    clock = FakeClock()
    limiter = ReadRateLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        reserved = limiter.reserve()
        limiter.settle(reserved, 1.0)
    assert clock.now == pytest.approx(0.4)


def test_settling_a_costlier_page_delays_the_next_turn():
    clock = FakeClock()
    limiter = ReadRateLimiter(10.0, clock=clock, sleep=clock.sleep)
    limiter.settle(limiter.reserve(), 20.0)  # reserved 1, cost 20: 2 s of debt
    limiter.reserve()
    assert clock.now == pytest.approx(2.0)


def test_estimate_follows_what_pages_cost():
    clock = FakeClock()
    limiter = ReadRateLimiter(100.0, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.settle(limiter.reserve(), 64.0)
    assert limiter.reserve() == pytest.approx(64.0, rel=0.01)


def test_invalid_rates_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        ReadRateLimiter(0)
    with pytest.raises(ValueError, match="at least 1"):
        process_share(10, 0)


def test_ceiling_from_a_fraction_of_provisioned_capacity():
    provisioned = TableDescription("t", ("id",), 0, 0, "PROVISIONED", 400)
    assert job_read_ceiling(None, 0.25, provisioned) == 100


def test_fraction_of_an_on_demand_table_asks_for_an_explicit_ceiling():
    on_demand = TableDescription("t", ("id",), 0, 0, "PAY_PER_REQUEST", None)
    with pytest.raises(ValueError, match=r"on-demand.*--max-read-units-per-second"):
        job_read_ceiling(None, 0.5, on_demand)


def test_both_kinds_of_ceiling_are_refused():
    with pytest.raises(ValueError, match="not both"):
        ReadFromDynamoDB("t", 4, max_read_units_per_second=10, read_capacity_fraction=0.5)


@pytest.fixture(scope="module")
def table_600(dynamodb_client):
    items = [{"id": {"S": f"r{i:04d}"}, "v": {"N": str(i)}} for i in range(600)]
    return seeded_table(dynamodb_client, "rate", items), items


def test_parallel_scan_holds_the_ceiling_across_threads(dynamodb_server, table_600):
    """moto charges 1.0 unit per Scan page: 20 units/s is 20 pages/s."""
    table, items = table_600
    wire_faults.reset()
    config = wire_faults.ObservedClientConfig(
        region_name="us-east-1", endpoint_url=dynamodb_server.endpoint_url
    )
    found = list(
        parallel_scan(
            table,
            total_segments=4,
            page_size=8,
            threads=4,
            max_read_units_per_second=20,
            client_config=config,
        )
    )
    assert sorted(i["id"]["S"] for i in found) == sorted(i["id"]["S"] for i in items)
    rate = wire_faults.consumed_rate()
    assert 0.9 * 20 <= rate <= 1.1 * 20, rate


def test_pipeline_holds_the_ceiling(dynamodb_server, table_600):
    table, _ = table_600
    wire_faults.reset()
    config = wire_faults.ObservedClientConfig(
        region_name="us-east-1", endpoint_url=dynamodb_server.endpoint_url
    )
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        _ = p | ReadFromDynamoDB(
            table,
            total_segments=3,
            page_size=10,
            max_read_units_per_second=25,
            client_config=config,
        )
    rate = wire_faults.consumed_rate()
    assert 0.9 * 25 <= rate <= 1.1 * 25, rate
