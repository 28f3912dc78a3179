"""No credential, session token or signature leaves the process that holds it.

Runs use recognisable credentials (the local server accepts any) and look for
them everywhere a run leaves text: its output and logs – with botocore logging
at DEBUG in the launcher and in every worker, where it prints canonical
requests and signed headers – the summary, the dead letters, the index, the
pipeline options and the pickled DoFns of the pipeline.
"""

import os
import re

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.models import Work
from pipeline.reindex import build_reindex
from pipeline.sources import scan_source
from tests.reindex_runs import (
    cli,
    dead_letters,
    index_rows,
    keyed_fields,
    reindex_args,
    reindex_config,
    sample_table,
    table_description,
)
from tests.runners import IN_PROCESS, RUNNERS
from transforms.dynamodb.log_redaction import REDACTED, redact_secrets

ACCESS_KEY_ID = "AKIAZZCANARY7KEY0001"
SECRET_ACCESS_KEY = "canary/Secret+AccessKey0000000000000000001"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjanaryToken/0000000000000000000000000000000000001=="
CANARIES = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, "canary")
CANARY_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN": SESSION_TOKEN,
}
SIGNATURE = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module")
def works(dynamodb_client):
    return sample_table(dynamodb_client, "secrets", 120, 0.1, seed=31)


def assert_no_secret(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary.lower() not in text.lower(), f"{canary!r} found in {where}"


@pytest.mark.parametrize("runner", ["in_process", "multi_process"])
def test_nothing_secret_in_output_logs_dead_letters_or_index(
    dynamodb_server, works, tmp_path, runner
):
    """``tests.verbose_models`` turns botocore to DEBUG wherever the model is imported."""
    table, good, bad = works
    done = cli(
        *reindex_args(
            dynamodb_server.endpoint_url, table, tmp_path, model="tests.verbose_models:LoudWork"
        ),
        "--total-segments=2",
        *RUNNERS[runner],
        env=dict(os.environ, **CANARY_ENV),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logs = done.stdout + done.stderr
    scans_logged = logs.count("x-amz-target:DynamoDB_20120810.Scan")
    assert scans_logged >= 2, "botocore did not log the signed Scan requests"
    assert f"x-amz-security-token:{REDACTED}" in logs
    assert f"'Authorization': b'{REDACTED}'" in logs
    assert_no_secret(logs, "the output and logs")
    assert not re.search(r"Signature[:=]\s*[0-9a-f]{64}", logs)

    for path in sorted((tmp_path / "dead").glob("*.jsonl")):
        assert_no_secret(path.read_text(encoding="utf-8"), path.name)
    assert_no_secret((tmp_path / "index.db").read_bytes().decode("latin-1"), "the index")
    assert index_rows(tmp_path / "index.db") == good
    assert keyed_fields(dead_letters(tmp_path / "dead")) == sorted(bad.items())


def test_nothing_secret_in_pipeline_options_or_pickled_dofns(
    dynamodb_server, works, tmp_path, monkeypatch
):
    for name, value in CANARY_ENV.items():
        monkeypatch.setenv(name, value)
    table, _, _ = works
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path)
    description = table_description(dynamodb_server.endpoint_url, table)
    pipeline = beam.Pipeline(options=PipelineOptions(list(IN_PROCESS)))
    build_reindex(pipeline, config, Work, scan_source(config, description))
    graph = pipeline.to_runner_api().SerializeToString()
    assert b"_ScanSegmentsFn" in graph  # the DoFns are in there, pickled
    assert_no_secret(graph.decode("latin-1"), "the pipeline's runner API graph")
    assert_no_secret(repr(pipeline.options.get_all_options()), "the pipeline options")
    assert_no_secret(repr(config), "the reindex config")


def test_credential_options_are_refused_without_echoing_them(tmp_path):
    done = cli(
        *reindex_args("http://127.0.0.1:9", "works", tmp_path),
        f"--s3_secret_access_key={SECRET_ACCESS_KEY}",
        "--s3_session_token",
        SESSION_TOKEN,
        *IN_PROCESS,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --s3_secret_access_key, --s3_session_token: credentials are never pipeline "
        "options (they would be pickled and shown); use the environment, AWS_PROFILE or a role"
    )
    assert_no_secret(done.stdout + done.stderr, "the error")


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "--table", "works", "--region", "us-east-1", "--endpoint-url"],
        [
            "replay",
            "--dead-letters",
            "dl",
            "--model",
            "pipeline.models:Work",
            "--index",
            "sqlite:///i.db",
            "--reread",
            "--endpoint-url",
        ],
        [
            "catch-up",
            "--table",
            "works",
            "--model",
            "pipeline.models:Work",
            "--index",
            "sqlite:///i.db",
            "--dead-letters",
            "dl",
            "--bookmark",
            "b.json",
            "--streams-endpoint-url",
        ],
    ],
    ids=["plan", "replay", "catch-up"],
)
def test_an_endpoint_url_with_credentials_is_refused_without_echoing_it(tmp_path, command):
    url = f"http://{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}@127.0.0.1:9"
    done = cli(*command, url)
    assert done.returncode == 2
    assert "must not hold credentials (user:password@host)" in done.stderr
    assert_no_secret(done.stdout + done.stderr, "the error")


@pytest.mark.parametrize(
    "logged",
    [
        "headers={'X-Amz-Security-Token': b'TOKEN', 'Authorization': b'AWS4-HMAC-SHA256 "
        "Credential=AKIAZZCANARY7KEY0001/20261128/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=SIG'}",
        "POST\n/\n\nhost:127.0.0.1:1\nx-amz-security-token:TOKEN\n\nhost;x-amz-security-token",
        "Signature:\nSIG",
        "https://bucket.s3.amazonaws.com/k?X-Amz-Security-Token=TOKEN&X-Amz-Signature=SIG",
        "key AKIAZZCANARY7KEY0001 in a message",
    ],
)
def test_redaction_of_signed_requests(logged):
    signature = "0123456789abcdef" * 4
    text = logged.replace("TOKEN", SESSION_TOKEN).replace("SIG", signature)
    redacted = redact_secrets(text)
    assert REDACTED in redacted
    assert SESSION_TOKEN not in redacted
    assert signature not in redacted
    assert ACCESS_KEY_ID not in redacted
