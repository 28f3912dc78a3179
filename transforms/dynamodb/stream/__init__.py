"""Catching an index up with a table's writes, from its DynamoDB stream.

::

    changes = read_changes(streams, stream_arn, plan, table="works")
    source = StreamSource(changes, "works", ("id",), client_config)

Modules: :mod:`.table_stream` (the table's stream), :mod:`.shards`
(DescribeStream, lineage), :mod:`.bookmark`, :mod:`.positions` (where to
read from, gaps), :mod:`.reader` (GetRecords: the keys changed),
:mod:`.reindex_source` (the keys as a source of the reindex spine, re-read
by :mod:`transforms.dynamodb.keys`). The catch-up job itself is
``pipeline.catch_up``; ``docs/catch-up.md`` states its guarantee.
"""

from transforms.dynamodb.keys import Reread, RereadIncomplete, ReReadKeys, reread_keys
from transforms.dynamodb.stream.bookmark import (
    Bookmark,
    BookmarkError,
    BookmarkNotFound,
    CorruptBookmark,
    ShardPosition,
    bookmark_exists,
    read_bookmark,
    write_bookmark,
)
from transforms.dynamodb.stream.errors import NoStream, StreamCatchUpError, StreamGap
from transforms.dynamodb.stream.positions import (
    DEFAULT_SAFETY_MARGIN,
    RETENTION,
    check_retention,
)
from transforms.dynamodb.stream.reader import StreamChanges, read_changes
from transforms.dynamodb.stream.reindex_source import StreamSource
from transforms.dynamodb.stream.shards import Shard, StreamDescription, describe_stream
from transforms.dynamodb.stream.table_stream import TableStream, describe_table_stream

__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "RETENTION",
    "Bookmark",
    "BookmarkError",
    "BookmarkNotFound",
    "CorruptBookmark",
    "NoStream",
    "ReReadKeys",
    "Reread",
    "RereadIncomplete",
    "Shard",
    "ShardPosition",
    "StreamCatchUpError",
    "StreamChanges",
    "StreamDescription",
    "StreamGap",
    "StreamSource",
    "TableStream",
    "bookmark_exists",
    "check_retention",
    "describe_stream",
    "describe_table_stream",
    "read_bookmark",
    "read_changes",
    "reread_keys",
    "write_bookmark",
]
