"""A local DynamoDB-compatible server: moto's server mode on a loopback port.

Used by ``run_local.sh`` and by the test fixtures. The server runs in its own
process so that it does not compete with the pipeline for the interpreter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

__all__ = ["LocalDynamoDB", "free_port"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class LocalDynamoDB:
    """Starts ``moto.server`` on a free loopback port; a context manager.

    ``endpoint_url`` is set once the server answers. Requests need some
    credentials and a region; moto accepts any (``dummy_credentials()``).
    """

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0):
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen | None = None
        self.endpoint_url: str | None = None

    def start(self) -> LocalDynamoDB:
        for _ in range(5):
            port = self._requested_port or free_port()
            env = dict(os.environ, MOTO_PORT=str(port))
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            url = f"http://{LOOPBACK}:{port}"
            if self._wait_until_up(url):
                self.endpoint_url = url
                return self
            self.stop()
            if self._requested_port:
                break
        raise RuntimeError(
            "could not start the local DynamoDB server (moto.server); "
            "is the project installed with the 'local' extra?"
        )

    def _wait_until_up(self, url: str) -> bool:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        return False

    def reset(self) -> None:
        """Drops every table: moto's reset endpoint."""
        request = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        """Ends the server; its tables are in memory, so nothing is lost by a kill.

        moto exits on SIGTERM, but then waits for its request threads, which
        hold the keep-alive connections of clients still open: a second is
        given, then the process is killed.
        """
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LocalDynamoDB:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def dummy_credentials() -> dict:
    """Environment variables that satisfy boto3's chain for a local server."""
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
