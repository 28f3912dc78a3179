"""Re-reading changed keys with strongly consistent ``BatchGetItem``.

For each key the result is the item as it is now, or ``None`` when the
table holds no item with that key (it was deleted). Indexing that result
makes a catch-up independent of the order of the stream's records, and any
re-read idempotent: applying a key twice writes the same document, and a
key changed again after it was read is read again by the next catch-up.

Keys go out 100 to a request (the API's maximum), each key once: keys that
name the same item (``{"N": "1.0"}`` and ``{"N": "1"}``) are one key, as
their document ids are one id. ``UnprocessedKeys`` (throttling, or the
16 MB response limit) are sent again after a capped exponential backoff
with full jitter; a batch still unprocessed after ``max_attempts``
requests raises :class:`RereadIncomplete`. Errors that botocore retries
(throttling of the request itself, 5xx, connection errors) are retried
there first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from transforms.dynamodb.wire import Item, Key, key_of
from transforms.index.delete import key_document_id

__all__ = ["MAX_BATCH_KEYS", "Reread", "RereadIncomplete", "reread_keys"]

MAX_BATCH_KEYS = 100
"""Keys per ``BatchGetItem`` request: the API's maximum."""


class Reread(NamedTuple):
    """A key and its item now; ``item`` is ``None`` when the item is gone."""

    key: Key
    item: Item | None


class RereadIncomplete(RuntimeError):
    """``BatchGetItem`` left keys unprocessed after every attempt."""


def _batches(
    keys: Iterable[Key], key_attributes: Sequence[str], size: int
) -> Iterator[dict[str, Key]]:
    batch: dict[str, Key] = {}
    seen: set[str] = set()
    for key in keys:
        identity = key_document_id(key, key_attributes)
        if identity in seen:
            continue
        seen.add(identity)
        batch[identity] = {name: key[name] for name in key_attributes}
        if len(batch) >= size:
            yield batch
            batch = {}
    if batch:
        yield batch


def reread_keys(
    client,
    table: str,
    keys: Iterable[Key],
    *,
    key_attributes: Sequence[str],
    batch_size: int = MAX_BATCH_KEYS,
    max_attempts: int = 10,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Reread]:
    """The current item of each distinct key in ``keys``, batch by batch.

    ``client`` is a low-level DynamoDB client; ``key_attributes`` are the
    table's key attributes, hash key first. Every distinct key gives one
    :class:`Reread`, in the order of ``keys`` within its batch.
    """
    if not 1 <= batch_size <= MAX_BATCH_KEYS:
        raise ValueError(f"batch_size must be in [1, {MAX_BATCH_KEYS}], got {batch_size}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    for batch in _batches(keys, key_attributes, batch_size):
        found = _read_batch(
            client, table, batch, key_attributes, max_attempts, base_delay, max_delay, sleep
        )
        for identity, key in batch.items():
            yield Reread(key, found.get(identity))


def _read_batch(
    client,
    table: str,
    batch: dict[str, Key],
    key_attributes: Sequence[str],
    max_attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None],
) -> dict[str, Item]:
    found: dict[str, Item] = {}
    request = {table: {"Keys": list(batch.values()), "ConsistentRead": True}}
    for attempt in range(max_attempts):
        response = client.batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, ()):
            key = key_of(item, key_attributes)
            if key is not None:
                found[key_document_id(key, key_attributes)] = item
        unprocessed = response.get("UnprocessedKeys", {}).get(table)
        if not unprocessed or not unprocessed.get("Keys"):
            return found
        request = {table: {"Keys": unprocessed["Keys"], "ConsistentRead": True}}
        if attempt + 1 < max_attempts:
            sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    raise RereadIncomplete(
        f"{len(request[table]['Keys'])} of {len(batch)} keys of table {table!r} still "
        f"unprocessed after {max_attempts} BatchGetItem requests (throttled?): run the "
        "command again (a catch-up's bookmark stays where it was; applying a key twice "
        "does no harm)"
    )
