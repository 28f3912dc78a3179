"""Beam's SDK worker, started without the two lines it logs before reading its options.

Run by path, ``python .../transforms/runners/worker_main.py``, as the worker
command of the local engine's worker processes
(:func:`transforms.runners.local_workers.start_workers_quietly`). Beam's own
command, ``python -m apache_beam.runners.worker.sdk_worker_main``, prints two
lines to standard error in every worker before the options that set its log
level are read: the warning that BigQuery's client (``apitools``) is missing,
given when Beam is imported, and ``Logging handler created``. This script
gives the root logger the handler that warning would have made (Python's
``basicConfig``: standard error, the same format) with a filter that drops
those two records, then runs Beam's worker module as the main module, as
``-m`` does. Every other record, and everything the worker does, is Beam's.

Standard library only before Beam's module runs: nothing may log first.
"""

import logging
import os
import runpy
import sys

SDK_WORKER_MAIN = "apache_beam.runners.worker.sdk_worker_main"

_DROPPED = (
    ("root", "apitools not found"),
    ("__main__", "Logging handler created."),
)
"""(logger, start of message) of the records dropped."""


class _DropStartUpLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(
            record.name == name and message.startswith(start) for name, start in _DROPPED
        )


def main() -> None:
    sys.path[0] = os.getcwd()  # as ``python -m`` has it, not this script's folder
    sys.argv[0] = SDK_WORKER_MAIN
    logging.basicConfig()
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropStartUpLines())
    runpy.run_module(SDK_WORKER_MAIN, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
