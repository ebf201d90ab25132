"""Rule files are data from strangers: nothing in one may execute code, read files or hang.

Every attack must end in a clean RuleError that points at file:line, or (for values only known at run
time) in the rule being skipped with a reason — never a traceback, a RecursionError or a hang.
"""
from __future__ import annotations

import os
import time

import pytest

from kto_doctor.engine.evaluate import RunContext, evaluate_rule
from kto_doctor.engine.rules import RuleError, load_paths
from kto_doctor.engine.testing import synthetic_run

RULE = """\
id: EVIL1
name: evil
symptom: other
severity: warning
title: "t"
message: "{message}"
when: {when}
"""


def write_rule(tmp_path, when="loss > 1", message="m", name="evil.yaml"):
    p = tmp_path / name
    p.write_text(RULE.format(when=when, message=message), encoding="utf-8")
    return p


def load_error(path) -> RuleError:
    with pytest.raises(RuleError) as ei:
        load_paths([path])
    e = ei.value
    assert e.pos is not None and e.pos.file == str(path), f"error not located: {e}"
    assert e.render(path.read_text(encoding="utf-8")).startswith(f"{path}:{e.pos.line}:{e.pos.col}: error:")
    return e


@pytest.fixture(autouse=True)
def _no_side_effects(tmp_path, monkeypatch):
    """A canary: an escape that ran os.system/open would create this file."""
    monkeypatch.chdir(tmp_path)
    yield
    assert not (tmp_path / "pwned").exists()


EXPRESSIONS = {
    "import": ("\"__import__('os')\"", "unknown function '__import__'"),
    "import and call": ("\"__import__('os').system('touch pwned')\"", "only the built-in rule functions"),
    "dunder attribute of a metric": ("loss.__class__", "names starting with '_'"),
    "dunder attribute of config": ("config.__class__", "names starting with '_'"),
    "dunder of params": ("params.__dict__", "names starting with '_'"),
    "method call": ("loss.mean()", "only the built-in rule functions"),
    "lambda": ("\"(lambda: 1)()\"", "only the built-in rule functions"),
    "bare lambda": ("\"lambda: 1\"", "lambda not allowed"),
    "comprehension": ("\"[x for x in loss]\"", "comprehensions not allowed"),
    "generator": ("\"any(x for x in loss)\"", "comprehensions not allowed"),
    "f-string": ("\"f'{loss}'\"", "f-strings not allowed"),
    "subscript": ("\"loss[0]\"", "subscripts"),
    "walrus": ("\"(x := 1)\"", "assignment (:=)"),
    "dict literal": ("\"{'a': 1}\"", "dict literals"),
    "constant exponent": ("\"2**99999\"", "exponent 99999 is too large"),
    "keyword argument": ("\"rolling_mean(loss, n=3)\"", "keyword arguments"),
    "getattr": ("\"getattr(loss, 'x')\"", "unknown function 'getattr'"),
    "open": ("\"open('/etc/passwd')\"", "unknown function 'open'"),
    "eval": ("\"eval('1')\"", "unknown function 'eval'"),
    "huge integer literal": ("\"" + "9" * 400 + " > 1\"", "number too large"),
    "deep parentheses": ("\"" + "(" * 1000 + "1" + ")" * 1000 + "\"", "limit is 2000"),
    "deep parentheses under the length limit": ("\"" + "(" * 300 + "1" + ")" * 300 + "\"", "nested parentheses"),
    "deep unary": ("\"" + "-" * 900 + "1\"", "nested too deeply"),
    "deep not": ("\"" + "not " * 300 + "loss\"", "nested too deeply"),
    "deep lists": ("\"" + "[1," * 400 + "\"", "nested too deeply"),
    "deep calls": ("\"" + "abs(" * 150 + "loss" + ")" * 150 + "\"", "nested"),
    "very long": ("\"" + " + ".join(["loss"] * 600) + "\"", "limit is 2000"),
    "many parts": ("\"" + "1<" * 600 + "1\"", "too large"),
}


@pytest.mark.parametrize("src,expected", list(EXPRESSIONS.values()), ids=list(EXPRESSIONS))
def test_dangerous_expressions_are_rejected_at_load(tmp_path, src, expected):
    p = write_rule(tmp_path, when=src)
    start = time.monotonic()
    e = load_error(p)
    assert time.monotonic() - start < 2
    assert expected in e.message, e.message
    assert e.pos.line == 7  # the `when:` line


TEMPLATES = {
    "format field attribute": ("{0.__class__}", "syntax error"),
    "config dunder": ("{config.__init__}", "names starting with '_'"),
    "metric dunder": ("{loss.__class__.__mro__}", "names starting with '_'"),
    "conversion": ("{loss!r}", "syntax error"),
    "nested format spec": ("{loss:{x}}", "invalid format spec"),
    "huge width": ("{loss:>1000000}", "invalid format spec"),
    "import": ("{__import__('os')}", "unknown function"),
    "format method": ("{'{0.__class__}'.format(loss)}", "syntax error"),
    "format method on a name": ("{config.model.format(loss)}", "only the built-in rule functions"),
    "unclosed": ("{loss", "unclosed"),
}


@pytest.mark.parametrize("src,expected", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_message_template_tricks_are_rejected(tmp_path, src, expected):
    p = write_rule(tmp_path, message=src.replace('"', '\\"'))
    e = load_error(p)
    assert expected in e.message, e.message
    assert e.pos.line == 6  # the `message:` line


def test_fmt_function_refuses_format_field_tricks(tmp_path):
    p = write_rule(tmp_path, when="\"fmt(loss, '{0.__class__}') == 'x'\"")
    rs = load_paths([p])
    run = synthetic_run({"loss": "1x5"})
    out = evaluate_rule(rs.rules[0], RunContext(run))
    assert out.finding is None and out.skipped is not None
    assert "invalid format spec" in out.skipped.reason


# Each abuse and what must come of it: a skip whose reason names the limit, or a plain silent verdict.
RUNTIME = {
    "window of 1e12": ("rolling_mean(loss, 1e12) > 0", "window 1000000000000 out of range"),
    "tail of 1e12": ("mean(tail(loss, 1e12)) > 0", "window 1000000000000 out of range"),
    "ema span 1e12": ("ema(loss, 1e12) > 0", "window 1000000000000 out of range"),
    "zscore window 1e12": ("zscore(loss, 1e12) > 3", "window 1000000000000 out of range"),
    "tower of exponents": ("10**10**10 > 1", "exponent 1e+10 is too large"),
    "exponent from a parameter": ("loss ** params.n > 1", "exponent 1e+08 is too large"),
    "string repetition": ("'a' * 10**9 == 'b'", "arithmetic on a string"),
    "string repetition by a name": ("'a' * params.n == 'b'", "arithmetic on a string"),
    "string concatenation": ("'" + "a" * 200 + "' + '" + "a" * 200 + "' == 'x'", None),
    "huge shift": ("shift(loss, 1e18) > 0", "window 1000000000000000000 out of range"),
    "round to 1e18 digits": ("round(loss, 1e18) > 0", "digits 1e+18 out of range"),
    "ceil_to overflow": ("ceil_to(1e308, 1e-308) > 0", None),
}


@pytest.mark.parametrize("expr,reason", list(RUNTIME.values()), ids=list(RUNTIME))
def test_runtime_abuse_is_bounded(tmp_path, expr, reason):
    p = tmp_path / "r.yaml"
    text = RULE.format(when='"' + expr + '"', message="m")
    if "params.n" in expr:
        text = text.replace("when:", "params: {n: 100000000}\nwhen:")
    p.write_text(text, encoding="utf-8")
    rs = load_paths([p])
    run = synthetic_run({"loss": "1-0.001x500"})
    start = time.monotonic()
    out = evaluate_rule(rs.rules[0], RunContext(run))
    assert time.monotonic() - start < 5
    assert out.finding is None
    if reason is None:  # harmless: evaluated, and silent
        assert out.skipped is None and out.error is None
    else:  # refused with the limit named, never a bare Python message
        assert out.skipped is not None and reason in out.skipped.reason, out.skipped


def test_string_repetition_is_refused_with_a_reason(tmp_path):
    p = write_rule(tmp_path, when="\"'a' * 10**9 == 'b'\"")
    out = evaluate_rule(load_paths([p]).rules[0], RunContext(synthetic_run({"loss": "1x3"})))
    assert out.skipped is not None and "string" in out.skipped.reason


def test_huge_window_is_refused_with_a_reason(tmp_path):
    p = write_rule(tmp_path, when="\"rolling_mean(loss, 1e12) > 0\"")
    out = evaluate_rule(load_paths([p]).rules[0], RunContext(synthetic_run({"loss": "1x3"})))
    assert out.skipped is not None and "window" in out.skipped.reason


# -- YAML -------------------------------------------------------------------------------------------

YAML_TAGS = [
    "!!python/object/apply:os.system ['touch pwned']",
    "!!python/object:os.system {}",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!binary aGVsbG8=",
    "!custom 1",
]


@pytest.mark.parametrize("tagged", YAML_TAGS)
def test_yaml_tags_are_refused(tmp_path, tagged):
    p = tmp_path / "tag.yaml"
    p.write_text(RULE.format(when="loss > 1", message="m") + f"doc: {tagged}\n", encoding="utf-8")
    e = load_error(p)
    assert "not allowed" in e.message
    assert e.pos.line == 8


def test_yaml_tag_inside_a_rules_list_is_refused(tmp_path):
    p = tmp_path / "tag.yaml"
    p.write_text("rules:\n  - !!python/object/new:os.system\n    args: ['touch pwned']\n", encoding="utf-8")
    e = load_error(p)
    assert "not allowed" in e.message and e.pos.line == 2


def billion_laughs(levels=9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(billion_laughs(), encoding="utf-8")
    start = time.monotonic()
    e = load_error(p)
    assert time.monotonic() - start < 60  # a hang guard: an expanded bomb would take hours, not seconds
    assert "aliases" in e.message


def test_billion_laughs_inside_a_rule_field(tmp_path):
    p = tmp_path / "bomb.yaml"
    bomb = billion_laughs(8).replace("\n", "\n  ")
    p.write_text(RULE.format(when="loss > 1", message="m") + "tags: &t []\nparams:\n  " + bomb, encoding="utf-8")
    start = time.monotonic()
    load_error(p)
    assert time.monotonic() - start < 60  # a hang guard: an expanded bomb would take hours, not seconds


def test_a_few_aliases_are_still_fine(tmp_path):
    p = tmp_path / "alias.yaml"
    p.write_text(RULE.format(when="loss > 1", message="m") + "tags: &t [a, b]\nreferences: *t\n", encoding="utf-8")
    rs = load_paths([p])
    assert rs.rules[0].references == ("a", "b")


def test_deeply_nested_yaml_is_refused(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("a: " + "[" * 60 + "]" * 60 + "\n", encoding="utf-8")
    e = load_error(p)
    assert "nested too deeply" in e.message


def test_very_deep_yaml_flow_does_not_recurse(tmp_path):
    p = tmp_path / "deeper.yaml"
    p.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(RuleError):
        load_paths([p])


def test_huge_file_is_refused(tmp_path):
    p = tmp_path / "huge.yaml"
    p.write_text("# " + "x" * 2_100_000 + "\n", encoding="utf-8")
    e = load_error(p)
    assert "limited" in e.message


def test_test_series_notation_is_bounded():
    from kto_doctor.engine.testing import NotationError, parse_series

    with pytest.raises(NotationError):
        parse_series("1x1000000000000")


def test_nothing_ran(tmp_path):
    # The autouse canary checks every test; this one makes sure the canary itself can see a file.
    (tmp_path / "pwned").write_text("x")
    assert os.path.exists(tmp_path / "pwned")
    os.remove(tmp_path / "pwned")


@pytest.mark.parametrize("field, value, message", [
    ("steps", "nan", "`steps` must be whole numbers"),
    ("steps", "1e300x3", "`steps` must be whole numbers"),
    ("steps", "inf -inf 3", "`steps` must be whole numbers"),
    ("series", "1" * 60_000, "60,000 characters"),
    ("series", "1" * 30_000 + "z", "30,001 characters"),
])
def test_hostile_rule_test_series_are_refused_at_once(field, value, message):
    import signal

    from kto_doctor.engine.rules import load_builtin
    from kto_doctor.engine.testing import run_case

    rs = load_builtin()
    rule = rs.find("KTO103")
    case = {"name": "hostile", "series": {"kl": "1x3"}, "expect": {"fires": False}}
    if field == "steps":
        case["steps"] = value
    else:
        case["series"] = {"kl": value}
    signal.alarm(20)  # a hang guard, not a timing assertion: the old pattern backtracked for minutes
    try:
        res = run_case(rule, case, rs.catalog)
    finally:
        signal.alarm(0)
    assert not res.ok and any(message in p for p in res.problems) and res.where
