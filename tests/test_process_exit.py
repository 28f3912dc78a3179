"""Processes end without the interpreter's last garbage collection, where it is ours to skip."""

import subprocess
import sys
import textwrap

from tests.reindex_runs import ROOT

_CHECK_AT_EXIT = """
import atexit, gc, sys
# registered first, so it runs after the step under test (atexit runs last-in, first-out)
atexit.register(lambda: print("frozen" if gc.get_freeze_count() else "not frozen"))
"""


def _exit_state(code: str, returncode: int = 0) -> str:
    """What the check at exit printed after ``code`` ran in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _CHECK_AT_EXIT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == returncode, done.stderr
    return done.stdout.strip()


def test_the_heap_is_frozen_at_exit_once_asked():
    code = """
    from transforms.runners.process_exit import skip_final_collection
    skip_final_collection()
    skip_final_collection()  # registered once
    """
    assert _exit_state(code) == "frozen"


def test_beams_sdk_worker_process_skips_its_last_collection():
    code = """
    import importlib.machinery
    from transforms.runners.process_exit import SDK_WORKER_MAIN, skip_final_collection_in_sdk_worker
    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec(SDK_WORKER_MAIN, None)
    skip_final_collection_in_sdk_worker()
    """
    assert _exit_state(code) == "frozen"


def test_a_program_running_a_pipeline_itself_keeps_its_last_collection():
    code = """
    from transforms.runners.process_exit import skip_final_collection_in_sdk_worker
    skip_final_collection_in_sdk_worker()
    """
    assert _exit_state(code) == "not frozen"


def test_the_command_line_skips_its_last_collection():
    code = """
    from pipeline.cli import main
    sys.exit(main(["search", "--index", "sqlite:////nonexistent/index.db", "word"]))
    """
    assert _exit_state(code, returncode=3) == "frozen"  # exit 3: there is no such index
