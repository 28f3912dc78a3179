"""The DynamoDB Streams client, made from the project's picklable client config.

The stream's API is a separate endpoint (``streams.dynamodb.<region>...``)
with its own client; it takes the region, retries and timeouts of a
:class:`~transforms.dynamodb.client.DynamoDBClientConfig`. Local servers
(moto, DynamoDB Local) serve both APIs on one port, so the streams endpoint
defaults to the config's ``endpoint_url``. Credentials come from boto3's
default chain only.
"""

from __future__ import annotations

from transforms.dynamodb.client import DynamoDBClientConfig, new_session
from transforms.dynamodb.log_redaction import install_secret_redaction

__all__ = ["create_streams_client"]


def create_streams_client(config: DynamoDBClientConfig, endpoint_url: str | None = None):
    """A new low-level ``dynamodbstreams`` client.

    ``endpoint_url`` overrides ``config.endpoint_url`` (pass the streams
    endpoint when the DynamoDB endpoint is a custom one). botocore's retry
    handler (``config.max_attempts``, ``config.retry_mode``) retries
    throttling (``LimitExceededException``), 5xx and connection errors.
    """
    install_secret_redaction()
    return new_session().client(
        "dynamodbstreams",
        region_name=config.region_name,
        endpoint_url=endpoint_url or config.endpoint_url,
        config=config.botocore_config(),
    )
