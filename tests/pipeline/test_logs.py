"""The command line's logging: a runner's failures in one line each, ours with their traceback."""

import subprocess
import sys
import textwrap

from tests.reindex_runs import ROOT

_SCRIPT = textwrap.dedent(
    """
    import logging, threading
    from pipeline.logs import configure_logging
    configure_logging()

    def fail(where):
        exec(compile("raise RuntimeError('Worker subprocess exited with return code -9')",
                     where, "exec"))

    try:
        fail("/site-packages/apache_beam/runners/worker/data_plane.py")
    except RuntimeError:
        logging.getLogger("apache_beam.runners.worker.data_plane").exception(
            "Failed to read inputs in the data plane.")
    try:
        fail("/project/transforms/ours.py")
    except RuntimeError:
        logging.getLogger("transforms.ours").exception("our own failure")
    logging.getLogger("distributed.client").setLevel(logging.INFO)  # as dask sets it
    try:
        raise OSError("scheduler gone")
    except OSError:
        logging.getLogger("distributed.client").exception("reconnecting")
    for name, where in (("runner", "/site-packages/grpc/_server.py"),
                        ("ours", "/project/transforms/ours.py")):
        thread = threading.Thread(target=fail, args=(where,), name=name)
        thread.start()
        thread.join()
    """
)


def test_a_runners_failures_are_one_line_each_and_ours_keep_their_traceback():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert (
        "ERROR apache_beam.runners.worker.data_plane: Failed to read inputs in the data plane. "
        "(RuntimeError: Worker subprocess exited with return code -9)"
    ) in lines
    assert (
        "WARNING pipeline: the runner's thread runner stopped: RuntimeError: Worker "
        "subprocess exited with return code -9"
    ) in lines
    assert "ERROR transforms.ours: our own failure" in lines
    assert not any("distributed" in line for line in lines)  # the job's error says it
    assert "Exception in thread ours:" in done.stderr  # Python's own report, with its traceback
    assert done.stderr.count("Traceback (most recent call last):") == 2  # ours only
