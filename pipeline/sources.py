"""Choosing and checking the source of a reindex from its configuration.

``--from-export URI`` reads an export; otherwise the table is scanned. Each
returns a :class:`~transforms.dynamodb.source.ReindexSource`, which is all
the spine (:mod:`pipeline.reindex`) knows of it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence

from pipeline.errors import ReindexError, UsageError
from transforms.dead_letters import read_dead_letters
from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.export.manifest import (
    ExportManifest,
    ExportManifestError,
    read_export_manifest,
)
from transforms.dynamodb.export.reindex_source import ExportSource
from transforms.dynamodb.export.source import first_record_keys
from transforms.dynamodb.scan.pages import RetryPolicy
from transforms.dynamodb.scan.reindex_source import SCAN_STAGE, ScanSource
from transforms.dynamodb.scan.source import ReadFromDynamoDB
from transforms.dynamodb.source import ReindexSource
from transforms.dynamodb.table_description import TableDescription, describe_table
from transforms.dynamodb.wire import dumps_item, loads_item
from transforms.journal import JournalRef

__all__ = [
    "client_config",
    "export_key_attributes",
    "export_source",
    "open_source",
    "resume_config",
    "scan_source",
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
    "journal": "--journal",
}


def client_config(config) -> DynamoDBClientConfig:
    """The DynamoDB client settings of ``config`` (no credentials)."""
    return DynamoDBClientConfig(
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        max_attempts=config.max_attempts,
    )


def open_source(
    config,
    check_key: Callable[..., None] | None = None,
    journal: JournalRef | None = None,
    model: type | None = None,
) -> ReindexSource:
    """The source ``config`` asks for, checked: the export or the table's scan.

    ``check_key(key_attributes[, key_types])`` runs as soon as the table's key
    is known (its types, S, N or B, from the table's description),
    before the scan is planned (and its segment count logged), so that what
    it raises is the only thing said. ``journal``: where the scan records
    what each bundle committed. ``model``: what the scan decodes items into
    as it reads them (see :func:`scan_source`).
    """
    if config.from_export:
        source = export_source(config)
        if check_key is not None:
            check_key(source.key_attributes)
        return source
    if config.resume_from:
        config = resume_config(config)
    description = describe_table(client_config(config), config.table)
    if check_key is not None:
        check_key(tuple(description.key_attributes), description.key_types)
    return scan_source(config, description, journal, model)


def scan_source(
    config,
    description: TableDescription,
    journal: JournalRef | None = None,
    model: type | None = None,
) -> ScanSource:
    """A parallel scan of ``description``'s table as ``config`` asks.

    With ``model`` the scan decodes the items it can into records as it
    reads them (``DecodeAtRead``: the spine's ``DecodeItems`` passes those
    on), which saves most of the CPU of parsing and decoding.
    """
    decode_at_read = None
    if model is not None:
        decode_at_read = DecodeAtRead(
            model, tuple(description.key_attributes), config.forbid_unknown
        )
    make_read = functools.partial(
        ReadFromDynamoDB,
        table_name=config.table,
        total_segments=config.total_segments,
        page_size=config.page_size,
        segments=config.segments,
        consistent_read=config.consistent_read,
        checkpoint_every_pages=config.checkpoint_every_pages,
        checkpoint_every_seconds=config.checkpoint_every_seconds,
        with_segments=True,
        workers=config.workers,
        max_read_units_per_second=config.max_read_units_per_second,
        read_capacity_fraction=config.read_capacity_fraction,
        reading_processes=config.reading_processes,
        table_description=description,
        client_config=client_config(config),
        retry_policy=RetryPolicy(max_retry_seconds=config.max_retry_seconds),
        report_unread_segments=True,
        start_keys={s: loads_item(key) for s, key in config.start_keys or ()},
        journal=journal,
        decode_at_read=decode_at_read,
    )
    return ScanSource(make_read, description)


def export_source(config) -> ExportSource:
    """The export at ``config.from_export``, its manifests read and checked."""
    given = [
        flag
        for name, flag in _SCAN_ONLY_OPTIONS.items()
        if getattr(config, name, None) not in (None, False)
    ]
    if given:
        raise ValueError(f"{', '.join(given)} apply to a scan, not to --from-export")
    try:
        manifest = read_export_manifest(config.from_export)
    except ExportManifestError as error:
        raise ReindexError(str(error)) from error
    key_attributes = export_key_attributes(manifest, config.key_attributes)
    return ExportSource(manifest, key_attributes, table=config.table or "")


def export_key_attributes(manifest: ExportManifest, given: Sequence[str] | None) -> tuple[str, ...]:
    """The table's key attributes, hash key first: ``given``, or the export's ``Keys``.

    An export names its table but not the table's key: an incremental
    export's records carry ``Keys`` (enough for a one-attribute key; a
    composite key's order must be given).
    """
    if given:
        return tuple(given)
    keys = first_record_keys(manifest)
    if keys and len(keys) == 1:
        return tuple(keys)
    if keys:
        raise UsageError(
            f"the export's items have the key attributes {', '.join(sorted(keys))}: pass "
            "--key-attributes HASH,RANGE with the hash key first, so document ids match "
            "the table's key"
        )
    raise UsageError(
        f"a {manifest.export_type} does not say which attributes form the table's key: "
        "pass --key-attributes (e.g. --key-attributes id, or HASH,RANGE)"
    )


def _same_folder(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.abspath(a) == os.path.abspath(b)


def resume_config(config):
    """``config`` narrowed to what the run whose dead letters are at
    ``config.resume_from`` left unread: its unread segments, each from its resume key."""
    if config.total_segments is not None or config.segments is not None:
        raise UsageError(
            "--resume-from takes the segments from the earlier run: "
            "drop --total-segments and --segments"
        )
    if _same_folder(config.resume_from, config.dead_letters):
        raise UsageError(
            f"--dead-letters must be another folder than --resume-from {config.resume_from!r}, "
            "which holds the earlier run's dead letters"
        )
    letters = (dl for dl in read_dead_letters(config.resume_from) if dl["stage"] == SCAN_STAGE)
    unread = sorted(letters, key=lambda letter: letter["segment"])
    if not unread:
        raise ReindexError(
            f"the dead letters at {config.resume_from!r} record no unread segment: "
            "nothing to resume"
        )
    tables = sorted({str(letter["table"]) for letter in unread})
    totals = sorted({letter["total_segments"] for letter in unread})
    if tables != [config.table] or len(totals) != 1:
        raise ReindexError(
            f"the unread segments at {config.resume_from!r} are of table(s) {tables} with "
            f"TotalSegments {totals}, not of one scan of table {config.table!r}"
        )
    return dataclasses.replace(
        config,
        total_segments=totals[0],
        segments=tuple(letter["segment"] for letter in unread),
        start_keys=tuple(
            (letter["segment"], dumps_item(letter["key"])) for letter in unread if letter["key"]
        ),
    )
