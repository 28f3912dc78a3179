"""Export folders in the layout DynamoDB writes to S3, for tests.

``write_export`` lays out ``BASE/PREFIX/AWSDynamoDB/<export id>/`` with
``manifest-summary.json`` (+ ``.checksum``), ``manifest-files.json`` (JSON
lines, + ``.checksum``), ``_started`` and gzip data files under ``data/``,
keys in the manifests as DynamoDB writes them (from the bucket's root, with
the prefix). ``upload_folder`` copies such a tree into an S3 bucket.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from transforms.dynamodb.wire import item_to_json

_ids = itertools.count(1)

EXPORTS = "AWSDynamoDB"


@dataclasses.dataclass
class ExportFolder:
    """A written export: its folder, and where each data file is."""

    root: str
    export_id: str
    prefix: str
    data_files: list[str]
    item_count: int

    def data_path(self, index: int) -> str:
        return os.path.normpath(os.path.join(self.root, self.data_files[index]))

    def key_prefix(self) -> str:
        return f"{self.prefix}/{EXPORTS}/{self.export_id}"


def full_records(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records of a full export: ``{"Item": item}``."""
    return [{"Item": item} for item in items]


def incremental_record(
    keys: Mapping[str, Any],
    new_image: Mapping[str, Any] | None = None,
    old_image: Mapping[str, Any] | None = None,
    write_micros: int = 1_700_000_000_000_000,
) -> dict[str, Any]:
    """One record of an incremental export; no ``new_image`` is a removal."""
    record: dict[str, Any] = {
        "Metadata": {"WriteTimestampMicros": {"N": str(write_micros)}},
        "Keys": dict(keys),
    }
    if new_image is not None:
        record["NewImage"] = dict(new_image)
    if old_image is not None:
        record["OldImage"] = dict(old_image)
    return record


def _json_line(record: Mapping[str, Any]) -> str:
    obj = {}
    for name, value in record.items():
        obj[name] = item_to_json(value)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _ion_symbol(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ion_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _ion_number(text: str) -> str:
    if "e" in text.lower():
        return text.lower().replace("e", "d")
    return text if "." in text else text + "."


def _ion_blob(payload: bytes) -> str:
    return "{{" + base64.b64encode(payload).decode("ascii") + "}}"


def ion_value(value: Mapping[str, Any]) -> str:
    """The Ion text DynamoDB writes for one wire-format value."""
    ((tag, payload),) = value.items()
    if tag == "S":
        return _ion_string(payload)
    if tag == "N":
        return _ion_number(payload)
    if tag == "B":
        return _ion_blob(payload)
    if tag == "BOOL":
        return "true" if payload else "false"
    if tag == "NULL":
        return "null"
    if tag == "L":
        return "[" + ",".join(ion_value(v) for v in payload) + "]"
    if tag == "M":
        return ion_struct(payload)
    if tag == "SS":
        return "$dynamodb_SS::[" + ",".join(_ion_string(s) for s in payload) + "]"
    if tag == "NS":
        return "$dynamodb_NS::[" + ",".join(_ion_number(n) for n in payload) + "]"
    if tag == "BS":
        return "$dynamodb_BS::[" + ",".join(_ion_blob(b) for b in payload) + "]"
    raise ValueError(f"unknown DynamoDB type {tag}")


def ion_struct(item: Mapping[str, Any]) -> str:
    return "{" + ",".join(f"{_ion_symbol(k)}:{ion_value(v)}" for k, v in item.items()) + "}"


def _ion_line(record: Mapping[str, Any]) -> str:
    return "$ion_1_0 {" + ",".join(f"{k}:{ion_struct(v)}" for k, v in record.items()) + "}"


def _md5(content: bytes) -> bytes:
    return hashlib.md5(content).digest()


def write_export(
    base: str | os.PathLike,
    records: Sequence[Mapping[str, Any]],
    *,
    files: int = 3,
    empty_files: int = 1,
    incremental: bool = False,
    output_format: str = "DYNAMODB_JSON",
    prefix: str = "exports",
    table: str = "works",
    export_id: str | None = None,
    md5_in_manifest: bool = True,
    export_type_field: bool = True,
    export_time: str = "2026-11-04T07:28:34.028Z",
    export_from_time: str = "2026-11-04T07:28:34.028Z",
    export_to_time: str = "2026-11-04T08:28:34.028Z",
) -> ExportFolder:
    """Writes ``records`` as an export under ``base``; returns where.

    Records go round-robin into ``files`` data files; ``empty_files`` more
    files hold nothing (as DynamoDB writes for empty partitions); an
    incremental export's window starts where a full one's ``exportTime`` is, by
    default, so that it applies after it. As AWS
    writes them, an incremental export's data files are in the
    ``AWSDynamoDB/data/`` folder incremental exports share, its manifest
    summary has no ``exportTime`` and its checksums are ``manifest-*.md5``.
    """
    export_id = export_id or f"0170000000{next(_ids):04d}-a1b2c3d4"
    root = os.path.join(os.fspath(base), prefix, EXPORTS, export_id)
    # a full export's data files are in its folder; incremental exports share AWSDynamoDB/data/
    data_folder = "../data" if incremental else "data"
    os.makedirs(root, exist_ok=True)
    os.makedirs(os.path.normpath(os.path.join(root, data_folder)), exist_ok=True)
    key_prefix = f"{prefix}/{EXPORTS}/{export_id}"
    data_key_prefix = f"{prefix}/{EXPORTS}" if incremental else key_prefix
    to_line = _ion_line if output_format == "ION" else _json_line
    suffix = ".ion.gz" if output_format == "ION" else ".json.gz"
    groups: list[list[Mapping[str, Any]]] = [[] for _ in range(files + empty_files)]
    for position, record in enumerate(records):
        groups[position % files].append(record)
    manifest_lines, data_files = [], []
    for number, group in enumerate(groups):
        file_name = f"{number:04d}{export_id[-6:]}exmpl{suffix}"
        name = f"{data_folder}/{file_name}"
        text = "".join(to_line(record) + "\n" for record in group)
        content = gzip.compress(text.encode("utf-8"), mtime=0)
        with open(os.path.normpath(os.path.join(root, name)), "wb") as out:
            out.write(content)
        entry: dict[str, Any] = {"itemCount": len(group)}
        if md5_in_manifest:
            entry["md5Checksum"] = base64.b64encode(_md5(content)).decode("ascii")
        entry["etag"] = _md5(content).hex()
        entry["dataFileS3Key"] = f"{data_key_prefix}/data/{file_name}"
        manifest_lines.append(json.dumps(entry))
        data_files.append(name)
    files_manifest = ("\n".join(manifest_lines) + "\n").encode("utf-8")
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    summary: dict[str, Any] = {
        "version": "2023-08-01" if incremental else "2020-06-30",
        "exportArn": f"{arn}/export/{export_id}",
        "startTime": "2026-11-04T07:28:34.028Z",
        "endTime": "2026-11-04T07:33:43.897Z",
        "tableArn": arn,
        "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
        **({} if incremental else {"exportTime": export_time}),  # AWS writes it for full ones
        "s3Bucket": "reindex-exports",
        "s3Prefix": prefix,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{key_prefix}/manifest-files.json",
        "billedSizeBytes": sum(len(_json_line(r)) for r in records),
        "itemCount": len(records),
        "outputFormat": output_format,
    }
    if incremental:
        summary["exportFromTime"] = export_from_time
        summary["exportToTime"] = export_to_time
        summary["outputView"] = "NEW_AND_OLD_IMAGES"
    if export_type_field or incremental:
        summary["exportType"] = "INCREMENTAL_EXPORT" if incremental else "FULL_EXPORT"
    summary_bytes = json.dumps(summary, indent=2).encode("utf-8")
    for name, content in (
        ("manifest-files.json", files_manifest),
        ("manifest-summary.json", summary_bytes),
    ):
        with open(os.path.join(root, name), "wb") as out:
            out.write(content)
        if incremental:  # as AWS writes them: manifest-*.md5, the MD5 in base64
            with open(os.path.join(root, name.replace(".json", ".md5")), "w") as out:
                out.write(base64.b64encode(_md5(content)).decode("ascii"))
        else:  # as AWS's guide names them: manifest-*.checksum, the MD5 in hex
            with open(os.path.join(root, name.replace(".json", ".checksum")), "w") as out:
                out.write(_md5(content).hex())
    open(os.path.join(root, "_started"), "wb").close()
    return ExportFolder(root, export_id, prefix, data_files, len(records))


def rewrite_manifest_files(folder: ExportFolder, change) -> None:
    """Applies ``change(entries)`` to manifest-files.json and refreshes its checksum."""
    path = os.path.join(folder.root, "manifest-files.json")
    with open(path) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    change(entries)
    content = ("\n".join(json.dumps(e) for e in entries) + "\n").encode("utf-8")
    with open(path, "wb") as out:
        out.write(content)
    md5 = os.path.join(folder.root, "manifest-files.md5")
    if os.path.exists(md5):
        with open(md5, "w") as out:
            out.write(base64.b64encode(_md5(content)).decode("ascii"))
    else:
        with open(os.path.join(folder.root, "manifest-files.checksum"), "w") as out:
            out.write(_md5(content).hex())


def upload_folder(s3_client, bucket: str, base: str | os.PathLike) -> int:
    """Puts every file under ``base`` into ``bucket``, keyed by its relative path."""
    count = 0
    base = os.fspath(base)
    for folder, _, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, base).replace(os.sep, "/")
            with open(path, "rb") as f:
                s3_client.put_object(Bucket=bucket, Key=key, Body=f.read())
            count += 1
    return count
