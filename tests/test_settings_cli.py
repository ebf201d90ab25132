"""`--set` and `--method`: checked against the known configuration keys, stated vs guessed method."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.config import check_setting

from conftest import SAMPLES

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def guessed_run(tmp_path):
    """A trainer_state.json alone: no config says the method, only the metric names do."""
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(SAMPLES / "kto-healthy" / "trainer_state.json", d / "trainer_state.json")
    return d


@pytest.mark.parametrize("args,needle", [
    (["--set", "vocab_size=abc"], "vocab_size takes a whole number"),
    (["--set", "learning_rate=fast"], "learning_rate takes a number"),
    (["--set", "bf16=maybe"], "bf16 takes true or false"),
    (["--set", "vocab_sise=152064"], "did you mean vocab_size"),
    (["--set", "method=kot"], "method is one of kto"),
    (["--method", "kot"], "--method must be one of"),
    (["--set", "novalue"], "--set expects key=value"),
])
def test_bad_settings_are_exit_2_with_the_reason(args, needle):
    r = run("analyze", SAMPLES / "kto-healthy", *args)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and "Traceback" not in r.output


def test_good_settings_reach_the_rules():
    r = run("analyze", SAMPLES / "kto-flagship", "-f", "json", "--set", "vocab_size=32000", "--set",
            "pref_beta=0.1", "--set", "stage=kto")
    assert r.exit_code == 0, r.output
    art = next(f for f in json.loads(r.stdout)["findings"] if f["symptom"] == "logits-metric-artifact")
    assert art["evidence"]["vocab_size"] == 32000


def test_a_key_only_a_team_rule_reads_is_known(tmp_path):
    rules = tmp_path / "team.yaml"
    rules.write_text("""
id: TEAM101
name: team-budget
symptom: other
severity: info
title: "budget {config.team_budget:g}"
message: "loss above budget"
when: loss > config.team_budget
""")
    assert check_setting("team_budget", "3") is not None  # unknown without the rule
    r = run("analyze", SAMPLES / "kto-healthy", "--rules", rules, "--set", "team_budget=0.01", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "TEAM101" in [f["rule"] for f in json.loads(r.stdout)["findings"]]


def test_guessed_method_is_shown_as_a_guess(guessed_run):
    r = run("analyze", guessed_run)
    assert "method kto (guessed from metric names)" in r.stdout
    rep = json.loads(run("analyze", guessed_run, "-f", "json").stdout)["run"]
    assert (rep["method"], rep["method_source"]) == ("kto", "guessed")
    assert rep["framework_source"] == "guessed"


@pytest.mark.parametrize("how", [["--method", "dpo"], ["--set", "method=dpo"], ["--set", "stage=dpo"]])
def test_method_stated_on_the_command_line(guessed_run, how):
    rep = json.loads(run("analyze", guessed_run, "-f", "json", *how).stdout)["run"]
    assert (rep["method"], rep["method_source"]) == ("dpo", "stated")
    text = run("analyze", guessed_run, *how).stdout
    assert "method dpo ·" in text and "guessed from metric names" not in text


def test_method_stated_by_the_config_file():
    rep = json.loads(run("analyze", SAMPLES / "kto-flagship", "-f", "json").stdout)["run"]
    assert (rep["method"], rep["method_source"], rep["framework"], rep["framework_source"]) == \
        ("kto", "stated", "llamafactory", "stated")


def test_scan_checks_settings_too():
    r = run("scan", SAMPLES / "kto-healthy", "--set", "vocab_size=abc")
    assert r.exit_code == 2 and "vocab_size takes a whole number" in r.stderr
