"""The `kto-doctor` script (`cli.console`) leaves without the interpreter's teardown: what users rely on is
that every output is complete, the exit status is the command's, and exit handlers still run. `cli.main`
keeps ending with SystemExit for callers that run commands in their own process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def _console(*args, pre: str = ""):
    code = pre + "import sys; sys.argv[0] = 'kto-doctor'; from kto_doctor.cli import console; console()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_output_is_complete_and_the_exit_status_is_the_gates(tmp_path):
    out = tmp_path / "r.json"
    r = _console("analyze", SAMPLES / "kto-flagship", "--format", "json", "-o", out, "--fail-on", "warning")
    assert r.returncode == 1, r.stderr  # the flagship has warnings
    assert json.loads(out.read_text(encoding="utf-8"))["findings"]
    r = _console("analyze", SAMPLES / "kto-flagship", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["findings"]  # stdout flushed whole (a pipe is block-buffered)


def test_input_error_exits_2_with_its_message(tmp_path):
    r = _console("analyze", tmp_path / "missing")
    assert r.returncode == 2
    assert "no such file or directory" in r.stderr


def test_exit_handlers_run_and_their_output_is_flushed():
    r = _console("--version", pre="import atexit; atexit.register(lambda: print('handler ran')); ")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["kto-doctor " + r.stdout.split()[1], "handler ran"]


def test_main_still_ends_with_system_exit_in_process():
    code = ("import sys; sys.argv = ['kto-doctor', '--version']\nfrom kto_doctor.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print('caught', e.code)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.splitlines()[-1] == "caught 0", r.stdout + r.stderr
