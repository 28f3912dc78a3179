"""Document ids and ``WriteToIndex`` through real pipelines, checked by reading the index."""

import json
from dataclasses import dataclass, field
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from dataclasses_json import dataclass_json
from hypothesis import given
from hypothesis import strategies as st

from tests.key_type_models import PoisonTitles
from tests.reindex_runs import index_rows
from tests.runners import reindex_counters, run_pipeline
from transforms.dead_letters import WriteDeadLetters, read_dead_letters
from transforms.index import document_id, open_backend
from transforms.index.write import WriteToIndex


@dataclass_json
@dataclass
class Book:
    id: str | None
    title: str
    tags: list[str] = field(default_factory=list)
    price: Decimal | None = None


@dataclass_json
@dataclass
class Edition:
    isbn: str
    printing: int
    title: str


def _books(count, title="Book"):
    return [Book(f"b{n}", f"{title} {n}", tags=["tag", f"t{n % 7}"]) for n in range(count)]


def _without_time(letter):
    return {name: value for name, value in letter.items() if name != "at"}


def _break_bad_titles(record):
    """An encoder that produces invalid JSON for titles starting with 'bad'."""
    return "{broken" if record.title.startswith("bad") else record.to_json()


# -- document ids ---------------------------------------------------------------------------


def test_single_string_key_is_the_id():
    assert document_id(["w17"]) == "w17"


@pytest.mark.parametrize(
    "value, expected",
    [
        (3, "3"),
        (Decimal("3.0"), "3"),
        (Decimal("1.50"), "1.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.00"), "0"),
        (Decimal("-0.0012"), "-0.0012"),
        (
            Decimal("12345678901234567890123456789012345678"),
            "12345678901234567890123456789012345678",
        ),
    ],
)
def test_single_number_key_is_its_canonical_decimal(value, expected):
    assert document_id([value]) == expected


def test_bytes_and_composite_keys():
    assert document_id([b"\x00\x01"]) == "b64:AAE="
    assert document_id(["w1", Decimal("2.0"), b"\xff"]) == '["w1",2,"b64:/w=="]'


@pytest.mark.parametrize("values", [[], [None], [True], [["a"]], [Decimal("NaN")], "abc"])
def test_document_id_rejects_what_cannot_be_a_key(values):
    with pytest.raises((TypeError, ValueError)):
        document_id(values)


_KEY_VALUES = {
    "S": st.text(),
    "N": st.one_of(st.integers(), st.decimals(allow_nan=False, allow_infinity=False)),
    "B": st.binary(),
}


@st.composite
def _keys_of_one_schema(draw):
    schema = draw(st.lists(st.sampled_from(sorted(_KEY_VALUES)), min_size=1, max_size=3))
    key = st.tuples(*(_KEY_VALUES[kind] for kind in schema))
    return draw(st.lists(key, min_size=2, max_size=20))


@given(_keys_of_one_schema())
def test_document_id_is_injective_for_a_fixed_schema(keys):
    ids = {}
    for key in keys:
        ids.setdefault(document_id(key), set()).add(key)
    assert all(len(same) == 1 for same in ids.values()), ids


@given(_keys_of_one_schema())
def test_document_id_is_stable(keys):
    assert [document_id(key) for key in keys] == [document_id(list(key)) for key in keys]


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, message",
    [
        ("out/index.db", "has no scheme"),
        ("sqlite://out/index.db", "names a host"),
        ("es://localhost/works", "unsupported index URI scheme 'es'"),
    ],
)
def test_bad_uri_fails_at_construction(uri, message):
    with pytest.raises(ValueError, match=message):
        WriteToIndex(uri)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"batch_size": 0}, ValueError),
        ({"id_fields": ()}, ValueError),
        ({"id_fields": "id"}, TypeError),
        ({"encode": "to_json"}, TypeError),
    ],
)
def test_bad_arguments_fail_at_construction(tmp_path, kwargs, error):
    with pytest.raises(error):
        WriteToIndex(f"sqlite:///{tmp_path}/i.db", **kwargs)


# -- pipelines ------------------------------------------------------------------------------


def test_writes_every_record_once_with_its_json(tmp_path):
    path = tmp_path / "index.db"
    books = _books(1234)

    def build(p):
        written = p | beam.Create(books) | WriteToIndex(f"sqlite:///{path}", batch_size=100)
        assert_that(written.indexed, equal_to([b.id for b in books]), label="Ids")
        assert_that(written.dead_letters, equal_to([]), label="NoDeadLetters")

    result = run_pipeline(build)
    assert index_rows(path) == {b.id: b.to_json() for b in books}
    assert reindex_counters(result) == {"indexed": 1234}


def test_multi_processing_writers_lose_nothing(tmp_path):
    path = tmp_path / "index.db"
    books = _books(3000)

    def build(p):
        written = (
            p
            | beam.Create(books)
            | beam.Reshuffle()
            | WriteToIndex(f"sqlite:///{path}", batch_size=50)
        )
        assert_that(written.indexed, equal_to([b.id for b in books]))

    run_pipeline(build, runner="multi_process")
    assert index_rows(path) == {b.id: b.to_json() for b in books}


def test_portable_job_api_writes_every_record(tmp_path):
    path = tmp_path / "index.db"
    books = _books(500)

    def build(p):
        written = p | beam.Create(books) | WriteToIndex(f"sqlite:///{path}", batch_size=64)
        assert_that(written.indexed, equal_to([b.id for b in books]))

    run_pipeline(build, runner="portable")
    assert index_rows(path) == {b.id: b.to_json() for b in books}


def test_rerun_overwrites_instead_of_duplicating(tmp_path):
    uri = f"sqlite:///{tmp_path / 'index.db'}"
    run_pipeline(lambda p: p | beam.Create(_books(300, "First")) | WriteToIndex(uri))
    second = _books(200, "Second")
    run_pipeline(lambda p: p | beam.Create(second) | WriteToIndex(uri))
    rows = index_rows(tmp_path / "index.db")
    assert len(rows) == 300
    assert rows["b0"] == second[0].to_json()
    assert json.loads(rows["b250"])["title"] == "First 250"


def test_record_without_id_becomes_a_dead_letter_with_its_document(tmp_path):
    path = tmp_path / "index.db"
    orphan = Book(None, "Orphan")
    records = [*_books(10), orphan]
    expected = {
        "stage": "index",
        "table": "books",
        "segment": None,
        "total_segments": None,
        "key": None,
        "item": None,
        "error_type": "MissingId",
        "error": "id field 'id' is missing or None",
        "field": "id",
        "model": "tests.index.test_write_index:Book",
        "document": orphan.to_json(),
    }

    def build(p):
        written = p | beam.Create(records) | WriteToIndex(f"sqlite:///{path}", table="books")
        letters = written.dead_letters | beam.Map(_without_time)
        assert_that(letters, equal_to([expected]))

    result = run_pipeline(build)
    assert index_rows(path) == {b.id: b.to_json() for b in records[:10]}
    assert reindex_counters(result) == {"indexed": 10, "index_refused": 1}


def test_records_that_do_not_encode_are_each_a_dead_letter_once_written(tmp_path):
    """Without the item's key, a letter of a record that cannot be encoded names the
    record's id: written to files, each stays a failure of its own."""
    path, folder = tmp_path / "index.db", tmp_path / "dead"
    records = [PoisonTitles(f"p{n}", ("poison " if n % 2 else "") + str(n)) for n in range(6)]

    def build(p):
        written = p | beam.Create(records) | WriteToIndex(f"sqlite:///{path}", table="t")
        _ = written.dead_letters | WriteDeadLetters(str(folder))

    run_pipeline(build)
    letters = read_dead_letters(str(folder))
    assert sorted(letter["error"] for letter in letters) == [
        f"ValueError: refusing to encode 'poison {n}' (record id p{n})" for n in (1, 3, 5)
    ]
    assert sorted(index_rows(path)) == ["p0", "p2", "p4"]


def test_documents_the_index_refuses_become_dead_letters(tmp_path):
    path = tmp_path / "index.db"
    records = [*_books(5), Book("x1", "bad one"), Book("x2", "bad two")]

    def build(p):
        written = (
            p
            | beam.Create(records)
            | WriteToIndex(f"sqlite:///{path}", encode=_break_bad_titles, batch_size=3)
        )
        summary = written.dead_letters | beam.Map(
            lambda dl: (dl["error_type"], dl["document"], "malformed JSON" in dl["error"])
        )
        assert_that(summary, equal_to([("IndexRefused", "{broken", True)] * 2))

    run_pipeline(build)
    assert set(index_rows(path)) == {f"b{n}" for n in range(5)}


def test_composite_key_ids_and_search(tmp_path):
    path = tmp_path / "index.db"
    editions = [Edition("978-0", n, f"Gulliver printing {n}") for n in range(1, 4)]

    def build(p):
        written = (
            p
            | beam.Create(editions)
            | WriteToIndex(f"sqlite:///{path}", id_fields=("isbn", "printing"))
        )
        assert_that(written.indexed, equal_to(['["978-0",1]', '["978-0",2]', '["978-0",3]']))

    run_pipeline(build)
    with open_backend(f"sqlite:///{path}") as index:
        assert [hit.id for hit in index.search("gulliver 2")] == ['["978-0",2]']


# -- the writer thread ----------------------------------------------------------------------


def _one_bundle(fn, records):
    """Runs ``records`` through a set-up write DoFn as one bundle: its outputs."""
    from apache_beam.transforms.window import GlobalWindow

    fn.start_bundle()
    outputs = []
    for record in records:
        outputs += fn.process(record, timestamp=0, window=GlobalWindow())
    return outputs + list(fn.finish_bundle())


def _write_fn(path, batch_size):
    from transforms.index.write import _WriteBatchesFn

    fn = _WriteBatchesFn(f"sqlite:///{path}", ("id",), batch_size, None, None)
    fn.setup()
    return fn


def test_batches_are_written_on_the_writer_thread_in_order_one_at_a_time(tmp_path):
    import threading

    fn = _write_fn(tmp_path / "index.db", batch_size=7)
    seen = []
    write_batch = fn._index.write_batch

    def noting(documents, **kwargs):
        seen.append(
            (threading.current_thread().name, [d.id for d in documents], len(fn._in_flight))
        )
        return write_batch(documents, **kwargs)

    fn._index.write_batch = noting
    books = _books(50)
    outputs = _one_bundle(fn, books)
    fn.teardown()
    assert [output.value for output in outputs] == [b.id for b in books]
    assert [ids for _, ids, _ in seen] == [
        [b.id for b in books[i : i + 7]] for i in range(0, 50, 7)
    ]
    assert {name.split("_")[0] for name, _, _ in seen} == {"index-writer"}
    assert max(in_flight for _, _, in_flight in seen) <= 2  # the one written, the one queued
    assert index_rows(tmp_path / "index.db") == {b.id: b.to_json() for b in books}


def test_an_id_is_emitted_only_once_its_batch_is_written(tmp_path):
    fn = _write_fn(tmp_path / "index.db", batch_size=5)
    fn.start_bundle()
    from apache_beam.transforms.window import GlobalWindow

    emitted = []
    for book in _books(23):
        emitted += fn.process(book, timestamp=0, window=GlobalWindow())
        with open_backend(f"sqlite:///{tmp_path / 'index.db'}") as index:
            stored = set(index.get([output.value for output in emitted]))
        assert stored == {output.value for output in emitted}
    emitted += fn.finish_bundle()
    fn.teardown()
    assert len(emitted) == 23


def test_a_failed_write_fails_the_bundle_and_the_next_bundle_starts_clean(tmp_path):
    fn = _write_fn(tmp_path / "index.db", batch_size=4)
    write_batch = fn._index.write_batch
    calls = []

    def failing_once(documents, **kwargs):
        calls.append(len(documents))
        if len(calls) == 2:
            raise OSError("disk full")
        return write_batch(documents, **kwargs)

    fn._index.write_batch = failing_once
    with pytest.raises(OSError, match="disk full"):
        _one_bundle(fn, _books(12))
    outputs = _one_bundle(fn, _books(12))  # the runner's retry
    fn.teardown()
    assert [output.value for output in outputs] == [b.id for b in _books(12)]
    assert len(index_rows(tmp_path / "index.db")) == 12
