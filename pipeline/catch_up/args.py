"""The ``catch-up`` command's options; light to import (no Beam pipeline, no clients).

The command itself is :mod:`pipeline.catch_up.command`.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from pipeline.arg_types import endpoint_url, folder_path, index_uri
from pipeline.arg_types import non_negative_float as _seconds
from pipeline.arg_types import positive_float as _positive_seconds
from pipeline.arg_types import positive_int as _positive_int

__all__ = [
    "DEFAULT_INTERVAL_SECONDS",
    "DEFAULT_SAFETY_MARGIN_SECONDS",
    "add_catch_up_arguments",
]

DEFAULT_INTERVAL_SECONDS = 10.0
DEFAULT_SAFETY_MARGIN_SECONDS = 60.0
"""As ``transforms.dynamodb.stream.DEFAULT_SAFETY_MARGIN`` (kept equal by a test)."""


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time with a zone, e.g. 2026-11-30T03:00:00Z, got {text!r}"
        )
    return moment


def add_catch_up_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``catch-up`` options, beside ``--table``, ``--endpoint-url`` and ``--region``."""
    parser.add_argument("--model", required=True, help="MODULE:CLASS of the record dataclass")
    parser.add_argument(
        "--index", required=True, type=index_uri, help="index URI, e.g. sqlite:///out/index.db"
    )
    parser.add_argument(
        "--dead-letters",
        required=True,
        type=folder_path,
        help="folder (local, gs://, s3://); a catch-up that dead-letters writes "
        "catch-up-<UTC time>.jsonl there",
    )
    parser.add_argument(
        "--bookmark",
        required=True,
        type=folder_path,
        help="the bookmark file (local, gs://, s3://)",
    )
    parser.add_argument(
        "--since",
        type=_aware_time,
        metavar="ISO-TIME",
        help="with no bookmark yet: apply every change since this time (e.g. when the "
        "reindex started, 2026-11-30T03:00:00Z) and write the first bookmark",
    )
    parser.add_argument(
        "--safety-margin",
        type=_seconds,
        default=DEFAULT_SAFETY_MARGIN_SECONDS,
        metavar="SECONDS",
        help="allowance for clock skew: with --since, changes this long before it are "
        f"applied too (default {DEFAULT_SAFETY_MARGIN_SECONDS:g})",
    )
    parser.add_argument(
        "--follow", action="store_true", help="catch up again every --interval until SIGINT"
    )
    parser.add_argument(
        "--interval",
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"with --follow: pause between catch-ups (default {DEFAULT_INTERVAL_SECONDS:g})",
    )
    parser.add_argument(
        "--streams-endpoint-url",
        metavar="URL",
        type=endpoint_url,
        help="DynamoDB Streams endpoint (default: --endpoint-url, as local servers serve both)",
    )
    parser.add_argument(
        "--strict-attributes",
        action="store_true",
        help="refuse attributes the model does not declare",
    )
    parser.add_argument("--batch-size", type=_positive_int, help="documents per index write")
    parser.add_argument(
        "--version-field",
        metavar="FIELD",
        help="model field with the record's version, as the reindex's --version-field: an "
        "older record never overwrites a newer one (search servers)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=8,
        help="botocore's retries of a request (default 8)",
    )
