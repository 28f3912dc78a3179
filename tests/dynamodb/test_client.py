"""Clients resolve credentials through boto3's default chain when they are made.

Clients share their process's service data (a fresh boto3 session loads
DynamoDB's model again), but not credentials: a long-lived worker process
(Dask, Flink) must pick up credentials that were rotated in the shared
credentials file since its last job. Requests go to a loopback server that
keeps each request's ``Authorization`` header and refuses it.
"""

import pytest
from botocore.exceptions import ClientError

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.stream.clients import create_streams_client


@pytest.fixture
def credentials_file(tmp_path, monkeypatch):
    """Credentials from a shared credentials file only; returns a writer of it."""
    path = tmp_path / "credentials"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def write(key_id: str) -> None:
        path.write_text(
            f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = secret\n"
        )

    return write


def _key_ids(server) -> list[str]:
    return [a.split("Credential=")[1].split("/")[0] for a in server.authorizations]


def _refused(call) -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        call()


def test_a_client_made_after_the_credentials_file_changed_uses_the_new_keys(
    refusing_server, credentials_file
):
    url = f"http://127.0.0.1:{refusing_server.server_port}"
    config = DynamoDBClientConfig(region_name="us-east-1", endpoint_url=url, max_attempts=1)
    credentials_file("AKIDFIRSTJOB")
    first = config.create_client()
    _refused(lambda: first.describe_table(TableName="works"))
    credentials_file("AKIDSECONDJOB")
    second = config.create_client()
    _refused(lambda: second.describe_table(TableName="works"))
    streams = create_streams_client(config)
    _refused(lambda: streams.list_streams(TableName="works"))
    assert _key_ids(refusing_server) == ["AKIDFIRSTJOB", "AKIDSECONDJOB", "AKIDSECONDJOB"]
