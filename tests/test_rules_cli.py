"""`kto-doctor rules ...` and custom rules end to end (CliRunner)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app

ROOT = Path(__file__).resolve().parent.parent
TEAM = ROOT / "docs" / "examples" / "team-rules.yaml"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def out(res) -> str:
    return res.stdout + (res.stderr if res.stderr_bytes is not None else "")


GOOD = """\
id: MY101
name: my-loss-high
symptom: loss-divergence
severity: warning
title: "loss {value:.3g} is above {params.limit:g}"
message: "loss went above {params.limit:g} at step {first_step:,.0f}"
params: {limit: 2}
when: loss > params.limit
for_rows: 2
tests:
  - name: fires
    series: {loss: "1 3 3 3"}
    expect: {fires: true, first_step: 2}
  - name: silent
    series: {loss: "1x4"}
    expect: {fires: false}
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


# -- list ---------------------------------------------------------------------------------------------


def test_list_table_names_every_builtin_rule():
    from kto_doctor.engine.rules import load_builtin

    res = invoke("rules", "list")
    assert res.exit_code == 0
    for r in load_builtin().rules:
        assert r.id in res.stdout and r.name in res.stdout
    assert "rules/kto/KTO102-kto-not-learning.yaml" in res.stdout


def test_list_json_with_user_rules():
    res = invoke("rules", "list", "--format", "json", "--rules", str(TEAM))
    assert res.exit_code == 0
    rows = {r["code"]: r for r in json.loads(res.stdout)["rules"]}
    assert rows["TEAM101"]["methods"] == ["kto"] and rows["TEAM101"]["builtin"] is False
    assert rows["TEAM101"]["source"].endswith("team-rules.yaml")
    assert rows["KTO102"]["symptom"] == "flat-loss" and rows["KTO102"]["builtin"] is True


def test_list_rejects_unknown_format():
    assert invoke("rules", "list", "--format", "xml").exit_code == 2


def test_rule_reference_is_up_to_date():
    res = invoke("rules", "list", "--format", "markdown")
    assert res.exit_code == 0
    committed = (ROOT / "docs" / "rule-reference.md").read_text(encoding="utf-8")
    assert res.stdout == committed, "docs/rule-reference.md is stale: run python scripts/gen_docs.py"


def test_rules_md_documents_every_field_and_function():
    from kto_doctor.engine.functions import FUNCTIONS
    from kto_doctor.engine.rules import RULE_FIELDS

    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    missing = [f for f in RULE_FIELDS if f"`{f}`" not in text]
    assert not missing, f"docs/rules.md does not mention fields {missing}"
    missing = [f for f in FUNCTIONS if f"`{f}(" not in text and f"`{f}`" not in text]
    assert not missing, f"docs/rules.md does not mention functions {missing}"


# -- check --------------------------------------------------------------------------------------------


def test_check_ok(tmp_path):
    p = write(tmp_path, "my.yaml", GOOD)
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 0, out(res)
    assert res.stdout.strip().splitlines() == ["OK: 1 rule(s), 0 override(s) in 1 file(s)"]


def test_check_builtin_and_team_rules():
    res = invoke("rules", "check", str(ROOT / "rules"), str(TEAM))
    assert res.exit_code == 0, out(res)
    assert res.stdout.startswith("OK:")


def test_check_broken_rule_points_at_the_token_with_did_you_mean(tmp_path):
    p = write(tmp_path, "broken.yaml", GOOD.replace("when: loss > params.limit", "when: grad_nrom > params.limit"))
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    err = out(res)
    assert f"{p}:8:7: error: unknown metric 'grad_nrom'" in err
    assert "8 | when: grad_nrom > params.limit" in err
    assert "  |       ^^^^^^^^^" in err
    assert "did you mean 'grad_norm'?" in err


def test_check_unknown_field_did_you_mean(tmp_path):
    p = write(tmp_path, "broken.yaml", GOOD.replace("for_rows: 2", "for_row: 2"))
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    assert f"{p}:9:1: error: unknown field 'for_row'" in out(res)
    assert "did you mean 'for_rows'?" in out(res)


def test_check_schema_errors(tmp_path):
    p = write(tmp_path, "broken.yaml", GOOD.replace("severity: warning", "severity: fatal"))
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2 and f"{p}:4:11: error: severity must be one of" in out(res)


def test_check_duplicate_code_against_builtins(tmp_path):
    p = write(tmp_path, "dup.yaml", GOOD.replace("id: MY101", "id: KTO102"))
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    assert f"{p}:1:1: error: duplicate rule code KTO102" in out(res)


def test_check_duplicate_code_across_user_files(tmp_path):
    a = write(tmp_path, "a.yaml", GOOD)
    b = write(tmp_path, "b.yaml", GOOD.replace("my-loss-high", "my-other"))
    res = invoke("rules", "check", str(a), str(b))
    assert res.exit_code == 2 and "duplicate rule code MY101" in out(res) and str(b) in out(res)


def test_check_reports_every_broken_file(tmp_path):
    a = write(tmp_path, "a.yaml", GOOD.replace("loss > params", "los > params"))
    b = write(tmp_path, "b.yaml", GOOD.replace("MY101", "MY102").replace("my-loss-high", "b").replace(
        "params.limit:g} at", "params.limt:g} at"))
    res = invoke("rules", "check", str(a), str(b))
    assert res.exit_code == 2
    text = out(res)
    assert f"{a}:8:7" in text and "unknown metric 'los'" in text
    assert f"{b}:6:" in text and "unknown parameter 'limt'" in text and "2 errors" in text


def test_check_override_must_name_a_rule(tmp_path):
    p = write(tmp_path, "ov.yaml", "overrides:\n  - {rule: KTO999, severity: info}\n")
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2 and "override names no rule: 'KTO999'" in out(res)
    ok = write(tmp_path, "ov2.yaml", "overrides:\n  - {rule: KTO103, severity: info}\n")
    res = invoke("rules", "check", str(ok))
    assert res.exit_code == 0 and "1 override(s)" in res.stdout


def test_check_missing_file():
    res = invoke("rules", "check", "no/such/file.yaml")
    assert res.exit_code == 2 and "no such rule file" in out(res)


# Column numbers for expressions in every scalar style: the caret must sit under `grad_nrom`.
STYLES = {
    "plain": ("when: loss > 1 and grad_nrom > 1\n", 9, 20),
    "double quoted": ('when: "loss > 1 and grad_nrom > 1"\n', 9, 21),
    "single quoted": ("when: 'loss > 1 and grad_nrom > 1'\n", 9, 21),
    "plain over two lines": ("when: loss > 1 and\n  grad_nrom > 1\n", 10, 3),
    "folded block": ("when: >-\n    loss > 1 and\n    grad_nrom > 1\n", 11, 5),
    "folded block, first line": ("when: >-\n  grad_nrom > 1 and loss > 1\n", 10, 3),
    "literal block": ("when: |\n  loss > 1 and grad_nrom > 1\n", 10, 16),
    "double quoted over two lines": ('when: "loss > 1 and\n   grad_nrom > 1"\n', 10, 4),
}


@pytest.mark.parametrize("when,line,col", list(STYLES.values()), ids=list(STYLES))
def test_error_columns_in_every_scalar_style(tmp_path, when, line, col):
    text = GOOD.replace("when: loss > params.limit\n", "").replace("tests:", when + "tests:", 1)
    p = tmp_path / "cols.yaml"
    p.write_text(text, encoding="utf-8")
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    err = out(res)
    assert f"{p}:{line}:{col}: error: unknown metric 'grad_nrom'" in err, err
    src_line = text.splitlines()[line - 1]
    assert src_line[col - 1:col - 1 + len("grad_nrom")] == "grad_nrom"


def test_error_column_in_a_folded_message_template(tmp_path):
    text = GOOD.replace('message: "loss went above {params.limit:g} at step {first_step:,.0f}"',
                        "message: >-\n  loss went above {params.limit:g}\n  at step {frist_step:,.0f}")
    p = tmp_path / "msg.yaml"
    p.write_text(text, encoding="utf-8")
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    assert f"{p}:8:12: error: unknown metric 'frist_step'" in out(res), out(res)


# -- test ---------------------------------------------------------------------------------------------


def test_test_builtin_default_passes():
    res = invoke("rules", "test")
    assert res.exit_code == 0, res.stdout
    last = res.stdout.strip().splitlines()[-1]
    passed, failed = last.split(", ")
    assert failed == "0 failed" and int(passed.split()[0]) >= 18 * 2


def test_test_team_rules_pass():
    res = invoke("rules", "test", str(TEAM))
    assert res.exit_code == 0, res.stdout
    assert res.stdout.strip().splitlines()[-1] == "7 passed, 0 failed"


def test_test_failure_reports_file_rule_case(tmp_path):
    p = write(tmp_path, "my.yaml", GOOD.replace("first_step: 2", "first_step: 3"))
    res = invoke("rules", "test", str(p))
    assert res.exit_code == 1
    assert f"FAIL {p}:MY101:fires" in res.stdout
    assert "expected first_step 3, got 2" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_symptom_if_names_the_symptom_the_numbers_support(tmp_path):
    rule = GOOD.replace("for_rows: 2\n", "for_rows: 2\nsymptom_if:\n  loss-spike: max(loss) > 10 * params.limit\n")
    rule = rule.replace("expect: {fires: true, first_step: 2}", "expect: {fires: true, symptom: loss-divergence}")
    rule += """  - name: far above is a spike
    series: {loss: "1 30 30 3"}
    expect: {fires: true, symptom: loss-spike}
"""
    p = write(tmp_path, "my.yaml", rule)
    res = invoke("rules", "test", str(p))
    assert res.exit_code == 0, res.stdout
    assert res.stdout.strip().splitlines()[-1] == "3 passed, 0 failed"
    wrong = write(tmp_path, "wrong.yaml", rule.replace("symptom: loss-spike}", "symptom: loss-divergence}"))
    res = invoke("rules", "test", str(wrong))
    assert res.exit_code == 1 and "expected symptom loss-divergence, got loss-spike" in res.stdout
    typo = write(tmp_path, "typo.yaml", rule.replace("  loss-spike: max", "  loss-spkie: max"))
    res = invoke("rules", "check", str(typo))
    assert res.exit_code == 2
    assert f"{typo}:11:" in out(res) and "unknown symptom 'loss-spkie' in symptom_if" in out(res)
    assert "did you mean 'loss-spike'?" in out(res)


def test_test_todo_does_not_fail(tmp_path):
    p = write(tmp_path, "my.yaml", GOOD.replace("expect: {fires: false}", "expect: {fires: true, todo: true}"))
    res = invoke("rules", "test", str(p))
    assert res.exit_code == 0, res.stdout
    assert f"TODO {p}:MY101:silent" in res.stdout and "1 todo case(s)" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_standalone_test_file_naming_rules(tmp_path):
    rules = write(tmp_path, "my.yaml", GOOD)
    tests = write(tmp_path, "my.tests.yaml", """\
        rule_files: [my.yaml]
        tests:
          - rule: MY101
            name: three rows high
            series: {loss: "3x3"}
            expect: {fires: true, first_step: 1, last_step: 3}
          - rule: kto-not-learning
            name: a built-in rule by name
            method: kto
            series: {loss: "0.5x20", kl: "0x20", rewards/chosen: "0x20", rewards/margins: "0x20", learning_rate: "0x20"}
            expect: {fires: true, cause: lr-zero}
          - rule: MY101
            name: wrong on purpose
            series: {loss: "1x3"}
            expect: {fires: true}
        """)
    res = invoke("rules", "test", str(tests))
    assert res.exit_code == 1, res.stdout
    assert f"FAIL {tests}:12:MY101:wrong on purpose" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "2 passed, 1 failed"
    # A folder: the rule file's own cases and the test file's.
    res = invoke("rules", "test", str(tmp_path))
    assert res.stdout.strip().splitlines()[-1] == "4 passed, 1 failed"
    assert rules.exists()


def test_test_file_with_unknown_rule_is_a_load_error(tmp_path):
    t = write(tmp_path, "x.tests.yaml", "rule: MY10\ntests:\n  - {name: a, series: {loss: '1'}, expect: {fires: true}}\n")
    res = invoke("rules", "test", str(t))
    assert res.exit_code == 2
    assert f"{t}:1:7: error: test case names an unknown rule 'MY10'" in out(res)


def test_test_load_error_exit_2(tmp_path):
    p = write(tmp_path, "bad.yaml", GOOD.replace("loss > params.limit", "loss >"))
    res = invoke("rules", "test", str(p))
    assert res.exit_code == 2 and f"{p}:8:" in out(res) and "syntax error" in out(res)


# -- schema, functions --------------------------------------------------------------------------------


def test_schema_is_valid_and_accepts_the_rule_files():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    res = invoke("rules", "schema")
    assert res.exit_code == 0
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "rules").rglob("*.yaml")) + [TEAM]
    for f in files:
        errors = list(v.iter_errors(yaml.safe_load(f.read_text(encoding="utf-8"))))
        assert not errors, f"{f}: {errors[0].message}"
    bad = yaml.safe_load(GOOD.replace("for_rows: 2", "for_row: 2"))
    assert list(v.iter_errors(bad))


def test_schema_follows_rule_fields():
    from kto_doctor.engine.rules import RULE_FIELDS
    from kto_doctor.engine.schema import build_schema

    rule = build_schema()["$defs"]["rule"]
    assert set(rule["properties"]) == set(RULE_FIELDS)
    assert set(rule["required"]) == {k for k, v in RULE_FIELDS.items() if v[1]}
    assert rule["additionalProperties"] is False


def test_functions_lists_every_function():
    from kto_doctor.engine.functions import FUNCTIONS

    res = invoke("rules", "functions")
    assert res.exit_code == 0
    for name, spec in FUNCTIONS.items():
        assert f"{name}{spec.signature}" in res.stdout
    assert "Windows, rolling statistics" in res.stdout


# -- analyze with user rules --------------------------------------------------------------------------


def write_run(dirpath: Path, kls, eval_losses):
    dirpath.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, k in enumerate(kls):
        s = 50 * (i + 1)
        rows.append({"step": s, "epoch": s / 1000, "loss": 0.5 - 0.005 * i, "kl": k, "rewards/chosen": 0.1 * i,
                     "rewards/rejected": -0.1 * i, "rewards/margins": 0.2 * i, "learning_rate": 5e-6,
                     "grad_norm": 1.0})
        if s % 100 == 0 and s // 100 <= len(eval_losses):
            rows.append({"step": s, "epoch": s / 1000, "eval_loss": eval_losses[s // 100 - 1]})
    (dirpath / "trainer_state.json").write_text(json.dumps(
        {"global_step": 50 * len(kls), "max_steps": 50 * len(kls), "log_history": rows}), encoding="utf-8")
    return dirpath


KTO_8B = ["--set", "model_name_or_path=meta-llama/Meta-Llama-3-8B-Instruct", "--set", "beta=0.1",
          "--set", "stage=kto"]


def test_analyze_shows_team_rules_with_their_causes_and_fixes(tmp_path):
    run = write_run(tmp_path / "run", [0.1, 0.2, 0.3, 0.5, 5.5, 6, 7, 8, 8, 8, 8, 8],
                    [0.9, 0.8, 0.7, 0.72, 0.75, 0.8])
    res = invoke("analyze", str(run), "--rules", str(TEAM), "--format", "json", *KTO_8B)
    assert res.exit_code == 1, out(res)
    report = json.loads(res.stdout)
    found = {f["rule"]: f for f in report["findings"]}
    assert found["TEAM101"]["severity"] == "error"
    assert "kl reached 8 after step 200" in found["TEAM101"]["message"]
    assert found["TEAM102"]["severity"] == "warning"
    assert "from step 400 to 600" in found["TEAM102"]["message"]
    causes = {d["cause"]: d for d in report["diagnosis"]}
    assert causes["team-kl-drift"]["fixes"][0].startswith("Raise beta (pref_beta)")
    assert causes["beta-too-low"]["fixes"] == ["Set pref_beta: 0.2 (or higher) in the training config"]
    assert causes["team-overfitting"]["fixes"][0] == "Keep the checkpoint from step 300"
    text = invoke("analyze", str(run), "--rules", str(TEAM), *KTO_8B)
    assert "TEAM101 team-kto-8b-kl-budget" in text.stdout and "Keep the checkpoint from step 300" in text.stdout


def test_analyze_team_rules_silent_on_a_healthy_run(tmp_path):
    run = write_run(tmp_path / "run", [0.1] * 12, [0.9, 0.8, 0.7, 0.65, 0.6, 0.58])
    res = invoke("analyze", str(run), "--rules", str(TEAM), "--format", "json", *KTO_8B)
    report = json.loads(res.stdout)
    assert not [f for f in report["findings"] if f["rule"].startswith("TEAM")]


def test_analyze_with_an_overrides_only_user_file(tmp_path):
    # kl of 4 nats from the first log: KTO103 fires (past step 1 at an unknown rate it needs more than 3)
    run = write_run(tmp_path / "run", [4, 4, 4, 4, 5.5, 6, 7, 8, 8, 8, 8, 8], [0.9, 0.8, 0.7, 0.72, 0.75, 0.8])
    ov = write(tmp_path, "ov.yaml", """\
        overrides:
          - {rule: TEAM101, severity: warning, params: {max_kl: 7.5}}
          - {rule: TEAM102, enabled: false, reason: "we early-stop anyway"}
        """)
    res = invoke("analyze", str(run), "--rules", str(TEAM), "--rules", str(ov), "--format", "json", *KTO_8B)
    report = json.loads(res.stdout)
    found = {f["rule"]: f for f in report["findings"]}
    assert found["TEAM101"]["severity"] == "warning"
    assert "(first at step 400," in found["TEAM101"]["message"]  # kl >= 7.5 from step 400
    assert "TEAM102" not in found
    # Overrides only, on a built-in rule: severity changes and the rule is still evaluated.
    ov2 = write(tmp_path, "ov2.yaml", "overrides:\n  - {rule: KTO103, severity: info}\n")
    base = json.loads(invoke("analyze", str(run), "--format", "json", *KTO_8B).stdout)
    assert any(f["rule"] == "KTO103" and f["severity"] == "warning" for f in base["findings"])
    res = json.loads(invoke("analyze", str(run), "--rules", str(ov2), "--format", "json", *KTO_8B).stdout)
    assert any(f["rule"] == "KTO103" and f["severity"] == "info" for f in res["findings"])


def test_analyze_with_a_broken_user_rule_exits_2(tmp_path):
    run = write_run(tmp_path / "run", [0.1] * 4, [])
    p = write(tmp_path, "broken.yaml", GOOD.replace("when: loss > params.limit", "when: grad_nrom > 1"))
    res = invoke("analyze", str(run), "--rules", str(p))
    assert res.exit_code == 2
    assert f"{p}:8:7" in out(res) and "did you mean 'grad_norm'?" in out(res)


# -- the examples in docs/rules.md work ----------------------------------------------------------------


def doc_blocks(lang):
    import re

    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_docs_complete_rule_example_passes_its_tests(tmp_path):
    block = next(b for b in doc_blocks("yaml") if b.startswith("id: MY101"))
    p = write(tmp_path, "doc-rule.yaml", block)
    assert invoke("rules", "check", str(p)).exit_code == 0
    res = invoke("rules", "test", str(p))
    assert res.exit_code == 0, res.stdout
    assert res.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_docs_test_file_example_passes(tmp_path):
    import shutil

    block = next(b for b in doc_blocks("yaml") if b.startswith("rule_files:"))
    shutil.copy(TEAM, tmp_path / "team-rules.yaml")
    t = write(tmp_path, "team.tests.yaml", block)
    res = invoke("rules", "test", str(t))
    assert res.exit_code == 0, res.stdout
    assert res.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_docs_overrides_and_project_config_examples_load(tmp_path):
    from kto_doctor.project import load_settings

    ov = next(b for b in doc_blocks("yaml") if b.startswith("overrides:"))
    assert invoke("rules", "check", str(write(tmp_path, "ov.yaml", ov))).exit_code == 0
    cfg = next(b for b in doc_blocks("yaml") if b.startswith("extend-rules:"))
    (tmp_path / "ci" / "rules").mkdir(parents=True)
    s = load_settings(write(tmp_path, ".kto-doctor.yaml", cfg))
    assert s.fail_on == "warning" and s.select == ["KTO", "TEAM"]
    assert {o["rule"] for o in s.overrides} == {"KTO103", "SCHED104"}
    toml = doc_blocks("toml")[0]
    s = load_settings(write(tmp_path, "pyproject.toml", toml))
    assert s.fail_on == "warning" and s.overrides[0]["severity"] == "info"


def test_check_catches_an_unquoted_colon_in_a_catalog_fix(tmp_path):
    p = write(tmp_path, "causes.yaml", "causes:\n  my-cause:\n    title: T\n    fixes:\n      - Compare splits: eval first\n")
    res = invoke("rules", "check", str(p))
    assert res.exit_code == 2
    assert f"{p}:5:9: error: fixes of cause 'my-cause' must be text" in out(res), out(res)
