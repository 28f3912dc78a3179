"""The verification sample: which records it holds, and where the runner computes it."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from dataclasses_json import dataclass_json

from tests.decode.test_encoder import unsorted_strings
from transforms.decode.encoder import compile_encoder
from transforms.index.sample import SampleDocuments, read_sample, sample_rank


@dataclass_json
@dataclasses.dataclass
class Note:
    id: str
    text: str


def _sample(tmp_path, notes: list[Note], size: int, *runner_args: str) -> dict[str, str]:
    path = str(tmp_path / "sample.jsonl")
    options = PipelineOptions(["--runner=FnApiRunner", *runner_args])
    with beam.Pipeline(options=options) as p:
        _ = p | beam.Create(notes) | SampleDocuments(path, size=size, id_fields=("id",))
    return read_sample(path)


def test_the_sample_is_the_records_with_the_smallest_id_hashes(tmp_path):
    notes = [Note(f"n{n}", f"text {n}") for n in range(300)]
    expected = sorted(notes, key=lambda note: sample_rank(note.id))[:7]
    sample = _sample(
        tmp_path, notes, 7, "--direct_num_workers=2", "--direct_running_mode=multi_threading"
    )
    assert sample == {note.id: note.to_json() for note in expected}


@dataclass_json
@dataclasses.dataclass
class TaggedNote:
    id: str
    tags: set[str]


def test_a_records_sets_are_sampled_in_the_order_its_document_has_them(tmp_path):
    """``to_json()`` writes a set in the order it iterates in the process at
    hand; the sample writes it as the index's encoder does, in every process."""
    note = TaggedNote("a", unsorted_strings())
    assert note.to_json() != compile_encoder(TaggedNote)(note)
    assert _sample(tmp_path, [note], 5) == {"a": compile_encoder(TaggedNote)(note)}


def test_no_records_make_an_empty_sample(tmp_path):
    assert _sample(tmp_path, [], 5) == {}


def test_fewer_records_than_the_size_are_all_sampled(tmp_path):
    notes = [Note("a", "x"), Note("b", "y")]
    assert _sample(tmp_path, notes, 5) == {"a": notes[0].to_json(), "b": notes[1].to_json()}


def test_ids_and_texts_holding_unicode_line_separators_are_sampled_whole(tmp_path):
    """U+2028, U+2029 and U+0085 break lines for ``str.splitlines``, not in JSON Lines."""
    notes = [Note("a\u2028b", "x\u2029y"), Note("c\x85d", "z")]
    assert _sample(tmp_path, notes, 5) == {note.id: note.to_json() for note in notes}


def test_the_combine_reads_the_ranked_records_directly(tmp_path):
    """A ``Flatten`` in front of the combine would stop the runner from lifting it
    into the reading stage: every record would then be shipped between stages."""
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = (
        p
        | beam.Create([Note("a", "x")])
        | "Sample" >> SampleDocuments(str(tmp_path / "s.jsonl"), size=3, id_fields=("id",))
    )
    proto = p.to_runner_api()
    transforms = proto.components.transforms
    producers = {
        pcoll: transform.spec.urn
        for transform in transforms.values()
        if not transform.subtransforms
        for pcoll in transform.outputs.values()
    }
    combines = [t for t in transforms.values() if t.unique_name.endswith("Sample/Lowest")]
    assert len(combines) == 1
    (records,) = combines[0].inputs.values()
    assert producers[records] != "beam:transform:flatten:v1"
    assert producers[records] == "beam:transform:pardo:v1"
