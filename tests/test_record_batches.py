"""Pages handed on as batches: the scan's items reach batched steps a page at a
time, and everything else one by one, unchanged."""

import threading
from collections.abc import Iterator
from decimal import Decimal

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipeline.local.sample_data import generate_items
from pipeline.models import Work
from tests.runners import run_pipeline
from tests.tables import seeded_table
from transforms import DecodeItems, ReadFromDynamoDB
from transforms.decode.decoder import compile_decoder
from transforms.decode.wire_structs import DecodeAtRead
from transforms.runners.record_batches import Page, RecordBatch, _PageCoder

ITEMS, PAGE = 60, 7


class _Sizes:
    """Sizes of the batches a step was given, in this process."""

    lock = threading.Lock()
    seen: list[int] = []


class _BatchSizes(beam.DoFn):
    """Notes the size of each batch it is given; emits nothing."""

    def process_batch(self, batch: RecordBatch) -> Iterator[RecordBatch]:
        with _Sizes.lock:
            _Sizes.seen.append(len(batch))
        return iter(())


def _sizes_after(build) -> list[int]:
    _Sizes.seen = []
    run_pipeline(build)
    return sorted(_Sizes.seen)


def _read(pipeline, endpoint, table, **options) -> beam.PCollection:
    return pipeline | ReadFromDynamoDB(
        table_name=table,
        total_segments=2,
        page_size=PAGE,
        endpoint_url=endpoint,
        region_name="us-east-1",
        **options,
    )


def test_the_scan_hands_on_each_page_as_one_batch(dynamodb_server, dynamodb_client):
    items = [sample.item for sample in generate_items(ITEMS, seed=3)]
    table = seeded_table(dynamodb_client, "batches", items)
    endpoint = dynamodb_server.endpoint_url
    sizes = _sizes_after(lambda p: _read(p, endpoint, table) | beam.ParDo(_BatchSizes()))
    assert sum(sizes) == ITEMS
    assert max(sizes) == PAGE and len(sizes) <= ITEMS // PAGE + 2  # a page each, two short ones


def test_decoded_records_leave_as_batches_and_dead_letters_too(dynamodb_server, dynamodb_client):
    samples = list(generate_items(ITEMS, seed=4, malformed_fraction=0.2))
    table = seeded_table(dynamodb_client, "batches", [sample.item for sample in samples])
    endpoint = dynamodb_server.endpoint_url
    decode = compile_decoder(Work)
    good = [decode(sample.item) for sample in samples if sample.defect is None]
    bad = [sample.item["id"]["S"] for sample in samples if sample.defect is not None]
    assert good and bad

    def build(pipeline):
        read = _read(pipeline, endpoint, table, decode_at_read=DecodeAtRead(Work))
        decoded = read | DecodeItems(Work, key_attributes=("id",))
        _ = decoded.records | beam.ParDo(_BatchSizes())
        assert_that(decoded.records, equal_to(good), label="Records")
        keys = decoded.dead_letters | beam.Map(lambda letter: letter["key"]["id"]["S"])
        assert_that(keys, equal_to(bad), label="DeadLetters")

    sizes = _sizes_after(build)
    assert sum(sizes) == len(good) and max(sizes) <= PAGE  # a page at most, not a bundle


def test_a_page_survives_its_coder():
    items = [
        {"id": {"S": "w1"}, "n": {"N": "12345678901234567890.000000000000000001"}},
        {"id": {"S": "w2"}, "b": {"B": b"\x00\xff"}, "d": Decimal("1.50")},
    ]
    coder = _PageCoder()
    assert coder.decode(coder.encode(Page(items, 1234))) == Page(items, 1234)
    assert coder.estimate_size(Page(items, 1234)) == 1234
