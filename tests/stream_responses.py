"""Recorded DynamoDB Streams responses and builders of others, for stubbed clients.

``stream_responses/describe_stream_split_page{1,2}.json`` are one stream's
``DescribeStream`` answer over two pages (``LastEvaluatedShardId`` on the
first), in the API's wire shape with times as ISO-8601 text. Its lineage,
listed deliberately not parents-first::

    ...0d0d0d0d (trimmed: not listed)
      └─ ...0c0c0c0c  closed  1100...0001 – 1100...0099   (a root: its parent is trimmed)
           └─ ...a0a0a0a0  closed  2200...0101 – 2200...0188
                ├─ ...b1b1b1b1  open  from 3300...0200
                └─ ...b2b2b2b2  open  from 3300...0201

a shard rolled over (0c → a0), then split into two open children.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import boto3

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stream_responses")

STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/works/stream/2026-11-28T09:00:00.000"
STREAM_CREATED = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TRIMMED = "shardId-00000001764320400000-0d0d0d0d"
ROOT = "shardId-00000001764378000000-0c0c0c0c"
MIDDLE = "shardId-00000001764392400000-a0a0a0a0"
LEFT = "shardId-00000001764406800000-b1b1b1b1"
RIGHT = "shardId-00000001764406800000-b2b2b2b2"
SPLIT_PAGES = ("describe_stream_split_page1.json", "describe_stream_split_page2.json")


def _times(obj):
    if isinstance(obj, dict):
        return {
            k: datetime.fromisoformat(v.replace("Z", "+00:00"))
            if k in ("CreationRequestDateTime", "ApproximateCreationDateTime")
            else _times(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_times(v) for v in obj]
    return obj


def recorded(name: str) -> dict:
    """A recorded response, times as aware ``datetime``s as botocore parses them."""
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return _times(json.load(f))


def split_pages() -> list[dict]:
    return [recorded(name) for name in SPLIT_PAGES]


def streams_client():
    """A ``dynamodbstreams`` client for a ``Stubber``; nothing leaves the process."""
    return boto3.client(
        "dynamodbstreams", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9"
    )


def dynamodb_client():
    return boto3.client("dynamodb", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9")


def record(sequence_number: str, key_id: str, created: datetime, event: str = "MODIFY") -> dict:
    """One ``GetRecords`` record of a KEYS_ONLY stream, key ``{"id": {"S": key_id}}``."""
    return {
        "eventID": f"e{sequence_number[-6:]}",
        "eventName": event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"id": {"S": key_id}},
            "SequenceNumber": sequence_number,
            "SizeBytes": 40,
            "StreamViewType": "KEYS_ONLY",
        },
    }


def at(minutes: float) -> datetime:
    """A time ``minutes`` after 2026-11-29 12:00 UTC."""
    return datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)
