"""Baselines: fingerprints that survive a re-run, known findings reported but not failing, new ones failing."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kto_doctor import baseline as bl
from kto_doctor.analysis import analyze, load_rules
from kto_doctor.cli import app

from ci_runs import rows, write_state

runner = CliRunner()


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fingerprint_ignores_message_and_numbers_but_not_rule_metric_or_phase(rules, tmp_path):
    run = write_state(tmp_path / "r", rows(100, nan_at=(50, 51), zero_grad_from=90))  # NUM101 and GRAD101
    a = analyze(str(run), rules=rules)
    b = analyze(str(run), rules=rules)
    fa = {f.rule: bl.fingerprint(f, a.run) for f in a.findings}
    assert fa == {f.rule: bl.fingerprint(f, b.run) for f in b.findings}
    assert len(set(fa.values())) == len(fa) >= 2
    f = a.findings[0]
    before = bl.fingerprint(f, a.run)
    f.message, f.title, f.evidence = "other words", "other title", {"x": 1}
    assert bl.fingerprint(f, a.run) == before
    f.steps = [51, 51]  # re-run: the same NaN a step later, same 5% bucket
    assert bl.fingerprint(f, a.run) == before
    f.steps = [90, 90]  # much later in the run: a different event
    assert bl.fingerprint(f, a.run) != before


def test_baseline_match_tolerates_a_neighbouring_bucket(rules, tmp_path):
    a = analyze(str(write_state(tmp_path / "r", rows(100, nan_at=(50, 51)))), rules=rules)
    path = tmp_path / "b.json"
    bl.write(path, [a])
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1 and len(doc["findings"]) == len(a.findings)
    assert all(set(e) >= {"fingerprint", "run", "rule", "metric", "bucket"} for e in doc["findings"])
    shifted = analyze(str(write_state(tmp_path / "r", rows(100, nan_at=(56, 57)))), rules=rules)  # bucket 10 → 11
    assert bl.apply([shifted], bl.load(path)) == len(shifted.findings)
    far = analyze(str(write_state(tmp_path / "r", rows(100, nan_at=(80, 81)))), rules=rules)
    assert bl.apply([far], bl.load(path)) == 0


def test_write_then_rerun_passes_with_the_same_findings(tmp_path):
    run = write_state(tmp_path / "run", rows(40, nan_at=(20, 21)))
    first = cli("analyze", run, "-f", "json")
    assert first.exit_code == 1
    found = [f["rule"] for f in json.loads(first.stdout)["findings"]]
    assert "NUM101" in found

    w = cli("analyze", run, "-f", "json", "--write-baseline", "kto-doctor-baseline.json")
    assert w.exit_code == 0
    assert (tmp_path / "kto-doctor-baseline.json").is_file()

    write_state(tmp_path / "run", rows(40, nan_at=(20, 21)))  # the same training, run again
    again = cli("analyze", run, "-f", "json", "--baseline", "kto-doctor-baseline.json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert [f["rule"] for f in doc["findings"]] == found
    assert all(f["baseline"] is True for f in doc["findings"])
    assert doc["status"] == "failing"  # still reported as what it is


def test_a_new_finding_fails_the_gate(tmp_path):
    run = write_state(tmp_path / "run", rows(40, nan_at=(20, 21)))
    assert cli("analyze", run, "--write-baseline", "b.json", "--fail-on", "warning").exit_code == 0
    write_state(tmp_path / "run", rows(40, nan_at=(20, 21), zero_grad_from=30))  # gradients die as well now
    r = cli("analyze", run, "-f", "json", "--baseline", "b.json", "--fail-on", "warning")
    assert r.exit_code == 1
    findings = json.loads(r.stdout)["findings"]
    new = [f["rule"] for f in findings if not f.get("baseline")]
    assert new == ["GRAD101"]
    assert all(f.get("baseline") for f in findings if f["rule"] != "GRAD101")


def test_json_has_no_baseline_field_without_a_baseline(tmp_path):
    run = write_state(tmp_path / "run", rows(40, nan_at=(20, 21)))
    doc = json.loads(cli("analyze", run, "-f", "json").stdout)
    assert all("baseline" not in f for f in doc["findings"])


@pytest.mark.parametrize("content", [None, "{not json", '{"findings": 3}', '[1, 2]'])
def test_bad_baseline_is_exit_2(tmp_path, content):
    run = write_state(tmp_path / "run", rows(40, nan_at=(20, 21)))
    if content is not None:
        (tmp_path / "b.json").write_text(content)
    r = cli("analyze", run, "--baseline", "b.json")
    assert r.exit_code == 2
    assert "b.json" in r.stderr and "Traceback" not in r.output


def test_baseline_is_keyed_by_run_in_a_sweep(rules, tmp_path):
    a = analyze(str(write_state(tmp_path / "a", rows(40, nan_at=(20, 21)))), rules=rules)
    b = analyze(str(write_state(tmp_path / "b", rows(40, nan_at=(20, 21)))), rules=rules)
    bl.write(tmp_path / "b.json", [a])
    assert bl.apply([a, b], bl.load(tmp_path / "b.json")) == len(a.findings)
    assert not any(f.baseline for f in b.findings)


@pytest.mark.parametrize("doc, message", [
    ({"schema_version": "1", "findings": []}, "schema_version must be a whole number"),
    ({"schema_version": None, "findings": []}, "schema_version must be a whole number"),
    ('{"schema_version": 1, "findings": [{"rule": "KTO101", "bucket": NaN}]}', "bucket must be a whole number"),
    ('{"schema_version": 1, "findings": [{"rule": "KTO101", "bucket": 1e400}]}', "bucket must be a whole number"),
    ({"schema_version": 1, "findings": [{"rule": "KTO101", "bucket": 2.5}]}, "bucket must be a whole number"),
    ('{"findings": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
])
def test_malformed_baselines_are_one_clear_error(tmp_path, doc, message):
    from kto_doctor.baseline import BaselineError, load

    p = tmp_path / "b.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(BaselineError, match=message):
        load(p)
