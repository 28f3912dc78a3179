"""The CLI's check of Beam options: the runner named by ``--runner`` brings its own options."""

import pytest

from pipeline import cli
from pipeline.beam_args import BadBeamOption, check_beam_args, resolve_runner_args

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
