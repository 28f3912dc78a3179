"""The reindex job from a DynamoDB export: read the export, decode, index, delete.

The same decode, index and dead-letter stages as the scan
(:mod:`pipeline.reindex`), fed by
:class:`~transforms.export_source.ReadFromDynamoDBExport`. A full export
upserts every item; an incremental export upserts its new images and deletes
the documents of removed items, so applying the incremental exports of a
table in order, on top of a full one, keeps the index in step.

An export names its table but not the table's key, which document ids are
made of: the key attributes come from ``--key-attributes`` or, for an
incremental export, from its records' ``Keys`` (one-attribute keys only: a
composite key's order must be given, hash key first).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.export_summary import ExportReindexSummary, summarize_export
from pipeline.reindex import (
    ReindexError,
    check_dead_letter_path,
    check_index,
    index_records,
    load_model,
)
from pipeline.run_counts import EXPORT_COUNTERS, needs_tally, run_totals, tally_path
from transforms.dead_letters import WriteDeadLetters
from transforms.decode import DecodeItems
from transforms.delete_index import DeleteFromIndex
from transforms.export_manifest import ExportManifest, ExportManifestError, read_export_manifest
from transforms.export_source import ReadFromDynamoDBExport, first_record_keys
from transforms.model_attributes import fields_for_attributes
from transforms.runner_capabilities import runner_capabilities
from transforms.tally import EndBranches, Tally

__all__ = [
    "ExportReindexOutputs",
    "build_export_reindex",
    "export_key_attributes",
    "run_export_reindex",
]

_SCAN_ONLY_OPTIONS = {
    "total_segments": "--total-segments",
    "segments": "--segments",
    "page_size": "--page-size",
    "consistent_read": "--consistent-read",
    "checkpoint_every_pages": "--checkpoint-every-pages",
    "checkpoint_every_seconds": "--checkpoint-every-seconds",
    "workers": "--workers",
    "max_read_units_per_second": "--max-read-units-per-second",
    "read_capacity_fraction": "--read-capacity-fraction",
    "reading_processes": "--reading-processes",
    "resume_from": "--resume-from",
}


class ExportReindexOutputs(NamedTuple):
    """What :func:`build_export_reindex` applied; ``tally`` is where the counts go, if tallied."""

    items: beam.PCollection
    records: beam.PCollection
    removed_keys: beam.PCollection
    dead_letters: beam.PCollection
    tally: str | None = None


def export_key_attributes(manifest: ExportManifest, given: Sequence[str] | None) -> tuple[str, ...]:
    """The table's key attributes, hash key first: ``given``, or the export's ``Keys``."""
    if given:
        return tuple(given)
    keys = first_record_keys(manifest)
    if keys and len(keys) == 1:
        return tuple(keys)
    if keys:
        raise ReindexError(
            f"the export's items have the key attributes {', '.join(sorted(keys))}: pass "
            "--key-attributes HASH,RANGE with the hash key first, so document ids match "
            "the table's key"
        )
    raise ReindexError(
        f"a {manifest.export_type} does not say which attributes form the table's key: "
        "pass --key-attributes (e.g. --key-attributes id, or HASH,RANGE)"
    )


def build_export_reindex(
    p: beam.Pipeline,
    config,
    model: type,
    manifest: ExportManifest,
    key_attributes: Sequence[str],
) -> ExportReindexOutputs:
    """Applies export → decode → index / delete (+ dead letters) to ``p``.

    Where the runner reports no metrics (see :mod:`pipeline.run_counts`), the
    counts are tallied, and the last step applied ends every branch.
    """
    key_attributes = tuple(key_attributes)
    table = config.table or manifest.table_name
    read = (
        p
        | "ReadExport"
        >> ReadFromDynamoDBExport(manifest=manifest, with_segments=True).with_outputs()
    )
    decoded = read.items | "Decode" >> DecodeItems(
        model,
        table=table,
        key_attributes=key_attributes,
        forbid_unknown=config.forbid_unknown,
        items_carry_segment=True,
    )
    written = index_records(decoded.records, config, model, key_attributes, table)
    deleted = read.removed_keys | "Delete" >> DeleteFromIndex(
        config.index,
        key_attributes=key_attributes,
        batch_size=config.batch_size or 500,
        table=table,
    )
    dead_letters = (
        read.dead_letters,
        decoded.dead_letters,
        written.dead_letters,
        deleted.dead_letters,
    ) | "AllDeadLetters" >> beam.Flatten()
    files = dead_letters | "WriteDeadLetters" >> WriteDeadLetters(config.dead_letters)
    tally = None
    if needs_tally(runner_capabilities(p)):
        tally = tally_path(config.dead_letters)
        counted = {
            "items": read.items,
            "removed_keys": read.removed_keys,
            "records": decoded.records,
            "indexed": written.indexed,
            "deleted": deleted.deleted,
        } | "Tally" >> Tally(tally, EXPORT_COUNTERS)
        _ = (counted, files) | "End" >> EndBranches()
    return ExportReindexOutputs(read.items, decoded.records, read.removed_keys, dead_letters, tally)


def _refuse_scan_options(config) -> None:
    given = [
        flag
        for name, flag in _SCAN_ONLY_OPTIONS.items()
        if getattr(config, name, None) not in (None, False)
    ]
    if given:
        raise ValueError(f"{', '.join(given)} apply to a scan, not to --from-export")


def run_export_reindex(config, pipeline_args: list[str]) -> ExportReindexSummary:
    """Checks the inputs, reads the export's manifests, runs the job and summarises it."""
    _refuse_scan_options(config)
    model = load_model(config.model)
    options = PipelineOptions(pipeline_args)
    pipeline = beam.Pipeline(options=options)
    try:
        manifest = read_export_manifest(config.from_export)
    except ExportManifestError as error:
        raise ReindexError(str(error)) from error
    key_attributes = export_key_attributes(manifest, config.key_attributes)
    try:
        fields_for_attributes(model, key_attributes)
    except ValueError as error:
        raise ReindexError(str(error)) from error
    check_dead_letter_path(config.dead_letters)
    check_index(config.index)
    started = time.monotonic()
    outputs = build_export_reindex(pipeline, config, model, manifest, key_attributes)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    index_count = check_index(config.index)
    totals = run_totals(result, outputs.tally, config.dead_letters)
    return summarize_export(
        totals, config, manifest, elapsed, index_count, counted=outputs.tally is not None
    )
