"""The console script pauses the cyclic garbage collector while it loads code (startup.py); what users rely
on is that it runs again before any run is read (a long `watch` or a large run must not grow without bound),
and that a program using kto_doctor as a library keeps its own collector settings."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
REPORT_GC = "import atexit, gc; atexit.register(lambda: print('collector', gc.isenabled())); "


def _run(code: str, *args):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_the_collector_runs_again_once_a_run_is_read():
    r = _run(REPORT_GC + "import sys; sys.argv[0] = 'kto-doctor'; from kto_doctor.cli import console; console()",
             "analyze", SAMPLES / "kto-healthy", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "collector True"


def test_a_library_callers_collector_is_left_as_it_set_it():
    code = ("import gc; gc.disable()\nimport kto_doctor\nrun = kto_doctor.load_run(sys.argv[1])\n"
            "print('collector', gc.isenabled(), len(run.metrics) > 0)\n")
    r = _run("import sys\n" + code, SAMPLES / "kto-healthy")
    assert r.stdout.splitlines()[-1] == "collector False True", r.stderr
    r = _run("import sys\n" + code.replace("gc.disable()", "pass"), SAMPLES / "kto-healthy")
    assert r.stdout.splitlines()[-1] == "collector True True", r.stderr


def test_the_console_script_pauses_from_its_first_import_on():
    """The script's argv[0] is `kto-doctor` while it imports the command line: the collector is paused before
    typer loads; any other program importing kto_doctor.cli keeps its collector running."""
    code = "import sys; sys.argv[0] = sys.argv[1]; import kto_doctor.cli, gc; print(gc.isenabled())"
    for arg0, enabled in (("kto-doctor", "False"), ("/usr/local/bin/kto-doctor", "False"),
                          ("C:\\Python\\Scripts\\kto-doctor.exe", "False"), ("my_tool.py", "True"),
                          ("/x/kto-doctor-helper", "True")):
        r = _run(code, arg0)
        assert r.stdout.strip() == enabled, (arg0, r.stderr)
    r = subprocess.run([sys.executable, "-m", "kto_doctor", "analyze", SAMPLES / "kto-healthy", "--format", "json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and '"schema_version"' in r.stdout, r.stderr


def test_pandas_loaded_after_the_reading_is_frozen_with_the_start_up_in_the_console_script_only():
    """pandas is imported once a run's files are read (a long log is read without it): in the console script it
    loads with the collector paused and is frozen like the rest of the start-up; a library caller's collector is
    left alone, and the collector runs again after it either way."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('pandas', 'pandas' in sys.modules, gc.isenabled(), gc.get_freeze_count()))\n"
            "import kto_doctor.run as run_module\n"
            "from kto_doctor import startup\n"
            "import importlib\n"
            "real = importlib.import_module\n"
            "seen = []\n"
            "def watched(name, *a):\n"
            "    if name == 'pandas':\n"
            "        seen.append((gc.isenabled(), gc.get_freeze_count()))\n"
            "    return real(name, *a)\n"
            "importlib.import_module = watched\n"
            "atexit.register(lambda: print('while', seen))\n")
    script = code + "sys.argv[0] = 'kto-doctor'; from kto_doctor.cli import console; console()"
    r = _run(script, "analyze", SAMPLES / "kto-healthy", "--format", "json")
    assert r.returncode == 0, r.stderr
    (paused, frozen_before), = ast.literal_eval(r.stdout.splitlines()[-2].split(" ", 1)[1])
    name, loaded, running, frozen = r.stdout.splitlines()[-1].split()
    assert not paused and (loaded, running) == ("True", "True")  # loaded with the collector paused, running after
    assert int(frozen) > frozen_before + 10_000  # pandas' objects frozen with the start-up's
    lib = code + "run = run_module.load_run(sys.argv[1])\n"
    r = _run(lib, SAMPLES / "kto-healthy")
    (running_then, _), = ast.literal_eval(r.stdout.splitlines()[-2].split(" ", 1)[1])
    assert running_then and r.stdout.splitlines()[-1].split()[:4] == ["pandas", "True", "True", "0"], r.stderr
