"""CI formats: SARIF 2.1.0 for code scanning, JUnit XML, GitHub workflow commands, Markdown; -o files."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.analysis import analyze, evaluate, load_rules
from kto_doctor.cli import app
from kto_doctor.engine.testing import synthetic_run
from kto_doctor.model import Finding, Report
from kto_doctor.reports import RenderOptions, render, render_many
from kto_doctor.reports.github import command, escape_data, escape_property
from kto_doctor.reports.locations import key_line, locate

from ci_runs import rows, write_state
from conftest import REPO, SAMPLES

runner = CliRunner()
WARMUP = SAMPLES / "lf-kto-warmup-too-long"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)  # SARIF/annotation paths are relative to the working directory (the repo in CI)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def warmup_report(rules):
    return analyze(str(WARMUP.relative_to(REPO)), rules=rules)


def nan_report(rules, tmp_path):
    # a NaN loss (NUM101, error) and gradients that die at the end (GRAD101): two findings of two rules
    return analyze(str(write_state(tmp_path / "nan-run", rows(40, nan_at=(20, 21), zero_grad_from=36))), rules=rules)


# ---------------------------------------------------------------- SARIF


def test_sarif_has_what_github_code_scanning_requires(warmup_report):
    doc = json.loads(render("sarif", warmup_report))
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "kto-doctor" and driver["version"]
    rules = driver["rules"]
    assert {r["id"] for r in rules} >= {f.rule for f in warmup_report.findings}
    for r in rules:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"] and r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert "{" not in r["shortDescription"]["text"]  # templates are not shown raw
    results = doc["runs"][0]["results"]
    assert len(results) == len(warmup_report.findings) > 0
    levels = {f.rule: {"error": "error", "warning": "warning", "info": "note"}[f.severity]
              for f in warmup_report.findings}
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == levels[res["ruleId"]]
        assert res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        uri = loc["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "\\" not in uri and not uri.startswith("file:")
        assert (REPO / uri).is_file(), uri
        assert loc["region"]["startLine"] >= 1
        assert res["partialFingerprints"]


def test_sarif_rule_help_carries_the_doc_and_fixes(warmup_report, rules):
    doc = json.loads(render("sarif", warmup_report))
    sched = next(r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "SCHED101")
    assert sched["fullDescription"]["text"].strip() == rules.by_code()["SCHED101"].raw["doc"].strip()
    fix = warmup_report.findings[[f.rule for f in warmup_report.findings].index("SCHED101")].causes[0].fixes[0]
    assert fix in sched["help"]["markdown"] and fix in sched["help"]["text"]


def test_sarif_points_at_the_log_line_where_evidence_was_read(warmup_report):
    doc = json.loads(render("sarif", warmup_report))
    run = warmup_report.run
    for f, res in zip(warmup_report.findings, doc["runs"][0]["results"]):
        file, line = run.location(f.metrics[0], f.steps[0])
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == f"{run.path}/{file}"
        assert loc["region"]["startLine"] == line


def test_location_falls_back_to_the_config_line_of_the_hyperparameter(rules, tmp_path):
    (tmp_path / "train.yaml").write_text("model: x\nstage: sft\nlearning_rate: 1.0e-5\nbf16: true\n")
    run = synthetic_run({"loss": "2.0x10 nan 2.0x5", "grad_norm": "1.0x10 nan 1.0x5"}, {"learning_rate": 1e-5},
                        method="sft")
    run.path = str(tmp_path)
    run.config_provenance = {"learning_rate": "train.yaml", "bf16": "train.yaml"}
    report = evaluate(run, rules)
    f = next(f for f in report.findings if f.rule == "NUM101")
    uri, line = locate(report, f)
    assert uri.endswith("train.yaml")
    assert line == {"fp16": None, "bf16": 4, "learning_rate": 3}[next(k for k in f.config_keys if k != "fp16")]


def test_key_line_scans_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("# comment\nwarmup_steps: 500\n  max_steps: 60\n")
    (tmp_path / "b.json").write_text('{\n  "learning_rate": 2e-4,\n  "warmup_steps": 3\n}\n')
    assert key_line(tmp_path / "a.yaml", "max_steps") == 3
    assert key_line(tmp_path / "a.yaml", "warmup_steps") == 2
    assert key_line(tmp_path / "b.json", "warmup_steps") == 3
    assert key_line(tmp_path / "b.json", "beta") is None


def test_sarif_fingerprints_stable_across_analyses_and_distinct_per_rule(rules, tmp_path):
    a = json.loads(render("sarif", nan_report(rules, tmp_path)))
    b = json.loads(render("sarif", nan_report(rules, tmp_path)))
    fa = {r["ruleId"]: r["partialFingerprints"] for r in a["runs"][0]["results"]}
    fb = {r["ruleId"]: r["partialFingerprints"] for r in b["runs"][0]["results"]}
    assert len(fa) >= 2 and fa == fb
    assert len({json.dumps(v, sort_keys=True) for v in fa.values()}) == len(fa)


def test_sarif_of_a_sweep_is_one_run_with_every_result(rules, tmp_path, warmup_report):
    nan = nan_report(rules, tmp_path)
    doc = json.loads(render_many("sarif", [warmup_report, nan]))
    assert len(doc["runs"]) == 1
    results = doc["runs"][0]["results"]
    assert len(results) == len(warmup_report.findings) + len(nan.findings)
    ids = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- JUnit


def test_junit_structure_and_counts(warmup_report, rules, tmp_path):
    nan = nan_report(rules, tmp_path)
    root = ET.fromstring(render_many("junit", [warmup_report, nan]))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(warmup_report.run.path), str(nan.run.path)]
    for suite, report in zip(suites, [warmup_report, nan]):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == len(report.rules)
        failures = [c.find("failure") for c in cases if c.find("failure") is not None]
        skipped = [c.find("skipped") for c in cases if c.find("skipped") is not None]
        assert int(suite.get("failures")) == len(failures) == len(report.findings)
        assert int(suite.get("skipped")) == len(skipped) == sum(1 for s in report.skipped)
        types = sorted(f.get("type") for f in failures)
        assert types == sorted(f.severity for f in report.findings)
        assert all(f.get("message") for f in failures) and all(s.get("message") for s in skipped)
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites)


def test_junit_failures_follow_fail_on_and_escape_text(warmup_report):
    root = ET.fromstring(render("junit", warmup_report, RenderOptions(extra={"fail_on": "error"})))
    failures = root.findall(".//failure")
    assert [f.get("type") for f in failures] == ["error"] * sum(f.severity == "error" for f in warmup_report.findings)
    run = synthetic_run({"loss": "1x3"})
    f = Finding("X1", "x", "other", "error", 'a <b> & "c"', "line1\nline2 \x1b[31m]]>", [1, 2])
    root = ET.fromstring(render("junit", Report(run, [f], [], [])))
    fail = root.find(".//failure")
    assert fail.get("message").startswith("line1\nline2") and 'a <b> & "c"' in fail.text


# ---------------------------------------------------------------- GitHub workflow commands


def test_workflow_command_escaping():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    line = command("error", "loss: 1,2\n100%", file="runs/a,b:c.json", line=12, title="KTO1 x: y")
    assert line == "::error file=runs/a%2Cb%3Ac.json,line=12,title=KTO1 x%3A y::loss: 1,2%0A100%25"


def _fake_report(n_error, n_warning, n_info):
    run = synthetic_run({"loss": "1x3"})
    findings = []
    for sev, n in (("error", n_error), ("warning", n_warning), ("info", n_info)):
        findings += [Finding(f"{sev[0].upper()}{i:03d}", "r", "other", sev, f"t{i}", f"m{i}", [1, 1])
                     for i in range(n)]
    return Report(run, findings, [], [])


def test_github_annotations_capped_at_ten_per_level_most_important_first():
    out = render("github", _fake_report(14, 12, 3)).splitlines()
    errors = [l for l in out if l.startswith("::error")]
    warnings = [l for l in out if l.startswith("::warning")]
    notices = [l for l in out if l.startswith("::notice")]
    assert (len(errors), len(warnings), len(notices)) == (10, 10, 3)
    assert "E000" in errors[0] and "E009" in errors[-1]
    assert "6 not annotated" in out[-1]


def test_github_annotation_for_a_real_finding(warmup_report):
    out = render("github", warmup_report).splitlines()
    first = out[0]
    top = warmup_report.findings[0]
    level = {"error": "error", "warning": "warning", "info": "notice"}[top.severity]
    file, line = warmup_report.run.location(top.metrics[0], top.steps[0])
    assert first.startswith(f"::{level} file={warmup_report.run.path}/{file},line={line},title=kto-doctor {top.rule}")
    assert "\n" not in first


def test_github_appends_markdown_to_step_summary(warmup_report, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = render("github", warmup_report)
    render("github", warmup_report)
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("## kto-doctor: ") == 2 and "Probable causes" in text
    assert "job summary" in out


# ---------------------------------------------------------------- Markdown


def test_markdown_report(warmup_report):
    md = render("markdown", warmup_report)
    assert md.startswith("## kto-doctor: ") and warmup_report.status in md.splitlines()[0]
    assert "### Probable causes, most likely first" in md
    assert warmup_report.diagnosis[0].fixes[0].split(" ")[0] in md
    assert "| severity | rule | steps | finding | evidence | where |" in md
    assert md.count("\n| ") >= len(warmup_report.findings) + 1
    assert "<details><summary>" in md and warmup_report.skipped[0].rule in md


def test_markdown_escapes_table_breakers():
    run = synthetic_run({"loss": "1x3"})
    f = Finding("X1", "x", "other", "warning", "a|b", "<script> *x* | y", [1, 1], evidence={"k|": 1})
    md = render("markdown", Report(run, [f], [], []))
    row = next(l for l in md.splitlines() if l.startswith("| 🟡"))
    assert row.count(" | ") == 5  # six cells, no stray separators
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_markdown_many_has_a_summary_table(warmup_report, rules, tmp_path):
    md = render_many("markdown", [warmup_report, nan_report(rules, tmp_path)])
    assert md.startswith("## kto-doctor scan") and "| run | method | status | top cause | findings |" in md
    assert md.count("### kto-doctor: ") == 2


# ---------------------------------------------------------------- -o FILE for every format


@pytest.mark.parametrize("fmt,name", [("sarif", "r.sarif"), ("junit", "r.xml"), ("markdown", "r.md"),
                                      ("github", "r.txt"), ("json", "r.json")])
def test_each_format_to_a_file(fmt, name, tmp_path):
    out = tmp_path / name
    r = runner.invoke(app, ["analyze", str(WARMUP), "--format", fmt, "-o", str(out), "--exit-zero"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    if fmt in ("sarif", "json"):
        json.loads(text)
    elif fmt == "junit":
        assert ET.fromstring(text).tag == "testsuites"
    elif fmt == "markdown":
        assert text.startswith("## kto-doctor")
    else:
        assert text.startswith(("::error ", "::warning ", "::notice "))


def test_several_format_file_pairs_at_once(tmp_path):
    args = ["analyze", str(WARMUP)]
    for fmt, name in (("sarif", "a.sarif"), ("junit", "a.xml"), ("markdown", "a.md"), ("github", "a.gh")):
        args += ["--format", fmt, "-o", str(tmp_path / name)]
    r = runner.invoke(app, args)
    assert r.exit_code == (1 if any(f.severity == "error" for f in analyze(str(WARMUP)).findings) else 0)
    assert json.loads((tmp_path / "a.sarif").read_text())["version"] == "2.1.0"
    assert ET.fromstring((tmp_path / "a.xml").read_text()).find("testsuite") is not None
    assert (tmp_path / "a.md").read_text().startswith("## kto-doctor")
    assert (tmp_path / "a.gh").read_text().startswith("::")


def test_junit_from_cli_follows_fail_on(tmp_path):
    out = tmp_path / "j.xml"
    r = runner.invoke(app, ["analyze", str(WARMUP), "-f", "junit", "-o", str(out), "--fail-on", "never"])
    assert r.exit_code == 0
    assert ET.fromstring(out.read_text()).get("failures") == "0"
