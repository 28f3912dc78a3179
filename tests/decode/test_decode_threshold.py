"""max_dead_letter_fraction: too many undecodable items fail the job, loudly."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipeline.local.sample_data import generate_items
from pipeline.models import Work
from tests.reindex_runs import cli, reindex_args
from transforms import DecodeItems

SAMPLES = list(generate_items(40, malformed_fraction=0.25, seed=3))  # 10 of 40 malformed


def decode(max_fraction):
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        decoded = (
            p
            | beam.Create([s.item for s in SAMPLES])
            | DecodeItems(Work, max_dead_letter_fraction=max_fraction)
        )
        assert_that(
            decoded.dead_letters | beam.Map(lambda dl: dl["item"]["id"]["S"]),
            equal_to([s.item["id"]["S"] for s in SAMPLES if s.defect]),
        )


def test_below_the_threshold_the_job_succeeds():
    decode(0.25)


def test_above_the_threshold_the_job_fails_with_the_share():
    with pytest.raises(Exception, match=r"10 of 40 items \(25\.0%\) did not decode"):
        decode(0.2)


def test_invalid_threshold_is_refused():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        DecodeItems(Work, max_dead_letter_fraction=1.5)


@pytest.fixture
def small_table(dynamodb_client):
    from pipeline.local.sample_data import create_table, seed_table
    from tests.tables import unique_name

    name = unique_name("threshold")
    create_table(dynamodb_client, name)
    seed_table(dynamodb_client, name, [s.item for s in SAMPLES])
    return name


def test_cli_threshold_exit_code_keeps_dead_letters(dynamodb_server, small_table, tmp_path):
    from transforms.dead_letters import read_dead_letters

    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, small_table, tmp_path),
        "--max-dead-letter-fraction",
        "0.1",
        "--runner=FnApiRunner",
    )
    assert done.returncode == 4, done.stderr[-1500:]
    assert "10 of 40 items (25.0%) did not decode" in done.stderr
    assert len(list(read_dead_letters(str(tmp_path / "dead")))) == 10
