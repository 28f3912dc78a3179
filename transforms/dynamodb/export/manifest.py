"""The manifests of a DynamoDB export to S3: what it holds and how to check it.

An export (``aws dynamodb export-table-to-point-in-time``) writes, under
``s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/``::

    manifest-summary.json       one JSON object: itemCount, outputFormat, exportType, ...
    manifest-summary.checksum   MD5 of manifest-summary.json
    manifest-files.json         JSON lines, one per data file:
                                {"itemCount": 8, "md5Checksum": "...", "etag": "...",
                                 "dataFileS3Key": "PREFIX/AWSDynamoDB/<id>/data/x.json.gz"}
    manifest-files.checksum     MD5 of manifest-files.json
    data/<name>.json.gz         gzip, one item per line (``.ion.gz`` for Amazon Ion)

:func:`read_export_manifest` reads both manifests through Beam's
``FileSystems`` (a local copy, ``s3://``, ``gs://``...) and checks them: every
field it relies on has the right type, the per-file item counts add up to the
summary's ``itemCount``, and the manifests match their checksum files. Any
problem is an :class:`ExportManifestError` naming the file (and line).

``dataFileS3Key`` is a key in the bucket, so it names the export's prefix as
it was when exported. Data files are found relative to the folder given (the
part of the key after ``AWSDynamoDB/<export id>/``), so an export copied to
another bucket, prefix or a local disk reads the same.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import re
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "DYNAMODB_JSON",
    "FULL_EXPORT",
    "INCREMENTAL_EXPORT",
    "ION",
    "ExportDataFile",
    "ExportManifest",
    "ExportManifestError",
    "export_root",
    "read_export_manifest",
    "relative_data_path",
    "resolve_in_export",
]

FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
EXPORT_TYPES = (FULL_EXPORT, INCREMENTAL_EXPORT)
DYNAMODB_JSON = "DYNAMODB_JSON"
ION = "ION"
OUTPUT_FORMATS = (DYNAMODB_JSON, ION)

SUMMARY_NAME = "manifest-summary.json"
FILES_NAME = "manifest-files.json"
EXPORTS_FOLDER = "AWSDynamoDB"

_HEX_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_TABLE_ARN = re.compile(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/([^/]+)")


class ExportManifestError(ValueError):
    """A manifest is missing, malformed or inconsistent; the message names it."""


@dataclasses.dataclass(frozen=True)
class ExportDataFile:
    """One data file of an export, as listed in ``manifest-files.json``.

    ``index`` is its position in the manifest (0-based), ``path`` where it is
    read from, ``key`` the ``dataFileS3Key`` as listed. ``md5_checksum`` is
    base64 (S3's ``Content-MD5`` form) and ``etag`` S3's ETag, either may be
    ``None``.
    """

    index: int
    path: str
    key: str
    item_count: int
    md5_checksum: str | None = None
    etag: str | None = None

    @property
    def expected_md5(self) -> bytes | None:
        """The MD5 digest the file must have, when the manifest gives one.

        From ``md5Checksum``, else from a single-part ETag (a hex MD5); a
        multipart ETag (``...-3``) is not an MD5 of the object.
        """
        if self.md5_checksum is not None:
            return base64.b64decode(self.md5_checksum)
        if self.etag is not None:
            etag = self.etag.strip('"')
            if _HEX_MD5.match(etag):
                return bytes.fromhex(etag)
        return None

    @property
    def name(self) -> str:
        """The file's path relative to the export folder, for messages."""
        return relative_data_path(self.key) or self.key


@dataclasses.dataclass(frozen=True)
class ExportManifest:
    """A checked export: its summary and its data files.

    ``root`` is the export folder (``.../AWSDynamoDB/<export id>``, no
    trailing slash). ``item_count`` is the summary's ``itemCount``, which the
    data files' counts add up to.
    """

    root: str
    export_type: str
    output_format: str
    item_count: int
    files: tuple[ExportDataFile, ...]
    billed_size_bytes: int | None = None
    export_arn: str | None = None
    table_arn: str | None = None
    export_time: str | None = None
    export_from_time: str | None = None
    export_to_time: str | None = None
    output_view: str | None = None

    @property
    def incremental(self) -> bool:
        return self.export_type == INCREMENTAL_EXPORT

    @property
    def table_name(self) -> str | None:
        """The exported table's name, from ``tableArn``."""
        match = _TABLE_ARN.match(self.table_arn or "")
        return match.group(1) if match else None

    @property
    def average_item_bytes(self) -> float:
        """Billed bytes per item; 1.0 when the manifest does not say."""
        if self.billed_size_bytes and self.item_count:
            return self.billed_size_bytes / self.item_count
        return 1.0

    def describe(self) -> str:
        """One line: ``FULL_EXPORT of table 'works' (DYNAMODB_JSON, 8 files, 10,000 items)``."""
        table = f" of table {self.table_name!r}" if self.table_name else ""
        return (
            f"{self.export_type}{table} ({self.output_format}, {len(self.files):,} data files, "
            f"{self.item_count:,} items)"
        )


def export_root(uri: str) -> str:
    """The export folder named by ``uri``: the folder itself or its ``manifest-summary.json``."""
    if not isinstance(uri, str) or not uri.strip():
        raise ExportManifestError(
            f"expected the export folder .../AWSDynamoDB/<export id>/, got {uri!r}"
        )
    root = uri.strip().rstrip("/")
    if root.endswith("/" + SUMMARY_NAME) or root == SUMMARY_NAME:
        root = root[: -len(SUMMARY_NAME)].rstrip("/")
    return root or "/"


SHARED_DATA = "../data/"
"""Where an incremental export's data files are, relative to its folder: AWS
writes them to ``AWSDynamoDB/data/``, beside the exports' folders."""


def relative_data_path(key: str) -> str | None:
    """The path of the S3 object ``key`` relative to its export's folder
    ``AWSDynamoDB/<export id>/``, or None.

    ``prefix/AWSDynamoDB/0123-ab/data/x.json.gz`` gives ``data/x.json.gz``;
    ``prefix/AWSDynamoDB/data/x.json.gz`` (an incremental export's data file,
    in the folder incremental exports share) gives ``../data/x.json.gz``; a
    key that already starts with ``data/`` is returned as it is.
    """
    parts = key.split("/")
    for position in range(len(parts) - 3, -1, -1):
        if parts[position] == EXPORTS_FOLDER and parts[position + 1]:
            relative = parts[position + 2 :]
            if parts[position + 1] == "data":  # AWSDynamoDB/data/<file>: no export id
                return _relative(relative, SHARED_DATA)
            break
    else:
        relative = parts if parts[0] == "data" else None
    return _relative(relative, "")


def _relative(parts: list[str] | None, above: str) -> str | None:
    if not parts or any(part in ("", ".", "..") for part in parts):
        return None
    return above + "/".join(parts)


def resolve_in_export(root: str, relative: str) -> str:
    """The path of ``relative`` (from :func:`relative_data_path`) for the export at ``root``."""
    if relative.startswith(SHARED_DATA):
        parent = root.rstrip("/").rsplit("/", 1)[0] or "/"
        return FileSystems.join(parent, relative[len("../") :])
    return FileSystems.join(root, relative)


def _read_text(path: str, what: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            return stream.read()
    except Exception as error:
        if not _exists(path):
            raise ExportManifestError(f"{what} {path} was not found") from error
        raise ExportManifestError(f"cannot read {what} {path}: {error}") from error


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:  # an unreachable store is reported by the read that follows
        return False


def _check_checksum(path: str, content: bytes, *, strict: bool = True) -> None:
    """Compares ``content`` with the MD5 in ``<name>.checksum`` (as AWS's guide
    names it) or ``<name>.md5`` (as exports are written) beside it, if any; a
    mismatch is an error, or only a warning where not ``strict``.

    The checksum file holds the MD5 as hex or base64; anything else is not
    understood and only logged.
    """
    stem = path[: -len(".json")]
    checksum_path = next(
        (name for name in (stem + ".checksum", stem + ".md5") if _exists(name)), None
    )
    if checksum_path is None:
        _LOGGER.info("%s has no .checksum or .md5 file beside it: not checked", path)
        return
    text = _read_text(checksum_path, "checksum file").decode("ascii", "replace").strip()
    digest = hashlib.md5(content).digest()
    if _HEX_MD5.match(text):
        expected = bytes.fromhex(text)
    else:
        try:
            expected = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            expected = b""
        if len(expected) != len(digest):
            _LOGGER.warning("%s does not hold an MD5 checksum; not checked", checksum_path)
            return
    if expected == digest:
        return
    mismatch = (
        f"{path} does not match its checksum file {checksum_path} "
        f"(MD5 {digest.hex()}, expected {expected.hex()})"
    )
    if not strict:
        _LOGGER.warning(
            "%s: it was changed after the export; its itemCount is still checked against "
            "manifest-files.json and the data files",
            mismatch,
        )
        return
    raise ExportManifestError(
        f"{mismatch}: the manifest is corrupt or was changed after the export"
    )


def _field(obj: dict[str, Any], name: str, kind: type, where: str, default: Any = ...) -> Any:
    if name not in obj or obj[name] is None:
        if default is ...:
            raise ExportManifestError(f"{where}: {name!r} is missing")
        return default
    value = obj[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ExportManifestError(f"{where}: {name!r} must be a whole number >= 0, got {value!r}")
    if kind is str and (not isinstance(value, str) or not value):
        raise ExportManifestError(f"{where}: {name!r} must be a non-empty string, got {value!r}")
    return value


def _choice(obj: dict[str, Any], name: str, choices: tuple[str, ...], where: str, default: str):
    value = _field(obj, name, str, where, default)
    if value not in choices:
        raise ExportManifestError(
            f"{where}: {name!r} is {value!r}; expected one of {', '.join(choices)}"
        )
    return value


def _parse_json_object(text: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ExportManifestError(f"{where}: not JSON ({error})") from error
    if not isinstance(obj, dict):
        raise ExportManifestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _data_file(root: str, obj: dict[str, Any], index: int, where: str) -> ExportDataFile:
    key = _field(obj, "dataFileS3Key", str, where)
    relative = relative_data_path(key)
    if relative is None:
        raise ExportManifestError(
            f"{where}: dataFileS3Key {key!r} is not inside an {EXPORTS_FOLDER}/<export id>/ folder"
        )
    md5_checksum = _field(obj, "md5Checksum", str, where, None)
    if md5_checksum is not None:
        try:
            digest = base64.b64decode(md5_checksum, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise ExportManifestError(
                f"{where}: md5Checksum {md5_checksum!r} is not a base64 MD5 digest"
            )
    return ExportDataFile(
        index=index,
        path=resolve_in_export(root, relative),
        key=key,
        item_count=_field(obj, "itemCount", int, where),
        md5_checksum=md5_checksum,
        etag=_field(obj, "etag", str, where, None),
    )


def _parse_files(root: str, path: str, content: bytes) -> tuple[ExportDataFile, ...]:
    files: list[ExportDataFile] = []
    seen: dict[str, int] = {}
    for line_number, line in enumerate(content.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path} line {line_number}"
        data_file = _data_file(root, _parse_json_object(line, where), len(files), where)
        if data_file.path in seen:
            raise ExportManifestError(
                f"{where}: data file {data_file.key!r} is already listed on line "
                f"{seen[data_file.path]}"
            )
        seen[data_file.path] = line_number
        files.append(data_file)
    return tuple(files)


def read_export_manifest(uri: str, *, verify_checksums: bool = True) -> ExportManifest:
    """Reads and checks the manifests of the export at ``uri`` (see the module docstring).

    ``uri`` is the export folder ``.../AWSDynamoDB/<export id>/`` or its
    ``manifest-summary.json``. Raises :class:`ExportManifestError`.
    """
    root = export_root(uri)
    summary_path = FileSystems.join(root, SUMMARY_NAME)
    try:
        found = FileSystems.exists(summary_path)
    except Exception as error:  # not "missing": the store did not answer
        raise ExportManifestError(
            f"cannot look for {SUMMARY_NAME} in {root}: {' '.join(str(error).split())[:300]} "
            "(check the store's endpoint, region and credentials)"
        ) from error
    if not found:
        raise ExportManifestError(
            f"no {SUMMARY_NAME} in {root}: point at the export's folder "
            f".../{EXPORTS_FOLDER}/<export id>/ and check that the export has completed"
        )
    summary_bytes = _read_text(summary_path, "export summary")
    summary = _parse_json_object(summary_bytes, summary_path)
    item_count = _field(summary, "itemCount", int, summary_path)
    if verify_checksums:  # read whole: its figures are checked against the files' anyway
        _check_checksum(summary_path, summary_bytes, strict=False)
    files_key = _field(summary, "manifestFilesS3Key", str, summary_path, None)
    files_relative = relative_data_path(files_key) if files_key else None
    files_path = resolve_in_export(root, files_relative or FILES_NAME)
    files_bytes = _read_text(files_path, "files manifest")
    if verify_checksums:
        _check_checksum(files_path, files_bytes)
    files = _parse_files(root, files_path, files_bytes)
    listed = sum(data_file.item_count for data_file in files)
    if listed != item_count:
        raise ExportManifestError(
            f"{files_path} lists {listed:,} items in {len(files):,} data files, but "
            f"{summary_path} says itemCount {item_count:,}: the manifests do not agree"
        )
    return ExportManifest(
        root=root,
        export_type=_choice(summary, "exportType", EXPORT_TYPES, summary_path, FULL_EXPORT),
        output_format=_choice(summary, "outputFormat", OUTPUT_FORMATS, summary_path, DYNAMODB_JSON),
        item_count=item_count,
        files=files,
        billed_size_bytes=_field(summary, "billedSizeBytes", int, summary_path, None),
        export_arn=_field(summary, "exportArn", str, summary_path, None),
        table_arn=_field(summary, "tableArn", str, summary_path, None),
        export_time=_field(summary, "exportTime", str, summary_path, None),
        export_from_time=_field(summary, "exportFromTime", str, summary_path, None),
        export_to_time=_field(summary, "exportToTime", str, summary_path, None),
        output_view=_field(summary, "outputView", str, summary_path, None),
    )
