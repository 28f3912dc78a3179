"""The keys of the documents a bundle writes, kept until the runner has committed it.

A resumed rebuild reads the pages its interrupted run had not committed
again, and writes their documents again. An item deleted from the table in
between is not read again, so the document the interrupted run wrote for it
would stay in the new index, which would then hold more documents than the
table has items. So, before the index writer sends a batch, it writes the
batch's item keys to ``<journal>/written/<run id>-<attempt id>-<time>-<random>.json``
(:meth:`WrittenKeys.record`), and once the runner has committed the bundle
its finalizer deletes those files (:func:`forget`). The files left by
earlier attempts are those of bundles they never committed (an interrupted
run's last bundles): :func:`uncommitted_key_files` reads them, the launcher
reads their items again and deletes the documents of those that are gone
(``pipeline.resume.uncommitted``), then :func:`forget` removes them. The
attempt's own files are left out: on a runner that never finalizes a
bundle (Flink in batch) they hold every key it wrote, and its pages were
all read by the attempt itself.

A file is written before its batch, synced like every journal record, so
a document can be in the index only if its key is in a file or its bundle
was committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator

from apache_beam.io.filesystems import FileSystems

from transforms.dynamodb.wire import Key, item_from_json, item_to_json
from transforms.journal.files import matching, read_json, write_json
from transforms.journal.journal import WRITTEN, JournalError, JournalRef

__all__ = ["WrittenKeys", "forget", "uncommitted_key_files"]


class WrittenKeys:
    """Where the index writer records the keys of its batches; picklable."""

    def __init__(self, ref: JournalRef):
        self._ref = ref

    def record(self, keys: list[Key]) -> str:
        """Writes ``keys`` to a new file of the journal; returns its path."""
        ref = self._ref
        name = f"{ref.run_id}-{ref.attempt_id}-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        path = ref.join(WRITTEN, name)
        keys_json = [item_to_json(k) for k in keys]
        write_json(path, {"run": ref.run_id, "attempt": ref.attempt_id, "keys": keys_json})
        return path


def uncommitted_key_files(
    journal_path: str, run_id: str, keys_per_group: int, *, besides_attempt: str | None = None
) -> Iterator[tuple[list[Key], list[str]]]:
    """The key files of run ``run_id`` left in the journal, in groups of about
    ``keys_per_group`` keys: ``(their keys, their paths)``; with ``besides_attempt``,
    only those of the run's other attempts.

    A file that is not a key record is a :class:`JournalError`.
    """
    keys: list[Key] = []
    paths: list[str] = []
    for path in matching(FileSystems.join(journal_path, WRITTEN, f"{run_id}-*.json")):
        try:
            obj = read_json(path)
            if obj["run"] != run_id or obj["attempt"] == besides_attempt:
                continue
            keys.extend(item_from_json(key) for key in obj["keys"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise JournalError(f"{path} is not a record of written keys ({error})") from error
        paths.append(path)
        if len(keys) >= keys_per_group:
            yield keys, paths
            keys, paths = [], []
    if paths:
        yield keys, paths


def forget(paths: Iterable[str]) -> None:
    """Deletes key files: their bundle was committed, or their documents were checked."""
    paths = list(paths)
    if paths:
        FileSystems.delete(paths)
