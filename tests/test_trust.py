"""The trust boundary: the analysed data never configures its own gate, absurd numbers are refused where
they enter, and an error about a file never quotes the file."""
from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app

from conftest import SAMPLES

runner = CliRunner()
FAILING = SAMPLES / "lf-kto-lr-too-high"  # an error finding: exit 1 under the default gate


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with a run folder in it, the working directory at its root."""
    shutil.copytree(FAILING, tmp_path / "runs" / "x")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name, text", [
    (".kto-doctor.yaml", "fail-on: never\n"),
    (".kto-doctor.yml", "exceptions:\n  - {rules: [SCHED104], reason: trust me}\n"),
    ("pyproject.toml", '[tool.kto-doctor]\nfail-on = "never"\n'),
])
def test_a_config_inside_the_run_does_not_switch_the_gate_off(repo, name, text):
    run_dir = repo / "runs" / "x"
    assert run("analyze", run_dir, "-q").exit_code == 1
    (run_dir / name).write_text(text)
    assert run("analyze", run_dir, "-q").exit_code == 1
    # from inside the run folder too, where the working directory holds it: skipped, and said so
    os.chdir(run_dir)
    r = run("analyze", ".", "-q")
    assert r.exit_code == 1 and f"ignored {run_dir / name}" in r.stderr
    assert run("analyze", "trainer_state.json", "-q").exit_code == 1
    # naming it is the explicit opt-in
    assert run("analyze", run_dir, "-q", "--config", run_dir / name).exit_code == 0


def test_the_repository_config_applies(repo):
    (repo / ".kto-doctor.yaml").write_text("fail-on: never\n")
    r = run("analyze", repo / "runs" / "x", "-q")
    assert r.exit_code == 0 and "ignored" not in r.stderr
    assert run("scan", repo / "runs").exit_code == 0
    # a scan of the repository itself holds its config in the data: not used
    assert run("scan", repo).exit_code == 1


def test_rules_path_that_is_a_fifo_or_a_device_is_refused_without_reading(repo):
    os.mkfifo(repo / "pipe.yaml")
    for target in ("pipe.yaml", "/dev/zero"):
        (repo / ".kto-doctor.yaml").write_text(f"extend-rules: [{target}]\n")
        r = run("analyze", repo / "runs" / "x", "-q")
        assert r.exit_code == 2 and "not a regular file or folder" in r.stderr
    r = run("analyze", repo / "runs" / "x", "-q", "--isolated", "--rules", repo / "pipe.yaml")
    assert r.exit_code == 2 and "not a regular file" in r.stderr


@pytest.mark.parametrize("content", ["SECRET_TOKEN=hunter2\n", "SECRET_TOKEN: hunter2\nx: [\n",
                                     "user: admin\nSECRET_TOKEN: hunter2\n", "- SECRET_TOKEN hunter2\n"])
def test_errors_never_quote_a_file_that_is_not_what_was_expected(repo, content):
    (repo / "secret.env").write_text(content)
    (repo / ".kto-doctor.yaml").write_text("extend-rules: [secret.env]\n")
    r = run("analyze", repo / "runs" / "x", "-q")
    assert r.exit_code == 2 and "secret.env" in r.stderr and "hunter2" not in r.output + r.stderr
    (repo / ".kto-doctor.yaml").write_text("fail-on: [SECRET_TOKEN: hunter2\n")
    r = run("analyze", repo / "runs" / "x", "-q")
    assert r.exit_code == 2 and "hunter2" not in r.output + r.stderr and "line 2" in r.stderr


def test_absurd_config_numbers_are_ignored_with_a_warning(repo):
    run_dir = repo / "runs" / "x"
    with open(run_dir / "train.yaml", "a") as f:
        f.write(f"warmup_ratio: 1e308\nsave_steps: {2 ** 400}\nlora_dropout: {'9' * 5000}\n")
    r = run("analyze", run_dir, "--format", "json")
    assert r.exit_code == 1 and "internal error" not in r.stderr
    warnings = [w for s in __import__("json").loads(r.stdout)["run"]["sources"] for w in s["warnings"]]
    assert any("warmup_ratio = 1e+308 is out of range (from 0 to 1); ignored" in w for w in warnings)
    assert any("save_steps = 2.58225e+120 is out of range" in w for w in warnings)
    assert any("lora_dropout = inf is out of range" in w for w in warnings)


@pytest.mark.parametrize("setting, message", [
    ("warmup_ratio=1e308", "warmup_ratio = 1e+308 is out of range (from 0 to 1)"),
    ("vocab_size=" + "9" * 5000, "vocab_size = inf is out of range"),
    ("max_steps=" + str(2 ** 400), "out of range"),
    ("learning_rate=-1e300", "learning_rate = -1e+300 is out of range"),
])
def test_absurd_set_values_are_refused(repo, setting, message):
    r = run("analyze", repo / "runs" / "x", "-q", "--set", setting)
    assert r.exit_code == 2 and message in r.stderr and "internal error" not in r.stderr
    assert len(r.stderr) < 300  # the 5000 digits are not echoed back
