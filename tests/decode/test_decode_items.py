"""DecodeItems' arguments, and items with or without their segment."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipeline.local.sample_data import generate_items
from pipeline.models import Work
from transforms import DecodeItems
from transforms.dynamodb.scan.request import SegmentItem

SAMPLES = list(generate_items(20, malformed_fraction=0.25, seed=5))


def test_key_attributes_as_one_string_are_refused():
    """``"id"`` would be read as the attributes ``i`` and ``d``: no letter would have a key."""
    expected = r"key_attributes must be a sequence of names, e\.g\. \('id',\)"
    with pytest.raises(TypeError, match=expected):
        DecodeItems(Work, key_attributes="id")


@pytest.mark.parametrize("flag", [True, False], ids=["flagged", "not_flagged"])
@pytest.mark.parametrize("with_segments", [True, False], ids=["segment_items", "plain_items"])
def test_items_are_read_with_or_without_their_segment_whatever_the_flag(flag, with_segments):
    """A SegmentItem (ReadFromDynamoDB(with_segments=True)) gives its segment to its dead
    letter; a plain item gives none; ``items_carry_segment`` does not have to match."""
    elements = [
        SegmentItem(n % 3, 3, s.item) if with_segments else s.item for n, s in enumerate(SAMPLES)
    ]
    expected_letters = [
        (s.item["id"]["S"], n % 3 if with_segments else None)
        for n, s in enumerate(SAMPLES)
        if s.defect
    ]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        decoded = (
            p
            | beam.Create(elements)
            | DecodeItems(Work, key_attributes=("id",), items_carry_segment=flag)
        )
        assert_that(
            decoded.records | beam.Map(lambda record: record.id),
            equal_to([s.record.id for s in SAMPLES if s.defect is None]),
            label="records",
        )
        assert_that(
            decoded.dead_letters | beam.Map(lambda dl: (dl["key"]["id"]["S"], dl["segment"])),
            equal_to(expected_letters),
            label="letters",
        )
