"""The ``dynamodb-reindex`` console script behaves as ``python -m pipeline``.

The script is written here as pip writes console scripts, so that it runs
with its own folder first on ``sys.path`` (not the working directory), as an
installed one does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.reindex_runs import ROOT, index_rows
from tests.runners import IN_PROCESS
from transforms.dead_letters import dead_letter, dumps_dead_letter

MODEL = """
from dataclasses import dataclass

from dataclasses_json import dataclass_json


@dataclass_json
@dataclass
class Book:
    id: str
    title: str
"""


def _console_script(folder) -> str:
    folder.mkdir()
    path = folder / "dynamodb-reindex"
    path.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            from pipeline.cli import main
            if __name__ == '__main__':
                sys.argv[0] = sys.argv[0].removesuffix('.exe')
                sys.exit(main())
            """
        )
    )
    return str(path)


def _run(command: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_console_script_imports_a_model_from_the_current_folder_quietly(tmp_path):
    work = tmp_path / "work"
    (work / "dead").mkdir(parents=True)
    (work / "mybooks.py").write_text(MODEL)
    item = {"id": {"S": "b1"}, "title": {"S": "Dune"}}
    letter = dead_letter("decode", error_type="X", error="e", item=item, key={"id": item["id"]})
    (work / "dead" / "dead-letters-00000-of-00001.jsonl").write_text(
        dumps_dead_letter(letter) + "\n"
    )
    script = _console_script(tmp_path / "bin")
    results = {}
    for name, launcher in (("script", [script]), ("module", ["-m", "pipeline"])):
        args = ["replay", "--dead-letters", "dead", "--model", "mybooks:Book"]
        args += ["--index", f"sqlite:///{name}.db", "--still-failing", f"still-{name}"]
        results[name] = _run([sys.executable, *launcher, *args, *IN_PROCESS], work)
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stderr[-3000:])
        assert done.stderr == "", (name, done.stderr[-3000:])
        assert set(index_rows(work / f"{name}.db")) == {"b1"}


def test_console_script_help_names_itself(tmp_path):
    done = _run([sys.executable, _console_script(tmp_path / "bin"), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dynamodb-reindex ")
    assert done.stderr == ""
