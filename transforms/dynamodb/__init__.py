"""Everything that speaks to DynamoDB: the client, table descriptions, the
read ceiling and the wire format, and one package per read path.

- :mod:`transforms.dynamodb.scan`: the parallel scan (``ReadFromDynamoDB``).
- :mod:`transforms.dynamodb.export`: a DynamoDB export (``ReadFromDynamoDBExport``).
"""
