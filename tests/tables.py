"""Test tables on the local DynamoDB server: any key schema, seeded content."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pipeline.local.sample_data import seed_table

_counter = itertools.count()


def unique_name(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def create_table(
    client,
    name: str,
    hash_key: tuple[str, str] = ("id", "S"),
    range_key: tuple[str, str] | None = None,
    gsi: tuple[str, tuple[str, str]] | None = None,
) -> str:
    """Creates an on-demand table (and optionally a GSI); returns its name."""
    keys = [hash_key] + ([range_key] if range_key else [])
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
    definitions = {name_: kind for name_, kind in keys}
    kwargs = {}
    if gsi:
        index_name, (attribute, kind) = gsi
        definitions[attribute] = kind
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index_name,
                "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    client.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": k} for a, k in definitions.items()
        ],
        BillingMode="PAY_PER_REQUEST",
        **kwargs,
    )
    return name


def seeded_table(client, prefix: str, items: Sequence[dict], **schema) -> str:
    name = create_table(client, unique_name(prefix), **schema)
    assert seed_table(client, name, items) == len(items)
    return name
