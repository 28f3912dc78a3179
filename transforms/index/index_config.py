"""Settings and mappings for a new search-server index.

A rebuild creates its new Elasticsearch/OpenSearch index with

* the JSON file given as ``--index-config FILE``::

      {"settings": {"number_of_shards": 2, "analysis": {...}},
       "mappings": {"dynamic": "true", "properties": {"modifiedAt": {"type": "date"}}}}

  (either key may be left out; nothing else is allowed), or
* without a file, the live index's own settings and mappings as the server
  reports them, minus what the server assigns to each index
  (:data:`SERVER_ASSIGNED`: its uuid, creation date, version, provided name,
  history uuid, resize and recovery bookkeeping, and blocks, since the new
  index must take writes), or
* the server's defaults when there is no live index yet.

``_meta`` is kept except the reindex's own key, which the rebuild writes
afresh (``transforms.index.identity``). A SQLite index has a fixed schema
and takes no configuration. docs/indexes.md gives mapping advice for the
types the decoder produces.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from transforms.index import IndexOptionError, backend_class
from transforms.index.search_server import META_KEY, SearchServerIndex

__all__ = ["SERVER_ASSIGNED", "carried_over", "check_configurable", "load_index_config"]

SERVER_ASSIGNED = (
    "uuid",
    "creation_date",
    "creation_date_string",
    "provided_name",
    "version",
    "history",
    "resize",
    "shrink",
    "verified_before_close",
    "blocks",
    "routing.allocation.initial_recovery",
)
"""Settings under ``index`` that the server sets for each index, never carried over."""

_KEYS = ("settings", "mappings")


def check_configurable(uri: str, index_config: dict[str, Any] | None) -> None:
    """Raises :class:`IndexOptionError` when ``index_config`` is given (even
    empty) for an index that takes none (SQLite)."""
    if index_config is not None and not issubclass(backend_class(uri), SearchServerIndex):
        raise IndexOptionError(
            "--index-config applies to Elasticsearch and OpenSearch indexes; a SQLite "
            "index has a fixed schema"
        )


def load_index_config(path: str) -> dict[str, Any]:
    """``{"settings": ..., "mappings": ...}`` from the JSON file at ``path`` (local, gs://, s3://).

    Raises ``ValueError`` with one line saying what is wrong.
    """
    try:
        with FileSystems.open(path, compression_type="uncompressed") as stream:
            text = stream.read().decode("utf-8")
    except Exception as error:
        raise ValueError(f"cannot read --index-config {path!r}: {error}") from error
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ValueError(f"--index-config {path!r} is not JSON: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"--index-config {path!r} must hold a JSON object with settings, mappings")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"--index-config {path!r}: unknown key(s) {', '.join(unknown)}; "
            "expected only settings and mappings"
        )
    for key in _KEYS:
        if not isinstance(config.get(key, {}), dict):
            raise ValueError(f"--index-config {path!r}: {key} must be a JSON object")
    return {key: config[key] for key in _KEYS if config.get(key)}


def _drop_path(tree: dict[str, Any], path: list[str]) -> None:
    """Removes ``tree[path[0]][path[1]]...``, and dicts the removal leaves empty."""
    head, *rest = path
    if head not in tree:
        return
    if not rest:
        del tree[head]
        return
    if isinstance(tree[head], dict):
        _drop_path(tree[head], rest)
        if not tree[head]:
            del tree[head]


def _without_server_assigned(settings: dict[str, Any]) -> dict[str, Any]:
    settings = copy.deepcopy(settings)
    for name in SERVER_ASSIGNED:
        if isinstance(settings.get("index"), dict):
            _drop_path(settings["index"], name.split("."))
        for flat in [k for k in settings if k == f"index.{name}" or k.startswith(f"index.{name}.")]:
            del settings[flat]
    if settings.get("index") == {}:
        del settings["index"]
    return settings


def carried_over(reported: dict[str, Any]) -> dict[str, Any]:
    """What a new index takes from the live one's ``reported`` settings and mappings."""
    settings = _without_server_assigned(reported.get("settings") or {})
    mappings = copy.deepcopy(reported.get("mappings") or {})
    meta = mappings.get("_meta")
    if isinstance(meta, dict):
        meta.pop(META_KEY, None)
        if not meta:
            del mappings["_meta"]
    return {key: value for key, value in (("settings", settings), ("mappings", mappings)) if value}
