"""Runs every benchmark, one process each, and writes the summary of the targets.

    python bench/run_all.py            # the full set, about 20 minutes on 2 cores
    python bench/run_all.py --quick    # small sizes, a few minutes: a smoke run
    python bench/run_all.py --no-run --before-ref main   # the summary only

Each benchmark writes ``bench/results/NAME.{md,json,png}``; this script then
gathers the targets of all of them (``--only`` reruns some, the others keep
their last results) into ``bench/results/summary.md``. A benchmark that
fails is reported and the others still run; the exit status is 1 then.

Before anything runs, the figures stored in ``bench/results/`` (those of the
last run, normally the landed main's) are read, or with ``--before-ref REF``
those committed at a git revision; the summary prints each target and each
goal of the performance issue (:data:`GOALS`) next to them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.report import RESULTS, machine_line, markdown_table  # noqa: E402

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments)
    "page_cost": ([], ["--pages=2", "--rounds=2"]),
    "decode": ([], ["--items=5000", "--repetitions=2"]),
    "sink": ([], ["--records=5000", "--repeats=1"]),
    "pipeline_overhead": ([], ["--items=10000", "--repeats=1"]),
    "scaling": ([], ["--items=8000", "--segments=1,4,16"]),
    "reindex_cost": ([], ["--small=2000", "--large=10000"]),
    # The replay server: moto's Scan costs milliseconds per item and would
    # measure moto, not the two clients (both read at its pace).
    "vs_awswrangler": (["--server=replay"], ["--server=replay", "--items=3000", "--repeats=1"]),
    "cores": ([], ["--items=20000", "--repeats=1"]),
    "dead_letter_memory": ([], ["--small=2000", "--large=10000"]),
}

RENAMED_TARGETS = {"ours / json.loads": ("ours / json.loads (stretch)",)}
"""Targets renamed since earlier results: their older names, to find previous figures."""

Results = dict[str, dict[str, Any]]
"""Benchmark name -> the payload of its ``NAME.json`` (figures and targets)."""


def target_value(*names: str) -> Callable[[dict[str, Any]], float | None]:
    """The measured value of the first target of these names (renamed
    targets keep their older names here, so that previous runs are found)."""

    def value(payload: dict[str, Any]) -> float | None:
        by_name = {target["name"]: target["measured"] for target in payload.get("targets", [])}
        return next((by_name[name] for name in names if name in by_name), None)

    return value


class Goal(NamedTuple):
    """One goal of the performance issue: a figure from a benchmark's results."""

    name: str
    benchmark: str | None
    value: Callable[[dict[str, Any]], float | None]
    bound: float
    higher_is_better: bool
    unit: str = "x"


GOALS = [
    Goal(
        "page cost / json.loads of the same page",
        "page_cost",
        target_value("ours / json.loads", "ours / json.loads (stretch)"),
        1.0,
        False,
    ),
    Goal(
        "2 cores / 1 core, local reindex of 100,000 items (30 ms per request)",
        "cores",
        target_value("2 cores / 1 core, 100,000 items"),
        1.7,
        True,
    ),
    Goal(
        "2 cores / 1 core, local reindex of 300,000 items (30 ms per request)",
        "cores",
        target_value("2 cores / 1 core, 300,000 items"),
        1.7,
        True,
    ),
    Goal(
        "pipeline / bare loop, 100,000 items",
        "pipeline_overhead",
        target_value("pipeline / bare loop"),
        0.9,
        True,
    ),
    Goal(
        "pipeline with 2 worker threads / bare loop, 100,000 items",
        "pipeline_overhead",
        target_value("pipeline with 2 threads / bare loop"),
        0.9,
        True,
    ),
    Goal(
        "client CPU, naive script / reindex",
        "reindex_cost",
        target_value("client CPU, naive script / reindex"),
        12.0,
        True,
    ),
    Goal(
        "peak RSS 100,000 / 10,000 items",
        "reindex_cost",
        target_value("peak RSS 100,000 / 10,000 items"),
        1.2,
        False,
    ),
    Goal(
        "awswrangler / ours, wall",
        "vs_awswrangler",
        target_value("awswrangler / ours, wall"),
        5.0,
        True,
    ),
    Goal(
        "awswrangler / ours, CPU",
        "vs_awswrangler",
        target_value("awswrangler / ours, CPU"),
        5.0,
        True,
    ),
    Goal(
        "sink / the backend's fastest insert path",
        "sink",
        target_value("sink / backend's fastest insert path"),
        0.9,
        True,
    ),
]
"""The goals of the performance issue, each a ratio measured side by side in one run."""


def read_results(revision: str | None = None) -> Results:
    """Every ``bench/results/NAME.json`` of the benchmarks above: as stored
    now, or as committed at git ``revision``."""
    results = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if revision is None:
            text = path.read_text(encoding="utf-8") if path.exists() else None
        else:
            relative = path.relative_to(HERE.parent).as_posix()
            shown = subprocess.run(
                ["git", "show", f"{revision}:{relative}"],
                cwd=HERE.parent,
                capture_output=True,
                text=True,
            )
            text = shown.stdout if shown.returncode == 0 else None
        if text:
            results[name] = json.loads(text)
    return results


def _figure(value: float | None, unit: str) -> str:
    return "–" if value is None else f"{value:,.2f}{unit}"


def goal_rows(goals: Sequence[Goal], now: Results, before: Results, rerun: set[str]) -> list:
    """One row per goal: the figure now, the stored one before this run, the bound."""
    rows = []
    for goal in goals:
        sign = ">=" if goal.higher_is_better else "<="
        if goal.benchmark is None:
            rows.append([goal.name, "no benchmark", "–", f"{sign} {goal.bound:g}{goal.unit}", ""])
            continue
        measured = goal.value(now[goal.benchmark]) if goal.benchmark in now else None
        previous = goal.value(before[goal.benchmark]) if goal.benchmark in before else None
        if measured is None:
            verdict = "**not measured**"
        else:
            met = measured >= goal.bound if goal.higher_is_better else measured <= goal.bound
            verdict = "met" if met else "**not met**"
        now_text = _figure(measured, goal.unit)
        if rerun and goal.benchmark not in rerun and measured is not None:
            now_text += " (not rerun)"
        rows.append(
            [
                f"{goal.name} ([{goal.benchmark}]({goal.benchmark}.md))",
                now_text,
                _figure(previous, goal.unit),
                f"{sign} {goal.bound:g}{goal.unit}",
                verdict,
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument(
        "--before-ref", default=None, help="compare with the results committed at this revision"
    )
    parser.add_argument(
        "--no-run", action="store_true", help="run nothing: the summary of the stored results"
    )
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name] or list(BENCHMARKS)
    if args.no_run:
        chosen = []
    before = read_results(args.before_ref)

    started = time.perf_counter()
    failed, seconds = [], {}
    for name in chosen:
        full, quick = BENCHMARKS[name]
        command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        began = time.perf_counter()
        if subprocess.run(command, cwd=HERE.parent).returncode != 0:
            failed.append(name)
        seconds[name] = time.perf_counter() - began

    now = {name: payload for name, payload in read_results().items() if name not in failed}
    rows = []
    for name in BENCHMARKS:
        if name not in now:
            rows.append([name, "failed" if name in failed else "no results", "", "", "", ""])
            continue
        for target in now[name]["targets"]:
            sign = ">=" if target["higher_is_better"] else "<="
            older = RENAMED_TARGETS.get(target["name"], ())
            previous = target_value(target["name"], *older)(before.get(name, {}))
            rows.append(
                [
                    f"[{name}]({name}.md)",
                    target["name"],
                    f"{target['measured']:,.2f}{target['unit']}",
                    _figure(previous, target["unit"]),
                    f"{sign} {target['bound']:g}{target['unit']}",
                    "met" if target["met"] else "**not met**",
                ]
            )
    goals = goal_rows(GOALS, now, before, set(chosen) - set(failed))
    command_line = " ".join(["", *(argv if argv is not None else sys.argv[1:])])
    text = "\n".join(
        [
            "# Benchmarks: the targets of the performance issue",
            "",
            (
                "Summary of the stored results, written by"
                if args.no_run
                else f"{'Quick' if args.quick else 'Full'} run of"
            )
            + f" `python bench/run_all.py{command_line}`"
            + ("" if args.no_run else f" in {time.perf_counter() - started:.0f} s")
            + f" ({machine_line()}).",
            "",
            "## Goals of the performance issue",
            "",
            "Each figure next to the one "
            + (
                f"committed in `bench/results/` at `{args.before_ref}`."
                if args.before_ref
                else "stored in `bench/results/` before this run."
            )
            + (" Nothing was rerun: every figure is a stored result." if args.no_run else ""),
            "",
            markdown_table(["goal", "now", "before", "bound", ""], goals, "lrrrl"),
            "",
            "## Every target",
            "",
            markdown_table(["benchmark", "target", "now", "before", "bound", ""], rows, "llrrrl"),
            "",
        ]
    )
    print(text)
    (RESULTS / "summary.md").write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
