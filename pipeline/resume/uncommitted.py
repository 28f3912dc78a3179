"""After a resumed rebuild's job: the documents of uncommitted writes whose items are gone.

The index writer of a journaled rebuild records the keys of every batch
before it sends it, and forgets them once the runner has committed the
bundle (:mod:`transforms.journal.written_keys`). The keys earlier attempts
left are those of writes they never committed: an interrupted run's last
bundles. Their pages were read again, and every item still in the table
was written again (or dead-lettered); an item deleted in between was not,
and its document must go so that the new index holds exactly the table.
Each key left is read again (strongly consistent ``BatchGetItem``), the
documents of the items gone are deleted from the build, and the key files
are then forgotten, a group of files at a time, so a stop in between only
leaves keys to check again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import ReindexError
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.keys import reread_keys
from transforms.dynamodb.scan.errors import AccessDenied, explain
from transforms.index import key_document_id, open_backend
from transforms.journal.written_keys import forget, uncommitted_key_files

__all__ = ["remove_documents_of_deleted_items"]

_LOGGER = logging.getLogger(__name__)

KEYS_PER_CHECK = 10_000
"""Keys read again before their documents are deleted and their files forgotten."""


def remove_documents_of_deleted_items(
    journal_path: str,
    run_id: str,
    attempt_id: str,
    index_uri: str,
    client_config: DynamoDBClientConfig,
    table: str,
    key_attributes: Sequence[str],
) -> int:
    """Deletes from ``index_uri`` the documents of uncommitted writes of run ``run_id``
    (but attempt ``attempt_id``, this one) whose items ``table`` no longer holds;
    returns how many there were."""
    removed = 0
    client = backend = None
    try:
        groups = uncommitted_key_files(
            journal_path, run_id, KEYS_PER_CHECK, besides_attempt=attempt_id
        )
        for keys, paths in groups:
            if client is None:
                client = client_config.create_client()
                backend = open_backend(index_uri)
            gone = _gone(client, table, keys, key_attributes, client_config.endpoint_url)
            if gone:
                removed += backend.delete(gone)
            forget(paths)
    finally:
        if backend is not None:
            backend.close()
        if client is not None:
            client.close()
    if removed:
        _LOGGER.info(
            "Removed %d document(s) of items deleted from the table after an "
            "uncommitted write of them",
            removed,
        )
    return removed


def _gone(client, table: str, keys, key_attributes, endpoint: str | None) -> list[str]:
    """The document ids of ``keys`` whose items ``table`` no longer holds."""
    try:
        return [
            key_document_id(reread.key, key_attributes)
            for reread in reread_keys(client, table, keys, key_attributes=key_attributes)
            if reread.item is None
        ]
    except (BotoCoreError, ClientError) as error:
        explained = explain(error, table, endpoint)
        if isinstance(explained, AccessDenied):
            reason = (
                f"access denied to table {table!r}: the credentials need "
                "dynamodb:BatchGetItem on it"
            )
        else:
            reason = str(explained)
        raise ReindexError(
            "the keys an interrupted run wrote but never committed could not be read "
            f"again ({reason}); the new index is kept: fix it and run the command again "
            "with --resume"
        ) from error
