"""The live index readied for in-place writes (``reindex --upsert``).

An upsert writes into the index that serves, by document id: it adds and
overwrites, never removes what the table no longer holds. Before the job,
:func:`prepare_upsert` refuses an index that records another table
(:func:`transforms.index.identity.refuse_other_table`), creates a missing
search-server index with ``--index-config`` when one is given, and records
what the index holds from now on.
"""

from __future__ import annotations

from typing import Any

from transforms.index import open_backend
from transforms.index.identity import IndexIdentity, refuse_other_table, write_identity
from transforms.index.index_config import check_configurable

__all__ = ["prepare_upsert"]


def prepare_upsert(
    uri: str,
    identity: IndexIdentity | None,
    *,
    force: bool = False,
    index_config: dict[str, Any] | None = None,
) -> None:
    """Readies the live index of ``uri`` for in-place writes (see the module docstring).

    ``index_config`` applies only to a search-server index that does not
    exist yet; given for an existing one or for SQLite it is a ``ValueError``,
    as is another table's index without ``force``.
    """
    refuse_other_table(uri, identity, force=force, action="write into it anyway", same_key=True)
    if index_config is not None:
        check_configurable(uri, index_config)
        with open_backend(uri) as server:
            if server.kind_of(server.index) != "missing":
                raise ValueError(
                    f"--index-config applies to new indexes, and {server.index!r} exists: "
                    "drop --upsert to rebuild it with this configuration"
                )
            server.create_index(server.index, index_config)
    if identity is not None:
        with open_backend(uri) as index:
            write_identity(index, identity)
