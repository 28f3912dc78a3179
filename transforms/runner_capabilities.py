"""What the runner of a pipeline does with a scan, as far as the scan must know.

Beam 2.77's local runner in multi-worker mode drops the residuals of
self-checkpoints, and how many processes read at once decides each one's share
of the read ceiling. Both are read from the pipeline's runner and options.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PortableOptions

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


def reading_processes(pipeline: beam.Pipeline, segment_count: int) -> int:
    """How many processes may read at once, for dividing the read ceiling.

    Local runners say it in their options; elsewhere no more processes than
    segments can read at once.
    """
    options = pipeline.options
    runner = type(pipeline.runner).__name__
    workers = options.view_as(DirectOptions).direct_num_workers
    local = runner in _LOCAL_RUNNERS or (
        runner == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed"
    )
    if local:
        workers = workers if workers else os.cpu_count() or 1
        return max(1, min(workers, segment_count))
    return max(1, segment_count)
