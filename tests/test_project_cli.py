"""Project configuration from the command line: --config, --isolated, `config show`, and the rules it adds
known to `explain` and `rules list`; `rules check` reports every error and knows the built-ins' own files."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.engine.rules import builtin_rules_dir

from conftest import REPO, SAMPLES

runner = CliRunner()
TEAM = REPO / "docs" / "examples" / "team-rules.yaml"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "ci").mkdir()
    shutil.copy(TEAM, tmp_path / "ci" / "team-rules.yaml")
    (tmp_path / ".kto-doctor.yaml").write_text("extend-rules: [ci/]\nrules:\n  KTO103: {severity: info}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_explain_and_rules_list_know_the_project_rules(project):
    r = run("explain", "TEAM101")
    assert r.exit_code == 0 and r.stdout.startswith("TEAM101 team-kto-8b-kl-budget")
    listing = run("rules", "list", "-f", "json")
    rows = {x["code"]: x for x in json.loads(listing.stdout)["rules"]}
    assert {"TEAM101", "TEAM102"} <= set(rows) and rows["KTO103"]["severity"] == "info"
    isolated = json.loads(run("rules", "list", "-f", "json", "--isolated").stdout)["rules"]
    assert "TEAM101" not in {x["code"] for x in isolated}
    assert run("explain", "TEAM101", "--isolated").exit_code == 2


def test_config_show_names_the_file_that_applies(project, tmp_path_factory):
    r = run("config", "show")
    assert r.exit_code == 0
    assert f"project configuration: {project / '.kto-doctor.yaml'}" in r.stdout
    assert "rules.KTO103" in r.stdout
    assert run("config", "show", "--isolated").stdout.startswith("project configuration: none")


def test_config_file_and_isolated_on_analyze(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cfg") / "strict.yaml"
    elsewhere.write_text("fail-on: info\n")
    healthy = SAMPLES / "kto-healthy"  # one info finding: passes by default, fails with fail-on info
    assert run("analyze", healthy, "--isolated").exit_code == 0
    r = run("analyze", healthy, "--config", elsewhere, "-v")
    assert r.exit_code == 1
    assert f"project configuration: {elsewhere}" in r.stderr
    assert run("analyze", healthy, "--config", project / "missing.yaml").exit_code == 2
    both = run("analyze", healthy, "--config", elsewhere, "--isolated")
    assert both.exit_code == 2 and "exclude each other" in both.stderr


def test_config_keys_lists_the_set_keys():
    r = run("config", "keys")
    assert r.exit_code == 0
    assert any(line.split()[:3] == ["vocab_size", "whole", "number"] for line in r.stdout.splitlines())


def test_rules_check_reports_every_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""rules:
  - {id: TEAM101, name: team-one, symptom: kl-hihg, severity: error, title: x, message: y, when: kl > 5}
  - {id: TEAM102, name: team-two, symptom: kl-high, severity: eror, title: x, message: y, when: kl > 5}
  - {id: KTO101, name: team-three, symptom: kl-high, severity: info, title: x, message: y, when: kl > 5}
overrides:
  - {rule: NOPE999, severity: info}
""")
    other = tmp_path / "other.yaml"
    other.write_text("id: TEAM104\nname: team-four\nsymptom: other\nseverity: info\ntitle: x\nmessage: y\n"
                     "when: kl >\n")
    r = run("rules", "check", bad, other)
    assert r.exit_code == 2
    err = r.stderr
    assert "unknown symptom 'kl-hihg'" in err and "severity must be one of" in err
    assert "duplicate rule code KTO101" in err and "override names no rule: 'NOPE999'" in err
    assert "other.yaml:7" in err
    assert "5 errors in 2 path(s)" in err


def test_rules_check_on_a_copy_of_the_builtin_rules_is_clean(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(builtin_rules_dir(), copy)
    r = run("rules", "check", copy)
    assert r.exit_code == 0, r.stderr
    assert "duplicate" not in r.output
    assert "copies of built-in rules, checked in their place" in r.stdout
    # an edited copy is checked as it is now
    f = next(copy.rglob("KTO103-*.yaml"))
    f.write_text(f.read_text().replace("severity: warning", "severity: warn", 1))
    r = run("rules", "check", copy)
    assert r.exit_code == 2 and "KTO103" in r.stderr and "1 error" in r.stderr
