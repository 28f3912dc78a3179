"""Beam's local engine with several workers, keeping what a self-checkpoint leaves.

With ``direct_num_workers`` above one, the local engine (``FnApiRunner``, in
its ``multi_processing`` or ``multi_threading`` mode) runs each stage by
cutting its input into one part per worker and processing every part as one
bundle, at once. Beam 2.77 then merges the parts' responses keeping only
their metrics and their error: the residual a splittable DoFn leaves when it
checkpoints itself (``defer_remainder``) is dropped, and with it the rest of
its restriction (Beam's own tests skip checkpoints with several workers).

:func:`keep_residuals` makes the engine use a bundle manager of its own,
which merges the parts' residuals as well, so that the runner schedules
them as it does with one worker: the remaining work becomes the stage's next
input, again cut over the workers. Each part is still its own bundle, which
the runner finalizes when it ends, so the run journal's commits
(:mod:`transforms.journal.commits`) are made at every checkpoint, in every
worker process. Parts without input run no bundle (but the first, which
takes the timers): most stages of a scan carry a few elements, and an empty
bundle still builds a bundle processor on its worker.

The swap is made only where Beam's engine has the shape it was written
against (checked when it is made); elsewhere :func:`keep_residuals` returns
False and the sources do not self-checkpoint with several workers, as before.

:func:`start_workers_quietly` makes the engine start its worker processes
(``multi_processing``) with :mod:`~transforms.runners.worker_main`, which
runs Beam's worker without the two lines each worker printed before reading
its options.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import shlex
import sys
from collections.abc import Mapping

from transforms.runners.process_exit import SDK_WORKER_MAIN

__all__ = ["keep_residuals", "start_workers_quietly"]

WORKER_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_main.py")

_LOGGER = logging.getLogger(__name__)

_PROCESS_BUNDLE_PARAMETERS = [
    "self",
    "inputs",
    "expected_outputs",
    "fired_timers",
    "expected_output_timers",
    "dry_run",
]


@functools.cache
def _engine():
    """Beam's engine module and the pieces used here, or None when its shape differs."""
    try:
        from apache_beam.portability.api import beam_fn_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.utils import thread_pool_executor
    except ImportError:
        return None
    parallel = getattr(fn_runner, "ParallelBundleManager", None)
    if parallel is None or not all(
        hasattr(fn_runner, name) for name in ("BundleManager", "monitoring_infos")
    ):
        return None
    try:
        parameters = list(inspect.signature(parallel.process_bundle).parameters)
    except (TypeError, ValueError):
        return None
    if parameters != _PROCESS_BUNDLE_PARAMETERS:
        return None
    return fn_runner, beam_fn_api_pb2, thread_pool_executor


def _has_input(part) -> bool:
    """True when a worker's part of one input (encoded chunks) holds an element."""
    return any(len(chunk) for chunk in part)


@functools.cache
def _manager_class():
    engine = _engine()
    if engine is None:
        return None
    fn_runner, beam_fn_api_pb2, thread_pool_executor = engine

    class ResidualKeepingBundleManager(fn_runner.ParallelBundleManager):
        """Runs one bundle per worker with input, and merges every part's
        residuals, metrics, errors and runner splits into the stage's result.

        Worker 0 always runs one, with the fired timers, as the single-worker
        engine does; a worker whose part of the input is empty runs none
        (Beam's runs an empty bundle on every worker, which costs each stage
        a bundle processor per worker and does nothing else).
        """

        def process_bundle(
            self,
            inputs: Mapping,
            expected_outputs,
            fired_timers: Mapping,
            expected_output_timers,
            dry_run: bool = False,
        ):
            workers = self._num_workers
            parts: list[dict] = [{} for _ in range(workers)]
            for name, buffer in inputs.items():
                for worker, part in enumerate(buffer.partition(workers)):
                    parts[worker][name] = part

            def run_part(worker: int):
                manager = fn_runner.BundleManager(
                    self.bundle_context_manager,
                    self._progress_frequency,
                    cache_token_generator=self._cache_token_generator,
                )
                timers = fired_timers if worker == 0 else {}  # as Beam: timers on one worker
                return manager.process_bundle(
                    parts[worker], expected_outputs, timers, expected_output_timers, dry_run
                )

            busy = [w for w in range(workers) if w == 0 or any(map(_has_input, parts[w].values()))]
            executor = thread_pool_executor.shared_unbounded_instance()
            outcomes = list(executor.map(run_part, busy))
            responses = [response for response, _ in outcomes]
            splits = [split for _, part_splits in outcomes for split in part_splits]
            merged = beam_fn_api_pb2.InstructionResponse(
                process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
                    monitoring_infos=fn_runner.monitoring_infos.consolidate(
                        info
                        for response in responses
                        for info in response.process_bundle.monitoring_infos
                    ),
                    residual_roots=[
                        residual
                        for response in responses
                        for residual in response.process_bundle.residual_roots
                    ],
                ),
                error=next((response.error for response in responses if response.error), ""),
            )
            return merged, splits

    ResidualKeepingBundleManager.__module__ = __name__
    return ResidualKeepingBundleManager


def keep_residuals() -> bool:
    """Makes the local engine keep self-checkpoint residuals with several workers.

    Returns True when the engine does (now or from an earlier call), False
    when its shape is not the one this was written against.
    """
    manager = _manager_class()
    if manager is None:
        _LOGGER.debug("Beam's local engine differs: residuals with several workers not kept")
        return False
    fn_runner = _engine()[0]
    fn_runner.ParallelBundleManager = manager
    return True


def _beams_worker_command() -> bytes:
    """The command Beam's local engine gives its worker processes in this interpreter
    (``FnApiRunner.run_pipeline`` in its ``multi_processing`` mode)."""
    return f"{sys.executable} -m {SDK_WORKER_MAIN}".encode()


@functools.cache
def start_workers_quietly() -> bool:
    """Makes the local engine run :mod:`~transforms.runners.worker_main` where it would
    run Beam's worker command in this interpreter (once per process).

    The engine makes a handler for each worker process by the URN of the
    worker's environment; this registers, for subprocess workers, one that
    gives Beam's own handler that command instead of Beam's, and any other
    command unchanged. Returns False, changing nothing, where Beam's engine
    does not have that shape.
    """
    try:
        from apache_beam.portability import python_urns
        from apache_beam.runners.portability.fn_api_runner import worker_handlers
    except ImportError:
        return False
    beams = getattr(worker_handlers, "SubprocessSdkWorkerHandler", None)
    register = getattr(worker_handlers.WorkerHandler, "register_environment", None)
    urn = getattr(python_urns, "SUBPROCESS_SDK", None)
    if beams is None or register is None or urn is None:
        _LOGGER.debug("Beam's local engine differs: its workers start with its own command")
        return False
    replaced = _beams_worker_command()
    quiet = f"{shlex.quote(sys.executable)} {shlex.quote(WORKER_MAIN)}".encode()

    def subprocess_worker(command: bytes, state, provision_info, grpc_server):
        return beams(quiet if command == replaced else command, state, provision_info, grpc_server)

    register(urn, bytes)(subprocess_worker)
    return True
