"""Catching an index up with a table's writes, from its DynamoDB stream.

::

    from transforms.dynamodb.stream import CatchUpConfig, catch_up, catch_up_since

    config = CatchUpConfig(table="works", model=Work, index="sqlite:///out/index.db",
                           dead_letters="out/dead-letters")
    result = catch_up_since(scan_started_at, config, bookmark_path="out/bookmark.json")
    result = catch_up(config, "out/bookmark.json")   # later: every change since

Modules: :mod:`.shards` (DescribeStream, lineage), :mod:`.bookmark`,
:mod:`.positions` (where to read from, gaps), :mod:`.reader` (GetRecords),
:mod:`.reread` (consistent BatchGetItem), :mod:`.apply` (the Beam graph),
:mod:`.summary`, :mod:`.catch_up_job` (ties them together). See
``docs/catch-up.md`` for the guarantee.
"""

from transforms.dynamodb.stream.apply import ReReadKeys, apply_changes
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
from transforms.dynamodb.stream.catch_up_job import (
    CatchUpConfig,
    CatchUpResult,
    catch_up,
    catch_up_from,
    catch_up_since,
    require_stream,
)
from transforms.dynamodb.stream.errors import NoStream, StreamCatchUpError, StreamGap
from transforms.dynamodb.stream.positions import (
    DEFAULT_SAFETY_MARGIN,
    RETENTION,
    check_retention,
)
from transforms.dynamodb.stream.reread import Reread, RereadIncomplete, reread_keys
from transforms.dynamodb.stream.shards import Shard, StreamDescription, describe_stream
from transforms.dynamodb.stream.summary import CatchUpSummary

__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "RETENTION",
    "Bookmark",
    "BookmarkError",
    "BookmarkNotFound",
    "CatchUpConfig",
    "CatchUpResult",
    "CatchUpSummary",
    "CorruptBookmark",
    "NoStream",
    "ReReadKeys",
    "Reread",
    "RereadIncomplete",
    "Shard",
    "ShardPosition",
    "StreamCatchUpError",
    "StreamDescription",
    "StreamGap",
    "apply_changes",
    "bookmark_exists",
    "catch_up",
    "catch_up_from",
    "catch_up_since",
    "check_retention",
    "describe_stream",
    "read_bookmark",
    "require_stream",
    "reread_keys",
    "write_bookmark",
]
