"""Shared fixtures: a real DynamoDB-compatible server (moto) on loopback."""

import contextlib
import http.server
import os
import socket
import threading

import boto3
import pytest
from hypothesis import settings

from pipeline.local.dynamodb_server import LocalDynamoDB, dummy_credentials
from tests.dask_cluster import dask_cluster  # noqa: F401  (a fixture)
from transforms.runners.temp_folder import temp_folder_at

REGION = "us-east-1"

settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")
"""Properties are checked for what they compute, never for how long an example takes:
a loaded machine (CI, ``-n 2``) makes a first example slow."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: a fault, kill or load test of several seconds; CI runs them all, and "
        "-m 'not slow' leaves them out of a local run",
    )
    config.addinivalue_line(
        "markers",
        "dask: uses Beam's DaskRunner (the dask extra), most against a dask.distributed "
        "cluster of worker processes (run by default; deselect with -m 'not dask')",
    )


@pytest.fixture(scope="session", autouse=True)
def _temporary_folder(tmp_path_factory):
    """What the tests, and the processes they start, put in the temporary folder goes
    under pytest's own (which keeps the last three runs): Beam leaves folders there,
    and a command killed by a test leaves its own."""
    with temp_folder_at(str(tmp_path_factory.mktemp("tmp"))):
        yield


@pytest.fixture(scope="session", autouse=True)
def _local_credentials():
    """boto3's default chain finds these; nothing reaches a real AWS account."""
    saved = {name: os.environ.get(name) for name in dummy_credentials()}
    os.environ.update(dummy_credentials())
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def dynamodb_server(_local_credentials):
    with LocalDynamoDB() as server:
        yield server


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_server):
    return boto3.client("dynamodb", endpoint_url=dynamodb_server.endpoint_url, region_name=REGION)


@pytest.fixture
def silent_endpoint():
    """A loopback port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in accepted:
        connection.close()


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as DynamoDB answers credentials without the permission,
    keeping each request's ``Authorization`` header."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.authorizations.append(self.headers.get("Authorization", ""))
        body = b'{"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_server():
    """A loopback DynamoDB endpoint that refuses every request (access denied)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    server.authorizations = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
