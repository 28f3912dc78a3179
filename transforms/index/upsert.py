"""The live index readied for in-place writes (``reindex --upsert``).

An upsert writes into the index that serves, by document id: it adds and
overwrites, never removes what the table no longer holds. Before the job,
:func:`prepare_upsert` refuses an index that records another table
(:func:`transforms.index.identity.refuse_other_table`), and changes (an
incremental export) that do not follow the moment the index is current to
(:func:`transforms.index.identity.changes_conflict`); creates a missing
search-server index with ``--index-config`` when one is given, and records
what the index holds from now on: the moment it will be current to only
once the run has written everything (:func:`record_current_to`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from transforms.index import open_backend
from transforms.index.identity import (
    IndexIdentity,
    changes_conflict,
    refuse_other_table,
    shown_uri,
    write_identity,
)
from transforms.index.index_config import check_configurable

_LOGGER = logging.getLogger(__name__)

__all__ = ["prepare_upsert", "record_current_to"]


def prepare_upsert(
    uri: str,
    identity: IndexIdentity | None,
    *,
    force: bool = False,
    index_config: dict[str, Any] | None = None,
    changes: tuple[str, str | None] | None = None,
) -> None:
    """Readies the live index of ``uri`` for in-place writes (see the module docstring).

    ``index_config`` applies only to a search-server index that does not
    exist yet; given for an existing one or for SQLite it is a ``ValueError``,
    as is another table's index without ``force``, and ``changes`` (from,
    to) that do not follow the moment the index is current to.
    """
    held = refuse_other_table(
        uri, identity, force=force, action="write into it anyway", same_key=True
    )
    problem = changes_conflict(held, *changes, shown_uri(uri)) if changes else None
    if problem and not force:
        raise ValueError(problem)
    if problem:
        _LOGGER.warning("--force: %s", problem)
    if index_config is not None:
        check_configurable(uri, index_config)
        with open_backend(uri) as server:
            if server.kind_of(server.index) != "missing":
                raise ValueError(
                    f"--index-config applies to new indexes, and {server.index!r} exists: "
                    "drop --upsert to rebuild it with this configuration"
                )
            server.create_index(server.index, index_config)
    if identity is not None:  # not yet current to anything: the run may stop half-way
        with open_backend(uri) as index:
            write_identity(index, dataclasses.replace(identity, current_to=None))


def record_current_to(uri: str, identity: IndexIdentity | None) -> None:
    """Records ``identity`` (with the moment the index is now current to, if it
    says one) in the live index of ``uri``, once a run has written everything."""
    if identity is not None and identity.current_to is not None:
        with open_backend(uri) as index:
            write_identity(index, identity)
