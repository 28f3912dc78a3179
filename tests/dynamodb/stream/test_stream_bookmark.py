"""The bookmark file: JSON round trip, atomic replacement, clear refusals."""

import json
import os

import pytest
from apache_beam.io.filesystems import FileSystems

from tests.stream_responses import LEFT, MIDDLE, STREAM_ARN, at
from transforms.dynamodb.stream.bookmark import (
    BOOKMARK_FORMAT,
    Bookmark,
    BookmarkNotFound,
    CorruptBookmark,
    ShardPosition,
    read_bookmark,
    write_bookmark,
)

BOOKMARK = Bookmark(
    "works",
    STREAM_ARN,
    at(0.5),
    {
        MIDDLE: ShardPosition("2200000000000000000188", finished=True),
        LEFT: ShardPosition("3300000000000000000250"),
        "shardId-00000001764406800000-b2b2b2b2": ShardPosition(None),
    },
)


def test_a_bookmark_reads_back_equal(tmp_path):
    path = str(tmp_path / "deep" / "folder" / "bookmark.json")
    write_bookmark(path, BOOKMARK)
    assert read_bookmark(path) == BOOKMARK
    obj = json.loads((tmp_path / "deep" / "folder" / "bookmark.json").read_text())
    assert obj["format"] == BOOKMARK_FORMAT and obj["read_at"] == "2026-11-29T12:00:30.000000Z"
    assert obj["shards"][LEFT] == {"sequence_number": "3300000000000000000250", "finished": False}


def test_writing_replaces_the_bookmark_whole_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "bookmark.json")
    write_bookmark(path, BOOKMARK)
    later = Bookmark("works", STREAM_ARN, at(5), {LEFT: ShardPosition("3300000000000000000260")})
    write_bookmark(path, later)
    assert read_bookmark(path) == later
    assert os.listdir(tmp_path) == ["bookmark.json"]


def test_a_failed_write_keeps_the_previous_bookmark(tmp_path, monkeypatch):
    path = str(tmp_path / "bookmark.json")
    write_bookmark(path, BOOKMARK)

    def refuse(sources, destinations):
        raise OSError("disk full")

    monkeypatch.setattr(FileSystems, "rename", staticmethod(refuse))
    with pytest.raises(OSError, match="disk full"):
        write_bookmark(path, Bookmark("works", STREAM_ARN, at(9), {}))
    assert read_bookmark(path) == BOOKMARK
    assert os.listdir(tmp_path) == ["bookmark.json"]


def test_a_missing_bookmark_is_named(tmp_path):
    with pytest.raises(BookmarkNotFound, match=r"no bookmark at .*nothing\.json"):
        read_bookmark(str(tmp_path / "nothing.json"))


def _changed(change) -> str:
    obj = json.loads(BOOKMARK.to_json())
    change(obj)
    return json.dumps(obj)


@pytest.mark.parametrize(
    "text, fault",
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": "other/1"}', "format is 'other/1'"),
        (
            _changed(lambda obj: obj["shards"][LEFT].update(sequence_number="abc")),
            "sequence_number 'abc' is not digits",
        ),
        (_changed(lambda obj: obj.update(read_at="2026-11-29T12:00:30")), "has no time zone"),
        (_changed(lambda obj: obj.pop("stream_arn")), "'stream_arn' must be a non-empty string"),
    ],
)
def test_a_file_that_is_not_a_bookmark_is_refused_with_its_path(tmp_path, text, fault):
    path = tmp_path / "bookmark.json"
    path.write_text(text)
    with pytest.raises(CorruptBookmark, match=f"{path} is not a bookmark: .*{fault}"):
        read_bookmark(str(path))
