"""The CLI's check of Beam options: the runner named by ``--runner`` brings its own options."""

import os

import pytest

from pipeline import cli
from pipeline.beam_args import (
    DEFAULT_RUNNER,
    IN_PROCESS_BELOW_BYTES,
    IN_PROCESS_BELOW_ITEMS,
    BadBeamOption,
    check_beam_args,
    chooses_workers,
    local_readers,
    resolve_runner_args,
    small_for_workers,
    starts_worker_processes,
    usable_cores,
    with_default_runner,
)

DASK = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.mark.dask
@pytest.mark.parametrize("runner", [DASK, "DaskRunner", "dask"])
def test_the_dask_runners_options_are_accepted(runner):
    args = resolve_runner_args(["--runner", runner, "--dask_client_address=tcp://127.0.0.1:8786"])
    assert args == [f"--runner={DASK}", "--dask_client_address=tcp://127.0.0.1:8786"]
    check_beam_args(args)


def test_beams_own_short_names_still_work():
    assert resolve_runner_args(["--runner=FnApiRunner", "--direct_num_workers=2"]) == [
        "--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner",
        "--direct_num_workers=2",
    ]


def test_a_negative_worker_count_is_refused():
    with pytest.raises(
        BadBeamOption, match=r"^--direct_num_workers must be 0 \(one per CPU\) or more, got -1$"
    ):
        check_beam_args(["--runner=DirectRunner", "--direct_num_workers=-1"])
    check_beam_args(["--runner=DirectRunner", "--direct_num_workers=0"])


@pytest.mark.dask
@pytest.mark.parametrize("address", ["nonsense", "tcp://127.0.0.1", "127.0.0.1:port"])
def test_a_scheduler_address_without_a_port_is_refused(address):
    with pytest.raises(
        BadBeamOption,
        match=r"^--dask_client_address must be the scheduler's address with its port, e\.g\. "
        r"tcp://127\.0\.0\.1:8786, got ",
    ):
        check_beam_args([f"--runner={DASK}", f"--dask_client_address={address}"])


@pytest.mark.dask
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "localhost:8786", "tls://[::1]:8786"])
def test_scheduler_addresses_with_a_port_pass(address):
    check_beam_args([f"--runner={DASK}", f"--dask_client_address={address}"])


@pytest.mark.dask
def test_a_misspelt_runner_option_is_still_refused():
    with pytest.raises(BadBeamOption, match=r"unknown option.*--dask_client_adress"):
        check_beam_args([f"--runner={DASK}", "--dask_client_adress=tcp://127.0.0.1:8786"])


@pytest.mark.parametrize(
    "runner, message",
    [
        (
            "no_such_package.runner.ElsewhereRunner",
            "--runner no_such_package.runner.ElsewhereRunner: cannot import module "
            "'no_such_package.runner' (No module named 'no_such_package')",
        ),
        pytest.param(
            "apache_beam.runners.dask.dask_runner.DuskRunner",
            "--runner apache_beam.runners.dask.dask_runner.DuskRunner: module "
            "'apache_beam.runners.dask.dask_runner' has no class 'DuskRunner'",
            marks=pytest.mark.dask,
        ),
        ("DuskRunner", "--runner DuskRunner: unknown runner; give one of BundleBasedDirectRunner"),
    ],
)
def test_a_runner_that_cannot_be_loaded_is_one_usage_line(tmp_path, capsys, runner, message):
    code = cli.main(
        [
            "reindex",
            "--table=works",
            "--model=pipeline.models:Work",
            f"--index=sqlite:///{tmp_path}/index.db",
            f"--dead-letters={tmp_path}/dead",
            "--runner",
            runner,
        ]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith(f"error: {message}")


# -- the default runner: every usable core ---------------------------------------------------

QUIET_OVERRIDES = (
    '--sdk_harness_log_level_overrides={"__main__": "ERROR", '
    '"apache_beam.options.pipeline_options": "ERROR"}'
)


def test_without_a_runner_the_local_engine_runs_a_worker_process_per_core():
    assert with_default_runner(["--temp_location=/tmp/x"], cores=4) == [
        f"--runner={DEFAULT_RUNNER}",
        "--temp_location=/tmp/x",
        "--direct_num_workers=4",
        "--direct_running_mode=multi_processing",
        "--default_sdk_harness_log_level=WARNING",
        QUIET_OVERRIDES,
    ]


def test_on_one_core_the_job_runs_in_the_launching_process():
    assert with_default_runner([], cores=1) == [f"--runner={DEFAULT_RUNNER}"]


def test_named_direct_runner_gets_the_same_defaults():
    for name in ("DirectRunner", "direct", "apache_beam.runners.direct.direct_runner.DirectRunner"):
        args = with_default_runner(["--runner", name], cores=2)
        assert "--direct_num_workers=2" in args and "--direct_running_mode=multi_processing" in args


def test_worker_flags_given_are_kept_as_they_are():
    for given in (["--direct_num_workers=1"], ["--direct_running_mode=in_memory"]):
        assert with_default_runner(given, cores=8) == [f"--runner={DEFAULT_RUNNER}", *given]
    for given in (
        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        ["--direct_running_mode", "multi_processing"],
    ):
        assert with_default_runner(given, cores=8) == [
            f"--runner={DEFAULT_RUNNER}",
            *given,
            "--default_sdk_harness_log_level=WARNING",
            QUIET_OVERRIDES,
        ]
    given = ['--sdk_harness_log_level_overrides={"__main__": "INFO"}']
    args = with_default_runner(given, cores=2)
    assert [arg for arg in args if arg.startswith("--sdk_harness")] == given
    args = with_default_runner(["--default_sdk_harness_log_level=DEBUG"], cores=2)
    assert args.count("--default_sdk_harness_log_level=DEBUG") == 1
    assert not any(arg.endswith("=WARNING") for arg in args)


def test_the_segment_count_plans_for_the_local_engines_readers():
    def readers(*args, cores=8):
        return local_readers(resolve_runner_args(with_default_runner(list(args), cores=cores)))

    assert readers() == 8  # one worker process per usable CPU
    assert readers(cores=1) == 1  # in the launching process
    assert readers("--runner=FnApiRunner") == 1
    assert readers("--direct_num_workers=3", "--direct_running_mode=multi_threading") == 3
    assert readers("--direct_num_workers=3", "--direct_running_mode=in_memory") == 1
    assert readers("--direct_running_mode=multi_processing", "--direct_num_workers=0") == (
        usable_cores()
    )
    for runner in ("DataflowRunner", "FlinkRunner", "DaskRunner"):
        assert readers(f"--runner={runner}") is None  # the runner does not say


def test_worker_processes_are_those_of_the_local_engine_in_multi_processing_mode():
    def starts(*args, cores=2):
        return starts_worker_processes(
            resolve_runner_args(with_default_runner(list(args), cores=cores))
        )

    assert starts()  # the default on several CPUs
    assert not starts(cores=1)
    assert starts("--runner=FnApiRunner", "--direct_running_mode=multi_processing")
    assert not starts("--direct_num_workers=2", "--direct_running_mode=multi_threading")
    assert not starts("--runner=FnApiRunner")
    assert not starts("--runner=DaskRunner", "--direct_running_mode=multi_processing")


def test_other_runners_are_left_alone():
    for runner in ("--runner=FnApiRunner", "--runner=DaskRunner", "--runner=DataflowRunner"):
        assert with_default_runner([runner], cores=8) == [runner]


def test_usable_cores_follows_the_affinity():
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_small_tables_are_read_in_process_and_unknown_sizes_with_workers():
    assert small_for_workers(4 * 2**20, 5_000)
    assert not small_for_workers(IN_PROCESS_BELOW_BYTES, 5_000)  # the size decides when known
    assert small_for_workers(0, 20)  # no size reported (an emulator): the item count
    assert not small_for_workers(0, IN_PROCESS_BELOW_ITEMS)
    assert not small_for_workers(0, 0)  # not refreshed yet, or empty: not known


def test_workers_are_chosen_only_on_the_local_engine_without_worker_flags():
    assert chooses_workers([])
    assert chooses_workers(["--runner=DirectRunner", "--temp_location=/tmp/x"])
    assert not chooses_workers(["--runner", "DataflowRunner"])
    assert not chooses_workers(["--direct_num_workers=2"])
    assert not chooses_workers(["--direct_running_mode", "multi_threading"])
