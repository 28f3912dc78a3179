"""Beam pipeline options given on the command line, checked before a run.

Beam itself only warns about flags it does not know ("Discarding unparseable
args"), so a typo such as ``--runer`` would silently run on the default
runner. The CLI refuses such flags instead, naming them.

A runner's own options (``--dask_client_address``, ``--flink_master``...) are
declared in its module, so the runner named by ``--runner`` is imported first:
a dotted path (``apache_beam.runners.dask.dask_runner.DaskRunner``), one of
Beam's known names (``DataflowRunner``, ``FlinkRunner``...) or ``DaskRunner``,
which Beam's short names do not cover. :func:`resolve_runner_args` writes
such a short name as its dotted path, so that Beam finds the runner too.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Sequence

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    StandardOptions,
    _BeamArgumentParser,
)

from transforms.runners.capabilities import capabilities_of

__all__ = [
    "DEFAULT_RUNNER",
    "BadBeamOption",
    "SchedulerUnreachable",
    "check_beam_args",
    "check_dask_scheduler",
    "chooses_workers",
    "in_this_process",
    "resolve_runner",
    "resolve_runner_args",
    "runner_with_metrics",
    "small_for_workers",
    "starts_worker_processes",
    "usable_cores",
    "with_default_runner",
]

DEFAULT_RUNNER = "DirectRunner"
"""The runner when ``--runner`` is not given: Beam's local engine."""

_LOCAL_ENGINE = {"direct", "directrunner", "apache_beam.runners.direct.direct_runner.directrunner"}
_WORKER_FLAGS = ("--direct_num_workers", "--direct_running_mode")
_HARNESS_LOG_FLAG = "--default_sdk_harness_log_level"
_HARNESS_OVERRIDES_FLAG = "--sdk_harness_log_level_overrides"
_QUIET_HARNESS = '{"__main__": "ERROR", "apache_beam.options.pipeline_options": "ERROR"}'
"""A worker process's own start-up warnings, which concern nothing a job does: that
it has no ``semi_persistent_directory`` and that it ignores the launcher's flags."""

EXTRA_RUNNERS = {"daskrunner": "apache_beam.runners.dask.dask_runner.DaskRunner"}
"""Runners Beam ships but does not map from a short name, by lower-case name."""

RUNNER_EXTRAS = {"apache_beam.runners.dask": "dask", "apache_beam.runners.dataflow": "gcp"}
"""The extra of ``apache-beam`` (or of this project) each runner package needs."""


class BadBeamOption(ValueError):
    """An option that neither the CLI nor Beam knows, or a bad value."""


class _RaisingParser(_BeamArgumentParser):
    def error(self, message):
        raise BadBeamOption(message)


def _all_option_classes():
    seen = {}
    pending = list(PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop()
        seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
        pending.extend(cls.__subclasses__())
    return seen.values()


CREDENTIAL_OPTIONS = ("--s3_access_key_id", "--s3_secret_access_key", "--s3_session_token")
"""Beam options that would store AWS credentials in the pipeline options, which are
pickled, shipped to workers and shown by runners' UIs: refused."""


def _known_runners() -> dict[str, str]:
    known = {path.rsplit(".", 1)[-1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    return {**known, **EXTRA_RUNNERS}


def resolve_runner(name: str) -> str:
    """The dotted path of the runner ``--runner name`` names, its module imported.

    Accepts a dotted path or a known short name (``DaskRunner``, ``dask``,
    ``FnApiRunner``...). Raises :class:`BadBeamOption` with one line saying
    what is wrong: an unknown name, a module that does not import (naming the
    extra to install) or a module without that class.
    """
    known = _known_runners()
    path = known.get(name.lower()) or known.get(name.lower() + "runner") or name
    if "." not in path:
        raise BadBeamOption(
            f"--runner {name}: unknown runner; give one of "
            f"{', '.join(sorted(p.rsplit('.', 1)[-1] for p in known.values()))} "
            "or a dotted path module.RunnerClass"
        )
    module_name, class_name = path.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        extra = next((x for p, x in RUNNER_EXTRAS.items() if module_name.startswith(p)), None)
        hint = f"; install apache-beam[{extra}]" if extra else ""
        raise BadBeamOption(
            f"--runner {name}: cannot import module {module_name!r} ({error}){hint}"
        ) from None
    if not isinstance(getattr(module, class_name, None), type):
        raise BadBeamOption(f"--runner {name}: module {module_name!r} has no class {class_name!r}")
    return path


def _flag_value(args: Sequence[str], flag: str) -> tuple[int, str] | None:
    """``(position, value)`` of the last ``flag`` in ``args`` (``--flag=value`` or
    ``--flag value``), or None."""
    found = None
    for position, arg in enumerate(args):
        if arg.startswith(flag + "="):
            found = (position, arg.split("=", 1)[1])
        elif arg == flag and position + 1 < len(args):
            found = (position, args[position + 1])
    return found


class SchedulerUnreachable(RuntimeError):
    """The dask scheduler named by ``--dask_client_address`` does not answer as one."""


SCHEDULER_TIMEOUT = 10.0


def check_dask_scheduler(args: Sequence[str], timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Raises :class:`SchedulerUnreachable` when ``--dask_client_address`` names an
    address where no dask scheduler answers within ``timeout`` seconds: the
    job would wait there (a dashboard's port never answers dask's handshake)."""
    address = _flag_value(args, "--dask_client_address")
    if address is None:
        return
    import asyncio

    from distributed.comm import connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address[1], timeout=timeout), timeout + 1)
        await comm.close()

    try:
        asyncio.run(handshake())
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise SchedulerUnreachable(
            f"no dask scheduler answered at {address[1]} within {timeout:.0f} s ({reason}): "
            "check --dask_client_address, the scheduler's own port (8786 by default), "
            "not its dashboard's (8787)"
        ) from None


def _runner_value(args: Sequence[str]) -> tuple[int, str] | None:
    """``(position, value)`` of the last ``--runner`` in ``args``, or None."""
    return _flag_value(args, "--runner")


def resolve_runner_args(args: Sequence[str]) -> list[str]:
    """``args`` with ``--runner`` written as the dotted path :func:`resolve_runner` gives."""
    args = list(args)
    found = _runner_value(args)
    if found is None:
        return args
    position, name = found
    path = resolve_runner(name)
    if args[position] == "--runner":
        del args[position + 1]
    args[position] = f"--runner={path}"
    return args


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity, e.g. under ``taskset``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_this_process(args: Sequence[str]) -> list[str]:
    """``args`` (resolved: ``--runner=PATH``) with the runner replaced by the
    local engine in this process; the worker flags go too."""
    kept = [
        arg
        for arg in args
        if not arg.startswith("--runner=") and not any(_given([arg], f) for f in _WORKER_FLAGS)
    ]
    return resolve_runner_args([f"--runner={DEFAULT_RUNNER}", *kept])


def runner_with_metrics(args: Sequence[str], job: str) -> list[str]:
    """``args``, or on a runner that reports no metrics (Beam's Dask runner) the
    local engine's in this process, for a small ``job`` ("The catch-up") that
    counts what it did with metrics; says so in a log line."""
    args = list(args)
    capabilities = capabilities_of(PipelineOptions(args))
    if capabilities.metrics:
        return args
    logging.getLogger(__name__).info(
        "%s runs in this process: %s reports no metrics, with which it counts what it applies",
        job,
        capabilities.runner,
    )
    return in_this_process(args)


def _given(args: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


IN_PROCESS_BELOW_BYTES = 32 * 2**20
IN_PROCESS_BELOW_ITEMS = 40_000
"""Tables smaller than this (``TableSizeBytes``) are read faster in the
launching process: worker processes take about a second to start and add
stages. Measured on 2 CPUs, 30 ms per request, two worker processes against
one process: 5,000 items (3.9 MB) 4.1-4.4 s against 2.2-2.6 s; 30,000 items
(23 MB) 5.2-7.2 s against 4.8-5.9 s; 100,000 items (78 MB) 9.6-9.9 s against
12.7-13.0 s. The item count serves only where DynamoDB reports no size."""


def small_for_workers(size_bytes: int, item_count: int) -> bool:
    """True for a table (``DescribeTable``'s size and item count) that a reindex
    reads faster in the launching process than with worker processes; False
    when the table is large or its size is not known (both 0: DynamoDB
    refreshes them about every 6 hours)."""
    if size_bytes > 0:
        return size_bytes < IN_PROCESS_BELOW_BYTES
    return 0 < item_count < IN_PROCESS_BELOW_ITEMS


def chooses_workers(args: Sequence[str]) -> bool:
    """True when :func:`with_default_runner` would choose the worker processes:
    the local engine, given or defaulted, with no worker flag given."""
    found = _runner_value(args)
    if found is not None and found[1].lower() not in _LOCAL_ENGINE:
        return False
    return not any(_given(args, flag) for flag in _WORKER_FLAGS)


def starts_worker_processes(args: Sequence[str]) -> bool:
    """True when ``args`` (resolved by :func:`with_default_runner`) run the local
    engine with worker processes (``multi_processing``)."""
    return _local_engine_mode(args) == "multi_processing"


def with_default_runner(args: Sequence[str], cores: int | None = None) -> list[str]:
    """``args`` with the runner's defaults: the local engine, on every usable core.

    Without ``--runner``, the runner is :data:`DEFAULT_RUNNER`. On that local
    engine (given or defaulted) and unless ``--direct_num_workers`` or
    ``--direct_running_mode`` is given, a machine with ``cores`` > 1 usable
    CPUs (by default :func:`usable_cores`) runs one worker process per CPU
    (``multi_processing``), each with its own interpreter; with one CPU, the
    job runs in the launching process. Worker processes, chosen here or by
    ``--direct_running_mode=multi_processing``, log to stderr at WARNING
    unless ``--default_sdk_harness_log_level`` says otherwise (at Beam's
    INFO, each prints some 25 lines of its start and end), and without
    their start-up warnings unless ``--sdk_harness_log_level_overrides`` is
    given (:data:`_QUIET_HARNESS`). The
    sources keep their self-checkpoints (and the run journal its commits)
    with worker processes: see :mod:`transforms.runners.local_workers`.
    """
    args = list(args)
    found = _runner_value(args)
    if found is None:
        args.insert(0, f"--runner={DEFAULT_RUNNER}")
    elif found[1].lower() not in _LOCAL_ENGINE:
        return args
    cores = usable_cores() if cores is None else cores
    if cores > 1 and chooses_workers(args):
        args += [f"--direct_num_workers={cores}", "--direct_running_mode=multi_processing"]
    mode = _flag_value(args, "--direct_running_mode")
    if mode is not None and mode[1] == "multi_processing":
        if not _given(args, _HARNESS_LOG_FLAG):
            args.append(f"{_HARNESS_LOG_FLAG}=WARNING")
        if not _given(args, _HARNESS_OVERRIDES_FLAG):
            args.append(f"{_HARNESS_OVERRIDES_FLAG}={_QUIET_HARNESS}")
    return args


_READING_LOCAL_ENGINES = {"directrunner", "switchingdirectrunner", "fnapirunner"}


def _local_engine_mode(args: Sequence[str]) -> str | None:
    """The ``--direct_running_mode`` of the local engine ``args`` (resolved) run on,
    "" when not given; None for another runner."""
    found = _runner_value(args)
    if found is None or found[1].rsplit(".", 1)[-1].lower() not in _READING_LOCAL_ENGINES:
        return None
    mode = _flag_value(args, "--direct_running_mode")
    return "" if mode is None else mode[1]


def local_readers(args: Sequence[str]) -> int | None:
    """How many segments the local engine of ``args`` (resolved by
    :func:`with_default_runner`) reads at once: ``--direct_num_workers`` in the
    ``multi_processing`` and ``multi_threading`` modes, 1 in the launching
    process; None for other runners, which do not say."""
    mode = _local_engine_mode(args)
    if mode is None:
        return None
    if mode not in ("multi_processing", "multi_threading"):
        return 1
    workers = _flag_value(args, "--direct_num_workers")
    if workers is None:
        return 1
    try:
        count = int(workers[1])
    except ValueError:
        return None  # check_beam_args says what is wrong
    return count if count > 0 else usable_cores()  # 0: Beam's "one per CPU"


_SCHEDULER_ADDRESS = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?(?:\[[^\]]+\]|[^:/\[\]]+):\d+")
"""A dask.distributed scheduler address: ``tcp://host:port``, ``host:port``, ``tls://[::1]:port``."""


def check_beam_args(args: Sequence[str], command: str = "reindex") -> None:
    """Raises :class:`BadBeamOption` for unknown flags, unparseable values or credentials.

    The runner ``--runner`` names is imported first, so its own options are known.
    """
    secrets = sorted(
        {arg.split("=", 1)[0] for arg in args if arg.split("=", 1)[0] in CREDENTIAL_OPTIONS}
    )
    if secrets:
        raise BadBeamOption(
            f"{', '.join(secrets)}: credentials are never pipeline options (they would be "
            "pickled and shown); use the environment, AWS_PROFILE or a role"
        )
    found = _runner_value(args)
    if found is not None:
        resolve_runner(found[1])
    parser = _RaisingParser(allow_abbrev=False)
    for cls in _all_option_classes():
        try:
            cls._add_argparse_args(parser)
        except Exception:  # an option class whose flags clash is not ours to check
            continue
    known, unknown = parser.parse_known_args(list(args))
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags or unknown:
        shown = " ".join(flags or unknown)
        raise BadBeamOption(
            f"unknown option(s): {shown} (neither a {command} option nor a Beam pipeline option)"
        )
    address = _flag_value(args, "--dask_client_address")
    if address is not None and not _SCHEDULER_ADDRESS.fullmatch(address[1]):
        raise BadBeamOption(
            "--dask_client_address must be the scheduler's address with its port, e.g. "
            f"tcp://127.0.0.1:8786, got {address[1]!r}"
        )
    workers = getattr(known, "direct_num_workers", None)
    if isinstance(workers, int) and workers < 0:
        raise BadBeamOption(f"--direct_num_workers must be 0 (one per CPU) or more, got {workers}")
