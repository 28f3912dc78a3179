"""Runs every benchmark, one process each, and writes the summary of the targets.

    python bench/run_all.py            # the full set, about 10 minutes on 2 cores
    python bench/run_all.py --quick    # small sizes, a minute or two: a smoke run

Each benchmark writes ``bench/results/NAME.{md,json,png}``; this script then
gathers the targets of all of them (``--only`` reruns some, the others keep
their last results) into ``bench/results/summary.md``. A benchmark that
fails is reported and the others still run; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.report import RESULTS, machine_line, markdown_table  # noqa: E402

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments)
    "page_cost": ([], ["--pages=2", "--rounds=2"]),
    "sink": ([], ["--records=5000", "--repeats=1"]),
    "pipeline_overhead": ([], ["--items=10000", "--repeats=1"]),
    "scaling": ([], ["--items=8000", "--segments=1,4,16"]),
    "reindex_cost": ([], ["--small=2000", "--large=10000"]),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name] or list(BENCHMARKS)

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

    rows = []
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if name in failed or not path.exists():
            rows.append([name, "failed", "", "", ""])
            continue
        for target in json.loads(path.read_text(encoding="utf-8"))["targets"]:
            sign = ">=" if target["higher_is_better"] else "<="
            rows.append(
                [
                    f"[{name}]({name}.md)",
                    target["name"],
                    f"{target['measured']:,.2f}{target['unit']}",
                    f"{sign} {target['bound']:g}{target['unit']}",
                    "met" if target["met"] else "**not met**",
                ]
            )
    text = "\n".join(
        [
            "# Benchmarks: the targets of the performance issue",
            "",
            f"{'Quick' if args.quick else 'Full'} run of `python bench/run_all.py"
            f"{' --quick' if args.quick else ''}{' --only ' + args.only if args.only else ''}` in "
            f"{time.perf_counter() - started:.0f} s ({machine_line()}).",
            "",
            markdown_table(["benchmark", "target", "measured", "bound", ""], rows, "lllrl"),
            "",
        ]
    )
    print(text)
    (RESULTS / "summary.md").write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
