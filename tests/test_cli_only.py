"""The command line builds only the command it runs (cli._only): every output and exit status as with all built."""
import sys
from pathlib import Path

import pytest

import kto_doctor.cli as cli

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted({c.name or cli._command_name(c.callback.__name__) for c in cli.app.registered_commands}
               | {g.name for g in cli.app.registered_groups})


def _run(monkeypatch, capsys, argv, only: bool):
    monkeypatch.setattr(sys, "argv", ["kto-doctor"] + argv)
    built = []
    import typer.main

    real = typer.main.get_command

    def counting(typer_instance):
        group = real(typer_instance)
        built.extend(getattr(group, "commands", {}))
        return group

    monkeypatch.setattr(typer.main, "get_command", counting)
    if not only:
        monkeypatch.setattr(cli, "_only", lambda first: _Nothing())
    with pytest.raises(SystemExit) as exc:
        cli.main()
    monkeypatch.undo()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err, len(built)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


CASES = [[n, "--help"] for n in NAMES] + [[n, "--no-such-option"] for n in NAMES] + [
    ["analyze", str(ROOT / "sample_logs" / "kto-healthy"), "--format", "json"],
    ["formats"], ["rules", "list"], ["config", "keys"], ["explain", "LOSS101"], ["--version"], ["--help"],
    ["no-such-command"], ["analize", "x"], ["-h", "analyze"],
]


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_same_as_with_every_command_built(monkeypatch, capsys, argv):
    code, out, err, n_only = _run(monkeypatch, capsys, argv, only=True)
    code_all, out_all, err_all, n_all = _run(monkeypatch, capsys, argv, only=False)
    assert (code, out, err) == (code_all, out_all, err_all)
    assert len(cli.app.registered_commands) == 7 and len(cli.app.registered_groups) == 3  # restored
    if argv[0] in NAMES:
        assert n_only == 1 < n_all
