"""Help a person can read (no `<list[str]>` or `{path}` artefacts) and shell completion that works."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app

runner = CliRunner()


def _commands():
    """Every command and subcommand of the CLI, as argument lists (so new commands are checked too)."""
    import typer.main

    out = []

    def walk(cmd, prefix):
        out.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, prefix + [name])

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = _commands()


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_has_no_type_artefacts(cmd):
    r = runner.invoke(app, cmd + ["--help"], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    assert not re.search(r"<(str|int|list|float|bool|path)", r.stdout), r.stdout
    assert "{" not in r.stdout.splitlines()[0]  # the usage line: PATH, not {path}


def test_usage_line_names_arguments_plainly():
    first = runner.invoke(app, ["scan", "--help"], env={"COLUMNS": "100"}).stdout.splitlines()[0]
    assert first == "Usage: kto-doctor scan [OPTIONS] DIR..."
    first = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "100"}).stdout.splitlines()[0]
    assert first == "Usage: kto-doctor analyze [OPTIONS] PATH"


def test_completion_script_and_completions(monkeypatch):
    # Name the shell instead of letting typer detect it from the process tree (a test run has no shell
    # parent when started detached); typer < 0.29 takes the shell name only in this mode.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    r = runner.invoke(app, ["--show-completion", "bash"])
    assert r.exit_code == 0 and "complete -o default -F _kto_doctor_completion kto-doctor" in r.stdout
    r = runner.invoke(app, ["--show-completion", "zsh"])
    assert r.exit_code == 0 and "compdef _kto_doctor_completion kto-doctor" in r.stdout
    monkeypatch.delenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION")
    env = dict(os.environ, _KTO_DOCTOR_COMPLETE="complete_bash", COMP_WORDS="kto-doctor sc", COMP_CWORD="1")
    out = subprocess.run([sys.executable, "-m", "kto_doctor"], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["scan", "schema"]
    env.update(COMP_WORDS="kto-doctor analyze --fail", COMP_CWORD="2")
    out = subprocess.run([sys.executable, "-m", "kto_doctor"], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["--fail-on"]
