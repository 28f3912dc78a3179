"""``search``: readable lines, the total number of hits, and ``--json`` for machines."""

from __future__ import annotations

import json
import socket

import pytest

from pipeline.search_output import EXCERPT_WIDTH, excerpt
from tests.reindex_runs import cli, start_cli
from transforms.index import Document, open_backend

LONG = "Lorem ipsum dolor sit amet, " * 20


def _work(n: int) -> dict:
    return {
        "id": f"w{n}",
        "title": f"Voyage {n} to Tōkyō",
        "notes": [LONG + f"the harbour of 東京 seen in {1700 + n}\nwith a second line"],
        "pages": 100 + n,
    }


@pytest.fixture(scope="module")
def index_uri(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('search')}/index.db"
    with open_backend(uri) as index:
        works = [_work(n) for n in range(5)] + [{"id": "other", "title": "Nothing here"}]
        assert index.write_batch([Document(w["id"], json.dumps(w)) for w in works]) == []
    return uri


def test_hits_are_readable_lines_and_the_total_is_counted(index_uri):
    done = cli("search", "--index", index_uri, "--limit", "2", "東京", timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        doc_id, score, text = line.split("\t")
        assert doc_id in {f"w{n}" for n in range(5)} and float(score) > 0
        assert "\\u" not in line and len(text) <= EXCERPT_WIDTH
        assert text.startswith("notes[0]: …") and "the harbour of 東京 seen in" in text
        assert "title: Voyage" in text
    assert done.stderr == "2 of 5 hit(s); --limit N shows more\n"


def test_json_prints_one_object_per_hit(index_uri):
    done = cli("search", "--index", index_uri, "--json", "voyage", "tōkyō", timeout=60)
    assert done.returncode == 0, done.stderr
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(hit["id"] for hit in hits) == [f"w{n}" for n in range(5)]
    assert all(hit["document"] == _work(int(hit["id"][1:])) for hit in hits)
    assert all(isinstance(hit["score"], float) for hit in hits)
    assert "\\u" not in done.stdout
    assert done.stderr == "5 of 5 hit(s)\n"


def test_excerpt_shows_matching_fields_first_on_one_line():
    body = json.dumps({"id": "a", "text": "first line\nsecond\tline", "about": "Gulliver"})
    assert excerpt(body, ["gulliver"]) == "about: Gulliver · id: a · text: first line second line"
    assert excerpt('"just text"', ["x"]) == "just text"
    assert excerpt("not json at all\n", ["x"]) == "not json at all"


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """``search ... | head -1``: the rest of the output has nowhere to go."""
    uri = f"sqlite:///{tmp_path}/many.db"
    with open_backend(uri) as index:
        works = [_work(n) for n in range(3000)]
        assert index.write_batch([Document(w["id"], json.dumps(w)) for w in works]) == []
    args = ["search", "--index", uri, "--json", "--limit", "3000", "harbour"]
    search = start_cli(*args)
    assert json.loads(search.stdout.readline())["id"].startswith("w")
    search.stdout.close()  # as head does once it has its line
    err = search.stderr.read()
    assert search.wait(timeout=60) == 0, err
    assert "Broken pipe" not in err and "error" not in err


@pytest.mark.parametrize("scheme", ["elasticsearch+http", "opensearch+http"])
@pytest.mark.parametrize("command", [("search", "words"), ("rollback",)])
def test_a_server_that_does_not_answer_is_named_in_one_line(scheme, command):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"{scheme}://127.0.0.1:{port}/works"
    done = cli(command[0], "--index", uri, *command[1:], timeout=120)
    assert done.returncode == 3, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {uri}: "), done.stderr[-3000:]
