"""Dead letters on S3 (the local server's S3 API): written with and without letters.

Beam's S3 writer cannot make an empty object (S3 refuses a multipart upload
of no parts), so a dead-letter file with no letter holds one blank line there.
"""

from __future__ import annotations

import itertools

import apache_beam as beam
import boto3
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from tests.reindex_runs import cli, index_rows, reindex_args, sample_table
from tests.runners import IN_PROCESS, PORTABLE
from transforms.dead_letters import WriteDeadLetters, dead_letter, read_dead_letters

_buckets = itertools.count()


@pytest.fixture
def bucket(dynamodb_server):
    s3 = boto3.client("s3", endpoint_url=dynamodb_server.endpoint_url, region_name="us-east-1")
    name = f"dead-letters-{next(_buckets)}"
    s3.create_bucket(Bucket=name)
    return name


def s3_options(server) -> list[str]:
    return [f"--s3_endpoint_url={server.endpoint_url}", "--s3_region_name=us-east-1"]


@pytest.mark.parametrize("malformed", [0.0, 0.1], ids=["none", "some"])
def test_cli_reindex_writes_its_dead_letters_to_s3(
    dynamodb_server, dynamodb_client, bucket, tmp_path, malformed
):
    table, good, bad = sample_table(dynamodb_client, "s3-letters", 60, malformed, seed=13)
    args = reindex_args(dynamodb_server.endpoint_url, table, tmp_path)
    where = args.index("--dead-letters")
    args[where + 1] = f"s3://{bucket}/dl"
    done = cli(*args, *IN_PROCESS, *s3_options(dynamodb_server))
    assert done.returncode == 0, done.stderr[-3000:]
    assert index_rows(tmp_path / "index.db") == good
    FileSystems.set_options(PipelineOptions(s3_options(dynamodb_server)))
    letters = list(read_dead_letters(f"s3://{bucket}/dl"))
    assert sorted(letter["key"]["id"]["S"] for letter in letters) == sorted(bad)


@pytest.mark.parametrize("runner", [IN_PROCESS, PORTABLE], ids=["in_process", "portable"])
@pytest.mark.parametrize("count", [0, 3])
def test_write_dead_letters_to_s3_in_a_pipeline(dynamodb_server, bucket, runner, count):
    letters = [
        dead_letter("decode", error_type="E", error="e", key={"id": {"S": f"k{n}"}})
        for n in range(count)
    ]
    options = PipelineOptions([*runner, *s3_options(dynamodb_server)])
    with beam.Pipeline(options=options) as p:
        _ = p | beam.Create(letters) | WriteDeadLetters(f"s3://{bucket}/dl")
    FileSystems.set_options(options)
    written = read_dead_letters(f"s3://{bucket}/dl")
    assert sorted(letter["key"]["id"]["S"] for letter in written) == [f"k{n}" for n in range(count)]


def test_a_missing_bucket_is_one_line_before_the_scan(dynamodb_server, dynamodb_client, tmp_path):
    table, _, _ = sample_table(dynamodb_client, "s3-no-bucket", 5, 0.0, seed=13)
    args = reindex_args(dynamodb_server.endpoint_url, table, tmp_path)
    args[args.index("--dead-letters") + 1] = "s3://no-such-bucket/dl"
    done = cli(*args, *IN_PROCESS, *s3_options(dynamodb_server))
    assert done.returncode == 3, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: cannot write dead letters to 's3://no-such-bucket/dl'")
    assert "NoSuchBucket" in line and not (tmp_path / "index.db").exists()
