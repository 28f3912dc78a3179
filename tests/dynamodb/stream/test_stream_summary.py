"""The catch-up summary: reconciliation checks and a report without credentials."""

import dataclasses

from transforms.dynamodb.stream.reader import StreamChanges
from transforms.dynamodb.stream.summary import summarize_catch_up


def summary(index="sqlite:///out/index.db"):
    changes = StreamChanges(keys=[], records_read=4, records_before_start=4, shards_read=1)
    return summarize_catch_up(
        None,
        changes,
        table="works",
        index=index,
        stream_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/works/stream/x",
        dead_letters_path="out/dead/catch-up-1.jsonl",
        elapsed_seconds=0.3,
    )


def test_a_catch_up_with_no_change_adds_up_and_names_no_dead_letter_file():
    quiet = summary()
    assert quiet.accounted_for and quiet.problem() is None
    assert quiet.dead_letters_path is None
    assert "4 before the start time, not applied" in quiet.render()
    assert quiet.line() == (
        "catch-up of 'works': 4 stream records, 0 keys changed: 0 upserted, 0 deleted, "
        "0 dead-lettered (0.3 s)"
    )


def test_every_changed_key_must_be_upserted_deleted_or_dead_lettered():
    counts = dict(keys_changed=5, reread=5, present=4, gone=1, decoded=3, upserted=3)
    short = dataclasses.replace(
        summary(), **counts, deleted=0, dead_lettered=1, dead_lettered_by_stage={"decode": 1}
    )
    assert short.problem() == (
        "the counts do not add up: decoded 3 + gone 1 == upserted 3 + deleted 0 + "
        "index dead letters 0"
    )
    whole = dataclasses.replace(short, deleted=1)
    assert whole.accounted_for
    assert "MISMATCH" not in whole.render() and "MISMATCH" in short.render()


def test_credentials_in_the_index_uri_are_not_printed():
    report = summary("opensearch+https://reader:s3cret@search.example:9200/works").render()
    assert "s3cret" not in report and "reader" not in report
    assert "opensearch+https://search.example:9200/works" in report
