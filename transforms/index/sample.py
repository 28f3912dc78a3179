"""A verification sample: a few records' ids and JSON, to compare with what an index holds.

::

    _ = records | SampleDocuments(path, size=100, id_fields=("id",))
    ...  # after the run
    result = compare_sample(index, read_sample(path))

The sample is the ``size`` records whose document ids have the smallest
64-bit BLAKE2b hash: the same records whatever the scan order or the
number of workers, spread evenly over the key space, chosen in one pass
without knowing the table's size (a ``Top.Smallest`` combine; each worker
keeps at most ``size`` records). The combine takes the records straight from
the step that ranks them, so a runner lifts its first half into the stage
that reads them: only each bundle's ``size`` smallest leave that stage, never
every record (a ``Flatten`` in front of it would break the fusion and ship
the whole table between stages). Each is written with ``to_json()``,
dataclasses-json's own encoder, not the compiled one ``WriteToIndex`` uses,
so the comparison checks the encoder, the writer and the index together;
its sets are put in the encoder's order first (``sets_in_order``), since
the record reaches this step in another process, where a set of strings
iterates in another order.

The file (JSON lines of ``[id, body]``, through Beam's ``FileSystems``) is
written once per successful run by one worker, so on a distributed runner
its path must be on storage the launcher can read (the job's
``--temp_location``). Records whose id cannot be made (they become index
dead letters) are never sampled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.decode.encoder import sets_in_order
from transforms.decode.keyed_record import KeyedRecord
from transforms.index import IndexBackend, document_id
from transforms.index.documents import key_document_id

_LOGGER = logging.getLogger(__name__)

__all__ = ["SampleCheck", "SampleDocuments", "compare_sample", "read_sample", "sample_rank"]


def sample_rank(doc_id: str) -> bytes:
    """The sort key that chooses the sample: an 8-byte BLAKE2b hash of the id."""
    return hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _ranked(
    record: Any, id_fields: tuple[str, ...], key_attributes: tuple[str, ...] | None
) -> Iterable[tuple[bytes, str, Any]]:
    """The record ranked by its id: from a :class:`KeyedRecord`'s wire key, as
    ``WriteToIndex`` makes it, else from the record's ``id_fields``."""
    try:
        if isinstance(record, KeyedRecord):
            key, record = record
            doc_id = key_document_id(key, key_attributes or tuple(key))
        else:
            doc_id = document_id([getattr(record, name, None) for name in id_fields])
    except (TypeError, ValueError):
        return
    yield sample_rank(doc_id), doc_id, record


def _rank_and_id(entry: tuple[bytes, str, Any]) -> tuple[bytes, str]:
    return entry[0], entry[1]


_NOTHING = (b"\xff" * 9, "", None)
"""Ranked after every record (ranks are 8 bytes), grouped with the combine's
result so that a sample is written even of no records, without a combine's
default value (a side input, which some runners compute again in every task)."""


def _write_chosen(
    keyed: tuple[int, Iterable[list[tuple[bytes, str, Any]]]], size: int, path: str
) -> Iterable[str]:
    # One list is the combine's, in rank order; the other holds _NOTHING only.
    chosen = [entry for part in keyed[1] for entry in part if entry[2] is not None][:size]
    yield from _write(chosen, path)


def _write(chosen: list[tuple[bytes, str, Any]], path: str) -> Iterable[str]:
    lines = []
    for _, doc_id, record in chosen:
        try:
            body = sets_in_order(record).to_json()
        except Exception:  # the index refuses it too: an index dead letter, not sampled
            continue
        lines.append(json.dumps([doc_id, body], ensure_ascii=False) + "\n")
    with FileSystems.create(path) as stream:
        stream.write("".join(lines).encode("utf-8"))
    yield path


class SampleDocuments(beam.PTransform):
    """Writes the sample of ``records`` (see the module docstring) to the file ``path``.

    Returns a PCollection of one element, ``path``, once it is written.
    """

    def __init__(
        self,
        path: str,
        *,
        size: int,
        id_fields: Sequence[str],
        key_attributes: Sequence[str] | None = None,
    ):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an int >= 1, got {size!r}")
        self._path = path
        self._size = size
        self._id_fields = tuple(id_fields)
        self._key_attributes = tuple(key_attributes) if key_attributes else None

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        ranked = (
            records
            | "Rank" >> beam.FlatMap(_ranked, self._id_fields, self._key_attributes)
            | "OneKey" >> beam.Map(lambda entry: (0, entry))
        )
        lowest = ranked | "Lowest" >> beam.combiners.Top.SmallestPerKey(
            self._size, key=_rank_and_id
        )
        always = records.pipeline | "EvenWithout" >> beam.Create([(0, [_NOTHING])])
        return (
            (lowest, always)
            | "Together" >> beam.Flatten()
            | "Merge" >> beam.GroupByKey()
            | "Write" >> beam.FlatMap(_write_chosen, self._size, self._path)
        )


def read_sample(path: str) -> dict[str, str]:
    """``{id: record JSON}`` from a sample file written by :class:`SampleDocuments`."""
    with FileSystems.open(path, compression_type="uncompressed") as stream:
        text = stream.read().decode("utf-8")
    lines = (line for line in text.split("\n") if line)  # not splitlines: U+2028 is no break here
    return {doc_id: body for doc_id, body in (json.loads(line) for line in lines)}


class SampleCheck(NamedTuple):
    """How a sample compared: counts, and up to a few ids of each kind of difference."""

    sampled: int
    equal: int
    refused: int
    missing: tuple[str, ...]
    different: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return not self.missing and not self.different

    def describe(self) -> str:
        if self.holds:
            text = f"{self.equal:,} of {self.sampled:,} sampled documents equal the records' JSON"
            if self.refused:
                text += f" ({self.refused:,} refused by the index, in the dead letters)"
            return text
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing):,} missing (e.g. {self.missing[0]!r})")
        if self.different:
            problems.append(
                f"{len(self.different):,} differ from the record's JSON "
                f"(e.g. {self.different[0]!r})"
            )
        return f"of {self.sampled:,} sampled documents, " + " and ".join(problems)


def _same_json(stored: str, expected: str) -> bool:
    if stored == expected:
        return True
    try:
        return json.loads(stored) == json.loads(expected)
    except ValueError:
        return False


def compare_sample(
    index: IndexBackend, sample: Mapping[str, str], refused_bodies: Iterable[str] = ()
) -> SampleCheck:
    """Reads the sampled ids back from ``index`` and compares each body with the record's JSON.

    Bodies are equal when their texts are, or when they parse to equal JSON
    (a search server returns ``_source`` re-serialised). A sampled document
    the index does not hold is accounted for when its body is among
    ``refused_bodies`` (the documents of the run's index dead letters).
    """
    stored = index.get(sample)
    refused = set(refused_bodies)
    missing, different = [], []
    equal = refused_count = 0
    for doc_id, expected in sample.items():
        if doc_id not in stored:
            if expected in refused:
                refused_count += 1
            else:
                missing.append(doc_id)
        elif _same_json(stored[doc_id], expected):
            equal += 1
        else:
            different.append(doc_id)
    return SampleCheck(len(sample), equal, refused_count, tuple(missing), tuple(different))
