"""What every benchmark writes: a Markdown table, the figures as JSON, a PNG plot.

Each benchmark script ends with :func:`write_results`, which prints the Markdown
and writes ``bench/results/NAME.md``, ``NAME.json`` (the figures that
``bench/run_all.py`` gathers into its summary) and, when matplotlib is
installed, ``NAME.png``. Without matplotlib the plot is skipped with a note.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = [
    "RESULTS",
    "Target",
    "draw_png",
    "machine_line",
    "markdown_table",
    "median",
    "write_results",
]


class Target:
    """One issue target: a measured value against a bound, printed as a ratio or figure."""

    def __init__(self, name: str, measured: float, bound: float, higher_is_better: bool, unit: str):
        self.name = name
        self.measured = measured
        self.bound = bound
        self.higher_is_better = higher_is_better
        self.unit = unit

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.bound
        return self.measured <= self.bound

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "bound": self.bound,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
            "met": self.met,
        }

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "NOT met"
        return (
            f"**{self.name}: {self.measured:,.2f}{self.unit}** "
            f"(target {sign} {self.bound:g}{self.unit}: {verdict})"
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` is one letter per column, ``l`` or ``r``."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(
    name: str,
    markdown: str,
    figures: dict[str, Any],
    targets: Sequence[Target] = (),
    plot: Callable[[Any], None] | None = None,
    output: Path = RESULTS,
) -> None:
    """Prints ``markdown`` and writes NAME.md, NAME.json and (with matplotlib) NAME.png."""
    output.mkdir(parents=True, exist_ok=True)
    png = output / f"{name}.png"
    text = markdown.rstrip() + "\n"
    if plot is not None:
        if draw_png(plot, png):
            text += f"\n![{name}]({png.name})\n"
        else:
            text += "\n(No plot: install matplotlib, e.g. `pip install matplotlib`.)\n"
    print(text)
    (output / f"{name}.md").write_text(text, encoding="utf-8")
    payload = {"figures": figures, "targets": [target.as_dict() for target in targets]}
    (output / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def draw_png(plot: Callable[[Any], None], path: Path) -> bool:
    """Draws ``plot(figure)`` into ``path``; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    figure = pyplot.figure(figsize=(7.5, 4.2), dpi=110)
    try:
        plot(figure)
        figure.tight_layout()
        figure.savefig(path)
    finally:
        pyplot.close(figure)
    return True
