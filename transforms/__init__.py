"""Reusable Beam transforms: DynamoDB parallel scan, strict decoding, index sinks.

::

    from transforms import ReadFromDynamoDB, DecodeItems, WriteToIndex

    items = p | ReadFromDynamoDB(table_name="works", total_segments=8)
    decoded = items | DecodeItems(Work, table="works", key_attributes=("id",), with_keys=True)
    written = decoded.records | WriteToIndex("sqlite:///out/index.db")
    _ = (decoded.dead_letters, written.dead_letters) | beam.Flatten() | WriteDeadLetters("out/dl")
"""

from transforms.dead_letters import ReadDeadLetters, WriteDeadLetters
from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.decode.encoder import compile_encoder
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.transform import DecodeItems, DecodeResult
from transforms.dynamodb.export.source import ExportReadResult, ReadFromDynamoDBExport
from transforms.dynamodb.scan.source import ReadFromDynamoDB, SegmentItem
from transforms.index.delete import DeleteFromIndex, DeleteResult
from transforms.index.write import IndexWriteResult, WriteToIndex

__all__ = [
    "DecodeError",
    "DecodeItems",
    "DecodeResult",
    "DeleteFromIndex",
    "DeleteResult",
    "ExportReadResult",
    "IndexWriteResult",
    "KeyedRecord",
    "ReadDeadLetters",
    "ReadFromDynamoDB",
    "ReadFromDynamoDBExport",
    "SegmentItem",
    "WriteDeadLetters",
    "WriteToIndex",
    "compile_decoder",
    "compile_encoder",
]
