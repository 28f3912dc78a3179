"""What each runner is taken to do, and the shapes the transforms take where a runner skips
parts of the Beam model, run here on the in-process runner (the DaskRunner runs them for real
in ``tests/pipeline/test_dask_runner.py``)."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineRunner
from apache_beam.testing.util import assert_that, equal_to

from tests.dask_cluster import dask_args
from tests.runners import IN_PROCESS, MULTI_PROCESS, PORTABLE
from transforms.runners import distribute
from transforms.runners.capabilities import reading_processes, runner_capabilities
from transforms.runners.distribute import Distribute
from transforms.runners.tagged_outputs import TaggedOutputsDoFn, par_do_with_outputs
from transforms.runners.tally import Tally, read_tally


class ElsewhereRunner(PipelineRunner):
    """A runner the project does not know."""


def pipeline(args=IN_PROCESS, runner=None):
    return beam.Pipeline(runner=runner, options=PipelineOptions(list(args)))


def test_local_and_portable_runners_follow_the_model():
    """With several workers only thanks to ``transforms.runners.local_workers``."""
    for args in (IN_PROCESS, PORTABLE, MULTI_PROCESS):
        capabilities = runner_capabilities(pipeline(args))
        assert capabilities.known and capabilities.residuals
        assert capabilities.metrics and capabilities.tagged_outputs and capabilities.all_branches


@pytest.mark.dask
def test_the_dask_runner_is_known_for_what_it_skips():
    capabilities = runner_capabilities(pipeline(dask_args("tcp://127.0.0.1:1")))
    assert capabilities.runner == "DaskRunner" and capabilities.known
    skipped = [name for name, value in vars(capabilities).items() if value is False]
    assert sorted(skipped) == [
        "all_branches",
        "bundle_finalization",
        "finish_bundle_outputs",
        "initial_splitting",
        "metrics",
        "redistributes",
        "residuals",
        "side_inputs_computed_once",
        "tagged_outputs",
    ]


def test_an_unknown_runner_gets_no_self_checkpoints():
    capabilities = runner_capabilities(pipeline(runner=ElsewhereRunner()))
    assert capabilities.runner == "ElsewhereRunner" and not capabilities.known
    assert not capabilities.residuals and capabilities.initial_splitting


@pytest.mark.dask
def test_reading_processes_without_a_scheduler_to_ask():
    assert reading_processes(pipeline(MULTI_PROCESS), 8) == 2
    assert reading_processes(pipeline(dask_args("")), 8) is None  # shared per segment
    assert reading_processes(pipeline(runner=ElsewhereRunner()), 8) is None


class _Parity(TaggedOutputsDoFn):
    def process(self, number):
        yield number if number % 2 == 0 else self.tagged("odd", number)


@pytest.mark.parametrize("inline", [False, True])
def test_tagged_outputs_reach_only_their_consumers(inline):
    with pipeline() as p:
        outputs = par_do_with_outputs(
            p | beam.Create(range(7)), "Parity", _Parity(), "even", "odd", inline=inline
        )
        assert_that(outputs["even"], equal_to([0, 2, 4, 6]), label="even")
        assert_that(outputs["odd"], equal_to([1, 3, 5]), label="odd")


@pytest.mark.parametrize("count", [1, 5, 11])
def test_distribute_with_one_create_per_element_gives_each_once(count, monkeypatch):
    monkeypatch.setattr(distribute, "MAX_CREATES", 4)  # 11 elements: 4 Creates of 2 or 3
    with pipeline() as p:
        spread = p | Distribute(list(range(count)), separate_creates=True)
        assert_that(spread, equal_to(list(range(count))))


def test_tally_counts_and_writes_even_nothing(tmp_path):
    path = str(tmp_path / "counts.json")
    with pipeline() as p:
        _ = {
            "numbers": p | "Numbers" >> beam.Create(range(5)),
            "none": p | "None" >> beam.Create([]),
        } | Tally(
            path,
            {
                "numbers": lambda n: [("t", "all"), ("t", "even" if n % 2 == 0 else "odd")],
                "none": lambda _: [("t", "all")],
            },
        )
    assert read_tally(path) == {("t", "all"): 5, ("t", "even"): 3, ("t", "odd"): 2}
    empty = str(tmp_path / "empty.json")
    with pipeline() as p:
        _ = {"none": p | beam.Create([])} | Tally(empty, {"none": lambda _: [("t", "all")]})
    assert read_tally(empty) == {}
