"""The catch-up's summary: the stream source's lines and checks on the spine's summary."""

from types import SimpleNamespace

from pipeline.summary import summarize
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.stream.reader import StreamChanges
from transforms.dynamodb.stream.reindex_source import StreamSource

KEYS = [{"id": {"S": f"w{n}"}} for n in range(5)]


class _Counters:
    """A finished run's counters, as ``result.metrics()`` gives them."""

    def __init__(self, counts: dict[tuple[str, str], int]):
        self._counts = counts

    def metrics(self):
        return self

    def query(self, _filter):
        return {
            "counters": [
                SimpleNamespace(
                    key=SimpleNamespace(metric=SimpleNamespace(namespace=ns, name=name)),
                    committed=value,
                    attempted=value,
                )
                for (ns, name), value in self._counts.items()
            ]
        }


def summary(keys=(), counts=None, index="sqlite:///out/index.db"):
    changes = StreamChanges(keys=list(keys), records_read=4, records_before_start=4, shards_read=1)
    source = StreamSource(changes, "works", ("id",), DynamoDBClientConfig())
    config = SimpleNamespace(index=index, dead_letters="out/dead/catch-up-1.jsonl")
    result = _Counters(counts) if counts is not None else None
    return summarize(result, source, config, 0.3, index_count=None)


def test_a_catch_up_with_no_change_adds_up():
    quiet = summary()
    assert quiet.accounted_for and quiet.problem() is None
    assert "4 before the start time, not applied" in quiet.render()
    assert quiet.line() == (
        "catch-up of table 'works' from its stream (1 shard(s) read): keys changed 0: "
        "0 indexed, 0 deleted, 0 dead-lettered (0.3 s)"
    )


def test_every_changed_key_must_be_upserted_deleted_or_dead_lettered():
    counts = {
        ("catch_up", "reread"): 5,
        ("catch_up", "present"): 4,
        ("catch_up", "gone"): 1,
        ("reindex", "decoded"): 3,
        ("reindex", "indexed"): 3,
        ("reindex", "dead_letters_decode"): 1,
    }
    short = summary(KEYS, counts)
    assert short.problem() == (
        "the counts do not add up: decoded 3 + removals 1 == indexed 3 + deleted 0 + "
        "index dead letters 0"
    )
    whole = summary(KEYS, {**counts, ("reindex", "index_deletes"): 1})
    assert whole.accounted_for, whole.render()
    assert "MISMATCH" not in whole.render() and "MISMATCH" in short.render()


def test_documents_of_undecodable_items_removed_are_not_counted_as_deletes():
    counts = {
        ("catch_up", "reread"): 5,
        ("catch_up", "present"): 5,
        ("reindex", "decoded"): 4,
        ("reindex", "indexed"): 4,
        ("reindex", "dead_letters_decode"): 1,
        ("reindex", "index_deletes"): 1,
        ("reindex", "undecodable_removed"): 1,
    }
    report = summary(KEYS, counts)
    assert report.accounted_for, report.render()
    assert report.deleted == 0
    assert "the 1 that no longer decode have no document now" in report.render()


def test_credentials_in_the_index_uri_are_not_printed():
    report = summary(index="opensearch+https://reader:s3cret@search.example:9200/works").render()
    assert "s3cret" not in report and "reader" not in report
    assert "opensearch+https://search.example:9200/works" in report
