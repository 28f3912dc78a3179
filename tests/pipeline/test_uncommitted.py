"""Documents of uncommitted writes whose items are gone, removed after a resumed rebuild."""

import json

import pytest

from pipeline.errors import ReindexError
from pipeline.local.dynamodb_server import free_port
from pipeline.resume.uncommitted import remove_documents_of_deleted_items
from tests.reindex_runs import index_rows
from tests.tables import seeded_table
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.index import Document, open_backend
from transforms.journal import JournalRef, WrittenKeys

RUN = "run-1"


def key(n: int) -> dict:
    return {"id": {"S": f"w{n}"}}


def write_ahead(tmp_path, attempt: str, numbers) -> None:
    ref = JournalRef(str(tmp_path / "journal"), RUN, attempt)
    WrittenKeys(ref).record([key(n) for n in numbers])


def index_of(tmp_path, numbers) -> str:
    uri = f"sqlite:///{tmp_path / 'index.db'}"
    with open_backend(uri) as index:
        index.write_batch([Document(f"w{n}", json.dumps({"id": f"w{n}"})) for n in numbers])
    return uri


def test_documents_of_items_gone_go_and_those_of_this_attempt_are_not_read(
    dynamodb_server, dynamodb_client, tmp_path
):
    table = seeded_table(dynamodb_client, "uncommitted", [key(1), key(2)])
    uri = index_of(tmp_path, range(1, 6))
    write_ahead(tmp_path, "killed", [1, 2, 3])  # w3 was deleted after the kill
    write_ahead(tmp_path, "this one", [4, 5])  # written by this attempt: not checked
    config = DynamoDBClientConfig(
        region_name="us-east-1", endpoint_url=dynamodb_server.endpoint_url
    )
    removed = remove_documents_of_deleted_items(
        str(tmp_path / "journal"), RUN, "this one", uri, config, table, ("id",)
    )
    assert removed == 1
    assert sorted(index_rows(tmp_path / "index.db")) == ["w1", "w2", "w4", "w5"]
    left = sorted(path.name for path in (tmp_path / "journal" / "written").iterdir())
    assert len(left) == 1 and left[0].startswith(f"{RUN}-this one-")


@pytest.mark.parametrize(
    "where, reason",
    [
        (
            "refusing",
            "access denied to table 'works': the credentials need dynamodb:BatchGetItem on it",
        ),
        ("closed", "cannot reach endpoint http://127.0.0.1:"),
    ],
)
def test_keys_that_cannot_be_read_again_say_what_to_fix_and_stay(
    tmp_path, refusing_server, where, reason
):
    uri = index_of(tmp_path, [1])
    write_ahead(tmp_path, "killed", [1])
    port = refusing_server.server_port if where == "refusing" else free_port()
    endpoint = f"http://127.0.0.1:{port}"
    config = DynamoDBClientConfig(region_name="us-east-1", endpoint_url=endpoint, max_attempts=1)
    with pytest.raises(ReindexError) as failed:
        remove_documents_of_deleted_items(
            str(tmp_path / "journal"), RUN, "this one", uri, config, "works", ("id",)
        )
    message = str(failed.value)
    assert message.startswith(
        "the keys an interrupted run wrote but never committed could not be read again (" + reason
    ), message
    assert message.endswith("the new index is kept: fix it and run the command again with --resume")
    assert len(list((tmp_path / "journal" / "written").iterdir())) == 1
    assert sorted(index_rows(tmp_path / "index.db")) == ["w1"]
