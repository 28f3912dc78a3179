"""A dask.distributed cluster of worker processes on loopback, and Beam's DaskRunner flags.

The cluster is a ``LocalCluster`` of two single-threaded worker processes
behind a scheduler on TCP: the processes Beam's ``DaskRunner`` sends its tasks
to, as on a cluster of machines. Workers start after the dummy AWS
credentials are set, so boto3's default chain finds them there, as it finds a
worker's own credentials in production.
"""

from __future__ import annotations

import logging

import pytest

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
WORKERS = 2


def dask_args(address: str) -> tuple[str, ...]:
    """The flags that run a pipeline (or ``reindex``) on the cluster at ``address``."""
    return (f"--runner={DASK_RUNNER}", f"--dask_client_address={address}")


@pytest.fixture(scope="session")
def dask_cluster(_local_credentials):
    """The scheduler address (``tcp://127.0.0.1:PORT``) of a running cluster."""
    distributed = pytest.importorskip("distributed")
    # The scheduler runs in this process and logs each client it drops, also
    # after pytest has closed the streams it captured: keep it to warnings.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with distributed.LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # None still serves one on 8787, which a second
        # test process would find taken
    ) as cluster:
        yield cluster.scheduler_address
