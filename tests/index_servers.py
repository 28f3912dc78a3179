"""Loopback search servers for tests, each in its own process on a free port.

* ``elasticsearch_url``: noida-db (PyPI ``noida-db``), which speaks the
  Elasticsearch 8 REST API; started as ``noida-db start --only elasticsearch
  --elasticsearch-port 0`` in a temporary data folder.
* ``opensearch_url``: osmem-server (PyPI ``osmem-server``), an in-memory
  server with the OpenSearch API; started through its own launcher
  (``OsmemServer.start``), which passes ``--parent-pid``.

Both processes end when the test session ends, and also when the test
process dies (osmem watches its parent; noida-db gets ``PR_SET_PDEATHSIG``).
Tests share each server and use unique index names.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from importlib.resources import files

import pytest

STARTUP_TIMEOUT = 30.0
_names = itertools.count()


def unique_index(prefix: str = "t") -> str:
    """A fresh index name for one test, valid on both servers."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def _die_with_parent() -> None:
    """Child-side: receive SIGTERM when the test process dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class NoidaElasticsearch:
    """noida-db serving only its Elasticsearch API on a free loopback port."""

    def __init__(self, data_dir: str):
        binary = str(files("noida_db").joinpath("noida-db"))
        os.chmod(binary, 0o755)
        self.process = subprocess.Popen(
            [
                binary,
                "start",
                "--data-dir",
                data_dir,
                "--host",
                "127.0.0.1",
                "--only",
                "elasticsearch",
                "--elasticsearch-port",
                "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_parent,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        self.url = None
        try:
            while self.url is None:
                line = lines.get(timeout=STARTUP_TIMEOUT)
                if line is None:
                    raise RuntimeError("noida-db exited during startup")
                match = re.search(r"elasticsearch\s+(http://\S+)", line)
                if match:
                    self.url = match.group(1)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory) -> str:
    """``http://127.0.0.1:PORT`` of noida-db's Elasticsearch 8 API."""
    server = NoidaElasticsearch(str(tmp_path_factory.mktemp("noida")))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    """``http://127.0.0.1:PORT`` of osmem-server's OpenSearch API."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(freeze=False, japanese=False, startup_timeout=STARTUP_TIMEOUT)
    yield server.url
    server.close()
