"""Argument types shared by the commands: each says what it accepts when it refuses."""

from __future__ import annotations

import argparse
import os
import re
import urllib.parse

__all__ = [
    "endpoint_url",
    "folder_path",
    "index_uri",
    "int_between",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
]


def endpoint_url(text: str) -> str:
    """An endpoint URL that holds no credentials (``user:password@``): requests are
    signed with boto3's credentials, and the URL is logged and pickled. The
    message does not repeat the URL."""
    if "@" in text:  # a password may hold a "/" too: no endpoint's path holds an "@"
        raise argparse.ArgumentTypeError(
            "must not hold credentials (user:password@host): requests are signed with the "
            "credentials of boto3's default chain (environment, profile or role)"
        )
    try:
        urllib.parse.urlsplit(text).port  # noqa: B018 (a port out of range raises)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"has a bad port: {error}") from None
    return text


def name(text: str) -> str:
    """A name (a table, a region, a field): not empty, not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


name.__name__ = "name"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def int_between(low: int, high: int):
    """The argument type of an integer from ``low`` to ``high``."""

    def between(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, got {value:,}")
        return value

    between.__name__ = "int"  # argparse names the type in "invalid int value"
    return between


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


_BEAM_EXTRAS = {"gs": "gcp", "s3": "aws", "hdfs": "hadoop", "azfs": "azure"}
"""The file systems of Beam's ``FileSystems``, by scheme, and the extra each needs."""


def folder_path(text: str) -> str:
    """A local path made absolute (worker processes may run in another
    directory, as Dask's do), or a URI such as ``gs://...`` as given, once
    Beam has a file system for its scheme."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if _SCHEME.match(text):
        _check_file_system(text)
        return text
    return os.path.abspath(os.path.expanduser(text))


folder_path.__name__ = "path"


def _check_file_system(uri: str) -> None:
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    scheme = uri.split("://", 1)[0]
    extra = _BEAM_EXTRAS.get(scheme.lower())
    try:
        FileSystems.get_filesystem(uri)
    except (ValueError, BeamIOError) as error:  # no file system, or one that cannot start
        causes = getattr(error, "exception_details", None) or {}
        missing = isinstance(error, ValueError) or any(
            isinstance(cause, ImportError) for cause in causes.values()
        )
        if extra is None:
            known = ", ".join(f"{name}://" for name in _BEAM_EXTRAS)
            message = (
                f"{scheme}:// is not a file system Beam knows: give a local path or a URI "
                f"of {known}"
            )
        elif missing:
            message = (
                f"{scheme}:// needs Beam's {extra} extra, not installed here: "
                f"pip install 'apache-beam[{extra}]'"
            )
        else:
            message = f"{scheme}:// cannot be used: {next(iter(causes.values()), error)}"
        raise argparse.ArgumentTypeError(message) from None


def index_uri(text: str) -> str:
    """An index URI of a supported scheme (``sqlite:///...``, ``opensearch+https://...``)."""
    from transforms.index import normalize_uri

    try:
        normalize_uri(text)  # each backend's own checks, e.g. a SQLite host, credentials
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


index_uri.__name__ = "index URI"
