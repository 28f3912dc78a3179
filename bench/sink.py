"""Benchmark: documents/s into the embedded index, against a bare executemany.

Both sides write the same records to a fresh file of the same schema (FTS5
triggers included), in transactions of ``--batch-size`` rows, on the same
connection settings (WAL, synchronous=FULL, the index's durable setting):

* backend: one bundle through ``WriteToIndex``'s DoFn: records turned into
  documents (``document_id`` and ``RecordEncoder``, the compiled encoder when
  present) in the DoFn's thread, each closed batch written by
  ``SQLiteIndex.write_batch`` (one ``INSERT ... SELECT FROM json_each``) on
  its writer thread while the next is encoded;
* bare executemany: ``BEGIN IMMEDIATE; executemany(UPSERT, rows); COMMIT`` of
  (id, body) rows made before the clock starts;
* for reference: ``write_batch`` alone of pre-made documents, encoding and
  writing in turn on one thread (the DoFn before it had a writer thread),
  the same with ``record.to_json()`` as encoder, the DoFn at
  ``synchronous=NORMAL`` (the usual WAL setting, not durable on power loss):
  what durability costs, and ``write_batch`` of pre-made documents with
  FTS5's default merging (4 segments at a time, not the index's 16), with the
  search time after each.

Each variant runs ``--repeats`` times, alternating; the best run counts.
Two ratios are targets: backend / bare executemany (>= 0.8), and backend /
the backend's own fastest insert path, ``write_batch`` of pre-made documents
(>= 0.9): what encoding costs on top of the fastest insert.
Prints a table and writes it to ``bench/results/sink.md``::

    .venv/bin/python bench/sink.py --records 20000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from bench.report import Target, draw_png
from pipeline.local.sample_data import expected_records, generate_items
from pipeline.models import Work
from transforms.index import Document, RecordEncoder, document_id
from transforms.index.sqlite import FTS_AUTOMERGE, SYNCHRONOUS, UPSERT, SQLiteIndex
from transforms.index.write import _WriteBatchesFn

_LOGGER = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "sink.md"
DEFAULT_MERGE_VARIANT = "write_batch of pre-made documents, FTS5's default merging (4 segments)"


def _batches(values: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _through_write_fn(path: str, records: Sequence[Work], batch_size: int, sync: str) -> float:
    """One bundle through WriteToIndex's DoFn: encoding, ids, the writer thread."""
    fn = _WriteBatchesFn(f"sqlite:///{path}", ("id",), batch_size, None, None)
    previous, SQLiteIndex._synchronous = SQLiteIndex._synchronous, sync
    try:
        fn.setup()
        started = time.perf_counter()
        fn.start_bundle()
        outputs = []
        for record in records:
            outputs += fn.process(record, timestamp=0, window=GlobalWindow())
        outputs += fn.finish_bundle()
        elapsed = time.perf_counter() - started
        fn.teardown()
    finally:
        SQLiteIndex._synchronous = previous
    written = [output for output in outputs if isinstance(output, WindowedValue)]
    if len(written) != len(records):
        raise RuntimeError(f"wrote {len(written)} of {len(records)} documents")
    with SQLiteIndex(path) as index:
        if index.count() != len(records):
            raise RuntimeError("the index lacks documents")
    return elapsed


def _through_backend(
    path: str,
    records: Sequence[Work],
    batch_size: int,
    encode: Callable[[Any], str] | None = None,
) -> float:
    encoder = RecordEncoder(encode)
    with SQLiteIndex(path) as index:
        refused = []
        started = time.perf_counter()
        for batch in _batches(records, batch_size):
            documents = [Document(document_id([r.id]), encoder(r)) for r in batch]
            refused += index.write_batch(documents)
        elapsed = time.perf_counter() - started
        if refused or index.count() != len(records):
            raise RuntimeError(f"the index refused documents: {refused[:3]}")
    return elapsed


def _premade_documents(
    path: str,
    rows: Sequence[tuple[str, str]],
    batch_size: int,
    merge: tuple[int, int] | None = None,
) -> float:
    """``write_batch`` of pre-made documents; ``merge``: FTS5's (automerge, crisismerge)
    instead of the index's own."""
    documents = [Document(doc_id, body) for doc_id, body in rows]
    with SQLiteIndex(path) as index:
        if merge is not None:
            for option, value in zip(("automerge", "crisismerge"), merge, strict=True):
                index._conn.execute(
                    "INSERT INTO documents_fts (documents_fts, rank) VALUES (?, ?)",
                    (option, value),
                )
        started = time.perf_counter()
        for batch in _batches(documents, batch_size):
            if index.write_batch(batch):
                raise RuntimeError("the index refused documents")
        elapsed = time.perf_counter() - started
        QUERY_MS[path] = _query_ms(index)
        return elapsed


QUERY_WORDS = ("grammar", "hidden", "introduction", "performer", "recording", "1935", "the")
QUERY_MS: dict[str, float] = {}


def _query_ms(index: SQLiteIndex) -> float:
    """Mean milliseconds of a search (top 10 by rank) for each of ``QUERY_WORDS``, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for word in QUERY_WORDS:
            index.search(word, limit=10)
        best = min(best, (time.perf_counter() - started) / len(QUERY_WORDS) * 1000)
    return best


def _bare_executemany(path: str, rows: Sequence[tuple[str, str]], batch_size: int) -> float:
    SQLiteIndex(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        started = time.perf_counter()
        for batch in _batches(rows, batch_size):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(UPSERT, batch)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == len(rows)
    finally:
        conn.close()
    return elapsed


def _to_json(record: Any) -> str:
    return record.to_json()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=SQLiteIndex.DEFAULT_BATCH_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    records = list(expected_records(generate_items(args.records, malformed_fraction=0)).values())
    encoder = RecordEncoder()
    rows = [(document_id([r.id]), encoder(r)) for r in records]
    assert all(body == r.to_json() for (_, body), r in zip(rows, records, strict=True))
    body_bytes = sum(len(body.encode()) for _, body in rows) / len(rows)

    main_variant = "WriteToIndex's DoFn: encode, then write on its writer thread"
    baseline_variant = "bare executemany of pre-made rows"
    normal_variant = "the DoFn at synchronous=NORMAL (not durable on power loss)"
    variants: dict[str, tuple[int, Callable[[str], float]]] = {
        main_variant: (
            args.repeats,
            lambda path: _through_write_fn(path, records, args.batch_size, SYNCHRONOUS),
        ),
        "encode + write_batch in turn, one thread (the previous DoFn)": (
            args.repeats,
            lambda path: _through_backend(path, records, args.batch_size),
        ),
        baseline_variant: (
            args.repeats,
            lambda path: _bare_executemany(path, rows, args.batch_size),
        ),
        "backend write_batch of pre-made documents (no encoding)": (
            args.repeats,
            lambda path: _premade_documents(path, rows, args.batch_size),
        ),
        DEFAULT_MERGE_VARIANT: (
            args.repeats,
            lambda path: _premade_documents(path, rows, args.batch_size, merge=(4, 16)),
        ),
        normal_variant: (
            args.repeats,
            lambda path: _through_write_fn(path, records, args.batch_size, "NORMAL"),
        ),
        "backend with to_json() as encoder (reference, 1 run)": (
            1,
            lambda path: _through_backend(path, records, args.batch_size, encode=_to_json),
        ),
    }
    best = {name: float("inf") for name in variants}
    query_ms: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as folder:
        for repeat in range(args.repeats):
            for n, (name, (repeats, run)) in enumerate(variants.items()):
                if repeat < repeats:
                    path = os.path.join(folder, f"{repeat}-{n}.db")
                    best[name] = min(best[name], run(path))
                    if path in QUERY_MS:
                        query_ms[name] = min(query_ms.get(name, float("inf")), QUERY_MS[path])

    rate = {name: len(records) / seconds for name, seconds in best.items()}
    baseline = rate[baseline_variant]
    ratio = rate[main_variant] / baseline
    fastest_variant = "backend write_batch of pre-made documents (no encoding)"
    fastest_ratio = rate[main_variant] / rate[fastest_variant]
    lines = [
        "# Embedded index sink: documents/s",
        "",
        f"{len(records):,} `pipeline.models:Work` records (mean JSON body {body_bytes:,.0f} B), "
        f"batches of {args.batch_size}, best of {args.repeats}; same schema with FTS5 "
        f"triggers, WAL, synchronous={SYNCHRONOUS}. Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.machine()}, {os.cpu_count()} CPUs.",
        "",
        "| variant | seconds | documents/s | vs executemany |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in best.items():
        lines.append(
            f"| {name} | {seconds:.3f} | {rate[name]:,.0f} | {rate[name] / baseline:.2f}x |"
        )
    lines += [
        "",
        f"Ratio backend / bare executemany: **{ratio:.2f}x** (target >= 0.8x).",
        f"Ratio backend / the backend's fastest insert path (write_batch of pre-made "
        f"documents): **{fastest_ratio:.2f}x** (target >= 0.9x).",
        f"Cost of durability (synchronous={SYNCHRONOUS} against NORMAL): "
        f"{1 - rate[main_variant] / rate[normal_variant]:.1%} of the backend's documents/s.",
        f"FTS5 merging {FTS_AUTOMERGE} segments at a time (the index's setting) against "
        f"FTS5's default of 4: {rate[fastest_variant] / rate[DEFAULT_MERGE_VARIANT]:.2f}x "
        "the documents/s of pre-made documents; a search (top 10, mean over "
        f"{len(QUERY_WORDS)} words) then takes {query_ms[fastest_variant]:.2f} ms against "
        f"{query_ms[DEFAULT_MERGE_VARIANT]:.2f} ms.",
        "",
        "Regenerate: `.venv/bin/python bench/sink.py`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    targets = [
        Target("sink / bare executemany", ratio, 0.8, True, "x"),
        Target("sink / backend's fastest insert path", fastest_ratio, 0.9, True, "x"),
    ]
    figures = {"documents_per_second": rate, "records": len(records)}
    payload = {"figures": figures, "targets": [target.as_dict() for target in targets]}
    args.output.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")

    def plot(figure):
        axes = figure.add_subplot()
        axes.barh(list(rate), list(rate.values()), color="#4c72b0")
        axes.set_xlabel("documents/s into the embedded index")
        axes.tick_params(axis="y", labelsize="small")

    draw_png(plot, args.output.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
