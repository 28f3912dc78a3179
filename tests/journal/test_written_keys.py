"""Keys of index writes recorded before each batch and forgotten once the bundle is committed."""

from dataclasses import dataclass

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from dataclasses_json import dataclass_json

from tests.dask_cluster import DASK_RUNNER
from tests.reindex_runs import index_rows
from tests.runners import run_pipeline
from transforms.decode.keyed_record import KeyedRecord
from transforms.index.write import WriteToIndex
from transforms.journal import (
    JournalError,
    JournalRef,
    RunJournal,
    WrittenKeys,
    forget,
    uncommitted_key_files,
)

RUN = "run-1"


@dataclass_json
@dataclass
class Note:
    id: str
    text: str


def ref(tmp_path, run_id=RUN) -> JournalRef:
    return JournalRef(str(tmp_path / "journal"), run_id, "attempt")


def test_keys_of_every_type_round_trip_in_groups_and_are_forgotten(tmp_path):
    keys = [
        {"id": {"S": "w1"}},
        {"pk": {"N": "12345678901234567890.000000000001"}, "sk": {"B": b"\x00\xff"}},
        {"id": {"S": "w2"}},
    ]
    written = WrittenKeys(ref(tmp_path))
    paths = [written.record(keys[:2]), written.record(keys[2:])]
    WrittenKeys(ref(tmp_path, "another run")).record([{"id": {"S": "other"}}])
    groups = list(uncommitted_key_files(str(tmp_path / "journal"), RUN, keys_per_group=1))
    assert [group_keys for group_keys, _ in groups] == [keys[:2], keys[2:]]
    assert sorted(path for _, group_paths in groups for path in group_paths) == sorted(paths)
    assert keys[1]["pk"]["N"] == "12345678901234567890.000000000001"
    assert isinstance(groups[0][0][1]["sk"]["B"], bytes)
    (whole,) = uncommitted_key_files(str(tmp_path / "journal"), RUN, keys_per_group=100)
    assert whole[0] == keys
    mine = JournalRef(str(tmp_path / "journal"), RUN, "a later attempt")
    paths.append(WrittenKeys(mine).record([{"id": {"S": "w3"}}]))
    (earlier,) = uncommitted_key_files(
        str(tmp_path / "journal"), RUN, 100, besides_attempt="a later attempt"
    )
    assert earlier[0] == keys
    forget(paths)
    assert list(uncommitted_key_files(str(tmp_path / "journal"), RUN, 100)) == []
    assert len(list((tmp_path / "journal" / "written").iterdir())) == 1  # the other run's


def test_a_corrupt_key_file_is_a_journal_error(tmp_path):
    folder = tmp_path / "journal" / "written"
    folder.mkdir(parents=True)
    (folder / f"{RUN}-0001.json").write_text('{"run": "run-1", "keys": [')
    with pytest.raises(JournalError, match="not a record of written keys"):
        list(uncommitted_key_files(str(tmp_path / "journal"), RUN, 100))


def test_the_journal_removes_its_key_files(tmp_path):
    WrittenKeys(ref(tmp_path)).record([{"id": {"S": "w1"}}])
    RunJournal(str(tmp_path / "journal")).remove()
    assert not (tmp_path / "journal").exists()


def _notes(count):
    return [
        KeyedRecord({"id": {"S": f"n{n:03d}"}}, Note(f"n{n:03d}", "text")) for n in range(count)
    ]


def write_notes(tmp_path, then=None):
    """Runs 40 notes into a SQLite index in batches of 3, recording their keys;
    ``then`` maps each id written."""
    db = tmp_path / "index.db"

    def build(p):
        written = (
            p
            | beam.Create(_notes(40))
            | WriteToIndex(f"sqlite:///{db}", batch_size=3, written_keys=WrittenKeys(ref(tmp_path)))
        )
        if then is not None:
            _ = written.indexed | beam.Map(then)

    run_pipeline(build)


def test_a_committed_bundle_forgets_its_keys(tmp_path):
    write_notes(tmp_path)
    assert len(index_rows(tmp_path / "index.db")) == 40
    assert list((tmp_path / "journal" / "written").iterdir()) == []


def _fail_at_the_end(doc_id: str) -> str:
    if doc_id == "n039":
        raise RuntimeError("the bundle fails after its documents were written")
    return doc_id


def test_every_document_of_a_bundle_never_committed_has_its_key_recorded(tmp_path):
    with pytest.raises(Exception, match="after its documents were written"):
        write_notes(tmp_path, then=_fail_at_the_end)
    documents = set(index_rows(tmp_path / "index.db"))
    assert documents  # batches were written before the bundle failed
    recorded = {
        key["id"]["S"]
        for keys, _ in uncommitted_key_files(str(tmp_path / "journal"), RUN, 1000)
        for key in keys
    }
    assert documents <= recorded


def test_written_keys_need_a_runner_that_finalizes_bundles(tmp_path):
    pipeline = beam.Pipeline(options=PipelineOptions([f"--runner={DASK_RUNNER}"]))
    notes = pipeline | beam.Create(_notes(2))
    write = WriteToIndex(
        f"sqlite:///{tmp_path / 'index.db'}", written_keys=WrittenKeys(ref(tmp_path))
    )
    with pytest.raises(ValueError, match="finalizes bundles"):
        _ = notes | write
