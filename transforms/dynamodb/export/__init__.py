"""The export read path: ``ReadFromDynamoDBExport`` reads a DynamoDB export
(DynamoDB JSON or Amazon Ion, full or incremental) without read capacity.

- ``source``: the public transform; ``restriction``: one data file's records.
- ``manifest``: the export's manifests; ``files``: its data files.
- ``records``: DynamoDB JSON lines; ``ion``: the Amazon Ion reader.
"""

from transforms.dynamodb.export.source import ExportReadResult, ReadFromDynamoDBExport

__all__ = ["ExportReadResult", "ReadFromDynamoDBExport"]
