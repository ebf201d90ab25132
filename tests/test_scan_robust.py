"""`scan` when things go wrong: a worker killed, Ctrl-C, folders it may not list, names that look like markup;
and the conveniences (-q/-v, the hint, the default worker count)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.cli import scan as scan_mod
from kto_doctor.cli.pool import run_pool

from ci_runs import rows, write_state

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _square_or_die(item, factor):
    if item == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return (item, item * factor, None)


def test_pool_blames_only_the_item_whose_worker_died():
    done = []
    out = run_pool(list(range(8)), 2, lambda: None, (), _square_or_die, (10,), done.append)
    assert sorted(done) == list(range(8))
    assert out[3][1] is None and out[3][2].startswith("worker died: killed by SIGKILL")
    assert {k: v[1] for k, v in out.items() if k != 3} == {k: k * 10 for k in range(8) if k != 3}


_real_analyse_one = scan_mod.analyse_one


def _analyse_or_die(path, *args):
    if Path(path).name == "oom":
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_analyse_one(path, *args)


def test_a_killed_worker_is_one_error_row_and_fails_the_sweep(tmp_path, monkeypatch):
    root = tmp_path / "s"
    for name in ("a", "b", "oom", "c", "d"):
        write_state(root / name, rows(30))
    monkeypatch.setattr(scan_mod, "analyse_one", _analyse_or_die)
    r = cli("scan", root, "-j", "2", "-f", "json")
    assert r.exit_code == 2, r.output
    doc = {Path(d["run"]["path"]).name: d for d in json.loads(r.stdout)}
    assert doc["oom"]["status"] == "error" and "killed by SIGKILL" in doc["oom"]["error"]
    assert all(doc[n]["status"] == "healthy" for n in ("a", "b", "c", "d"))
    assert "crashed" in r.stderr


def _tree_of(root: Path, n: int) -> Path:
    for i in range(n):
        write_state(root / f"run{i:03d}", rows(400))
    return root


def test_ctrl_c_stops_promptly_with_the_partial_table(tmp_path):
    n = 600  # enough that a fast CI machine is still mid-sweep three seconds in
    root = _tree_of(tmp_path / "s", n)
    env = dict(os.environ, COLUMNS="200", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "kto_doctor", "scan", str(root), "-j", "2", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stderr.readline()  # -v says how many runs and workers just before the work starts
    assert "worker(s)" in first
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "Traceback" not in err
    analysed = int(err.split("interrupted: ")[1].split(" of ")[0])
    assert analysed < n  # stopped before the end, and the table shows what was finished
    assert f"{analysed} run(s)" in out
    assert out.count(str(root)) == analysed


def test_a_folder_that_cannot_be_listed_is_an_error_row(tmp_path, monkeypatch):
    root = tmp_path / "s"
    write_state(root / "good", rows(30))
    locked = root / "locked"
    write_state(locked / "inner", rows(30))
    real = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = cli("scan", root, "-j", "1", "-f", "json")
    doc = {Path(d["run"]["path"]).name: d for d in json.loads(r.stdout)}
    assert doc["locked"]["status"] == "error" and "Permission denied" in doc["locked"]["error"]
    assert doc["good"]["status"] == "healthy"
    assert r.exit_code == 0  # an unreadable folder is like an unreadable run: strict-errors makes it 2
    assert cli("scan", root, "-j", "1", "--strict-errors").exit_code == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads mode-000 folders")
def test_a_mode_000_folder_is_an_error_row(tmp_path):
    root = tmp_path / "s"
    write_state(root / "good", rows(30))
    write_state(root / "locked" / "inner", rows(30))
    os.chmod(root / "locked", 0)
    try:
        r = cli("scan", root, "-j", "1")
        assert "locked" in r.stdout and "error" in r.stdout
    finally:
        os.chmod(root / "locked", 0o755)


def test_names_that_look_like_markup_are_shown_as_they_are(tmp_path):
    root = tmp_path / "s"
    names = ["a[/x]", "[link=https://example.invalid]b", "[bold]c"]
    for n in names:
        write_state(root / n, rows(30))
    r = cli("scan", root, "-j", "1", "--color", "always")
    assert r.exit_code == 0, r.output
    for n in names:
        assert str(root / n) in r.stdout
    assert "\x1b]8;" not in r.stdout  # no hyperlink escape was made from a name


def test_quiet_verbose_and_the_hint(tmp_path):
    root = tmp_path / "s"
    write_state(root / "fine", rows(30))
    write_state(root / "nan", rows(30, nan_at=(10, 11)))
    r = cli("scan", root, "-j", "1")
    assert r.exit_code == 1
    assert f"kto-doctor analyze {root / 'nan'}" in r.stdout
    q = cli("scan", root, "-j", "1", "-q")
    assert str(root / "nan") in q.stdout and str(root / "fine") not in q.stdout
    assert "2 run(s): 1 failing, 1 healthy" in q.stdout
    v = cli("scan", root, "-j", "1", "-v")
    assert "NUM101" in v.stdout or "nan" in v.stdout.lower()
    assert "worker(s)" in v.stderr and "project configuration" in v.stderr


def test_default_jobs_leaves_busy_cores_alone(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert scan_mod.default_jobs(10) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert scan_mod.default_jobs(10) == 2
    assert scan_mod.default_jobs(1) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 1.0, 1.0))
    assert scan_mod.default_jobs(100) == 5
