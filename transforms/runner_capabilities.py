"""What the runner of a pipeline does with a scan, as far as the scan must know.

Beam 2.77's local runner in multi-worker mode drops the residuals of
self-checkpoints, and how many processes read at once decides each one's share
of the read ceiling. Both are read from the pipeline's runner and options;
where the runner does not tell (remote runners), :func:`reading_processes`
says so and the ceiling is shared per segment instead
(:mod:`transforms.dynamodb.rate_limit`).
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.options.pipeline_options import DebugOptions, DirectOptions, PortableOptions

__all__ = ["reading_processes", "residuals_are_honoured"]

# Runners whose local, multi-worker bundle manager drops self-checkpoint
# residuals (measured with Beam 2.77): the scan must not defer work there.
_LOCAL_RUNNERS = {"DirectRunner", "SwitchingDirectRunner", "FnApiRunner", "TestDirectRunner"}


def residuals_are_honoured(pipeline: beam.Pipeline) -> bool:
    """False where the runner is known to drop self-checkpoint residuals."""
    options = pipeline.options
    workers = options.view_as(DirectOptions).direct_num_workers
    runner = type(pipeline.runner).__name__
    if runner in _LOCAL_RUNNERS:
        return workers == 1
    if runner == "PortableRunner":
        return options.view_as(PortableOptions).job_endpoint != "embed" or workers == 1
    return True


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
      process per ``direct_num_workers``.
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
    return None
