"""Request shapes and page sequences, with botocore's Stubber (no server)."""

import dataclasses

import boto3
import pytest
from botocore.stub import Stubber

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.parallel_scan import parallel_scan
from transforms.dynamodb.scan.request import ScanRequest

K1 = {"id": {"S": "k1"}}
K2 = {"id": {"S": "k2"}}


def page(items, last_key=None, units=1.0):
    response = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
    response["ConsumedCapacity"] = {"TableName": "t", "CapacityUnits": units}
    if last_key:
        response["LastEvaluatedKey"] = last_key
    return response


@dataclasses.dataclass(frozen=True)
class StubbedConfig(DynamoDBClientConfig):
    """Hands out one pre-built, stubbed client."""

    responses: tuple = ()

    def create_client(self):
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        stubber = Stubber(client)
        for expected, response in self.responses:
            stubber.add_response("scan", response, expected)
        stubber.activate()
        return client


def expected(start_key=None, **extra):
    params = {"TableName": "t", "ReturnConsumedCapacity": "TOTAL", **extra}
    if start_key:
        params["ExclusiveStartKey"] = start_key
    return params


def test_empty_last_pages_with_a_last_evaluated_key_are_followed():
    """Real DynamoDB may end a segment with an empty page that still has a key."""
    config = StubbedConfig(
        fast_scan_parse=False,
        responses=(
            (expected(), page([K1], K1)),
            (expected(K1), page([], K2)),
            (expected(K2), page([])),
        ),
    )
    found = list(parallel_scan("t", total_segments=1, client_config=config, threads=1))
    assert found == [K1]


def test_single_segment_scan_sends_no_segment():
    request = ScanRequest("t", total_segments=1)
    assert "Segment" not in request.page_request(0, None)
    assert "TotalSegments" not in request.page_request(0, None)


def test_parallel_scan_request_shape():
    request = ScanRequest(
        "t",
        total_segments=8,
        page_size=25,
        consistent_read=True,
        index_name="by-owner",
        projection=("id", "name", "a.b", "my-attr"),
        filter_expression="#n > :v",
        expression_attribute_names=(("#n", "n"),),
        expression_attribute_values=((":v", {"N": "3"}),),
    )
    assert request.page_request(5, K1) == {
        "TableName": "t",
        "ReturnConsumedCapacity": "TOTAL",
        "Segment": 5,
        "TotalSegments": 8,
        "IndexName": "by-owner",
        "Limit": 25,
        "ConsistentRead": True,
        "ProjectionExpression": "#p0, #p1, #p2, #p3",
        "FilterExpression": "#n > :v",
        "ExpressionAttributeNames": {
            "#n": "n",
            "#p0": "id",
            "#p1": "name",
            "#p2": "a.b",
            "#p3": "my-attr",
        },
        "ExpressionAttributeValues": {":v": {"N": "3"}},
        "ExclusiveStartKey": K1,
    }


@pytest.mark.parametrize("page_size", [0, -3, 1_000_001, 2.5, True])
def test_bad_page_sizes_are_refused(page_size):
    with pytest.raises(ValueError, match="page_size must be an integer"):
        ScanRequest("t", total_segments=1, page_size=page_size)
