"""The restriction and the tracker of the export source: one data file, by line.

The source reads one element per data file; its initial restriction, a
:class:`DataFileRestriction`, is the whole file, which no runner needs to
split. Inside a file the unit of work is a line: the source claims line ``n`` before
it emits the line's record, and claims :class:`EndOfFile` once the file is
read to its end (and checked).

A checkpoint cuts a file after the last claimed line: the primary keeps lines
``start..n`` (all read already) and the residual resumes at line ``n + 1``
with no end, so it alone reaches the end of the file and checks it. A gzip
file cannot be entered in the middle, so the residual decompresses lines
``0..n`` again without emitting them; a started file is therefore not split
at a fraction, which would only duplicate that work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker

from transforms.dynamodb.restriction_coder import JsonRestrictionCoder

__all__ = [
    "DataFileRestriction",
    "DataFileTracker",
    "EndOfFile",
    "ExportRestrictionCoder",
]


class DataFileRestriction:
    """Lines ``start_line`` up to ``stop_line`` (exclusive) of data file ``file_index``.

    ``stop_line`` ``None`` means to the end of the file, which is then
    checked. ``empty`` marks the primary of a checkpoint taken before any
    line was claimed. ``expected_lines`` is the manifest's item count of the
    file; it only informs size and progress estimates.
    """

    __slots__ = ("empty", "expected_lines", "file_index", "start_line", "stop_line")

    def __init__(
        self,
        file_index: int,
        start_line: int = 0,
        stop_line: int | None = None,
        empty: bool = False,
        expected_lines: int = 0,
    ):
        if isinstance(file_index, bool) or not isinstance(file_index, int) or file_index < 0:
            raise ValueError(f"file_index must be an int >= 0, got {file_index!r}")
        if start_line < 0 or (stop_line is not None and stop_line < start_line):
            raise ValueError(f"bad line range {start_line}..{stop_line}")
        self.file_index = file_index
        self.start_line = start_line
        self.stop_line = stop_line
        self.empty = empty
        self.expected_lines = expected_lines

    def cut(self, start_line: int, stop_line: int | None, empty: bool = False):
        """A restriction of the same file over other lines."""
        return DataFileRestriction(
            self.file_index, start_line, stop_line, empty, self.expected_lines
        )

    @property
    def remaining_lines(self) -> float:
        """Estimated lines left to read."""
        if self.empty:
            return 0.0
        end = self.expected_lines if self.stop_line is None else self.stop_line
        return float(max(end - self.start_line, 0))

    @property
    def reaches_end(self) -> bool:
        """True if this restriction reads the file to its end."""
        return self.stop_line is None and not self.empty

    def _fields(self):
        return (self.file_index, self.start_line, self.stop_line, self.empty, self.expected_lines)

    def __eq__(self, other):
        return type(self) is type(other) and self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        stop = "end" if self.stop_line is None else self.stop_line
        empty = ", empty" if self.empty else ""
        return (
            f"DataFileRestriction(file={self.file_index}, lines {self.start_line}..{stop}{empty})"
        )


class EndOfFile:
    """Claimed once the whole file was read: ``lines`` is how many it has."""

    __slots__ = ("lines",)

    def __init__(self, lines: int):
        self.lines = lines

    def __repr__(self):
        return f"EndOfFile(lines={self.lines})"


class DataFileTracker(RestrictionTracker):
    """Claims the lines of one data file in order; checkpoints between lines."""

    def __init__(self, restriction: DataFileRestriction):
        if not isinstance(restriction, DataFileRestriction):
            raise ValueError(f"DataFileTracker needs a DataFileRestriction, got {restriction!r}")
        self._restriction = restriction
        self._next_line = restriction.start_line
        self._done = restriction.empty
        self._split = False

    def current_restriction(self) -> DataFileRestriction:
        return self._restriction

    @property
    def next_line(self) -> int:
        return self._next_line

    def try_claim(self, position) -> bool:
        """Claims line ``position`` (an int) or :class:`EndOfFile`.

        A line at or past ``stop_line`` is refused and finishes the
        restriction. End of file may be claimed once every line before it was.
        """
        if self._done:
            raise ValueError(
                f"{self._restriction!r} is finished; tried to claim {position!r} after it"
            )
        end_of_file = isinstance(position, EndOfFile)
        line = position.lines if end_of_file else position
        if line != self._next_line:
            raise ValueError(
                f"Lines must be claimed in order. Tried to claim {position!r} while "
                f"line {self._next_line} is next in {self._restriction!r}"
            )
        if self._split:
            return False
        if end_of_file:
            self._done = True
            return True
        stop = self._restriction.stop_line
        if stop is not None and line >= stop:
            self._done = True
            return False
        self._next_line += 1
        return True

    def try_split(self, fraction_of_remainder: float):
        if self._done or self._split:
            return None
        restriction = self._restriction
        started = self._next_line > restriction.start_line
        if fraction_of_remainder > 0 and started:
            return None
        if started:
            primary = restriction.cut(restriction.start_line, self._next_line)
        else:
            primary = restriction.cut(restriction.start_line, restriction.start_line, empty=True)
        residual = restriction.cut(self._next_line, restriction.stop_line)
        self._restriction = primary
        self._split = True
        return primary, residual

    def check_done(self) -> None:
        if not (self._done or self._split):
            raise ValueError(
                f"Data file {self._restriction.file_index} was not read to its end: line "
                f"{self._next_line} and any after it were never claimed "
                f"({self._restriction!r})"
            )

    def current_progress(self) -> RestrictionProgress:
        completed = float(self._next_line - self._restriction.start_line)
        if self._done or self._split:
            remaining = 0.0
        else:
            end = self._restriction.stop_line or self._restriction.expected_lines
            remaining = max(end - self._next_line, 1.0)
        return RestrictionProgress(completed=completed, remaining=remaining)

    def is_bounded(self) -> bool:
        return True


class ExportRestrictionCoder(JsonRestrictionCoder):
    """Deterministic JSON encoding of data-file restrictions."""

    def to_json(self, restriction) -> dict:
        if isinstance(restriction, DataFileRestriction):
            obj = {
                "kind": "file",
                "file_index": restriction.file_index,
                "start_line": restriction.start_line,
                "stop_line": restriction.stop_line,
                "empty": restriction.empty,
                "expected_lines": restriction.expected_lines,
            }
        else:
            raise ValueError(f"ExportRestrictionCoder cannot encode {restriction!r}")
        return obj

    def from_json(self, obj: Mapping[str, Any]):
        kind = obj.get("kind")
        if kind == "file":
            return DataFileRestriction(
                obj["file_index"],
                obj["start_line"],
                obj["stop_line"],
                obj["empty"],
                obj["expected_lines"],
            )
        raise ValueError(f"not an encoded export restriction: kind={kind!r}")
