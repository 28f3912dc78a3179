"""Beam runner arguments the tests run their pipelines and command lines with.

Each is a tuple of flags for ``PipelineOptions`` or the ``reindex`` command
line: the in-process DirectRunner engine, the same engine with two worker
processes, and the portable Job API with an embedded job server.
"""

from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

IN_PROCESS = ("--runner=FnApiRunner",)
MULTI_PROCESS = (
    "--runner=FnApiRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
)
PORTABLE = ("--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK")
RUNNERS = {"in_process": IN_PROCESS, "multi_process": MULTI_PROCESS, "portable": PORTABLE}
MULTI_THREAD = (
    "--runner=FnApiRunner",
    "--direct_running_mode=multi_threading",
    "--direct_num_workers=4",
)
"""The in-process engine with four worker threads (not in ``RUNNERS``: used where
threads and processes must be told apart, such as the read ceiling)."""


def run_pipeline(build: Callable[[beam.Pipeline], object], *args: str, runner: str = "in_process"):
    """Run the pipeline ``build(pipeline)`` makes on ``RUNNERS[runner]`` plus ``args``, to the end.

    Returns the finished ``PipelineResult`` so a test can read its metrics.
    """
    pipeline = beam.Pipeline(options=PipelineOptions([*RUNNERS[runner], *args]))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def reindex_counters(result) -> dict[str, int]:
    """The committed counters of the ``reindex`` metrics namespace, by name."""
    query = result.metrics().query(MetricsFilter().with_namespace("reindex"))
    return {c.key.metric.name: c.committed for c in query["counters"]}
