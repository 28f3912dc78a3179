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


@pytest.mark.parametrize("runner", ["in_process", "portable"])
def test_above_the_threshold_the_dead_letters_are_written_before_the_job_fails(tmp_path, runner):
    """The check waits for ``WriteDeadLetters``: the files are complete, no temp folder is left."""
    from tests.runners import run_pipeline
    from transforms import WriteDeadLetters
    from transforms.dead_letters import read_dead_letters

    folder = tmp_path / "dead"

    def build(p):
        decoded = (
            p
            | beam.Create([s.item for s in SAMPLES])
            | DecodeItems(Work, max_dead_letter_fraction=0.2)
        )
        _ = (decoded.dead_letters,) | beam.Flatten() | WriteDeadLetters(str(folder))

    with pytest.raises(Exception, match=r"10 of 40 items \(25\.0%\) did not decode") as failed:
        run_pipeline(build, runner=runner)
    assert [p.name for p in folder.iterdir() if p.name.startswith("beam-temp")] == []
    letters = list(read_dead_letters(str(folder)))
    assert sorted(dl["item"]["id"]["S"] for dl in letters) == sorted(
        s.item["id"]["S"] for s in SAMPLES if s.defect
    )
    assert f"see the dead letters in {folder}" in str(failed.value)
