"""The text report says what a user needs to trust it: the baseline and the gate's decision."""
from __future__ import annotations

from typer.testing import CliRunner

from kto_doctor.cli import app

from conftest import SAMPLES

runner = CliRunner()
LR_HIGH = SAMPLES / "lf-kto-lr-too-high"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def n_findings(*args) -> int:
    import json

    return len(json.loads(run("analyze", LR_HIGH, "-f", "json", *args).stdout)["findings"])


def test_baselined_findings_are_marked_and_the_gate_decision_is_said(tmp_path):
    base = tmp_path / "b.json"
    assert run("analyze", LR_HIGH, "--write-baseline", base).exit_code == 0
    n = n_findings()
    assert n >= 2
    r = run("analyze", LR_HIGH, "--baseline", base)
    assert r.exit_code == 0
    assert f"all {n} in the baseline: the gate passes (--fail-on error)" in r.stdout
    assert r.stdout.count("[in baseline]") == n


def test_new_findings_beside_the_baseline_fail_the_gate_and_say_so(tmp_path):
    base = tmp_path / "b.json"
    run("analyze", LR_HIGH, "--select", "SCHED104", "--write-baseline", base)
    n = n_findings()
    r = run("analyze", LR_HIGH, "--baseline", base, "--fail-on", "info")
    assert r.exit_code == 1
    assert f"1 of {n} in the baseline; {n - 1} new at or above --fail-on info: the gate fails" in r.stdout
    assert r.stdout.count("[in baseline]") == 1


def test_no_baseline_no_gate_line():
    r = run("analyze", LR_HIGH)
    assert r.exit_code == 1 and "baseline" not in r.stdout
