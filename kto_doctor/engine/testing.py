"""Rule test cases: synthetic runs written in a compact series notation, and their expectations.

A test case (under a rule's `tests:` or in a `*.tests.yaml` file with `tests:` and `rule:` keys)::

    - name: flagship warm-up fires
      method: kto                      # default: the rule's first method, else sft
      framework: llamafactory          # default: unknown
      config: {learning_rate: 1.0e-6, warmup_steps_effective: 4739}
      steps: "200+1x5"                 # optional: the step of each row, same notation (default 1, 2, 3...)
      series:
        loss: "0.58x5"
        learning_rate: "4.22e-8+2.1e-10x5"
      expect: {fires: true, first_step: 200, severity: warning, cause: warmup-too-long,
               message_contains: "4,739"}

Series notation, tokens separated by spaces:
  v          one value (numbers, nan, inf, -inf)
  _          a row where the metric was not logged
  vxN        N copies of v                (0.69x50)
  a+dxN      N values a, a+d, a+2d, ...   (0.6-0.01x20 counts down)
  a..bxN     N values evenly from a to b  (1e-6..0x100)
"""
from __future__ import annotations

import math
import re
from dataclasses import field

from ..fastclass import dataclass
from ..model import Run, SEVERITIES
from .evaluate import RunContext, evaluate_rule
from .rules import Rule, RuleSet

_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|NaN|Inf)"
_TOKEN = re.compile(
    rf"^(?:(?P<miss>_)|(?P<a>{_NUM})(?:(?P<op>[+-]|\.\.)(?P<b>{_NUM}))?)(?:x(?P<n>\d+))?$"
)
MAX_ROWS = 200_000
MAX_CELLS = 2_000_000  # rows x series of one test case: test files come from strangers too
MAX_TOKEN = 64
MAX_STEP = 2 ** 53


class NotationError(ValueError):
    pass


def parse_series(text) -> list[float | None]:
    """Expand the notation into a list of values (None for a missing row)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [float(text)]
    if isinstance(text, list):
        return [None if v in (None, "_") else float(v) for v in text]
    if not isinstance(text, str):
        raise NotationError(f"a series is a string like '0.69x50 0.6-0.01x20', got {type(text).__name__}")
    out: list[float | None] = []
    for tok in text.split():
        if len(tok) > MAX_TOKEN:  # no number is that long; the pattern would backtrack over it for minutes
            raise NotationError(f"cannot read '{tok[:24]}…' ({len(tok):,} characters; a token is at most "
                                f"{MAX_TOKEN})")
        m = _TOKEN.match(tok)
        if not m:
            raise NotationError(f"cannot read '{tok}' (use v, vxN, a+dxN, a..bxN, nan, inf or _)")
        n = int(m.group("n")) if m.group("n") else 1
        if len(out) + n > MAX_ROWS:
            raise NotationError(f"series longer than {MAX_ROWS} rows")
        if m.group("miss"):
            out.extend([None] * n)
            continue
        a = float(m.group("a"))
        op = m.group("op")
        if op is None:
            out.extend([a] * n)
        elif op == "..":
            b = float(m.group("b"))
            out.extend([a] if n == 1 else [a + (b - a) * i / (n - 1) for i in range(n)])
        else:
            d = float(m.group("b")) * (1 if op == "+" else -1)
            out.extend([a + d * i for i in range(n)])
    return out


def synthetic_run(series: dict, config: dict | None = None, method: str = "unknown",
                  framework: str = "unknown", steps=None) -> Run:
    """A Run built from notation strings, as a reader would have produced it."""
    import pandas as pd

    if not isinstance(series, dict):
        raise NotationError("`series` maps metric names to series, e.g. {loss: '0.69x50'}")
    cols = {name: parse_series(txt) for name, txt in series.items()}
    if sum(len(v) for v in cols.values()) > MAX_CELLS:
        raise NotationError(f"the series of one test case hold more than {MAX_CELLS:,} values")
    n = max((len(v) for v in cols.values()), default=0)
    if steps is not None:
        step_vals = [s for s in parse_series(steps) if s is not None]
        if not all(0 <= s < MAX_STEP and s == int(s) for s in step_vals):  # (False for nan and inf)
            raise NotationError(f"`steps` must be whole numbers from 0 to 2**53, got '{str(steps)[:40]}'")
        step_vals = [int(s) for s in step_vals]
        if len(step_vals) < n:
            raise NotationError(f"`steps` has {len(step_vals)} rows but a series has {n}")
    else:
        step_vals = list(range(1, n + 1))
    series_objs = {}
    for name, vals in cols.items():
        idx = [step_vals[i] for i, v in enumerate(vals) if v is not None]
        data = [v for v in vals if v is not None]
        series_objs[name] = pd.Series(data, index=pd.Index(idx, dtype="int64", name="step"), dtype=float)
    frame = pd.DataFrame(series_objs) if series_objs else pd.DataFrame(index=pd.Index([], dtype="int64"))
    frame.index.name = "step"
    run = Run(path="<test>", metrics=frame, config=dict(config or {}), method=method, framework=framework)
    run._series = series_objs
    return run


@dataclass
class CaseResult:
    rule: str
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    todo: bool = False
    where: str = ""


EXPECT_KEYS = {"fires", "first_step", "last_step", "severity", "symptom", "cause", "causes_include", "message_contains",
               "title_contains", "cause_text_contains", "evidence", "skipped", "todo"}
CASE_KEYS = {"name", "method", "framework", "config", "series", "steps", "expect", "rule"}


def run_case(rule: Rule, case: dict, catalog: dict) -> CaseResult:
    name = str(case.get("name", "unnamed case"))
    res = CaseResult(rule.id, name, True, where=rule.source)
    bad = set(case) - CASE_KEYS
    if bad:
        return _fail(res, f"unknown test field(s): {', '.join(sorted(bad))}")
    expect = case.get("expect") or {}
    if not isinstance(expect, dict):
        return _fail(res, "`expect` must be a mapping")
    bad = set(expect) - EXPECT_KEYS
    if bad:
        return _fail(res, f"unknown expectation(s): {', '.join(sorted(bad))}")
    res.todo = bool(expect.get("todo"))
    method = case.get("method") or (rule.methods[0] if rule.methods else "sft")
    try:
        run = synthetic_run(case.get("series") or {}, case.get("config"), method,
                            case.get("framework", "unknown"), case.get("steps"))
    except NotationError as e:
        return _fail(res, str(e))
    holes: list = []
    out = evaluate_rule(rule, RunContext(run, catalog), holes=holes)
    f = out.finding
    for where, src in holes:
        res.problems.append(f"the {where} prints n/a for {{{src}}}: guard it (coalesce, or an optional sentence)")
    if out.error:
        res.problems.append(f"rule failed to evaluate: {out.error}")
    if "skipped" in expect:
        if bool(expect["skipped"]) != (out.skipped is not None):
            res.problems.append(f"expected skipped={expect['skipped']}, got "
                                f"{'skipped (' + out.skipped.reason + ')' if out.skipped else 'evaluated'}")
    fires = expect.get("fires")
    if fires is not None and bool(fires) != (f is not None):
        why = f" ({out.skipped.reason})" if out.skipped else ""
        res.problems.append(f"expected the rule {'to fire' if fires else 'to stay silent'}, "
                            f"but it {'fired: ' + f.message if f else 'did not fire' + why}")
    for key in ("first_step", "last_step"):
        v = expect.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                  and v == int(v)):
            return _fail(res, f"expect.{key} must be a whole number")
    if f is not None:
        if "first_step" in expect and (not f.steps or f.steps[0] != int(expect["first_step"])):
            res.problems.append(f"expected first_step {expect['first_step']}, got {f.steps[0] if f.steps else None}")
        if "last_step" in expect and (not f.steps or f.steps[-1] != int(expect["last_step"])):
            res.problems.append(f"expected last_step {expect['last_step']}, got {f.steps[-1] if f.steps else None}")
        if "severity" in expect:
            if expect["severity"] not in SEVERITIES:
                res.problems.append(f"expect.severity must be one of {', '.join(SEVERITIES)}")
            elif f.severity != expect["severity"]:
                res.problems.append(f"expected severity {expect['severity']}, got {f.severity}")
        if "symptom" in expect and f.symptom != expect["symptom"]:
            res.problems.append(f"expected symptom {expect['symptom']}, got {f.symptom}")
        if "cause" in expect:
            top = f.causes[0].id if f.causes else None
            if top != expect["cause"]:
                res.problems.append(f"expected top cause {expect['cause']}, got {top} "
                                    f"(causes: {', '.join(c.id for c in f.causes) or 'none'})")
        for cid in expect.get("causes_include") or []:
            if cid not in [c.id for c in f.causes]:
                res.problems.append(f"expected cause {cid} among {', '.join(c.id for c in f.causes) or 'none'}")
        for key, attr in (("message_contains", "message"), ("title_contains", "title")):
            wanted = expect.get(key)
            if wanted is None:
                continue
            for w in wanted if isinstance(wanted, list) else [wanted]:
                if str(w) not in getattr(f, attr):
                    res.problems.append(f"expected {attr} to contain {w!r}: {getattr(f, attr)!r}")
        wanted = expect.get("cause_text_contains")
        top_text = f.causes[0].text if f.causes else ""
        for w in ([] if wanted is None else wanted if isinstance(wanted, list) else [wanted]):
            if str(w) not in top_text:
                res.problems.append(f"expected the top cause's text to contain {w!r}: {top_text!r}")
        for k, want in (expect.get("evidence") or {}).items():
            got = f.evidence.get(k)
            if not _close(got, want):
                res.problems.append(f"expected evidence {k} = {want}, got {got}")
    res.ok = not res.problems
    return res


def _close(got, want) -> bool:
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if math.isnan(float(want)):
            return math.isnan(float(got))
        return math.isclose(float(got), float(want), rel_tol=1e-3, abs_tol=1e-9)
    return got == want


def _fail(res, msg):
    res.ok = False
    res.problems.append(msg)
    return res


def run_tests(ruleset: RuleSet, rules: list[Rule] | None = None, extra_cases: list[tuple[str, dict]] = ()):
    """Run every rule's own cases plus `extra_cases` ([(rule key, case)]). Returns CaseResults."""
    results = []
    for rule in rules if rules is not None else ruleset.rules:
        for case in rule.tests:
            if not isinstance(case, dict):
                results.append(CaseResult(rule.id, "?", False, ["a test case must be a mapping"], where=rule.source))
                continue
            results.append(run_case(rule, case, ruleset.catalog))
    for key, case in extra_cases:
        rule = ruleset.find(key)
        if rule is None:
            results.append(CaseResult(key, str(case.get("name", "?")), False, [f"no rule '{key}'"]))
            continue
        results.append(run_case(rule, case, ruleset.catalog))
    return results
