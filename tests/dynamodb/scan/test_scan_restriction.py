"""The segment restriction, its tracker and coder, one behaviour per test."""

import time

import pytest
from apache_beam.io.iobase import RestrictionProgress

from transforms.dynamodb.scan.fn import _ScanRestrictionProvider
from transforms.dynamodb.scan.request import ScanRequest, SegmentScan
from transforms.dynamodb.scan.restriction import (
    ScanPagePosition,
    ScanRestrictionCoder,
    SegmentRestriction,
    SegmentRestrictionTracker,
    validate_segments,
)
from transforms.dynamodb.wire import dumps_item

K1 = {"id": {"S": "k1"}}
K2 = {"id": {"S": "k2"}}
K3 = {"id": {"S": "k3"}}


def page(start, end, items=3):
    return ScanPagePosition(start, end, items)


def initial_restrictions(request):
    provider = _ScanRestrictionProvider()
    return [provider.initial_restriction(scan) for scan in request.segment_scans()]


def test_one_element_per_segment_each_restricted_to_its_whole_segment():
    parts = initial_restrictions(ScanRequest("t", 4, estimated_items=100))
    assert [p.segment for p in parts] == [0, 1, 2, 3]
    assert all(p.total_segments == 4 and p.start_key is None and p.end_key is None for p in parts)
    assert all(p.estimated_items == 25 and not p.empty for p in parts)


def test_chosen_segments_only():
    parts = initial_restrictions(ScanRequest("t", 16, segments=(3, 7)))
    assert [p.segment for p in parts] == [3, 7]


def test_a_resumed_segment_starts_at_its_start_key():
    request = ScanRequest("t", 4, segments=(1, 2), start_keys=((2, dumps_item(K2)),))
    parts = initial_restrictions(request)
    assert [(p.segment, p.start_key) for p in parts] == [(1, None), (2, K2)]


def test_the_initial_restriction_is_not_split_further():
    scan = SegmentScan(ScanRequest("t", 4), 2)
    provider = _ScanRestrictionProvider()
    whole = provider.initial_restriction(scan)
    assert list(provider.split(scan, whole)) == [whole]


def test_a_segment_the_scan_does_not_read_is_refused():
    with pytest.raises(ValueError, match="segment 5 is not read"):
        SegmentScan(ScanRequest("t", 16, segments=(3, 7)), 5)


@pytest.mark.parametrize(
    "total, segments, message",
    [
        (0, None, "between 1 and 1,000,000"),
        (-1, None, "between 1 and 1,000,000"),
        (1_000_001, None, "between 1 and 1,000,000"),
        (4, (4,), "segment 4 is outside 0..3"),
        (4, (-1,), "segment -1 is outside 0..3"),
        (4, (1, 1), "lists a segment twice"),
        (4, (), "at least one segment"),
        (2.5, None, "must be an integer"),
    ],
)
def test_invalid_segments_are_refused(total, segments, message):
    with pytest.raises(ValueError, match=message):
        validate_segments(total, segments)


def test_claims_pages_in_order_until_the_segment_ends():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    assert tracker.try_claim(page(None, K1))
    assert tracker.try_claim(page(K1, K2))
    assert tracker.try_claim(page(K2, None))
    tracker.check_done()


def test_non_sequential_claim_is_refused():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, K1))
    with pytest.raises(ValueError, match="Pages must be claimed in order"):
        tracker.try_claim(page(K2, K3))


def test_claim_after_last_page_is_refused():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, None))
    with pytest.raises(ValueError, match="has no page after"):
        tracker.try_claim(page(None, K1))


def test_check_done_names_the_unread_page():
    tracker = SegmentRestrictionTracker(SegmentRestriction(5, 8))
    tracker.try_claim(page(None, K1))
    with pytest.raises(ValueError, match=r'Segment 5 of 8 was not read.*"k1"'):
        tracker.check_done()


def test_checkpoint_unstarted():
    restriction = SegmentRestriction(2, 4)
    tracker = SegmentRestrictionTracker(restriction)
    primary, residual = tracker.try_split(0)
    assert primary.empty
    assert residual == SegmentRestriction(2, 4)
    tracker.check_done()


def test_checkpoint_resumes_at_last_claimed_pages_key():
    tracker = SegmentRestrictionTracker(SegmentRestriction(2, 4))
    tracker.try_claim(page(None, K1, items=5))
    tracker.try_claim(page(K1, K2, items=5))
    primary, residual = tracker.try_split(0)
    assert (primary.start_key, primary.end_key, primary.empty) == (None, K2, False)
    assert (residual.start_key, residual.end_key) == (K2, None)
    assert residual.items_before == 10
    assert tracker.current_restriction() == primary
    tracker.check_done()


def test_a_residual_carries_the_read_time_before_it():
    tracker = SegmentRestrictionTracker(SegmentRestriction(2, 4, seconds_before=1.5))
    tracker.try_claim(page(None, K1, items=5))
    time.sleep(0.05)
    _, residual = tracker.try_split(0)
    assert 1.55 <= residual.seconds_before < 10
    unstarted = SegmentRestrictionTracker(residual)
    time.sleep(0.05)
    _, untouched = unstarted.try_split(0)
    assert untouched.seconds_before == residual.seconds_before  # no page claimed


def test_claims_after_a_split_are_refused():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, K1))
    tracker.try_split(0)
    assert not tracker.try_claim(page(K1, K2))
    tracker.check_done()


def test_second_checkpoint_returns_none():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, K1))
    assert tracker.try_split(0) is not None
    assert tracker.try_split(0) is None


def test_checkpoint_of_exhausted_segment_returns_none():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, None))
    assert tracker.try_split(0) is None


def test_fraction_split_of_started_segment_returns_none():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1))
    tracker.try_claim(page(None, K1))
    assert tracker.try_split(0.5) is None
    assert tracker.try_claim(page(K1, None))


def test_fraction_split_of_unstarted_segment_hands_it_over_whole():
    tracker = SegmentRestrictionTracker(SegmentRestriction(3, 4))
    primary, residual = tracker.try_split(0.5)
    assert primary.empty
    assert residual == SegmentRestriction(3, 4)


def test_residual_ends_where_the_original_restriction_ended():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1, start_key=K1, end_key=K3))
    tracker.try_claim(page(K1, K2))
    _, residual = tracker.try_split(0)
    assert (residual.start_key, residual.end_key) == (K2, K3)


def test_page_ending_at_end_key_exhausts_the_restriction():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1, start_key=K1, end_key=K2))
    assert tracker.try_claim(page(K1, K2))
    tracker.check_done()
    assert tracker.try_split(0) is None


def test_empty_restriction_is_done_at_once():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1, empty=True))
    tracker.check_done()
    assert tracker.try_split(0) is None


def test_tracker_refuses_anything_but_a_segment_restriction():
    with pytest.raises(ValueError, match="needs a SegmentRestriction"):
        SegmentRestrictionTracker(ScanRequest("t", 4))


def test_progress_counts_claimed_items_against_the_estimate():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1, estimated_items=100))
    tracker.try_claim(page(None, K1, items=25))
    progress = tracker.current_progress()
    assert isinstance(progress, RestrictionProgress)
    assert progress.completed_work == 25
    assert progress.remaining_work == 75


def test_progress_of_finished_segment_has_nothing_remaining():
    tracker = SegmentRestrictionTracker(SegmentRestriction(0, 1, estimated_items=100))
    tracker.try_claim(page(None, None, items=10))
    assert tracker.current_progress().remaining_work == 0


@pytest.mark.parametrize(
    "key",
    [
        {"id": {"S": "w1"}},
        {"n": {"N": "-12.500000000000000000000000000000000001"}},
        {"b": {"B": b"\x00\xff\x10binary"}},
        {"h": {"S": "ключ 🔑"}, "r": {"N": "7"}},
        {"h": {"B": b""}, "r": {"S": "dots.and-dashes"}},
    ],
)
def test_coder_round_trips_keys_of_every_type(key):
    coder = ScanRestrictionCoder()
    restriction = SegmentRestriction(7, 9, start_key=key, end_key=key, items_before=3)
    decoded = coder.decode(coder.encode(restriction))
    assert decoded == restriction
    assert decoded.start_key == key


def test_coder_round_trips_empty_and_resumed_restrictions():
    coder = ScanRestrictionCoder()
    for restriction in (
        SegmentRestriction(0, 1_000_000, empty=True),
        SegmentRestriction(5, 8, start_key=K1, items_before=40, estimated_items=12.5),
        SegmentRestriction(5, 8, start_key=K1, items_before=40, seconds_before=3.25),
    ):
        assert coder.decode(coder.encode(restriction)) == restriction


def test_coder_reads_restrictions_encoded_without_read_time():
    coder = ScanRestrictionCoder()
    encoded = coder.to_json(SegmentRestriction(5, 8, start_key=K1, items_before=40))
    del encoded["seconds_before"]
    decoded = coder.from_json(encoded)
    assert decoded == SegmentRestriction(5, 8, start_key=K1, items_before=40)


def test_coder_is_deterministic():
    coder = ScanRestrictionCoder()
    one = SegmentRestriction(0, 2, start_key={"b": {"S": "x"}, "a": {"N": "1"}})
    two = SegmentRestriction(0, 2, start_key={"a": {"N": "1"}, "b": {"S": "x"}})
    assert coder.is_deterministic()
    assert coder.encode(one) == coder.encode(two)
