"""The run journal: resume a reindex where it stopped, losing nothing.

* :mod:`.journal`: the journal folder, its header and position records;
* :mod:`.positions`: records folded into each segment's state;
* :mod:`.commits`: what the scan's bundle finalizer records;
* :mod:`.dead_letter_parts`: dead letters durable per bundle, consolidated at the end;
* :mod:`.written_keys`: the keys of index writes until their bundle is committed;
* :mod:`.progress`: running counts of every worker process, for the launcher;
* :mod:`.files`: whole-or-nothing small files through ``FileSystems``.
"""

from transforms.journal.commits import BundleCommits, SegmentCommit
from transforms.journal.dead_letter_parts import WriteDeadLetterParts, consolidate_dead_letters
from transforms.journal.journal import (
    SWAPPED,
    VERIFIED,
    JournalError,
    JournalRef,
    RunHeader,
    RunJournal,
)
from transforms.journal.positions import PositionRecord, SegmentState, fold_positions
from transforms.journal.progress import ProgressCounts, process_progress, read_progress
from transforms.journal.written_keys import WrittenKeys, forget, uncommitted_key_files

__all__ = [
    "SWAPPED",
    "VERIFIED",
    "BundleCommits",
    "JournalError",
    "JournalRef",
    "PositionRecord",
    "ProgressCounts",
    "RunHeader",
    "RunJournal",
    "SegmentCommit",
    "SegmentState",
    "WriteDeadLetterParts",
    "WrittenKeys",
    "consolidate_dead_letters",
    "fold_positions",
    "forget",
    "process_progress",
    "read_progress",
    "uncommitted_key_files",
]
