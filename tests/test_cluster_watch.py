"""The launcher says when a Dask cluster has no workers, instead of waiting silently."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from transforms.runners.cluster_watch import wait_until_finish


def _slow_sum(numbers: list[int]) -> int:
    time.sleep(1.0)  # long enough for the watch to see the worker that runs it
    return sum(numbers)


class _Result:
    """What Beam's Dask runner returns: its client, and a wait on the job's futures."""

    def __init__(self, client, future):
        self.client = client
        self._future = future

    def wait_until_finish(self):
        return self._future.result(timeout=60)


def test_a_cluster_without_workers_is_said_and_the_job_goes_on_when_one_joins(caplog):
    distributed = pytest.importorskip("distributed")
    caplog.set_level(logging.WARNING, logger="pipeline.cluster_watch")
    with (
        distributed.LocalCluster(
            n_workers=0,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        future = client.submit(_slow_sum, [1, 2, 3])
        joins = threading.Timer(2.0, cluster.scale, args=(1,))
        joins.start()
        try:
            done = wait_until_finish(
                _Result(client, future), no_workers_after=0.5, poll_seconds=0.1
            )
        finally:
            joins.cancel()
    assert done == 6
    lines = [record.getMessage() for record in caplog.records]
    alone = [line for line in lines if "has had no workers" in line]
    assert len(alone) == 1, lines
    assert cluster.scheduler_address in alone[0] and "Ctrl-C" in alone[0]
    assert any("worker(s) again: the job goes on" in line for line in lines), lines


def test_other_runners_only_wait():
    class Finished:
        def wait_until_finish(self):
            return "DONE"

    assert wait_until_finish(Finished()) == "DONE"
