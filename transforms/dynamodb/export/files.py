"""Reading one export data file: gzip line by line, with its MD5 and its end checked.

Export data files are gzip objects of JSON (or Ion) lines. They cannot be
entered in the middle, so :class:`DataFileReader` always streams a file from
its first byte: it hashes the compressed bytes (the manifest's MD5 is that of
the object), decompresses them and yields ``(line number, line)``. A reader
resuming at line ``n`` still reads lines ``0..n-1`` and simply does not hand
them on, so the checks at the end cover the whole file wherever reading
started.

A file that ends inside the gzip stream (an interrupted copy or upload)
raises :class:`TruncatedDataFile` *after* the lines that were complete, so a
caller can keep what was read and report the rest.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

__all__ = [
    "CREDENTIAL_OPTIONS",
    "CorruptDataFile",
    "DataFileReader",
    "TruncatedDataFile",
    "filesystem_for",
    "filesystem_options",
]

CREDENTIAL_OPTIONS = frozenset({"s3_access_key_id", "s3_secret_access_key", "s3_session_token"})
"""Pipeline options that hold secrets: never carried into a DoFn."""

CHUNK_BYTES = 1 << 20
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class TruncatedDataFile(EOFError):
    """The file ends before its gzip stream does."""


class CorruptDataFile(ValueError):
    """The file is not valid gzip."""


def filesystem_options(options: PipelineOptions | None) -> dict[str, Any]:
    """The options a worker needs to reach the files, without credentials.

    Beam's local multi-process workers do not receive the pipeline's options
    for ``FileSystems`` (``--s3_endpoint_url`` would be lost), so the source
    carries them itself; credentials stay with boto3's default chain.
    """
    if options is None:
        return {}
    return {
        name: value
        for name, value in options.get_all_options(drop_default=True).items()
        if name not in CREDENTIAL_OPTIONS
    }


def filesystem_for(path: str, options: Mapping[str, Any] | None = None) -> FileSystem:
    """A filesystem for ``path``'s scheme, configured by ``options`` when given."""
    filesystem = FileSystems.get_filesystem(path)
    if options is None:
        return filesystem
    return type(filesystem)(pipeline_options=PipelineOptions.from_dictionary(dict(options)))


class DataFileReader:
    """Streams the lines of one data file (see the module docstring).

    ``path`` is read through ``filesystem`` (by default Beam's ``FileSystems``
    with the pipeline's options). A name ending in ``.gz``
    must be gzip (several members are allowed); any other name is read as
    plain text. After :meth:`lines` is exhausted, ``md5`` is the digest of
    the bytes read and ``compressed_bytes`` their number.
    """

    def __init__(
        self, path: str, filesystem: FileSystem | None = None, chunk_bytes: int = CHUNK_BYTES
    ):
        self.path = path
        self._filesystem = filesystem
        self._chunk_bytes = chunk_bytes
        self._hash = hashlib.md5()
        self.compressed_bytes = 0
        self.gzip = path.endswith(".gz")

    @property
    def md5(self) -> bytes:
        return self._hash.digest()

    def _chunks(self, stream) -> Iterator[bytes]:
        while True:
            chunk = stream.read(self._chunk_bytes)
            if not chunk:
                return
            self._hash.update(chunk)
            self.compressed_bytes += len(chunk)
            yield chunk

    def _decompressed(self, stream) -> Iterator[bytes]:
        if not self.gzip:
            yield from self._chunks(stream)
            return
        decompressor = None
        for chunk in self._chunks(stream):
            while chunk:
                if decompressor is None:
                    decompressor = zlib.decompressobj(_GZIP_WBITS)
                try:
                    data = decompressor.decompress(chunk)
                except zlib.error as error:
                    raise CorruptDataFile(
                        f"{self.path} is not valid gzip after {self.compressed_bytes:,} "
                        f"bytes read ({error})"
                    ) from error
                if data:
                    yield data
                if decompressor.eof:
                    chunk = decompressor.unused_data
                    decompressor = None
                else:
                    chunk = b""
        if decompressor is not None:
            tail = decompressor.flush()
            if tail:
                yield tail
            raise TruncatedDataFile(
                f"{self.path} is truncated: its gzip stream ends early, after "
                f"{self.compressed_bytes:,} bytes"
            )

    def open(self):
        """The file's raw stream; errors of the filesystem (e.g. not found) propagate."""
        opener = self._filesystem or FileSystems
        return opener.open(self.path, compression_type=CompressionTypes.UNCOMPRESSED)

    def lines(self, stream=None) -> Iterator[tuple[int, bytes]]:
        """``(line number from 0, line without its newline)`` for every line.

        Reads ``stream`` (from :meth:`open`, closed at the end) or opens the
        file. Raises :class:`TruncatedDataFile` (after the complete lines) or
        :class:`CorruptDataFile`; a last line without a newline is yielded as
        a line only when the file is complete.
        """
        number = 0
        pending = b""
        with stream if stream is not None else self.open() as stream:
            for data in self._decompressed(stream):
                parts = (pending + data).split(b"\n")
                pending = parts.pop()
                for line in parts:
                    yield number, line
                    number += 1
        if pending:
            yield number, pending
