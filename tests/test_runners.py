"""What each runner is taken to do, and the shapes the transforms take where a runner skips
parts of the Beam model, run here on the in-process runner (the DaskRunner runs them for real
in ``tests/pipeline/test_dask_runner.py``)."""

import os
import tempfile
import threading

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineRunner
from apache_beam.testing.util import assert_that, equal_to

from pipeline.run_counts import (
    JobNotFinished,
    check_tally_written,
    remove_stale_tally,
    tally_path,
)
from tests.dask_cluster import dask_args
from tests.runners import IN_PROCESS, MULTI_PROCESS, MULTI_THREAD, PORTABLE
from transforms.runners import distribute
from transforms.runners.capabilities import (
    capabilities_of,
    reading_processes,
    runner_capabilities,
)
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
        assert capabilities.batches


@pytest.mark.dask
def test_the_dask_runner_is_known_for_what_it_skips():
    capabilities = runner_capabilities(pipeline(dask_args("tcp://127.0.0.1:1")))
    assert capabilities.runner == "DaskRunner" and capabilities.known
    skipped = [name for name, value in vars(capabilities).items() if value is False]
    assert sorted(skipped) == [
        "all_branches",
        "batches",
        "bundle_finalization",
        "finish_bundle_outputs",
        "initial_splitting",
        "metrics",
        "redistributes",
        "residuals",
        "side_inputs_computed_once",
        "spreads_restrictions",
        "tagged_outputs",
    ]


def test_an_unknown_runner_gets_no_self_checkpoints():
    capabilities = runner_capabilities(pipeline(runner=ElsewhereRunner()))
    assert capabilities.runner == "ElsewhereRunner" and not capabilities.known
    assert not capabilities.residuals and capabilities.initial_splitting
    assert not capabilities.batches


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


_SEEN_BY: dict[int, set[int]] = {}
"""Element -> the threads that processed it (the multi-threaded engine shares this module)."""


class _Whole(beam.transforms.core.RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, 1)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()


class _NoteThread(beam.DoFn):
    """A splittable DoFn noting the thread that reads each element."""

    def process(self, element, tracker=beam.DoFn.RestrictionParam(_Whole())):
        if tracker.try_claim(0):
            _SEEN_BY.setdefault(element, set()).add(threading.get_ident())
            yield element


def _labels(p):
    return [t.unique_name for t in p.to_runner_api().components.transforms.values()]


def test_distribute_into_a_splittable_dofn_on_the_local_engine_spreads_without_reshuffle():
    _SEEN_BY.clear()
    p = pipeline(MULTI_THREAD)
    read = p | Distribute(list(range(8)), into_splittable=True) | beam.ParDo(_NoteThread())
    assert_that(read, equal_to(list(range(8))))
    assert not [label for label in _labels(p) if label.endswith(("/Reshuffle", "Redistribute"))]
    p.run().wait_until_finish()
    assert sorted(_SEEN_BY) == list(range(8))
    assert all(len(threads) == 1 for threads in _SEEN_BY.values())
    assert len(set().union(*_SEEN_BY.values())) > 1, "every element was read by one thread"


def test_distribute_reshuffles_elsewhere_and_for_plain_dofns():
    p = pipeline(runner=ElsewhereRunner())
    _ = p | "Into" >> Distribute([1, 2], into_splittable=True)
    _ = p | "Plain" >> Distribute([1, 2])
    local = pipeline(MULTI_THREAD)
    _ = local | Distribute([1, 2])
    for graph in (p, local):
        assert [label for label in _labels(graph) if label.endswith("Redistribute")]
    reshuffled_into = [label for label in _labels(p) if label.startswith("Into/Redistribute")]
    assert reshuffled_into


_BUNDLES: list[int] = []


class _CountBundles(beam.DoFn):
    def start_bundle(self):
        _BUNDLES.append(1)

    def process(self, element):
        yield element


def test_the_multi_worker_engine_runs_no_bundle_for_a_worker_without_input():
    _BUNDLES.clear()
    with pipeline(MULTI_THREAD) as p:
        counted = p | beam.Create(["one"], reshuffle=False) | beam.ParDo(_CountBundles())
        assert_that(counted, equal_to(["one"]))
    assert len(_BUNDLES) == 1


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


def test_a_tally_left_by_an_earlier_run_is_removed_and_a_missing_one_is_an_error(tmp_path):
    """A job that ended without writing its tally (a lost Dask scheduler) did not
    finish, and a tally an earlier run left is never read as this job's."""
    folder = str(tmp_path / "dead")
    os.makedirs(folder)
    path = tally_path(folder)
    with open(path, "w") as stale:
        stale.write('[["reindex", "indexed", 7]]')
    remove_stale_tally(path)
    assert not os.path.exists(path)
    with pytest.raises(JobNotFinished, match="did not run to its end"):
        check_tally_written(path)
    check_tally_written(None)  # a runner with metrics writes no tally


def test_asking_a_runner_its_capabilities_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    capabilities = capabilities_of(PipelineOptions(IN_PROCESS))
    assert capabilities.residuals and list(tmp_path.iterdir()) == []
