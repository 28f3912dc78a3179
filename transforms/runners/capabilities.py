"""What the runner of a pipeline does with the parts of the Beam model the project relies on.

Beam lets a runner skip parts of the model, and runners do. The sources and
sinks read :func:`runner_capabilities` when the graph is built and take a
shape that is correct on that runner:

* **initial splitting** (``RestrictionProvider.split`` on the initial
  restriction): not relied on. The sources create one element per segment or
  data file, so every runner reads them in parallel.
* **residuals** of self-checkpoints (``defer_remainder``): the sources
  self-checkpoint only where residuals are known to be kept; elsewhere each
  segment (data file) is read in one go. Runner-initiated splits still apply.
* **redistribution** by ``Reshuffle``: where it does nothing, the sources make
  one ``Create`` per element (or small group) instead, since such a runner
  runs each ``Create`` as its own partition.
* **batched DoFns** (``process_batch``, ``yields_batches``): the scan hands
  its pages on as batches only where the runner runs them
  (:mod:`transforms.runners.record_batches`); elsewhere item by item.
* **tagged outputs**, **outputs of finish_bundle**, **side inputs computed
  once**, **every branch run**, **metrics**: where one is missing, the
  transforms use single-output steps, group before writing, avoid side inputs
  and count in the pipeline (see :mod:`transforms.runners.tagged_outputs`,
  :mod:`transforms.runners.group_batches`, :mod:`transforms.runners.tally`).

Known runners: the local DirectRunner engines (``FnApiRunner``; in multi-worker
mode Beam 2.77 drops residuals, which :mod:`transforms.runners.local_workers`
mends where it can), the portable job API
(a job server such as Flink's, or ``embed``), Dataflow and Flink, and Beam's
``DaskRunner`` (Beam 2.77, measured on a dask.distributed cluster): it calls no
initial split, drops residuals, never finalizes bundles, reports no metrics,
runs ``Reshuffle`` as a no-op and up to 128 ``Create`` elements as one
partition, hands every output of a multi-output ``ParDo`` to each consumer,
drops what ``finish_bundle`` emits, computes a side input again (with all its
upstream steps) in each task that reads it, runs only the branch that
ends in the last step applied, and does not run batched DoFns (a batch
would reach the next step as one element). On the Dask runner a segment is therefore read
start to end by one task, and progress inside a segment is not kept: a task
lost with its worker is run again by the scheduler from the segment's start
(documents written twice are upserts), a task that raises fails the job (run
it again, or pass ``--job-attempts``), and a segment reported unread is
resumed with ``--resume-from`` as on any runner.

A runner the project does not know is taken to follow the Beam model except
for residuals and batches: the sources do not self-checkpoint unless a runner
is known to keep residuals, since a dropped residual is data silently lost,
and emit item by item.

The read ceiling: how many processes read at once decides each one's share;
where the runner does not tell (remote runners), :func:`reading_processes`
says so and the ceiling is shared per segment instead
(:mod:`transforms.dynamodb.rate_limit`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    PipelineOptions,
    PortableOptions,
)

from transforms.runners.local_workers import keep_residuals

__all__ = [
    "RunnerCapabilities",
    "capabilities_of",
    "reading_processes",
    "residuals_are_honoured",
    "runner_capabilities",
]

_LOGGER = logging.getLogger(__name__)

# The local runner's engines: in multi-worker mode their bundle manager drops
# self-checkpoint residuals (measured with Beam 2.77) unless mended
# (transforms.runners.local_workers).
_LOCAL_RUNNERS = {"DirectRunner", "SwitchingDirectRunner", "FnApiRunner", "TestDirectRunner"}
# Runners known to keep residuals whatever their worker count.
_RESIDUAL_RUNNERS = {"DataflowRunner", "TestDataflowRunner", "FlinkRunner"}
DASK_RUNNER = "DaskRunner"


@dataclasses.dataclass(frozen=True)
class RunnerCapabilities:
    """What a runner does, for the parts of the Beam model the project relies on.

    Each field is True where the runner follows the model: ``initial_splitting``
    (calls ``split`` on initial restrictions), ``residuals`` (runs the residual
    of a self-checkpoint), ``bundle_finalization`` (calls registered
    finalizers), ``metrics`` (reports them in the result),
    ``redistributes`` (``Reshuffle`` spreads elements over workers),
    ``tagged_outputs`` (each output of a multi-output ``ParDo`` reaches only its
    consumers), ``finish_bundle_outputs`` (keeps what ``finish_bundle``
    emits), ``side_inputs_computed_once`` (a side input is computed once, not
    again in each task reading it), ``all_branches`` (runs every branch of
    the graph, not only the one ending in the last step applied) and
    ``batches`` (runs Beam's batched DoFns, handing batches between fused
    steps: the Python SDK harness does; see
    :mod:`transforms.runners.record_batches`).

    ``spreads_restrictions`` is a property of some runners, not of the model:
    the initial restrictions of a splittable DoFn are spread over the workers
    by the runner itself (the local engine materialises them and cuts them into
    one part per worker), so the DoFn's input needs no ``Reshuffle``.
    """

    runner: str
    known: bool = True
    initial_splitting: bool = True
    residuals: bool = True
    bundle_finalization: bool = True
    metrics: bool = True
    redistributes: bool = True
    tagged_outputs: bool = True
    finish_bundle_outputs: bool = True
    side_inputs_computed_once: bool = True
    all_branches: bool = True
    batches: bool = True
    spreads_restrictions: bool = False


def _runner_name(runner: object) -> str:
    """The first known runner class in the runner's class hierarchy, else its own name."""
    known = _LOCAL_RUNNERS | _RESIDUAL_RUNNERS | {DASK_RUNNER, "PortableRunner"}
    for cls in type(runner).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return type(runner).__name__


def _embedded(options) -> bool:
    return options.view_as(PortableOptions).job_endpoint == "embed"


def runner_capabilities(pipeline: beam.Pipeline) -> RunnerCapabilities:
    """The capabilities of ``pipeline``'s runner with its options (see the module docstring).

    For the local engine with several workers this installs the residual
    mend first (:func:`~transforms.runners.local_workers.keep_residuals`, once).
    """
    options = pipeline.options
    name = _runner_name(pipeline.runner)
    workers = options.view_as(DirectOptions).direct_num_workers
    if name == DASK_RUNNER:
        return RunnerCapabilities(
            name,
            initial_splitting=False,
            residuals=False,
            bundle_finalization=False,
            metrics=False,
            redistributes=False,
            tagged_outputs=False,
            finish_bundle_outputs=False,
            side_inputs_computed_once=False,
            all_branches=False,
            batches=False,
        )
    if name in _LOCAL_RUNNERS:
        residuals = workers == 1 or keep_residuals()
        return RunnerCapabilities(name, residuals=residuals, spreads_restrictions=True)
    if name == "PortableRunner":
        residuals = not _embedded(options) or workers == 1 or keep_residuals()
        return RunnerCapabilities(name, residuals=residuals)
    if name in _RESIDUAL_RUNNERS:
        return RunnerCapabilities(name)
    return RunnerCapabilities(name, known=False, residuals=False, batches=False)


def capabilities_of(options: PipelineOptions) -> RunnerCapabilities:
    """:func:`runner_capabilities` of the runner ``options`` name, asked of a
    pipeline that is never run (whose local temporary folder is removed)."""
    pipeline = beam.Pipeline(options=options)
    try:
        return runner_capabilities(pipeline)
    finally:
        shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)


def residuals_are_honoured(pipeline: beam.Pipeline) -> bool:
    """True only where the runner is known to run the residuals of self-checkpoints."""
    return runner_capabilities(pipeline).residuals


def _loopback_in_process(options) -> bool:
    """The portable runner's LOOPBACK workers are threads of the launching process,
    unless the ``use_loopback_process_worker`` experiment makes them processes."""
    environment = options.view_as(PortableOptions).environment_type
    in_process = not options.view_as(DebugOptions).lookup_experiment(
        "use_loopback_process_worker", False
    )
    return (environment or "").upper() == "LOOPBACK" and in_process


def _is_portable(runner) -> bool:
    return any(cls.__name__ == "PortableRunner" for cls in type(runner).__mro__)


def reading_processes(pipeline: beam.Pipeline, segment_count: int) -> int | None:
    """How many processes read at once, each with its own limiter; ``None`` when
    the runner does not say (Dataflow, Flink, Spark...).

    * the local engine (``FnApiRunner``, the DirectRunner's fallback): one
      process in-process and in ``multi_threading`` mode (the workers are
      threads and share one limiter), ``direct_num_workers`` processes in
      ``multi_processing`` mode (no more than the segments);
    * a portable runner with LOOPBACK workers (``--environment_type=LOOPBACK``,
      the Prism runner's default): one process, the launching one;
    * the portable runner's embedded job server with other workers: one
      process per ``direct_num_workers``;
    * the Dask runner: the number of dask workers (processes) when a scheduler
      is named (``--dask_client_address`` or ``--dask_scheduler_file``) and answers.
    """
    options = pipeline.options
    runner = type(pipeline.runner).__name__
    direct = options.view_as(DirectOptions)
    workers = direct.direct_num_workers if direct.direct_num_workers else os.cpu_count() or 1
    if runner in _LOCAL_RUNNERS:
        if direct.direct_running_mode == "multi_processing":
            return max(1, min(workers, segment_count))
        return 1
    if runner == "BundleBasedDirectRunner":
        return 1
    if runner == "PrismRunner" and not options.view_as(PortableOptions).environment_type:
        return 1
    if _is_portable(pipeline.runner) and _loopback_in_process(options):
        return 1
    if runner == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed":
        return max(1, min(workers, segment_count))
    if _runner_name(pipeline.runner) == DASK_RUNNER:
        dask_workers = dask_worker_count(options)
        if dask_workers:
            return max(1, min(dask_workers, segment_count))
    return None


def dask_worker_count(options) -> int | None:
    """Workers of the dask scheduler the options name; None if none is named or answers."""
    from apache_beam.runners.dask.dask_runner import DaskOptions
    from distributed import Client

    dask = options.view_as(DaskOptions)
    if not (dask.address or dask.scheduler_file):
        return None
    try:
        with Client(
            address=dask.address,
            scheduler_file=dask.scheduler_file,
            timeout=dask.timeout if isinstance(dask.timeout, int) else 10,
            set_as_default=False,
        ) as client:
            return len(client.nthreads())
    except Exception as error:  # the job itself will report an unreachable scheduler
        _LOGGER.warning("cannot ask the dask scheduler for its workers: %s", error)
        return None
