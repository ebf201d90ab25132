"""The command line contract: exit codes, one-line errors, JSON fields, --set, NO_COLOR, lazy imports."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kto_doctor import __version__
from kto_doctor.cli import app
from kto_doctor.model import SYMPTOMS

from conftest import SAMPLES

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, list(map(str, args)), env=env)


def write_state(path, rows, **extra):
    path.mkdir(parents=True, exist_ok=True)
    state = {"global_step": rows[-1]["step"] if rows else 0, "log_history": rows, **extra}
    (path / "trainer_state.json").write_text(json.dumps(state))
    return path


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"kto-doctor {__version__}"


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "import kto_doctor.cli as c\n"
        "sys.argv = ['kto-doctor', '--help']\n"
        "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'tensorboard') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("fail_on, expected", [("error", 0), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_thresholds(fail_on, expected):
    # The flagship has warnings and an info finding, no error.
    assert run("analyze", SAMPLES / "kto-flagship", "--format", "json", "--fail-on", fail_on).exit_code == expected


def test_exit_zero_overrides_the_gate():
    assert run("analyze", SAMPLES / "kto-flagship", "--fail-on", "info", "--exit-zero").exit_code == 0


def test_error_findings_fail_by_default(tmp_path):
    rows = [{"step": i, "loss": 1.0 if i < 3 else float("nan"), "grad_norm": 1.0, "learning_rate": 1e-5}
            for i in range(1, 8)]
    write_state(tmp_path / "run", rows)
    r = run("analyze", tmp_path / "run", "--format", "json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert report["status"] == "failing" and report["findings"][0]["symptom"] == "nan-inf"


@pytest.mark.parametrize("make", ["missing", "empty", "garbage"])
def test_unreadable_input_is_exit_2_with_one_line(tmp_path, make):
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "garbage":
        target = tmp_path / "trainer_state.json"
        target.write_text("this is not json at all")
    r = run("analyze", target)
    assert r.exit_code == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kto-doctor: error:") and "Traceback" not in r.output
    assert str(target.name) in err[0]


@pytest.mark.parametrize("args", [["--fail-on", "sometimes"], ["--format", "pdf"], ["--set", "novalue"]])
def test_usage_errors_are_exit_2(args):
    r = run("analyze", SAMPLES / "kto-healthy", *args)
    assert r.exit_code == 2 and "kto-doctor: error:" in r.stderr


def test_truncated_log_is_analysed_with_a_warning(tmp_path):
    rows = [{"step": i, "loss": 2.0 - 0.01 * i, "learning_rate": 1e-5} for i in range(1, 50)]
    text = json.dumps({"global_step": 49, "log_history": rows})
    (tmp_path / "trainer_state.json").write_text(text[: len(text) // 2])
    r = run("analyze", tmp_path, "--format", "json")
    assert r.exit_code == 0  # damage is a warning on the source, not exit 2; this loss is healthy
    report = json.loads(r.stdout)
    src = report["run"]["sources"][0]
    assert src["records"] > 10 and src["warnings"]


def test_json_report_follows_the_contract():
    r = run("analyze", SAMPLES / "kto-flagship", "--format", "json")
    rep = json.loads(r.stdout)
    assert rep["schema_version"] == 1 and rep["tool"] == {"name": "kto-doctor", "version": __version__}
    assert {"path", "method", "framework", "sources", "steps", "metrics"} <= set(rep["run"])
    assert set(rep["run"]["steps"]) == {"first", "last", "logged"}
    assert rep["status"] in ("failing", "warning", "healthy")
    for f in rep["findings"]:
        assert {"rule", "name", "symptom", "severity", "title", "message", "steps", "evidence", "causes"} <= set(f)
        assert f["symptom"] in SYMPTOMS and f["severity"] in ("info", "warning", "error")
        scores = [c["score"] for c in f["causes"]]
        assert scores == sorted(scores, reverse=True)
    scores = [d["score"] for d in rep["diagnosis"]]
    assert scores == sorted(scores, reverse=True)
    assert all({"cause", "score", "title", "fixes", "findings"} <= set(d) for d in rep["diagnosis"])
    assert all({"rule", "reason"} <= set(s) for s in rep["skipped"])


def test_set_fills_configuration_no_file_states():
    r = run("analyze", SAMPLES / "kto-flagship", "--format", "json", "--set", "vocab_size=32000")
    rep = json.loads(r.stdout)
    art = next(f for f in rep["findings"] if f["symptom"] == "logits-metric-artifact")
    assert art["evidence"]["vocab_size"] == 32000


def test_output_file_and_console_from_one_call(tmp_path):
    out = tmp_path / "report.json"
    r = run("analyze", SAMPLES / "kto-healthy", "--format", "text", "--format", "json", "-o", out)
    assert r.exit_code == 0
    assert "HEALTHY" in r.stdout
    assert json.loads(out.read_text())["status"] == "healthy"


def test_select_and_ignore():
    rep = json.loads(run("analyze", SAMPLES / "kto-flagship", "--format", "json", "--select", "KTO").stdout)
    assert rep["findings"] and all(f["rule"].startswith("KTO") for f in rep["findings"])
    rep = json.loads(run("analyze", SAMPLES / "kto-flagship", "--format", "json", "--ignore", "lr-schedule").stdout)
    assert all(f["symptom"] != "lr-schedule" for f in rep["findings"])


def test_explain_shows_doc_params_and_example():
    r = run("explain", "kto-logits-sum-artifact")
    assert r.exit_code == 0
    assert "KTO101" in r.stdout and "Parameters" in r.stdout and "Example" in r.stdout
    bad = run("explain", "KTO1O1")
    assert bad.exit_code == 2 and "did you mean" in bad.stderr


def test_a_folder_whose_logs_are_all_unreadable_names_the_file_and_why(tmp_path):
    (tmp_path / "trainer_log.jsonl").write_text("")
    r = run("analyze", tmp_path)
    assert r.exit_code == 2
    assert "trainer_log.jsonl: empty file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
