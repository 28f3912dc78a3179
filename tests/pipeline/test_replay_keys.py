"""``replay`` takes the table's key from the dead letters that carry one, never from line order."""

from __future__ import annotations

import pytest

from tests.reindex_runs import cli, dead_letter_folder, dead_letters, index_rows
from tests.runners import IN_PROCESS
from transforms.dead_letters import dead_letter

ODD = "tests.catalogue_models:OddlyNamed"


def _item(key: str) -> dict:
    return {"item-id": {"S": key}, "first.name": {"S": f"name of {key}"}}


def _decode_letter(key: str, *, with_key: bool = True) -> dict:
    item = _item(key)
    return dead_letter(
        "decode",
        error_type="MissingField",
        error="fixed since",
        table="odd",
        item=item,
        key={"item-id": item["item-id"]} if with_key else None,
    )


def _unread_segment_letter() -> dict:
    return dead_letter(
        "scan", error_type="SegmentReadFailed", error="throttled", table="odd", segment=0
    )


def _replay(tmp_path, folder, *extra: str, model: str = ODD):
    return cli(
        "replay",
        "--dead-letters",
        str(folder),
        "--model",
        model,
        "--index",
        f"sqlite:///{tmp_path}/index.db",
        "--still-failing",
        str(tmp_path / "still"),
        *extra,
        *IN_PROCESS,
    )


def test_a_scan_stage_letter_first_does_not_hide_the_key(tmp_path):
    letters = [_unread_segment_letter(), _decode_letter("n1"), _decode_letter("n2")]
    done = _replay(tmp_path, dead_letter_folder(tmp_path, letters))
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(index_rows(tmp_path / "index.db")) == ["n1", "n2"]
    (still,) = dead_letters(tmp_path / "still")
    assert still["stage"] == "scan"


def test_key_attributes_option_for_letters_without_keys(tmp_path):
    letters = [_decode_letter("n1", with_key=False), _decode_letter("n2", with_key=False)]
    done = _replay(tmp_path, dead_letter_folder(tmp_path, letters), "--key-attributes", "item-id")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(index_rows(tmp_path / "index.db")) == ["n1", "n2"]


@pytest.mark.parametrize(
    "letters, extra, message",
    [
        (
            [_decode_letter("n1", with_key=False)],
            (),
            "error: no dead letter to replay carries a key: pass --key-attributes with the "
            "table's key attributes, hash key first (e.g. --key-attributes id, or pk,sk)",
        ),
        (
            [_decode_letter("n1"), dict(_decode_letter("n2"), key={"id": {"S": "n2"}})],
            (),
            "error: the dead letters carry keys of different attributes (id; item-id): "
            "replay each table's dead letters on their own",
        ),
        (
            [_decode_letter("n1")],
            ("--key-attributes", "id"),
            "error: --key-attributes id differs from the keys the dead letters carry (item-id)",
        ),
    ],
    ids=["no-key", "two-key-schemas", "option-differs"],
)
def test_a_key_that_cannot_be_told_is_a_usage_error(tmp_path, letters, extra, message):
    done = _replay(
        tmp_path, dead_letter_folder(tmp_path, letters), *extra, model="pipeline.models:Work"
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines() == [message]
    assert not (tmp_path / "index.db").exists()


def _encode_letter(key: str) -> dict:
    """An index letter of a record the encoder refused: its key, no item, no document."""
    return dead_letter(
        "index",
        error_type="EncodeError",
        error="ValueError: cannot encode",
        table="odd",
        key={"item-id": {"S": key}},
        document=None,
    )


def test_letters_that_cannot_be_replayed_still_tell_the_key(tmp_path):
    letters = [_encode_letter("e1"), _decode_letter("n1", with_key=False)]
    done = _replay(tmp_path, dead_letter_folder(tmp_path, letters))
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(index_rows(tmp_path / "index.db")) == ["n1"]
    (still,) = dead_letters(tmp_path / "still")
    assert still["error_type"] == "EncodeError"


def test_nothing_to_replay_says_so(tmp_path):
    letters = [_encode_letter("e1"), _unread_segment_letter()]
    done = _replay(tmp_path, dead_letter_folder(tmp_path, letters))
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1] == (
        f"error: none of the 2 dead letter(s) in '{tmp_path / 'dead'}' carries the item or "
        "the document (unread segments, records the encoder refused): there is nothing to "
        "replay; reindex the table (or resume the run) to index them"
    )
