"""ReadFromDynamoDB against a real DynamoDB-compatible server on loopback.

Every test checks content: each item exactly once, compared with what was
written, on the in-process DirectRunner engine (FnApiRunner), its
multi-processing mode, and the portable job API (the path Flink and
Dataflow take).
"""

import json
import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

import transforms.dynamodb.scan.source as scan_source
from pipeline.summary import counter_totals
from tests.runners import IN_PROCESS, MULTI_PROCESS, PORTABLE, RUNNERS, run_pipeline
from tests.tables import seeded_table
from transforms import ReadFromDynamoDB, SegmentItem
from transforms.dynamodb.scan.errors import TableNotFound
from transforms.dynamodb.scan.pages import RetryPolicy
from transforms.dynamodb.wire import dumps_item


def canonical(item):
    """A hashable, exact text of a wire-format item (binary included)."""
    return dumps_item(item)


def run_scan(server, table, runner_args, expected_items, **read_kwargs):
    with beam.Pipeline(options=PipelineOptions(runner_args)) as p:
        items = p | ReadFromDynamoDB(
            table_name=table,
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            **read_kwargs,
        )
        assert_that(items | beam.Map(canonical), equal_to([canonical(i) for i in expected_items]))


def simple_items(count, size=0):
    return [
        {
            "id": {"S": f"w{i:05d}"},
            "n": {"N": str(i)},
            "b": {"B": bytes([i % 256, 0, 255])},
            "pad": {"S": "x" * size},
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def table_3000(dynamodb_client):
    items = simple_items(3000)
    return seeded_table(dynamodb_client, "scan3000", items), items


@pytest.mark.parametrize("total_segments", [1, 4, 16])
@pytest.mark.parametrize("page_size", [None, 25])
def test_every_item_exactly_once(dynamodb_server, table_3000, total_segments, page_size):
    table, items = table_3000
    run_scan(
        dynamodb_server,
        table,
        IN_PROCESS,
        items,
        total_segments=total_segments,
        page_size=page_size,
    )


@pytest.mark.parametrize("runner", ["multi_process", "portable"])
def test_every_item_exactly_once_on_other_runners(dynamodb_server, table_3000, runner):
    table, items = table_3000
    run_scan(dynamodb_server, table, RUNNERS[runner], items, total_segments=8, page_size=50)


def test_empty_table(dynamodb_server, dynamodb_client):
    table = seeded_table(dynamodb_client, "empty", [])
    run_scan(dynamodb_server, table, IN_PROCESS, [], total_segments=4)


def test_large_items_paginate_without_limit(dynamodb_server, dynamodb_client):
    items = simple_items(150, size=20_000)  # about 3 MB: several 1 MB pages
    table = seeded_table(dynamodb_client, "large", items)
    first_page = dynamodb_client.scan(TableName=table)
    assert "LastEvaluatedKey" in first_page and len(first_page["Items"]) < len(items)
    run_scan(dynamodb_server, table, IN_PROCESS, items, total_segments=1)


def test_more_segments_than_items(dynamodb_server, dynamodb_client):
    items = simple_items(5)
    table = seeded_table(dynamodb_client, "tiny", items)
    run_scan(dynamodb_server, table, IN_PROCESS, items, total_segments=64, page_size=1)


# moto cannot assign binary hash keys to segments (it hashes the value as
# text), so binary hash keys are scanned as one segment; binary range keys
# run in parallel.
@pytest.mark.parametrize(
    "hash_key, range_key, make_key, total_segments",
    [
        (("k", "N"), None, lambda i: {"k": {"N": str(i * 7 - 300)}}, 3),
        (("k", "B"), None, lambda i: {"k": {"B": i.to_bytes(2, "big") + b"\x00"}}, 1),
        (("h", "S"), ("r", "N"), lambda i: {"h": {"S": f"h{i % 13}"}, "r": {"N": str(i)}}, 3),
        (
            ("h", "S"),
            ("r", "B"),
            lambda i: {"h": {"S": f"h{i % 7}"}, "r": {"B": i.to_bytes(2, "big")}},
            3,
        ),
        (("h", "B"), ("r", "S"), lambda i: {"h": {"B": bytes([i % 5])}, "r": {"S": f"r{i}"}}, 1),
    ],
    ids=["hash-N", "hash-B", "hash-S-range-N", "hash-S-range-B", "hash-B-range-S"],
)
def test_key_types_with_checkpoints_every_page(
    dynamodb_server, dynamodb_client, hash_key, range_key, make_key, total_segments
):
    items = [dict(make_key(i), v={"S": f"value {i}"}) for i in range(300)]
    table = seeded_table(dynamodb_client, "keys", items, hash_key=hash_key, range_key=range_key)
    run_scan(
        dynamodb_server,
        table,
        IN_PROCESS,
        items,
        total_segments=total_segments,
        page_size=7,
        checkpoint_every_pages=1,
    )


@pytest.mark.parametrize("runner", ["in_process", "portable"])
def test_self_checkpoint_every_page_gives_the_same_output(dynamodb_server, table_3000, runner):
    table, items = table_3000
    run_scan(
        dynamodb_server,
        table,
        RUNNERS[runner],
        items,
        total_segments=4,
        page_size=100,
        checkpoint_every_pages=1,
    )


def test_self_checkpoints_with_several_worker_processes_lose_nothing(dynamodb_server, table_3000):
    """Beam 2.77's multi-worker local engine drops self-checkpoint residuals;
    ``transforms.runners.local_workers`` keeps them. Checkpointing after every
    page, each segment is read over many bundles spread on two processes: were
    a residual dropped, its segment's later items would be missing."""
    table, items = table_3000

    def build(p):
        read = p | ReadFromDynamoDB(
            table_name=table,
            endpoint_url=dynamodb_server.endpoint_url,
            region_name="us-east-1",
            total_segments=4,
            page_size=100,
            checkpoint_every_pages=1,
        )
        assert_that(read | beam.Map(canonical), equal_to([canonical(i) for i in items]))

    counters = counter_totals(run_pipeline(build, runner="multi_process"))
    assert counters[("dynamodb", "checkpoints")] >= 26  # 30+ pages, 4 of them a segment's last


def test_residual_detection_by_runner():
    def pipeline(args):
        return beam.Pipeline(options=PipelineOptions(args))

    assert scan_source.residuals_are_honoured(pipeline(IN_PROCESS))
    assert scan_source.residuals_are_honoured(pipeline(PORTABLE))
    assert scan_source.residuals_are_honoured(pipeline(MULTI_PROCESS))
    assert scan_source.residuals_are_honoured(pipeline([*PORTABLE, "--direct_num_workers=2"]))


def test_with_segments_names_each_items_segment(dynamodb_server, table_3000):
    table, items = table_3000
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
        tagged = p | ReadFromDynamoDB(
            table_name=table,
            total_segments=4,
            endpoint_url=dynamodb_server.endpoint_url,
            region_name="us-east-1",
            with_segments=True,
        )
        checked = tagged | beam.Map(
            lambda s: (isinstance(s, SegmentItem) and s.total_segments == 4, s.segment in range(4))
        )
        assert_that(checked | beam.Distinct(), equal_to([(True, True)]), label="shape")
        assert_that(
            tagged | beam.Map(lambda s: canonical(s.item)),
            equal_to([canonical(i) for i in items]),
            label="content",
        )


def test_chosen_segments_only(dynamodb_server, dynamodb_client, table_3000):
    table, _ = table_3000
    expected = []
    for segment in (1, 3):
        request = {"TableName": table, "Segment": segment, "TotalSegments": 4}
        while True:
            response = dynamodb_client.scan(**request)
            expected.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    assert 0 < len(expected) < 3000
    run_scan(dynamodb_server, table, IN_PROCESS, expected, total_segments=4, segments=[1, 3])


def test_projection_with_reserved_and_dotted_names(dynamodb_server, dynamodb_client):
    items = [
        {"id": {"S": f"p{i}"}, "name": {"S": f"n{i}"}, "a.b": {"N": str(i)}, "x": {"S": "drop"}}
        for i in range(50)
    ]
    table = seeded_table(dynamodb_client, "projection", items)
    expected = [{"id": i["id"], "name": i["name"], "a.b": i["a.b"]} for i in items]
    run_scan(
        dynamodb_server,
        table,
        IN_PROCESS,
        expected,
        total_segments=2,
        projection=["id", "name", "a.b"],
    )


def test_filter_expression(dynamodb_server, table_3000):
    table, items = table_3000
    expected = [i for i in items if int(i["n"]["N"]) % 10 == 0]
    run_scan(
        dynamodb_server,
        table,
        IN_PROCESS,
        expected,
        total_segments=4,
        page_size=200,
        filter_expression="#n IN (" + ", ".join(f":v{k}" for k in range(0, 3000, 10)) + ")",
        expression_attribute_names={"#n": "n"},
        expression_attribute_values={f":v{k}": {"N": str(k)} for k in range(0, 3000, 10)},
    )


def test_global_secondary_index_scan(dynamodb_server, dynamodb_client):
    items = [{"id": {"S": f"g{i}"}, "owner": {"S": f"o{i % 3}"}} for i in range(60)]
    items += [{"id": {"S": f"nog{i}"}} for i in range(10)]  # absent from the sparse index
    table = seeded_table(dynamodb_client, "gsi", items, gsi=("by-owner", ("owner", "S")))
    run_scan(
        dynamodb_server,
        table,
        IN_PROCESS,
        [i for i in items if "owner" in i],
        total_segments=2,
        index_name="by-owner",
    )


def test_automatic_segment_count_when_the_size_is_not_reported(dynamodb_server, table_3000):
    """moto reports no TableSizeBytes, like a table DynamoDB has not sized yet."""
    table, items = table_3000
    read = ReadFromDynamoDB(
        table_name=table,
        endpoint_url=dynamodb_server.endpoint_url,
        region_name="us-east-1",
        workers=2,
    )
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
        found = p | read | beam.Map(canonical)
        assert_that(found, equal_to([canonical(i) for i in items]))
    assert read.scan_request.total_segments == 8


def test_missing_table_is_a_clear_error(dynamodb_server):
    with pytest.raises(TableNotFound, match="table 'no-such-table' was not found"):
        ReadFromDynamoDB(
            table_name="no-such-table",
            endpoint_url=dynamodb_server.endpoint_url,
            region_name="us-east-1",
        )


def test_invalid_options_are_refused_before_the_pipeline():
    with pytest.raises(ValueError, match=r"between 1 and 1,000,000"):
        ReadFromDynamoDB(table_name="t", total_segments=0)
    with pytest.raises(ValueError, match=r"segment 4 is outside 0\.\.3"):
        ReadFromDynamoDB(table_name="t", total_segments=4, segments=[4])
    with pytest.raises(ValueError, match="page_size"):
        ReadFromDynamoDB(table_name="t", total_segments=4, page_size=0)
    with pytest.raises(TypeError, match=r"projection must be a sequence .* \('id',\)"):
        ReadFromDynamoDB(table_name="t", total_segments=4, projection="id")
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        ReadFromDynamoDB(table_name="t", total_segments=4, endpoint_url="127.0.0.1:8000")


def test_validation_error_from_dynamodb_fails_fast(dynamodb_server, table_3000):
    table, _ = table_3000
    with pytest.raises(Exception, match=r"refused the scan.*specified index: no-such-index"):
        with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
            _ = p | ReadFromDynamoDB(
                table_name=table,
                total_segments=2,
                endpoint_url=dynamodb_server.endpoint_url,
                region_name="us-east-1",
                index_name="no-such-index",
                retry_policy=RetryPolicy(max_retry_seconds=5),
            )


def test_pickled_transform_holds_no_credentials(table_3000, dynamodb_server, monkeypatch):
    """The transform carries endpoint and region, never credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDMARKERACCESSKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "marker-secret-key-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "marker-session-token")
    table, _ = table_3000
    read = ReadFromDynamoDB(
        table_name=table,
        total_segments=2,
        endpoint_url=dynamodb_server.endpoint_url,
        region_name="us-east-1",
    )
    blob = pickle.dumps(read) + json.dumps(read.scan_request.page_request(0, None)).encode()
    for secret in (b"AKIDMARKERACCESSKEY", b"marker-secret-key-value", b"marker-session-token"):
        assert secret not in blob
