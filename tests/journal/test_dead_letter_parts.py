"""Dead-letter parts consolidated: each problem once, the latest kept, readers unchanged."""

import apache_beam as beam

from tests.runners import reindex_counters, run_pipeline
from transforms.dead_letters import dead_letter, dumps_dead_letter, read_dead_letters
from transforms.journal import JournalRef, WriteDeadLetterParts, consolidate_dead_letters

RUN = "run-1"


def decode_letter(n: int, at: str, field="title", segment=0):
    letter = dead_letter(
        "decode",
        error_type="TypeMismatch",
        error="expected S",
        item={"id": {"S": f"w{n}"}, "title": {"N": "1"}},
        field=field,
        table="works",
        key={"id": {"S": f"w{n}"}},
        segment=segment,
        total_segments=4,
    )
    return letter | {"at": at}


def index_letter(document: str, at: str):
    letter = dead_letter(
        "index", error_type="IndexRefused", error="refused", table="works", document=document
    )
    return letter | {"at": at}


def scan_letter(segment: int, at: str, key=None):
    letter = dead_letter(
        "scan",
        error_type="SegmentReadFailed",
        error="503",
        table="works",
        key=key,
        segment=segment,
        total_segments=4,
    )
    return letter | {"at": at}


def write_part(folder, name, letters):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("".join(dumps_dead_letter(x) + "\n" for x in letters))


def test_each_problem_once_the_latest_kept(tmp_path):
    parts = tmp_path / "journal" / "dead-letters"
    write_part(
        parts, f"{RUN}-1", [decode_letter(1, "2026-01-01T00:00:00Z"), index_letter("{}", "T1")]
    )
    write_part(
        parts,
        f"{RUN}-2",  # the same pages read again after a resume
        [
            decode_letter(1, "2026-01-02T00:00:00Z", field="subtitle"),
            decode_letter(2, "2026-01-02T00:00:00Z"),
            index_letter("{}", "T2"),
            index_letter('{"id":"b"}', "T2"),
        ],
    )
    write_part(parts, "other-run-1", [decode_letter(9, "T9")])
    dead = tmp_path / "dead"
    written = consolidate_dead_letters(str(parts), RUN, str(dead))
    assert written == {"decode": 2, "index": 2} and written.total() == 4
    letters = list(read_dead_letters(str(dead)))
    decode = {x["key"]["id"]["S"]: x["field"] for x in letters if x["stage"] == "decode"}
    assert decode == {"w1": "subtitle", "w2": "title"}
    assert sorted((x["document"], x["at"]) for x in letters if x["stage"] == "index") == [
        ('{"id":"b"}', "T2"),
        ("{}", "T2"),
    ]


def test_scan_letters_of_segments_read_later_are_dropped(tmp_path):
    parts = tmp_path / "parts"
    write_part(
        parts,
        f"{RUN}-1",
        [scan_letter(1, "T1", {"id": {"S": "w5"}}), scan_letter(2, "T1"), scan_letter(1, "T2")],
    )
    dead = tmp_path / "dead"
    assert consolidate_dead_letters(str(parts), RUN, str(dead), read_segments=[2]) == {"scan": 1}
    (letter,) = read_dead_letters(str(dead))
    assert (letter["segment"], letter["key"], letter["at"]) == (1, None, "T2")


def test_files_of_an_earlier_run_are_replaced_and_the_journal_is_not_read(tmp_path):
    dead = tmp_path / "dead"
    parts = dead / "journal" / "dead-letters"
    write_part(parts, f"{RUN}-1", [decode_letter(1, "T1")])
    write_part(dead, "dead-letters-00000-of-00002", [decode_letter(7, "T0")])
    write_part(dead, "dead-letters-00001-of-00002", [decode_letter(8, "T0")])
    consolidate_dead_letters(str(parts), RUN, str(dead))
    assert sorted(p.name for p in dead.glob("*.jsonl")) == ["dead-letters-00000-of-00001.jsonl"]
    assert [x["key"]["id"]["S"] for x in read_dead_letters(str(dead))] == ["w1"]


def test_no_dead_letters_still_writes_a_file(tmp_path):
    dead = tmp_path / "dead.jsonl"
    assert consolidate_dead_letters(str(tmp_path / "none"), RUN, str(dead)).total() == 0
    assert dead.read_text() == ""


def test_parts_are_written_per_bundle_and_counted(tmp_path):
    ref = JournalRef(str(tmp_path / "journal"), RUN, "attempt")
    letters = [decode_letter(n, "T") for n in range(5)]

    def build(p):
        _ = p | beam.Create(letters) | WriteDeadLetterParts(ref)

    result = run_pipeline(build)
    parts = list((tmp_path / "journal" / "dead-letters").glob(f"{RUN}-*.jsonl"))
    assert parts and sum(len(p.read_text().splitlines()) for p in parts) == 5
    assert reindex_counters(result)["dead_letters_decode"] == 5


def test_letters_holding_unicode_line_separators_are_consolidated_whole(tmp_path):
    """U+2028, U+0085 and the like are line breaks to ``str.splitlines`` but not to
    JSON Lines: a letter whose item holds one stays one letter."""
    parts = tmp_path / "journal" / "dead-letters"
    odd = "a\u2028b\x85c\x1cd\u2029e"
    letters = [decode_letter(1, "T1") | {"error": odd}, decode_letter(2, "T1")]
    write_part(parts, f"{RUN}-0001", letters)
    dead = tmp_path / "dead"
    assert consolidate_dead_letters(str(parts), RUN, str(dead)).total() == 2
    assert [letter["error"] for letter in read_dead_letters(str(dead))] == [odd, "expected S"]


def test_a_bundle_larger_than_memory_holds_is_spooled_whole(tmp_path):
    ref = JournalRef(str(tmp_path / "journal"), RUN, "attempt")
    big = "x" * 2**16
    letters = [decode_letter(n, "T") | {"error": big} for n in range(200)]  # about 13 MiB

    def build(p):
        _ = p | beam.Create(letters, reshuffle=False) | WriteDeadLetterParts(ref)

    run_pipeline(build)
    parts = list((tmp_path / "journal" / "dead-letters").glob(f"{RUN}-*.jsonl"))
    assert len(parts) == 1
    assert [letter["key"] for letter in read_dead_letters(str(parts[0]))] == [
        letter["key"] for letter in letters
    ]
