"""The parallel-scan read path: ``ReadFromDynamoDB`` and ``parallel_scan``.

- ``source``: the public transform; ``fn``: the splittable DoFn and its metrics.
- ``restriction``: one segment's page range, its tracker and coder.
- ``request``: the Scan request; ``pages``: reading and retrying one page.
- ``page_parse``: the fast parse of a Scan response body.
- ``parallel_scan``: the same scan as a plain Python iterator.
"""

from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.scan.source import ReadFromDynamoDB, SegmentItem

__all__ = ["ReadFromDynamoDB", "SegmentItem", "parallel_scan"]
