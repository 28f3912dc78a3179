"""``--help``: every command listed, options grouped and explained, exit codes at the end."""

from __future__ import annotations

import argparse

import pytest

from pipeline import cli as cli_module
from tests.reindex_runs import cli

COMMANDS = ("reindex", "plan", "search", "replay")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_module._parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def test_top_level_help_lists_every_command_in_plain_text():
    done = cli("--help", timeout=60)
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f"\n    {command} " in done.stdout
    assert "``" not in done.stdout
    assert "dynamodb-reindex" in done.stdout
    assert "exit codes:\n  0: " in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_help_line(command):
    parser = _subparsers()[command]
    missing = [
        action.option_strings or action.dest
        for action in parser._actions
        if not (action.help or "").strip()
    ]
    assert missing == []
    assert "``" not in parser.format_help()


def test_reindex_options_are_grouped():
    parser = _subparsers()["reindex"]
    groups = {
        group.title: {option for a in group._group_actions for option in a.option_strings}
        for group in parser._action_groups
    }
    assert list(groups)[-5:] == ["source", "rate", "decode", "index", "run"]
    assert "--consistent-read" in groups["source"]
    assert "--max-read-units-per-second" in groups["rate"]
    assert {"--model", "--dead-letters", "--max-dead-letter-fraction"} <= groups["decode"]
    assert {"--index", "--swap-alias", "--keep"} <= groups["index"]
    assert {"--checkpoint-every-pages", "--checkpoint-every-seconds"} <= groups["run"]
    every = {option for a in parser._actions for option in a.option_strings} - {"-h", "--help"}
    assert every == set().union(*(groups[name] for name in list(groups)[-5:]))


def test_reindex_help_ends_with_beam_options_and_exit_codes():
    done = cli("reindex", "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Any other --flag is a Beam pipeline option" in text
    tail = text[text.index("exit codes:") :].splitlines()
    codes = [line.split(":")[0].strip() for line in tail if line[2:3].isdigit()]
    assert codes == [*(str(n) for n in range(7)), "130, 143"]  # --catch-up: 6; signals
