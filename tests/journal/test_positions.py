"""Position records folded into each segment's state: chains, gaps, duplicates, done."""

from transforms.dynamodb.wire import dumps_item
from transforms.journal import PositionRecord, fold_positions


def key(n: int) -> str:
    return dumps_item({"id": {"S": f"w{n:03d}"}})


def record(segment, start, end, *, done=False, pages=2, items=20):
    return PositionRecord(segment, start, end, done, pages, items)


START = "null"


def test_no_records_leave_every_segment_at_its_start():
    state = fold_positions([], [0, 1])
    assert [(s.next_start_key, s.pages, s.done, s.started) for s in state.values()] == [
        (None, 0, False, False),
        (None, 0, False, False),
    ]


def test_a_chain_is_followed_to_its_end_whatever_the_order_written():
    records = [record(0, key(2), key(4)), record(0, START, key(2)), record(0, key(4), key(6))]
    (state,) = fold_positions(records, [0]).values()
    assert state.next_start_key == {"id": {"S": "w006"}}
    assert (state.pages, state.items, state.done) == (6, 60, False)


def test_the_last_page_marks_the_segment_done():
    records = [record(1, START, key(2)), record(1, key(2), START, done=True, pages=1, items=3)]
    state = fold_positions(records, [1])[1]
    assert state.done and state.next_start_key is None and state.items == 23


def test_a_record_after_a_gap_is_not_trusted():
    """The bundle from w002 was never recorded: the state stays at w002."""
    records = [record(0, START, key(2)), record(0, key(4), key(6))]
    state = fold_positions(records, [0])[0]
    assert state.next_start_key == {"id": {"S": "w002"}} and state.pages == 2


def test_pages_read_twice_are_counted_along_the_farthest_chain():
    records = [
        record(0, START, key(2)),
        record(0, START, key(2)),  # an earlier attempt's record of the same pages
        record(0, key(2), key(4)),
    ]
    state = fold_positions(records, [0])[0]
    assert state.next_start_key == {"id": {"S": "w004"}} and state.pages == 4


def test_segments_started_from_a_key_follow_from_there():
    records = [record(3, key(50), key(52))]
    state = fold_positions(records, [3], {3: key(50)})[3]
    assert state.next_start_key == {"id": {"S": "w052"}}
    assert fold_positions([], [3], {3: key(50)})[3].started


def test_records_of_other_segments_do_not_mix():
    records = [record(0, START, key(2)), record(1, START, START, done=True, pages=1, items=0)]
    state = fold_positions(records, [0, 1])
    assert not state[0].done and state[1].done


def test_records_round_trip_through_json():
    original = record(2, key(1), START, done=True, pages=1, items=7)
    assert PositionRecord.from_json(original.to_json()) == original
    binary = dumps_item({"pk": {"B": b"\x00\xff"}})
    again = PositionRecord.from_json(record(2, START, binary).to_json())
    assert again.end == binary
