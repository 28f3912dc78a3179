"""The whole reindex graph and the CLI, against the local DynamoDB server.

Content is checked, not only counts: the index holds exactly the good
records (byte-identical to ``to_json()``), and the dead letters are exactly
the malformed items, each with the field that is wrong.
"""

import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.local.sample_data import create_table, generate_items, seed_table
from pipeline.models import Work
from pipeline.reindex import build_reindex
from pipeline.sources import scan_source
from tests.reindex_runs import (
    cli,
    index_rows,
    reindex_args,
    reindex_config,
    replay_args,
    table_description,
)
from tests.runners import RUNNERS
from tests.tables import unique_name
from transforms.dead_letters import read_dead_letters


@pytest.fixture(scope="module")
def works_table(dynamodb_client):
    """1,200 sample works, 5% malformed (every defect kind)."""
    samples = list(generate_items(1200, malformed_fraction=0.05, seed=7))
    name = unique_name("works")
    create_table(dynamodb_client, name)
    seed_table(dynamodb_client, name, [s.item for s in samples])
    good = {s.record.id: s.record.to_json() for s in samples if s.defect is None}
    bad = {s.item["id"]["S"]: s.defect_field for s in samples if s.defect is not None}
    assert len(bad) == 60 and len({s.defect for s in samples if s.defect}) >= 10
    return name, good, bad


def dead_letter_fields(path):
    return {dl["key"]["id"]["S"]: dl["field"] for dl in read_dead_letters(path)}


def run_graph(server, table, tmp_path, runner_args, **overrides):
    config = reindex_config(server.endpoint_url, table, tmp_path, **overrides)
    description = table_description(server.endpoint_url, table)
    with beam.Pipeline(options=PipelineOptions(runner_args)) as p:
        build_reindex(p, config, Work, scan_source(config, description))
    return tmp_path / "index.db", str(tmp_path / "dead")


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_index_holds_exactly_the_good_records(dynamodb_server, works_table, tmp_path, runner):
    table, good, bad = works_table
    db, dead = run_graph(
        dynamodb_server, table, tmp_path, RUNNERS[runner], total_segments=4, page_size=100
    )
    assert index_rows(db) == good
    assert dead_letter_fields(dead) == bad


def test_dead_letters_follow_the_contract(dynamodb_server, works_table, tmp_path):
    table, _, bad = works_table
    _, dead = run_graph(dynamodb_server, table, tmp_path, RUNNERS["in_process"], total_segments=3)
    letters = list(read_dead_letters(dead))
    assert len(letters) == len(bad)
    for letter in letters:
        assert letter["stage"] == "decode"
        assert letter["table"] == table
        assert letter["total_segments"] == 3 and letter["segment"] in (0, 1, 2)
        assert letter["model"] == "pipeline.models:Work"
        assert letter["key"] == {"id": letter["item"]["id"]}
        assert letter["error_type"] and letter["error"] and letter["at"].endswith("Z")
    thumbnails = [dl["item"]["thumbnail"]["B"] for dl in letters if "thumbnail" in dl["item"]]
    assert thumbnails and all(isinstance(b, bytes) for b in thumbnails)


def test_second_run_leaves_the_same_index(dynamodb_server, works_table, tmp_path):
    table, good, _ = works_table
    db, _ = run_graph(dynamodb_server, table, tmp_path, RUNNERS["in_process"], total_segments=2)
    first = index_rows(db)
    run_graph(dynamodb_server, table, tmp_path, RUNNERS["in_process"], total_segments=5)
    assert index_rows(db) == first == good


# --- the command line -------------------------------------------------------


def test_cli_reindex_end_to_end(dynamodb_server, works_table, tmp_path):
    table, good, bad = works_table
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        "--total-segments",
        "4",
        "--runner",
        "FnApiRunner",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = done.stdout
    assert "scanned             1,200" in summary
    assert "dead-lettered          60  (decode 60)" in summary
    assert "indexed             1,140" in summary
    assert "check: scanned 1,200 == indexed 1,140 + dead-lettered 60: OK" in summary
    assert index_rows(tmp_path / "index.db") == good
    assert dead_letter_fields(str(tmp_path / "dead")) == bad

    search = cli("search", "--index", f"sqlite:///{tmp_path}/index.db", "--limit", "3", "the")
    assert search.returncode == 0, search.stderr
    hits = [line.split("\t") for line in search.stdout.splitlines()]
    assert len(hits) == 3 and all(hit[0] in good for hit in hits)


DEFAULT_WORKERS = (
    "--runner=DirectRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
)
"""The command's default on two cores, for a table too large to read in its process."""


@pytest.mark.parametrize(
    "runner", [DEFAULT_WORKERS, RUNNERS["portable"]], ids=["default", "portable"]
)
def test_cli_leaves_nothing_in_the_temporary_folder(dynamodb_server, works_table, tmp_path, runner):
    """Beam's folders of the run (pipelines, environments, the job service's staging)
    go with the command's own temporary folder, in the command's process and its workers'."""
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    table, good, _ = works_table
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path),
        "--total-segments=4",
        *runner,
        env={**os.environ, "TMPDIR": str(system_temp)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert index_rows(tmp_path / "index.db") == good
    assert sorted(path.name for path in system_temp.iterdir()) == []


def test_cli_replay_after_a_model_fix(dynamodb_server, works_table, tmp_path):
    table, good, bad = works_table
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, table, tmp_path), "--runner", "FnApiRunner"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    letters = list(read_dead_letters(str(tmp_path / "dead")))
    fixed = {dl["key"]["id"]["S"] for dl in letters if dl["item"].get("title") == {"NULL": True}}
    assert fixed

    replay = cli(
        *replay_args(tmp_path / "dead", tmp_path, model="tests.fixed_models:WorkWithOptionalTitle"),
        "--still-failing",
        str(tmp_path / "still"),
        "--runner",
        "FnApiRunner",
    )
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert f"indexed now        {len(fixed):>10,}" in replay.stdout
    rows = index_rows(tmp_path / "index.db")
    assert set(rows) == set(good) | fixed
    assert all(json.loads(rows[i])["title"] is None for i in fixed)
    still = dead_letter_fields(str(tmp_path / "still"))
    assert still == {i: f for i, f in bad.items() if i not in fixed}


def test_cli_dead_letters_to_a_single_file(dynamodb_server, works_table, tmp_path):
    table, _, bad = works_table
    args = reindex_args(dynamodb_server.endpoint_url, table, tmp_path)
    args[args.index("--dead-letters") + 1] = str(tmp_path / "letters" / "dead.jsonl")
    done = cli(*args, "--runner=FnApiRunner", "--total-segments=2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "letters").iterdir()) == ["dead.jsonl"]
    assert dead_letter_fields(str(tmp_path / "letters" / "dead.jsonl")) == bad


def test_cli_bad_beam_option_is_one_clear_line(dynamodb_server, works_table, tmp_path):
    table, _, _ = works_table
    done = cli(*reindex_args(dynamodb_server.endpoint_url, table, tmp_path), "--runer=FnApiRunner")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: unknown option(s): --runer=FnApiRunner "
        "(neither a reindex option nor a Beam pipeline option)"
    )


def test_cli_missing_table_is_one_clear_line(dynamodb_server, tmp_path):
    done = cli(
        *reindex_args(dynamodb_server.endpoint_url, "no-such-table", tmp_path),
        "--runner=FnApiRunner",
    )
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        f"error: table 'no-such-table' was not found at endpoint {dynamodb_server.endpoint_url}: "
        "check --table and --region"
    ]


def test_cli_unreachable_endpoint_is_one_clear_line(tmp_path):
    from pipeline.local.dynamodb_server import free_port

    url = f"http://127.0.0.1:{free_port()}"

    done = cli(*reindex_args(url, "works", tmp_path), "--runner=FnApiRunner", timeout=120)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach endpoint {url}")


def test_cli_https_to_a_plain_http_server_says_to_use_http(dynamodb_server, tmp_path):
    url = dynamodb_server.endpoint_url.replace("http://", "https://")
    done = cli(*reindex_args(url, "works", tmp_path), "--runner=FnApiRunner", timeout=120)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"error: TLS with endpoint {url} failed, it does not speak TLS: for a server on "
        "plain HTTP, use http:// in --endpoint-url ("
    ), lines[0]


def test_cli_missing_required_option(tmp_path):
    done = cli("reindex", "--table", "t")
    assert done.returncode == 2
    assert done.stderr.startswith("error: the following arguments are required: --model")
