"""``plan``: the numbers a user needs before pointing a job at a table."""

import pytest

from pipeline.plan import plan_reindex, scan_read_units
from tests.reindex_runs import cli
from tests.tables import seeded_table
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
