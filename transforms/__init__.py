"""Reusable Beam transforms: DynamoDB parallel scan, strict decoding, index sinks."""

from transforms.scan_source import ReadFromDynamoDB, SegmentItem

__all__ = ["ReadFromDynamoDB", "SegmentItem"]
