"""What the command line says besides its results: our words, never Beam's noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.local.sample_data import create_table, generate_items, seed_table
from tests.reindex_runs import cli, reindex_args
from tests.runners import IN_PROCESS
from tests.tables import unique_name
from transforms.runners.local_workers import WORKER_MAIN


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


WORKERS_AT_INFO = "--default_sdk_harness_log_level=INFO"
"""Worker processes then log at INFO once they have read their options; each says
``Control channel established.`` when it reaches the runner."""


def test_a_small_table_is_read_in_this_process(dynamodb_server, malformed_table, tmp_path):
    args = reindex_args(dynamodb_server.endpoint_url, malformed_table, tmp_path)
    done = cli(*args, WORKERS_AT_INFO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Control channel established" not in done.stderr  # no worker process started
    assert "4 segments: " in done.stderr and "4 per worker for 1 worker(s)" in done.stderr


def test_worker_flags_keep_the_users_choice_whatever_the_table(
    dynamodb_server, malformed_table, tmp_path
):
    args = reindex_args(dynamodb_server.endpoint_url, malformed_table, tmp_path)
    workers = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    done = cli(*args, *workers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8 segments: " in done.stderr and "4 per worker for 2 worker(s)" in done.stderr
    # the workers say nothing of their start: no INFO, no warnings about their set-up,
    # not even the two lines Beam's worker logs before it has read its options
    beam_lines = [
        line
        for line in done.stderr.splitlines()
        if "__main__" in line or "apache_beam" in line or "apitools" in line
    ]
    assert beam_lines == [], beam_lines
    at_info = cli(*args, *workers, WORKERS_AT_INFO)
    assert at_info.returncode == 0, at_info.stderr[-3000:]
    assert at_info.stderr.count("Control channel established.") == 2  # two worker processes
    assert "Logging handler created" not in at_info.stderr
    assert "apitools" not in at_info.stderr


def test_the_worker_command_drops_only_the_start_up_lines(tmp_path):
    """Run alone (no runner to reach), the worker command fails as Beam's worker does,
    saying why, without the warning Beam's import gives."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_DESCRIPTOR")}
    done = subprocess.run(
        [sys.executable, WORKER_MAIN],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "KeyError: 'CONTROL_API_SERVICE_DESCRIPTOR'" in done.stderr  # Beam's worker ran
    assert "Pipeline_options: {}" in done.stderr  # its records after the start are kept
    assert "apitools" not in done.stderr
