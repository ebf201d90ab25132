"""Holes in rule files that used to pass silently: prose cut by a YAML comment, a message that prints n/a,
a parameter nothing reads, a contradiction declared against a cause that does not exist."""
from __future__ import annotations

import textwrap

from typer.testing import CliRunner

from kto_doctor.cli import app

runner = CliRunner()

RULE = """\
id: LINT101
name: lint-case
symptom: loss-divergence
severity: warning
title: "loss {{value:.3g}}"
message: "{message}"
params: {{limit: 2{extra_param}}}
when: loss > params.limit
causes:
  - id: lint-cause
    text: "the loss is high"
    fixes:
{fixes}
tests:
  - name: fires
    series: {{loss: "1 3 3"}}
    expect: {{fires: true}}
"""


def write(tmp_path, message="loss above {params.limit:g}", fixes="      - lower the learning rate", extra_param=""):
    p = tmp_path / "lint.yaml"
    p.write_text(RULE.format(message=message, fixes=fixes, extra_param=extra_param), encoding="utf-8")
    return p


def check(path):
    res = runner.invoke(app, ["rules", "check", str(path)])
    return res.exit_code, res.output + (res.stderr if res.stderr_bytes is not None else "")


def test_a_clean_rule_passes(tmp_path):
    code, text = check(write(tmp_path))
    assert code == 0, text


def test_a_fix_cut_by_an_unquoted_hash_is_refused_at_its_column(tmp_path):
    code, text = check(write(tmp_path, fixes="      - Upgrade TRL to >= 0.8.2 (PR #1499 uses nanmean)."))
    assert code == 2
    assert "lint.yaml:13:37" in text and "cut short by a YAML comment" in text and "quote" in text


def test_an_ordinary_trailing_comment_is_fine(tmp_path):
    code, text = check(write(tmp_path, fixes="      - Lower the learning rate   # see the docs"))
    assert code == 0, text


def test_a_message_that_prints_n_a_on_its_own_test_is_an_error(tmp_path):
    code, text = check(write(tmp_path, message="a warm-up of {config.warmup_steps:,.0f} steps"))
    assert code == 2
    assert "prints n/a for {config.warmup_steps}" in text and "test case 'fires'" in text


def test_a_param_nothing_reads_is_an_error(tmp_path):
    code, text = check(write(tmp_path, extra_param=", min_rows: 3"))
    assert code == 2
    assert "param 'min_rows' is declared but no expression or template reads it" in text


def test_excludes_must_name_catalog_causes(tmp_path):
    p = tmp_path / "causes.yaml"
    p.write_text(textwrap.dedent("""\
        causes:
          my-cause:
            title: Something
            excludes: [lr-too-hgh]
        """), encoding="utf-8")
    code, text = check(p)
    assert code == 2
    assert "excludes 'lr-too-hgh', which is not in the cause catalog" in text and "lr-too-high" in text


def test_builtin_rules_pass_every_lint():
    from conftest import REPO

    code, text = check(REPO / "rules")
    assert code == 0, text
