"""Keeps AWS credentials, session tokens and request signatures out of log records.

botocore at DEBUG logs every request it signs: the canonical request (with the
``x-amz-security-token`` header), the string to sign, the signature, and the
prepared request with its ``Authorization`` and ``X-Amz-Security-Token``
headers. Whoever turns botocore's logging up to debug a run would copy those
into log files and CI output.

:func:`install_secret_redaction` wraps the process's ``LogRecord`` factory, so
that every record – from any logger, to any handler, including the handlers
Beam installs in its workers – is created with those values replaced by
``<redacted>``. It is called wherever a DynamoDB client is made
(:meth:`transforms.dynamodb.client.DynamoDBClientConfig.create_client`), so
the launcher and every worker process redact; calling it again does nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading

__all__ = ["REDACTED", "install_secret_redaction", "redact_secrets"]

REDACTED = "<redacted>"

_PATTERNS = (
    # Authorization: AWS4-HMAC-SHA256 Credential=AKID/..., SignedHeaders=..., Signature=...
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*b?['\"]?)AWS4-HMAC-SHA256[^'\"\r\n]*"),
    # X-Amz-Security-Token in headers, canonical requests and presigned URLs
    re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,}&]+"),
    # "Signature:\n<hex>" (botocore.auth) and "Signature=<hex>"
    re.compile(r"(?i)(signature['\"]?\s*[:=]\s*b?['\"]?)[0-9a-f]{64}"),
    # access key ids, wherever they appear
    re.compile(r"()\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"),
)
_SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
)
_MIN_LITERAL = 12

_lock = threading.Lock()
_installed = False


def _literal_secrets() -> list[str]:
    values = (os.environ.get(name) or "" for name in _SECRET_VARIABLES)
    return sorted({value for value in values if len(value) >= _MIN_LITERAL}, key=len, reverse=True)


def redact_secrets(text: str) -> str:
    """``text`` with signatures, tokens, ``Authorization`` values and the
    credentials of this process's environment replaced by ``<redacted>``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    for secret in _literal_secrets():
        text = text.replace(secret, REDACTED)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not format is left to logging
        return
    redacted = redact_secrets(message)
    if redacted != message:
        record.msg = redacted
        record.args = None


def install_secret_redaction() -> None:
    """Makes every log record of this process redact secrets; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args, **kwargs) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
