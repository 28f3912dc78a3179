"""``GroupBatches``: bounded batches whose keys a recomputed bundle gives again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from transforms.runners.group_batches import GroupBatches, _KeyByBatch

ROOT = Path(__file__).resolve().parent.parent

# The keys a bundle of records with sets gets, printed as JSON by a fresh interpreter.
_KEYS_OF_A_BUNDLE = """
import json
from dataclasses import dataclass
from transforms.decode.keyed_record import KeyedRecord
from transforms.index.write import _identity
from transforms.runners.group_batches import _KeyByBatch

@dataclass
class Tagged:
    id: str
    tags: set

fn = _KeyByBatch(2, _identity)
keys = []
for start in (0, 10):  # two bundles
    fn.start_bundle()
    for n in range(start, start + 5):
        record = KeyedRecord({"id": {"S": f"r{n}"}}, Tagged(f"r{n}", {"a", "b", "c", str(n)}))
        keys += [key for key, _ in fn.process(record)]
print(json.dumps(keys))
"""


def _keys_in_a_process(hash_seed: str) -> list:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _KEYS_OF_A_BUNDLE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_a_bundle_computed_again_in_another_process_gets_the_same_keys():
    """A runner that recomputes a lost bundle elsewhere (Dask, after a worker is
    lost) must key its elements as the first computation did."""
    first, again = _keys_in_a_process("1"), _keys_in_a_process("2")
    assert first == again
    assert [batch for _, batch in first] == [0, 0, 1, 1, 2] * 2
    assert len({bundle for bundle, _ in first}) == 2


def test_a_bundle_processed_twice_in_one_process_gets_the_same_keys():
    fn = _KeyByBatch(3, repr)
    runs = []
    for _ in range(2):
        fn.start_bundle()
        runs.append([key for n in range(7) for key, _ in fn.process({"id": {"N": str(n)}})])
    assert runs[0] == runs[1]


def _all_true():
    def check(flags):
        assert flags and all(flags), flags

    return check


def test_batches_hold_every_element_once_and_at_most_the_batch_size():
    elements = [{"id": {"S": f"k{n}"}} for n in range(23)]
    with beam.Pipeline() as pipeline:
        batches = pipeline | beam.Create(elements) | GroupBatches(5)
        assert_that(
            batches | "Elements" >> beam.FlatMap(lambda batch: [repr(e) for e in batch]),
            equal_to([repr(e) for e in elements]),
            label="EveryElementOnce",
        )
        assert_that(
            batches | "Bounded" >> beam.Map(lambda batch: 1 <= len(batch) <= 5),
            _all_true(),
            label="AtMostTheBatchSize",
        )
