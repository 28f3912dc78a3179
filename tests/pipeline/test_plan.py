"""``plan``: the numbers a user needs before pointing a job at a table."""

import pytest

from pipeline.local.sample_data import item_size
from pipeline.plan import plan_reindex, scan_read_units
from pipeline.plan.sample import sample_table
from tests.reindex_runs import cli
from tests.tables import seeded_table
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.table_description import TableDescription

GB = 1 << 30


def test_read_units_of_a_full_scan():
    assert scan_read_units(4096 * 1000, pages=1, consistent=True) == 1000
    assert scan_read_units(4096 * 1000, pages=1, consistent=False) == 500


def test_plan_of_a_large_provisioned_table():
    description = TableDescription("works", ("id",), 40_000_000, 40 * GB, "PROVISIONED", 2000)
    plan = plan_reindex(description, workers=4, max_read_units_per_second=500)
    text = plan.render()
    assert plan.total_segments == 20
    assert "one per 2 GB" in text
    assert plan.eventual_read_units == pytest.approx(5.25e6, rel=0.01)
    assert plan.strong_read_units == 2 * plan.eventual_read_units
    assert "25% of the table's provisioned read capacity" in text
    assert plan.eventual_seconds == plan.eventual_read_units / 500


def test_plan_without_a_ceiling_says_how_to_set_one():
    description = TableDescription("t", ("id",), 10, 1000, "PAY_PER_REQUEST", None)
    text = plan_reindex(description).render()
    assert "on-demand" in text and "--max-read-units-per-second" in text


def test_cli_plan(dynamodb_server, dynamodb_client):
    table = seeded_table(dynamodb_client, "plan", [{"id": {"S": f"x{i}"}} for i in range(30)])
    done = cli(
        "plan",
        "--table",
        table,
        "--endpoint-url",
        dynamodb_server.endpoint_url,
        "--region",
        "us-east-1",
        "--workers",
        "2",
        "--max-read-units-per-second",
        "100",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"table '{table}': about 30 items" in done.stdout
    assert "segments: 8 segments" in done.stdout
    assert "at 100 read units/s" in done.stdout


def _plan(server, table, *extra):
    done = cli(
        "plan",
        "--table",
        table,
        "--endpoint-url",
        server.endpoint_url,
        "--region",
        "us-east-1",
        *extra,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_plan_of_a_table_reporting_0_bytes_says_the_size_is_unknown(
    dynamodb_server, dynamodb_client
):
    """moto, like DynamoDB for a table younger than about 6 hours, reports 0 bytes."""
    table = seeded_table(dynamodb_client, "young", [{"id": {"S": f"x{i}"}} for i in range(30)])
    texts = [
        _plan(dynamodb_server, table, "--workers", workers, "--max-read-units-per-second", "50")
        for workers in ("1", "8")
    ]
    for text in texts:
        assert "size unknown" in text and "--sample-segments N" in text
        assert "read units (eventually consistent" not in text
        assert "about 0 s" not in text and "$" not in text
    assert "time and read units unknown until the size is known" in texts[0]


def test_cli_plan_sample_scan_counts_a_small_table_and_states_its_cost(
    dynamodb_server, dynamodb_client
):
    items = [{"id": {"S": f"x{i}"}, "text": {"S": "y" * 100}} for i in range(30)]
    table = seeded_table(dynamodb_client, "sampled", items)
    text = _plan(dynamodb_server, table, "--sample-segments", "4", "--workers", "2")
    size = sum(item_size(item) for item in items)
    assert f"table '{table}': about 30 items, {size:,} bytes\n" in text
    assert (
        "sample scan: counted by reading the whole table (4 segment(s)); it read 4 page(s)" in text
    )
    assert "read units (eventually consistent" in text and "choose:" in text


def test_sample_grows_the_segment_count_until_segments_are_short(dynamodb_server, dynamodb_client):
    table = seeded_table(dynamodb_client, "grow", [{"id": {"S": f"x{i}"}} for i in range(40)])
    config = DynamoDBClientConfig(
        region_name="us-east-1", endpoint_url=dynamodb_server.endpoint_url
    )
    sample = sample_table(config, table, 2, pages_per_segment=1, page_size=5)
    assert sample.complete and not sample.exact
    assert (sample.segments, sample.total_segments) == (2, 32)
    assert sample.pages > 2 and sample.read_units > 0
    assert sample.item_count == sample.items * 16
    assert "estimated from 2 of 32 segments" in sample.render()


def test_catch_up_plan_needs_a_stream_and_a_scan_within_the_retention():
    from pipeline.plan.catch_up import CatchUpPlan
    from transforms.dynamodb.stream import TableStream

    stream = TableStream("works", ("id",), "arn:aws:dynamodb:x:1:table/works/stream/s", "KEYS_ONLY")
    assert CatchUpPlan("works", None, 60).possible is False
    assert "has no enabled stream" in CatchUpPlan("works", None, 60).render()
    quick = CatchUpPlan("works", stream, 3600)
    assert quick.possible and quick.render().endswith(": possible")
    assert "KEYS_ONLY" in quick.render()
    slow = CatchUpPlan("works", stream, 30 * 3600)
    assert slow.possible is False and "outlast the stream's 24-hour retention" in slow.render()
    unknown = CatchUpPlan("works", stream, None)
    assert unknown.possible is None and "cannot be told" in unknown.render()


def test_cli_plan_says_whether_catch_up_is_possible(dynamodb_server, dynamodb_client):
    from tests.stream_tables import seeded_stream_table

    with_stream = seeded_stream_table(dynamodb_client, "NEW_AND_OLD_IMAGES", 5)
    without = seeded_table(dynamodb_client, "plan", [{"id": {"S": "x"}}])
    url = dynamodb_server.endpoint_url
    common = ("--endpoint-url", url, "--region", "us-east-1")
    done = cli("plan", "--table", with_stream, *common, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "catch-up: stream on (NEW_AND_OLD_IMAGES" in done.stdout
    done = cli("plan", "--table", without, *common, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"catch-up: not possible: table {without!r} has no enabled stream" in done.stdout
