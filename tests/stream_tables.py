"""Tables with a stream on the local server, writers, and what the index should hold.

The local server (moto) serves DynamoDB Streams on the same port: one shard
per stream, records with ``ApproximateCreationDateTime``, ``TRIM_HORIZON``
and ``AFTER_SEQUENCE_NUMBER`` iterators. It never trims, never splits a
shard and cannot enable a stream again once disabled; re-creating a table
gives it a stream with a new ARN.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import boto3

from pipeline.catch_up.job import CatchUpConfig
from pipeline.local.sample_data import generate_items, seed_table
from pipeline.models import Work
from tests.tables import unique_name
from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.dynamodb.client import DynamoDBClientConfig

REGION = "us-east-1"
MARGIN = timedelta(seconds=0.5)
SEED = 11


def work_id(n: int) -> str:
    return f"w{n:08d}"


def key(n: int) -> dict:
    return {"id": {"S": work_id(n)}}


def samples(count: int, malformed_fraction: float = 0.05) -> list[dict]:
    """Sample work items ``w00000000``...; a malformed one's good version has fraction 0."""
    return [s.item for s in generate_items(count, malformed_fraction=malformed_fraction, seed=SEED)]


def create_stream_table(client, prefix: str, view_type: str | None, name: str | None = None):
    """An on-demand table (hash key ``id``), with a stream of ``view_type`` unless None."""
    name = name or unique_name(prefix)
    extra = {}
    if view_type:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def wait_past_stream_start(endpoint_url: str, client, table: str, margin: timedelta) -> None:
    """Sleeps until the stream is older than ``margin``, so a start time noted now is covered."""
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint_url, region_name=REGION)
    created = streams.describe_stream(StreamArn=arn)["StreamDescription"]["CreationRequestDateTime"]
    wait = (created + margin + timedelta(seconds=0.05) - datetime.now(timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait)


def seeded_stream_table(client, view_type: str, count: int) -> str:
    """A table with a stream, seeded with ``count`` samples more than ``MARGIN`` ago."""
    name = create_stream_table(client, "stream", view_type)
    seed_table(client, name, samples(count))
    time.sleep(MARGIN.total_seconds() + 0.05)
    return name


def stream_table_to_seed(client, endpoint_url: str, view_type: str) -> str:
    """An empty table whose stream is older than ``MARGIN``: a start time noted now is covered."""
    name = create_stream_table(client, "stream", view_type)
    wait_past_stream_start(endpoint_url, client, name, MARGIN)
    return name


def catch_up_config(endpoint_url: str, table: str, tmp_path, **overrides) -> CatchUpConfig:
    """The index ``TMP/index.db``, dead letters in ``TMP/dead``, the test margin."""
    return CatchUpConfig(
        table=table,
        model=Work,
        index=f"sqlite:///{tmp_path}/index.db",
        dead_letters=str(tmp_path / "dead"),
        client_config=DynamoDBClientConfig(region_name=REGION, endpoint_url=endpoint_url),
        safety_margin=MARGIN,
        **overrides,
    )


def expected_rows(client, table: str) -> dict[str, str]:
    """``{id: body}`` a reindex would write now: a consistent read of every item, decoded."""
    decode = compile_decoder(Work)
    rows = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            try:
                record = decode(item)
            except DecodeError:
                continue
            rows[record.id] = record.to_json()
    return rows


def put(client, table: str, item: dict) -> None:
    client.put_item(TableName=table, Item=item)


def set_title(client, table: str, n: int, title: dict) -> None:
    client.update_item(
        TableName=table,
        Key=key(n),
        UpdateExpression="SET title = :t",
        ExpressionAttributeValues={":t": title},
    )


def delete(client, table: str, n: int) -> None:
    client.delete_item(TableName=table, Key=key(n))


def writes(client, table: str, first_new: int, round_: int) -> list[Callable[[], None]]:
    """One round of writes to items ``10*round_`` to ``10*round_ + 9`` of a table seeded
    with ``first_new`` samples: updates, deletes, a re-creation, new items (some
    malformed), an item made undecodable, a malformed one fixed, one key changed
    several times then deleted, and a delete of a key that never existed."""
    pool = samples(first_new + 12)
    good = samples(first_new + 12, malformed_fraction=0.0)
    malformed = [n for n in range(first_new) if pool[n] != good[n]]
    base = 10 * round_
    ops: list[Callable[[], None]] = []
    for n in range(base, base + 4):
        ops.append(lambda n=n: set_title(client, table, n, {"S": f"Updated {round_}.{n}"}))
    for n in range(base + 4, base + 7):
        ops.append(lambda n=n: delete(client, table, n))
    ops.append(lambda: put(client, table, dict(good[base + 4], title={"S": "Re-created"})))
    for n in range(first_new, first_new + 12):
        ops.append(lambda n=n: put(client, table, pool[n]))
    ops.append(lambda: set_title(client, table, base + 7, {"N": "7"}))
    ops.append(lambda: put(client, table, good[malformed[round_]]))
    for step in range(3):
        ops.append(lambda s=step: set_title(client, table, base + 9, {"S": f"Step {s}"}))
    ops.append(lambda: delete(client, table, base + 9))
    ops.append(lambda: delete(client, table, 10**7))
    return ops


def catch_up_args(endpoint_url: str, table: str, tmp_path, *extra: str) -> list[str]:
    """``catch-up`` of ``table`` into ``tmp_path``'s index, dead letters and bookmark."""
    return [
        "catch-up",
        "--table",
        table,
        "--model",
        "pipeline.models:Work",
        "--index",
        f"sqlite:///{tmp_path}/index.db",
        "--dead-letters",
        str(tmp_path / "dead"),
        "--bookmark",
        str(tmp_path / "bookmark.json"),
        "--endpoint-url",
        endpoint_url,
        "--region",
        REGION,
        *extra,
    ]
