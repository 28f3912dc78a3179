"""The rebuild target of a reindex: a new index, filled, verified, then swapped in.

::

    rebuild = prepare_rebuild(uri, identity=identity)      # before the job starts
    ...  # the job writes to rebuild.build_uri and its sample to rebuild.sample_path
    verification = rebuild.verify(indexed=n, run_checks=checks_of_the_run)
    if verification.holds:
        result = rebuild.swap()                             # atomic; keeps rebuild.keep
    else:
        result = rebuild.not_swapped(verification.reason)   # the live index is untouched
    rebuild.abandon()                                       # instead, when the job failed

The live name (``documents`` of a SQLite file, the alias named by a
search-server URI) moves only when :meth:`IndexRebuild.verify` holds:

* the ``run_checks`` the caller gives (a reindex: its summary adds up, and
  the dead letters are within ``--max-dead-letter-fraction``);
* the new index holds exactly the documents the run indexed;
* a sample of documents (the ``sample_size`` with the lowest hash of
  their id, :mod:`transforms.index.sample`) read back from the new index
  equals the records' JSON as dataclasses-json writes it.

A new search-server index takes ``index_config`` (``--index-config``) or
else the live index's settings and mappings
(:mod:`transforms.index.index_config`); every new index records what it
holds (:mod:`transforms.index.identity`). ``prepare_rebuild(...,
build_name=NAME)`` reopens a build made earlier instead of creating one.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from apache_beam.io.filesystems import FileSystems

from transforms.dead_letters import read_dead_letters
from transforms.dynamodb.source import Check
from transforms.index import backend_class, open_backend
from transforms.index.alias import AliasSwap, SwapResult, prepare_swap
from transforms.index.identity import IndexIdentity, write_identity
from transforms.index.index_config import carried_over, check_configurable
from transforms.index.sample import compare_sample, read_sample
from transforms.index.search_server import SearchServerIndex

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "IndexRebuild",
    "Verification",
    "new_index_body",
    "prepare_rebuild",
]

DEFAULT_SAMPLE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class Verification:
    """The checks a build passed or failed before the swap; ``reason`` is the first failure."""

    checks: tuple[Check, ...]
    reason: str | None = None

    @property
    def holds(self) -> bool:
        return self.reason is None

    def render(self) -> list[str]:
        """One ``verify:`` line per check, indented as the summary's lines."""
        return [
            f"  verify: {check.what}: {'OK' if check.holds else 'FAILED'}" for check in self.checks
        ]


class IndexRebuild:
    """A new index being built behind the live name of ``uri`` (see the module docstring).

    ``build_name`` and ``build_uri`` name the new index; ``sample_path``
    is where the job writes its verification sample (``None`` when
    ``sample_size`` is 0).
    """

    def __init__(
        self,
        uri: str,
        swap: AliasSwap,
        *,
        keep: int,
        sample_size: int,
        sample_path: str | None,
    ):
        self.uri = uri
        self._swap = swap
        self.keep = keep
        self.sample_size = sample_size
        self.sample_path: str | None = sample_path if sample_size else None

    @property
    def alias(self) -> str:
        return self._swap.alias

    @property
    def build_name(self) -> str:
        return self._swap.build_name

    @property
    def build_uri(self) -> str:
        return self._swap.build_uri

    def verify(
        self,
        *,
        indexed: int,
        run_checks: Sequence[Check] = (),
        dead_letters_path: str | None = None,
        verified_before: bool = False,
    ) -> Verification:
        """Checks the new index after the run; moves nothing.

        ``run_checks`` come first (a failing one's ``why``, else its
        ``what``, is the reason). Then the new index must hold ``indexed``
        documents and the sample must read back equal; a sampled document
        the index does not hold is accounted for by an index dead letter
        carrying it, read from ``dead_letters_path`` when given. With
        ``verified_before`` (a resumed run whose build was verified, and then
        perhaps changed by a catch-up) the documents are not checked again.
        """
        checks = list(run_checks)
        if verified_before:
            checks.append(
                Check(f"{self.build_name} was verified by the run this one resumes", True)
            )
        else:
            found = self._swap.count()
            checks.append(
                Check(
                    f"{self.build_name} holds {found:,} documents == indexed {indexed:,}",
                    found == indexed,
                )
            )
            if self.sample_path is not None:
                checks.append(self._sample_check(indexed, dead_letters_path))
        failed = next((check for check in checks if not check.holds), None)
        return Verification(tuple(checks), None if failed is None else failed.why or failed.what)

    def _sample_check(self, indexed: int, dead_letters_path: str | None) -> Check:
        path = self.sample_path
        try:
            sample = read_sample(path)
        except Exception as error:
            return Check(
                f"the verification sample could not be read from {path} ({error}); on a "
                "distributed runner pass a --temp_location all workers and this machine share",
                False,
            )
        try:
            FileSystems.delete([path])
        except Exception as error:  # a sample left behind is only clutter
            _LOGGER.info("could not delete the verification sample %s: %s", path, error)
        with open_backend(self.build_uri) as index:
            result = compare_sample(index, sample)
            if result.missing and dead_letters_path:
                result = compare_sample(index, sample, _refused_documents(dead_letters_path))
        if not result.sampled and indexed:
            return Check(f"the verification sample at {path} holds no documents", False)
        return Check(result.describe(), result.holds)

    def swap(self) -> SwapResult:
        """Makes the build live in one atomic step and prunes retired indexes to ``keep``."""
        return self._swap.swap(keep=self.keep)

    def not_swapped(self, reason: str) -> SwapResult:
        """The result of not swapping, for ``reason``; the build stays for inspection."""
        return self._swap.complete(None, keep=self.keep, abort_reason=reason)

    def abandon(self) -> None:
        """Deletes the build and any sample (the job failed before it could be verified)."""
        self._swap.abandon()
        if self.sample_path is not None and FileSystems.exists(self.sample_path):
            FileSystems.delete([self.sample_path])


def _refused_documents(dead_letters_path: str) -> Iterable[str]:
    """The documents of the index dead letters at ``dead_letters_path``."""
    try:
        letters = list(read_dead_letters(dead_letters_path))
    except Exception as error:  # no dead letters to account for missing documents
        _LOGGER.info("no dead letters read from %s: %s", dead_letters_path, error)
        return []
    return [
        letter["document"]
        for letter in letters
        if letter["stage"] == "index" and letter.get("document")
    ]


def new_index_body(uri: str, index_config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Settings and mappings for a new index behind ``uri``: ``index_config``, else the
    live index's (minus what the server assigns), else None (the server's defaults).

    :class:`~transforms.index.IndexOptionError` for ``index_config`` with a SQLite index.
    """
    check_configurable(uri, index_config)
    if not issubclass(backend_class(uri), SearchServerIndex):
        return None
    if index_config:
        return index_config
    with open_backend(uri) as server:
        if server.kind_of(server.index) == "missing":
            return None
        return carried_over(server.index_config(server.index)) or None


def prepare_rebuild(
    uri: str,
    *,
    identity: IndexIdentity | None = None,
    alias: str | None = None,
    build_name: str | None = None,
    keep: int = 1,
    index_config: dict[str, Any] | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    sample_folder: str | None = None,
    now: datetime | None = None,
) -> IndexRebuild:
    """Creates (or with ``build_name`` reopens) the new index behind the live name of ``uri``.

    ``identity`` is recorded in the new index. ``alias`` may repeat the live
    name (``--swap-alias NAME``). The sample file goes to ``sample_folder``
    (``None``: no sample, whatever ``sample_size``). Raises ``ValueError``
    with one line for what cannot be built (an index where the alias should
    be, a build name that is not one, settings for SQLite).
    """
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 0:
        raise ValueError(f"sample_size must be an int >= 0, got {sample_size!r}")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be an int >= 0, got {keep!r}")
    body = new_index_body(uri, index_config) if build_name is None else None
    swap = prepare_swap(uri, alias, now=now, build_name=build_name, body=body)
    try:
        if identity is not None:
            with open_backend(swap.build_uri) as build:
                write_identity(build, identity)
    except BaseException:
        if build_name is None:
            swap.abandon()
        raise
    sample_path = None
    if sample_folder and sample_size:
        sample_path = FileSystems.join(
            sample_folder, f"reindex-sample-{swap.build_name}-{uuid.uuid4().hex[:12]}.jsonl"
        )
    return IndexRebuild(uri, swap, keep=keep, sample_size=sample_size, sample_path=sample_path)
