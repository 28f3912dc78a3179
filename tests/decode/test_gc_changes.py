"""Process-wide collector settings: what the workers change is given back.

The young-generation threshold raised for decoding is restored when the last
DoFn that holds it is torn down; the collector paused around a page parse is
enabled again only by the pause that disabled it, after the last overlapping
pause, and never when someone else had disabled it.
"""

import gc
import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import transforms.dynamodb.scan.page_parse as scan_wire
from pipeline.local.sample_data import generate_items
from pipeline.models import Work
from transforms import DecodeItems


@pytest.fixture
def collector_settings():
    """The collector's switch and thresholds, as they were, restored after the test."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield enabled, thresholds
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def test_decoding_gives_the_launching_process_its_threshold_back(collector_settings):
    gc.set_threshold(700, 10, 10)
    items = [sample.item for sample in generate_items(20, malformed_fraction=0, seed=1)]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        _ = p | beam.Create(items) | DecodeItems(Work)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_last_holder_restores_and_a_threshold_set_meanwhile_is_kept(collector_settings):
    from transforms.decode.gc_thresholds import hold_young_threshold, release_young_threshold

    gc.set_threshold(700, 10, 10)
    hold_young_threshold(5_000)
    hold_young_threshold(5_000)
    assert gc.get_threshold() == (5_000, 10, 10)
    release_young_threshold()
    assert gc.get_threshold() == (5_000, 10, 10)
    release_young_threshold()
    assert gc.get_threshold() == (700, 10, 10)
    hold_young_threshold(5_000)
    gc.set_threshold(2_000, 10, 10)  # someone else's choice
    release_young_threshold()
    assert gc.get_threshold() == (2_000, 10, 10)
    gc.set_threshold(0, 10, 10)  # automatic collection off: never touched
    hold_young_threshold(5_000)
    release_young_threshold()
    assert gc.get_threshold() == (0, 10, 10)


def test_overlapping_parses_keep_the_collector_paused_until_the_last_ends(
    collector_settings, monkeypatch
):
    """Thread A starts parsing, B starts, A ends: B must still parse with the collector off."""
    gc.enable()
    a_inside, a_done = threading.Event(), threading.Event()
    seen = {}

    def loads(body):
        if body == b'"a"':
            a_inside.set()
            a_done.wait(10)
            return "a"
        a_inside.wait(10)
        seen["b_start"] = gc.isenabled()
        a_done.set()
        thread_a.join(10)
        seen["b_after_a"] = gc.isenabled()
        return "b"

    monkeypatch.setattr(scan_wire, "loads", loads)
    thread_a = threading.Thread(target=scan_wire._loads, args=(b'"a"',))
    thread_a.start()
    a_inside.wait(10)
    assert scan_wire._loads(b'"b"') == "b"
    assert seen == {"b_start": False, "b_after_a": False}
    assert gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_disabled(collector_settings):
    gc.disable()
    assert scan_wire._loads(b'{"Items": []}') == {"Items": []}
    assert not gc.isenabled()
