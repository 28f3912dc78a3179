"""The read ceiling: unit behaviour of the limiter, how it is shared among the
processes a runner reads with, then measured against moto on every runner mode."""

import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests import wire_faults
from tests.fault_proxy import FaultProxy
from tests.runners import IN_PROCESS, MULTI_PROCESS, MULTI_THREAD, PORTABLE
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB
from transforms.dynamodb.rate_limit import (
    ReadRateLimiter,
    ReadShare,
    SharedLimiter,
    process_share,
    read_share,
)
from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.scan.source import job_read_ceiling
from transforms.dynamodb.table_description import TableDescription
from transforms.runners.capabilities import reading_processes


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


def assert_held(rate: float, ceiling: float, *, above: float) -> None:
    """``rate`` is at most ``ceiling`` (plus ``above`` of it for the timing of the
    measurement) and at least half of it: the ceiling is the contract; the lower
    bound catches a limiter holding back far more than its ceiling asks, while
    leaving room for a server slowed by a loaded machine."""
    assert 0.5 * ceiling <= rate <= (1 + above) * ceiling, f"{rate:.2f} units/s for {ceiling}"


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
    assert_held(rate, 20, above=0.1)


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
    assert_held(rate, 25, above=0.1)


# -- sharing the ceiling among processes -------------------------------------------------------


def test_a_per_segment_share_grows_and_shrinks_with_the_segments_reading():
    shared = SharedLimiter(ReadShare(10.0, per_segment=True))
    with shared.reading():
        with shared.reading(), shared.reading():
            assert shared.limiter.units_per_second == 30.0
        assert shared.limiter.units_per_second == 10.0
    fixed = SharedLimiter(ReadShare(25.0))
    with fixed.reading(), fixed.reading():
        assert fixed.limiter.units_per_second == 25.0


@pytest.mark.parametrize(
    "args, expected",
    [
        (IN_PROCESS, 1),
        (MULTI_THREAD, 1),
        (MULTI_PROCESS, 2),
        (PORTABLE, 1),
        (("--runner=DirectRunner", "--direct_num_workers=3"), 1),
        (
            (
                "--runner=DirectRunner",
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=3",
            ),
            3,
        ),
        (("--runner=PortableRunner", "--job_endpoint=localhost:8099"), None),
        (("--runner=FlinkRunner", "--environment_type=DOCKER"), None),
    ],
)
def test_processes_reading_at_once_as_the_runner_tells(args, expected):
    pipeline = beam.Pipeline(options=PipelineOptions(list(args)))
    assert reading_processes(pipeline, segment_count=8) == expected


def test_shares_per_process_when_known_else_per_segment():
    assert read_share(40, 1, 16) == ReadShare(40.0)
    assert read_share(40, 4, 16) == ReadShare(10.0)
    assert read_share(40, None, 16) == ReadShare(2.5, per_segment=True)


def _balanced_table(client, per_segment: int, total_segments: int) -> str:
    """A table whose segments hold ``per_segment`` items each, so that every
    reading process has the same number of pages to read."""
    items = [{"id": {"S": f"b{i:05d}"}} for i in range(int(per_segment * total_segments * 1.6))]
    table = seeded_table(client, "balanced", items)
    for segment in range(total_segments):
        pages = client.get_paginator("scan").paginate(
            TableName=table, Segment=segment, TotalSegments=total_segments
        )
        keys = [item["id"] for page in pages for item in page["Items"]]
        assert len(keys) >= per_segment, "too few items landed in a segment"
        for key in keys[per_segment:]:
            client.delete_item(TableName=table, Key={"id": key})
    return table


CEILING = 20.0
SEGMENTS = 4
PER_SEGMENT = 45


@pytest.fixture(scope="module")
def balanced_table(dynamodb_client):
    return _balanced_table(dynamodb_client, per_segment=PER_SEGMENT, total_segments=SEGMENTS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [IN_PROCESS, MULTI_THREAD, MULTI_PROCESS, PORTABLE],
    ids=["in_process", "multi_thread", "multi_process", "portable"],
)
def test_a_job_reads_at_its_ceiling_on_every_runner(dynamodb_server, balanced_table, args):
    """At most the ceiling (plus 2% for the timing of the measurement), measured at
    the wire from every process: moto charges 1.0 unit per page, one item per page."""
    with FaultProxy(dynamodb_server.endpoint_url, {}) as proxy:
        with beam.Pipeline(options=PipelineOptions(list(args))) as p:
            _ = p | ReadFromDynamoDB(
                balanced_table,
                total_segments=SEGMENTS,
                page_size=1,
                endpoint_url=proxy.url,
                region_name="us-east-1",
                max_read_units_per_second=CEILING,
            )
        times = sorted(proxy.request_times["Scan"])
    assert len(times) == PER_SEGMENT * SEGMENTS
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\n{' '.join(args)}: {rate:.2f} units/s for a ceiling of {CEILING}")
    assert_held(rate, CEILING, above=0.02)
