"""Which stream a table has, from ``DescribeTable``.

A table's stream is named by ``LatestStreamArn``; it is on when
``StreamSpecification.StreamEnabled`` is true. A disabled stream keeps its
ARN in the description (its records stay readable for 24 hours), but the
writes made since it was disabled are in no stream, so it cannot catch up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from transforms.dynamodb.scan.errors import explain
from transforms.dynamodb.stream.errors import NoStream
from transforms.dynamodb.table_description import TableDescription

__all__ = ["TableStream", "describe_table_stream", "table_stream_from_response"]


@dataclasses.dataclass(frozen=True)
class TableStream:
    """A table, its key attributes (hash key first) and its enabled stream."""

    table: str
    key_attributes: tuple[str, ...]
    stream_arn: str
    view_type: str | None


def table_stream_from_response(response: Mapping[str, Any]) -> TableStream:
    """The :class:`TableStream` of a ``DescribeTable`` response.

    Raises :class:`NoStream` when the table has no stream or it is disabled.
    """
    table = response["Table"]
    name = table["TableName"]
    spec = table.get("StreamSpecification") or {}
    arn = table.get("LatestStreamArn")
    if not spec.get("StreamEnabled") or not arn:
        raise NoStream(name, disabled=bool(arn))
    return TableStream(
        table=name,
        key_attributes=TableDescription.from_response(response).key_attributes,
        stream_arn=arn,
        view_type=spec.get("StreamViewType"),
    )


def describe_table_stream(client, table: str, endpoint_url: str | None = None) -> TableStream:
    """``DescribeTable`` of ``table`` with ``client``, as a :class:`TableStream`.

    Raises :class:`NoStream`, or a one-line
    :class:`~transforms.dynamodb.scan.errors.ScanError` (table not found, access
    denied, endpoint unreachable) naming what to fix.
    """
    try:
        response = client.describe_table(TableName=table)
    except Exception as error:
        raise explain(error, table, endpoint_url) from error
    return table_stream_from_response(response)
