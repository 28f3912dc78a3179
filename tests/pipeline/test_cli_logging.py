"""What the command line says besides its results: our words, never Beam's noise."""

from __future__ import annotations

import pytest

from pipeline.local.sample_data import create_table, generate_items, seed_table
from tests.reindex_runs import cli, reindex_args
from tests.runners import IN_PROCESS
from tests.tables import unique_name


@pytest.fixture(scope="module")
def malformed_table(dynamodb_client):
    name = unique_name("noise")
    create_table(dynamodb_client, name)
    seed_table(
        dynamodb_client, name, [s.item for s in generate_items(20, malformed_fraction=0.3, seed=7)]
    )
    return name


def test_rerun_into_a_dead_letter_folder_says_it_in_our_words(
    dynamodb_server, malformed_table, tmp_path
):
    args = [*reindex_args(dynamodb_server.endpoint_url, malformed_table, tmp_path), *IN_PROCESS]
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    again = cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "existing files in target path" not in again.stderr
    assert "apache_beam" not in again.stderr
    assert (
        again.stderr.count(
            "INFO transforms.dead_letters: replacing 1 dead-letter file(s) of an earlier run"
        )
        == 1
    )


def test_a_small_table_is_read_in_this_process(dynamodb_server, malformed_table, tmp_path):
    done = cli(*reindex_args(dynamodb_server.endpoint_url, malformed_table, tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Logging handler created" not in done.stderr  # no worker process started
    assert "4 segments: " in done.stderr and "4 per worker for 1 worker(s)" in done.stderr


def test_worker_flags_keep_the_users_choice_whatever_the_table(
    dynamodb_server, malformed_table, tmp_path
):
    args = reindex_args(dynamodb_server.endpoint_url, malformed_table, tmp_path)
    done = cli(*args, "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Logging handler created" in done.stderr  # the worker processes' first line
    assert "8 segments: " in done.stderr and "4 per worker for 2 worker(s)" in done.stderr
    # the workers' start-up says nothing else: no INFO, no warnings about their set-up
    beam_lines = [
        line for line in done.stderr.splitlines() if "__main__" in line or "apache_beam" in line
    ]
    assert beam_lines == ["INFO:__main__:Logging handler created."] * 2, beam_lines
