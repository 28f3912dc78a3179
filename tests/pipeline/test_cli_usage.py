"""Usage errors: exit 2 and exactly one ``error: ...`` line, before anything runs."""

from __future__ import annotations

import os

import pytest

from pipeline import cli as cli_module
from pipeline.local.sample_data import generate_items
from pipeline.plan.sample import MAX_SAMPLE_SEGMENTS
from tests.reindex_runs import ROOT, cli, reindex_args
from tests.tables import seeded_table
from transforms.dynamodb.scan.request import MAX_PAGE_SIZE
from transforms.dynamodb.scan.restriction import MAX_TOTAL_SEGMENTS


def usage_error(*args: str, env: dict | None = None) -> str:
    """The one stderr line of a command that must fail as a usage error (exit 2)."""
    done = cli(*args, env=env, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    return lines[0]


def reindex(tmp_path, *extra: str) -> list[str]:
    return [
        "reindex",
        "--table",
        "works",
        "--model",
        "pipeline.models:Work",
        "--index",
        f"sqlite:///{tmp_path}/index.db",
        "--dead-letters",
        str(tmp_path / "dead"),
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--region",
        "us-east-1",
        *extra,
    ]


@pytest.mark.parametrize("value", ["-0.5", "2", "nan"])
def test_max_dead_letter_fraction_outside_0_1_is_refused(tmp_path, value):
    line = usage_error(*reindex(tmp_path, "--max-dead-letter-fraction", value))
    assert line == f"error: argument --max-dead-letter-fraction: must be in [0, 1], got {value}"
    assert not (tmp_path / "dead").exists()


def test_model_without_a_colon_is_a_usage_error(tmp_path):
    line = usage_error(*reindex(tmp_path, "--model", "pipeline.models.Work"))
    assert line == (
        "error: --model must look like MODULE:CLASS (e.g. pipeline.models:Work), got "
        "'pipeline.models.Work'; did you mean pipeline.models:Work?"
    )


@pytest.mark.parametrize(
    "spec, hint",
    [
        ("pipeline.models", "did you mean pipeline.models:CLASS?"),
        ("./plain.py:Plain", "--model takes the module's import name, not its file: plain:Plain"),
        ("models/plain.py:Plain", "not its file: plain:Plain (from the folder holding plain.py"),
    ],
)
def test_a_model_spec_that_is_not_module_colon_class_says_what_to_give(tmp_path, spec, hint):
    line = usage_error(*reindex(tmp_path, "--model", spec))
    assert hint in line, line


@pytest.mark.parametrize("code", ["0", "'done'"])
def test_a_model_module_that_exits_is_a_usage_error(tmp_path, code):
    (tmp_path / "exiting.py").write_text(f"import sys\nsys.exit({code})\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    line = usage_error(*reindex(tmp_path, "--model", "exiting:Model"), env=env)
    assert line.startswith(f"error: importing the model's module 'exiting' called sys.exit({code})")
    assert not (tmp_path / "index.db").exists()


def test_model_class_missing_from_its_module_is_named(tmp_path):
    done = cli(*reindex(tmp_path, "--model", "pipeline.models:Bok"), timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines() == ["error: module pipeline.models has no class Bok"]


@pytest.mark.parametrize(
    "uri, message",
    [
        ("bogus://x", "unsupported index URI scheme 'bogus'; supported: sqlite, "),
        ("sqlite://host/x.db", "index URI 'sqlite://host/x.db' names a host; use "),
        (
            "opensearch+http://admin:S3cret@localhost:9200/works",
            "opensearch+http URI must not carry credentials (user:password@host); set "
            "INDEX_USERNAME and INDEX_PASSWORD in the environment instead",
        ),
        (
            "elasticsearch+http://localhost:9200/works?api_key=S3cret",
            "unknown option 'api_key' in index URI 'elasticsearch+http://localhost:9200/works' "
            "(its value is not shown)",
        ),
    ],
    ids=["scheme", "sqlite_host", "credentials", "secret_option"],
)
@pytest.mark.parametrize("command", ["reindex", "replay", "search", "rollback", "catch-up"])
def test_an_index_uri_that_cannot_be_is_a_usage_error_for_every_command(
    tmp_path, command, uri, message
):
    rest = {
        "reindex": reindex(tmp_path)[1:],
        "replay": ["--dead-letters", str(tmp_path), "--model", "pipeline.models:Work"],
        "search": ["words"],
        "rollback": [],
        "catch-up": [*reindex(tmp_path)[1:], "--bookmark", str(tmp_path / "b.json")],
    }[command]
    line = usage_error(command, *rest, "--index", uri)
    assert line.startswith(f"error: argument --index: {message}")
    assert "S3cret" not in line


def test_an_option_of_another_command_is_named_as_not_of_this_one(tmp_path):
    args = [*reindex(tmp_path)[1:], "--bookmark", str(tmp_path / "b.json"), "--upsert"]
    line = usage_error("catch-up", *args)
    assert line == (
        "error: unknown option(s): --upsert (neither a catch-up option nor a Beam pipeline option)"
    )


@pytest.mark.parametrize("command", ["reindex", "plan"])
def test_endpoint_without_a_scheme_says_to_add_http(tmp_path, command):
    args = reindex(tmp_path) if command == "reindex" else ["plan", "--table", "works"]
    args += ["--endpoint-url", "localhost:8000"]
    line = usage_error(*args)
    assert line == (
        "error: --endpoint-url localhost:8000 has no scheme: add http:// (or https://), "
        "e.g. --endpoint-url http://localhost:8000"
    )


@pytest.mark.parametrize("command", ["reindex", "plan"])
def test_missing_region_names_the_option_and_the_variable(tmp_path, command):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")
    }
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    args = reindex(tmp_path) if command == "reindex" else ["plan", "--table", "works"]
    args = [arg for arg in args if arg not in ("--region", "us-east-1")]
    line = usage_error(*args, env=env)
    assert line == (
        "error: no AWS region: pass --region (e.g. --region us-east-1) or set AWS_DEFAULT_REGION"
    )


@pytest.fixture(scope="module")
def pk_table(dynamodb_client):
    return seeded_table(dynamodb_client, "pk", [{"pk": {"S": "p1"}}], hash_key=("pk", "S"))


@pytest.fixture(scope="module")
def works_table(dynamodb_client):
    works = [sample.item for sample in generate_items(2, malformed_fraction=0.0, seed=5)]
    return seeded_table(dynamodb_client, "usage", works)


def test_page_size_0_is_the_only_line(dynamodb_server, works_table, tmp_path):
    args = reindex_args(dynamodb_server.endpoint_url, works_table, tmp_path)
    line = usage_error(*args, "--page-size", "0")
    assert line == "error: argument --page-size: must be from 1 to 1,000,000, got 0"


def test_model_without_the_key_field_is_the_only_line(dynamodb_server, pk_table, tmp_path):
    line = usage_error(*reindex_args(dynamodb_server.endpoint_url, pk_table, tmp_path))
    assert line == (
        "error: model Work has no field for the key attribute(s) pk; "
        "add them so documents get stable ids"
    )


def test_page_size_0_behind_an_alias_is_the_only_line(dynamodb_server, works_table, tmp_path):
    args = reindex_args(dynamodb_server.endpoint_url, works_table, tmp_path)
    line = usage_error(*args, "--swap-alias", "--page-size", "0")
    assert line == "error: argument --page-size: must be from 1 to 1,000,000, got 0"
    assert not (tmp_path / "index.db").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--version-field", "modifiedAt"],
            "error: version_field needs a backend with external versions (elasticsearch, "
            "opensearch); sqlite has none",
        ),
        (
            ["--swap-alias", "--read-capacity-fraction", "0.5"],
            "error: table '{table}' is on-demand (no provisioned read capacity), so a fraction "
            "of it means nothing: give max_read_units_per_second (--max-read-units-per-second) "
            "instead",
        ),
    ],
    ids=["version-field-on-sqlite", "fraction-of-on-demand-behind-alias"],
)
def test_options_the_job_would_refuse_are_the_only_line(
    dynamodb_server, works_table, tmp_path, options, message
):
    args = reindex_args(dynamodb_server.endpoint_url, works_table, tmp_path)
    assert usage_error(*args, *options) == message.format(table=works_table)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_the_command_lines_limits_are_the_scans():
    assert cli_module.MAX_TOTAL_SEGMENTS == MAX_TOTAL_SEGMENTS
    assert cli_module.MAX_PAGE_SIZE == MAX_PAGE_SIZE
    assert cli_module.MAX_SAMPLE_SEGMENTS == MAX_SAMPLE_SEGMENTS


@pytest.mark.parametrize(
    "uri, message",
    [
        (
            "foo://bucket/dead",
            "foo:// is not a file system Beam knows: give a local path or a URI of gs://, "
            "s3://, hdfs://, azfs://",
        ),
        (
            "hdfs://namenode/dead",
            "hdfs:// needs Beam's hadoop extra, not installed here: "
            "pip install 'apache-beam[hadoop]'",
        ),
    ],
    ids=["unknown", "not-installed"],
)
def test_a_dead_letter_uri_beam_cannot_write_says_why(tmp_path, uri, message):
    line = usage_error(*reindex(tmp_path), "--dead-letters", uri)
    assert line == f"error: argument --dead-letters: {message}"


def test_a_sample_larger_than_a_short_scan_is_refused():
    line = usage_error("plan", "--table", "works", "--sample-segments", "99999")
    assert line == "error: argument --sample-segments: must be from 1 to 1,000, got 99,999"


def test_local_folders_are_made_absolute_for_workers_elsewhere(tmp_path, monkeypatch):
    """Worker processes (Dask's) may run in another directory: local paths the
    workers write are absolute, URIs are kept as given."""
    monkeypatch.chdir(tmp_path)
    parser = cli_module._parser()
    relative = ("--dead-letters", "out/dead", "--journal", "s3://bucket/journal")
    args, _ = parser.parse_known_args([*reindex(tmp_path), *relative])
    assert args.dead_letters == str(tmp_path / "out" / "dead")
    assert args.journal == "s3://bucket/journal"
    replay = ["replay", "--model", "m:C", "--index", "sqlite:///i.db"]
    args, _ = parser.parse_known_args(
        [*replay, "--dead-letters", "out/dead", "--still-failing", "~/again"]
    )
    assert args.dead_letters == str(tmp_path / "out" / "dead")
    assert args.still_failing == os.path.expanduser("~/again")
