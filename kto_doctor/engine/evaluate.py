"""Evaluating one rule on one run: skipped, passed, or a Finding with its numbers and ranked causes."""
from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass

from ..fastclass import dataclass
from ..model import Cause, Finding, Run, Skipped
from .. import heap
from .expr import Compiled, EvalError, Scope, is_series, truthy_mask
from .rules import Rule


@dataclass
class Outcome:
    rule: Rule
    finding: Finding | None = None
    skipped: Skipped | None = None
    error: str | None = None  # the rule failed on this run's data (reported as skipped, never silent)


class RunContext:
    """A run's data as rule expressions see it; built once per analysis."""

    def __init__(self, run: Run, catalog: dict | None = None):
        self.run = run
        self.catalog = catalog or {}
        # Facts the readers found (final eval results, trainable params, fp16 overflow counts) are visible as
        # config.<name> when no configuration file says otherwise; only scalars (lists stay in run.facts).
        self.config = {k: v for k, v in run.facts.items() if isinstance(v, (int, float, str, bool))}
        self.config.update(run.config)
        steps = run.steps
        self.run_fields = {
            "method": run.method, "framework": run.framework,
            "first_step": steps["first"], "last_step": steps["last"], "logged": steps["logged"],
            **_metric_facts(run),
            **_task_facts(run),
        }
        # A long run: what reading and merging it freed goes back to the system before the rules (heap.py). Not a
        # trim after each rule: the next rule's temporaries faulted the same pages in again (on a 1 GB console log,
        # 27 trims cost 0.14 s of system time and no lower peak once the reader's stores left the C heap). Nor a
        # fixed mmap threshold any more (each temporary a mapping of its own, given back when freed): with the
        # rules' temporaries down to ~19 MB it lowered the peak by 1-1.5 MB for 30k page faults, 0.12 s of system time
        self.large = len(run.step_index) >= heap.LARGE
        if self.large:
            heap.release()

    def step_series(self):
        """`step` in a rule: the steps of every logged row as a series (step -> step). Built when a rule reads
        it, not kept: on a long run it is as large as a metric, and few rules read it."""
        import pandas as pd

        idx = self.run.step_index
        return pd.Series(idx.to_numpy(dtype=float), index=idx, copy=False)

    def metric(self, name: str):
        return self.run.series(name)

    def has_metric(self, name: str) -> bool:
        s = self.run.series(name)
        return s is not None and len(s) > 0


def _metric_facts(run: Run) -> dict:
    """What the rules may know of the run's series as a whole: their names, the ones the ontology does not
    know, the method's core series and whether one was read, every series holding a NaN or inf, and the per-function
    reward series with those that never left 0."""
    import numpy as np

    from ..ontology import core_missing, core_series, reward_components, unknown

    names = list(run.metric_names)
    floats = {}  # every numeric series as floats, converted once
    for name in names:
        try:
            floats[name] = np.asarray(run.series(name).to_numpy(), dtype=float)
        except (TypeError, ValueError, AttributeError):
            continue
    nonfinite = [n for n, v in floats.items() if len(v) and not np.isfinite(v).all()]
    core = list(core_series(run.method))
    components = reward_components(names)
    silent = []
    for name in components:
        vals = floats.get(name)
        if vals is None:
            continue
        vals = vals[np.isfinite(vals)]
        if len(vals) and not vals.any():
            silent.append(name)
    risen, fallen = _reward_shifts(components, floats)
    correctness = [n for n in components if _CORRECTNESS.search(n)]
    scored = [n for n in correctness if n in floats]  # (the correctness terms that hold numbers)
    pinned = _pinned_rewards(scored, floats)
    unearned = _unearned_correctness(scored, floats)
    return {
        "metrics": names,
        "unknown_metrics": list(getattr(run, "unknown_metrics", None) or unknown(names)),
        "core_series": core,
        "core_missing": core_missing(run.method, names, run.config),  # facts are visible in config
        "nonfinite_metrics": nonfinite,
        "never_finite_metrics": [n for n in nonfinite if len(floats[n]) >= 2 and not np.isfinite(floats[n]).any()],
        "reward_components": components,
        "silent_rewards": silent,
        "pinned_rewards": pinned,
        "unearned_correctness_rewards": unearned,
        "correctness_rewards": correctness,
        # the step counter went back to an earlier step (a relaunch into the same log): segments less one
        "step_restarts": max(0, len(getattr(run, "segments", None) or []) - 1),
        "risen_rewards": risen,
        "fallen_correctness_rewards": fallen,
    }


# a reward term that scores the answer itself (correctness), not its form: `accuracy_reward`, `correctness_reward_func`,
# `exact_match`, `math_verify`, `pass_rate`, `solve`...
_CORRECTNESS = re.compile(r"(?i)accura|correct|exact|match|answer|solv|verif|pass")
_SHIFT_ROWS = 5  # rows of each fifth at the least (a 25-row log)


_PINNED_ROWS = 3  # measurements of a term, its evaluation twin's included


def _pinned_rewards(correctness: list, floats: dict) -> list:
    """The correctness terms whose mean is one and the same value strictly between 0 and 1 on every logged row
    (training rows and the term's `eval_` twin together, 3 at the least): a pass rate of sampled completions moves
    from batch to batch, so an unmoving 0.5 is a constant the function returns (a fallback when the reference answer
    cannot be parsed), not a measurement. 0 is `silent_rewards`' case, 1 a saturated task."""
    import numpy as np

    out = []
    for name in correctness:
        parts = [floats[name], floats.get("eval_" + name, np.empty(0))]
        vals = np.concatenate([v[np.isfinite(v)] for v in parts])
        if len(vals) >= _PINNED_ROWS and 0 < vals[0] < 1 and (vals == vals[0]).all():
            out.append(name)
    return out


def _unearned_correctness(correctness: list, floats: dict) -> list:
    """The correctness terms that are still not earned at the end: the median of their last fifth is 0 or less and its
    mean under 0.05 (a typical batch scores no right answer; a penalty that went away is no answer got right), on 25
    rows at the least. A term that is exactly 0 on every row is `silent_rewards`' case (GRPO113), not this."""
    import numpy as np

    out = []
    for name in correctness:
        vals = floats[name][np.isfinite(floats[name])]
        k = len(vals) // 5
        if k < _SHIFT_ROWS or not vals.any():
            continue
        last = vals[-k:]
        if float(np.median(last)) <= 0 and float(last.mean()) < 0.05:
            out.append(name)
    return out


def _reward_shifts(components: list, floats: dict) -> tuple[list, list]:
    """The per-function rewards whose mean over the last fifth of their rows is up by 10% of their level or more over
    the first fifth's (risen), and the correctness terms whose last fifth's mean is at most half a positive first
    fifth's, earned on two rows or more (fallen): a total reward that rises through the form while the answers get
    worse. Means, not medians: a correctness reward is 0 on most batches and earned on a few."""
    import numpy as np

    risen, fallen = [], []
    for name in components:
        vals = floats.get(name)
        if vals is None:
            continue
        vals = vals[np.isfinite(vals)]
        k = len(vals) // 5
        if k < _SHIFT_ROWS:
            continue
        a, b = float(vals[:k].mean()), float(vals[-k:].mean())
        if b - a >= 0.1 * max(abs(a), abs(b), 1e-9):
            risen.append(name)
        elif a > 0 and b <= 0.5 * a and np.count_nonzero(vals[:k]) >= 2 and _CORRECTNESS.search(name):
            fallen.append(name)
    return risen, fallen


TASK_MIN_EVALS = 3  # a task metric logged fewer times has no history to hold a best against


def _task_facts(run: Run) -> dict:
    """The eval task metric that fared worst at the end (WER, accuracy, BLEU, ... through the ontology's
    directions): its name, best and last value, and `task_shortfall`, how far the last value is from the
    best in the metric's bad direction, relative to the best (0: the last evaluation is the best);
    `task_best_step`, where that best was; and `task_gain`, how much it improved, relative, from its value at
    the eval loss's lowest point to its best (None without an eval loss): a task metric that still improves
    while the eval loss rises is over-confidence, one that barely moves is not; `task_first`, its first
    evaluation (where the run started from, for an RL run); `task_direction`, 'lower' or 'higher' is better (the
    ontology's). None when the run logged no
    task metric at least TASK_MIN_EVALS times."""
    import numpy as np

    from ..ontology import task_metrics

    ev_best_step = None
    if "eval_loss" in run.metric_names:
        ev = run.series("eval_loss").dropna()
        ev = ev[np.isfinite(ev.to_numpy(dtype=float))]
        if len(ev):
            ev_best_step = float(ev.index[int(np.argmin(ev.to_numpy(dtype=float)))])
    worst = None
    for name, direction in task_metrics(run.metric_names):
        try:
            s = run.series(name)
            vals = np.asarray(s.to_numpy(), dtype=float)
            steps = np.asarray(s.index.to_numpy(), dtype=float)
        except (TypeError, ValueError, AttributeError):
            continue
        ok = np.isfinite(vals)
        vals, steps = vals[ok], steps[ok]
        if len(vals) < TASK_MIN_EVALS:
            continue
        at = int(vals.argmin() if direction == "lower" else vals.argmax())
        best = float(vals[at])
        last = float(vals[-1])
        gap = (last - best) if direction == "lower" else (best - last)
        shortfall = gap / abs(best) if best != 0 else (0.0 if gap == 0 else math.inf)
        gain = None
        if ev_best_step is not None:
            before = np.flatnonzero(steps <= ev_best_step)
            then = float(vals[before[-1]] if len(before) else vals[0])
            better = (then - best) if direction == "lower" else (best - then)
            gain = better / abs(then) if then != 0 else (0.0 if better == 0 else math.inf)
        if worst is None or shortfall > worst["task_shortfall"]:
            worst = {"task_metric": name, "task_best": best, "task_last": last, "task_shortfall": shortfall,
                     "task_best_step": float(steps[at]), "task_gain": gain, "task_first": float(vals[0]),
                     "task_direction": direction}
    return worst or {"task_metric": None, "task_best": None, "task_last": None, "task_shortfall": None,
                     "task_best_step": None, "task_gain": None, "task_first": None,
                     "task_direction": None}


def evaluate_rule(rule: Rule, ctx: RunContext, holes: list | None = None) -> Outcome:
    """Evaluate `rule` on the run. `holes`, when given, collects (template, field) for every template
    field that rendered as n/a (a value the message did not guard): `rules check`/`rules test` report them."""
    return _evaluate(rule, ctx, holes)


def _evaluate(rule: Rule, ctx: RunContext, holes: list | None) -> Outcome:
    why = _skip_reason(rule, ctx)
    if why:
        return Outcome(rule, skipped=Skipped(rule.id, why, rule.name))
    scope = Scope(metric=ctx.metric, config=ctx.config, params=rule.params, run=ctx.run_fields,
                  lets={}, steps=ctx.step_series)
    try:
        if rule.applies_if is not None and not _scalar_truth(rule.applies_if.evaluate(scope)):
            return Outcome(rule, skipped=Skipped(rule.id, f"does not apply: {rule.applies_if.source.strip()}",
                                                 rule.name))
        lets = scope.lets
        for (name, compiled), done in zip(rule.lets, _last_uses(rule)):
            lets[name] = compiled.evaluate(scope)
            for dead in done:  # a series nothing after this reads: its memory back before the next let
                if is_series(lets.get(dead)):
                    del lets[dead]
        cond = rule.when.evaluate(scope)
        firing = _firing_rows(cond, rule)
        if firing is None:
            return Outcome(rule)
        return Outcome(rule, finding=_finding(rule, ctx, scope, firing, holes))
    except EvalError as e:
        return Outcome(rule, skipped=Skipped(rule.id, f"could not be evaluated on this run: {e}", rule.name),
                       error=str(e))
    except Exception as e:  # a rule must never take the analysis down: reported as not evaluated
        return Outcome(rule, skipped=Skipped(rule.id, f"could not be evaluated on this run: {e}", rule.name),
                       error=str(e))


_NOT_READ = ("lets", "raw", "tests")  # fields no expression after the lets is in (the YAML mapping and its tests: a
# compiled rule decodes them only for reports of the rules, engine/compiled.py)


def _last_uses(rule: Rule) -> list[tuple[str, ...]]:
    """Per let, the lets it is the last reader of: neither a later let nor anything evaluated after the lets
    (`when`, severity_if, evidence, title, message, causes...) reads them. A long run's series lets are 4.5 MB
    each (558k rows), and a rule's lets all alive at once were most of its peak. Read from the lowered code of
    every expression of the rule (["n", name] is a let where a let has that name), once per rule."""
    read = [f.name for f in fields(rule) if f.name not in _NOT_READ]
    key = tuple(map(id, (getattr(rule, name) for name in read)))
    got = rule.__dict__.get("_last_uses")
    if got is not None and got[0] == key:
        return got[1]
    names = {name for name, _ in rule.lets}
    last = {}  # let name -> the position of the last let that reads it (its own where none does)
    for k, (name, compiled) in enumerate(rule.lets):
        last.setdefault(name, k)
        for used in _names_in(compiled.code, names):
            last[used] = k
    later: set[str] = set()  # read after the lets
    for name in read:
        _collect(getattr(rule, name), names, later)
    out: list[list[str]] = [[] for _ in rule.lets]
    for used, k in last.items():
        if used not in later:
            out[k].append(used)
    result = [tuple(x) for x in out]
    rule.__dict__["_last_uses"] = (key, result)
    return result


def _collect(value, names: set, into: set) -> None:
    """The let names read by every expression held in `value` (a Compiled, a Template, a cause, lists of them)."""
    if isinstance(value, Compiled):
        into.update(_names_in(value.code, names))
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, names, into)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            _collect(getattr(value, f.name), names, into)


def _names_in(code, names: set) -> set:
    """The names of `names` that the lowered expression `code` reads (see expr.lower)."""
    out = set()
    stack = [code]
    while stack:
        c = stack.pop()
        if len(c) == 2 and c[0] == "n" and c[1] in names:
            out.add(c[1])
        else:  # (an operation's arguments, or a list of them: a comparison's right sides)
            stack.extend(x for x in c if type(x) is list)
    return out


def _skip_reason(rule: Rule, ctx: RunContext) -> str | None:
    if rule.methods and ctx.run.method not in rule.methods:
        return f"applies to {', '.join(rule.methods)}; this run is {ctx.run.method}"
    if rule.frameworks and ctx.run.framework not in rule.frameworks:
        return f"applies to {', '.join(rule.frameworks)} logs; this run is {ctx.run.framework}"
    missing = [m for m in rule.requires_metrics if not ctx.has_metric(m)]
    if missing:
        return f"needs metric{'s' if len(missing) > 1 else ''} {', '.join(missing)} (not logged)"
    if rule.requires_any and not any(ctx.has_metric(m) for m in rule.requires_any):
        return f"needs one of the metrics {', '.join(rule.requires_any)} (none logged)"
    missing_cfg = [k for k in rule.requires_config if ctx.config.get(k) is None]
    if missing_cfg:
        keys = ", ".join(missing_cfg)
        return f"needs config {keys} (not found in the run's files; pass --set {missing_cfg[0]}=...)"
    return None


def _scalar_truth(v) -> bool:
    m = truthy_mask(v)
    if is_series(m):
        return bool(m.any())
    return bool(m)


def _firing_rows(cond, rule: Rule):
    """The steps of the firing window(s), or None when the rule is silent.

    A series condition fires on streaks of rows where it holds, long enough for `for` (steps) and
    `for_rows` (rows), allowing `tolerance` broken rows inside a streak. A scalar condition fires for the
    whole run (an empty list of steps: a run-level finding).
    """
    m = truthy_mask(cond)
    if not is_series(m):
        return [] if m else None
    if len(m) == 0 or not m.any():
        return None
    vals = m.to_numpy(dtype=bool)
    steps = m.index.to_numpy()
    fired = streaks(vals, steps, rule.tolerance, rule.for_rows, rule.for_steps)
    if not fired.any():
        return None
    return [int(s) for s in steps[fired]]


def streaks(vals, steps, tolerance: int, for_rows: int, for_steps: float):
    """The rows of every streak that lasts: a streak runs from a true row to the last true row before more
    than `tolerance` false rows in a row; it counts when it spans at least `for_rows` rows (its false rows
    included) and `for_steps` steps. Whole-array work, so that a rule over a million rows costs no Python
    loop per row."""
    import numpy as np

    n = len(vals)
    fired = np.zeros(n, dtype=bool)
    true = np.flatnonzero(vals)
    if not len(true):
        return fired
    # a streak breaks where more than `tolerance` false rows separate two true rows
    breaks = np.flatnonzero(np.diff(true) - 1 > tolerance)
    starts = true[np.concatenate(([0], breaks + 1))]
    ends = true[np.concatenate((breaks, [len(true) - 1]))]
    rows = ends - starts + 1
    span = np.asarray(steps[ends], dtype=np.float64) - np.asarray(steps[starts], dtype=np.float64)
    keep = (rows >= for_rows) & (span >= for_steps)
    if keep.any():
        mark = np.zeros(n + 1, dtype=np.int64)
        np.add.at(mark, starts[keep], 1)
        np.add.at(mark, ends[keep] + 1, -1)
        fired = np.cumsum(mark[:n]) > 0
    return fired


def _value_at(v, anchor):
    """What a series means in a message: its value at the anchor step (or the last one before it)."""
    if not is_series(v):
        return v
    if len(v) == 0:
        return None
    if anchor is not None:
        sub = v[v.index <= anchor]
        if len(sub):
            x = sub.iloc[-1]
        else:
            x = v.iloc[0]
    else:
        x = v.iloc[-1]
    if type(x).__name__ in ("bool_", "bool"):
        return bool(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return x


def _finding(rule: Rule, ctx: RunContext, scope: Scope, firing: list[int], holes: list | None = None) -> Finding:
    anchor = firing[0] if firing else None
    first_metric = next((m for m in rule.metrics if ctx.has_metric(m)), None)
    scope.lets.setdefault("value", ctx.metric(first_metric) if first_metric else None)
    extra = {
        "first_step": float(firing[0]) if firing else ctx.run_fields["first_step"],
        "last_step": float(firing[-1]) if firing else ctx.run_fields["last_step"],
        "count": float(len(firing)),
    }
    scope.lets.update({k: v for k, v in extra.items() if k not in scope.lets})

    def ev(compiled):
        return _value_at(compiled.evaluate(scope), anchor)

    def render(template, where):
        if holes is None:
            return template.render(ev)

        def ev_checked(compiled):
            v = ev(compiled)
            if v is None:
                holes.append((where, compiled.source.strip()))
            return v

        return template.render(ev_checked)

    severity = rule.severity
    for sev, compiled in rule.severity_if:
        if _scalar_truth(compiled.evaluate(scope)):
            severity = sev
            break
    symptom = rule.symptom
    for sym, compiled in rule.symptom_if:
        if _scalar_truth(compiled.evaluate(scope)):
            symptom = sym
            break

    evidence = {}
    for name, compiled in rule.evidence:
        evidence[name] = ev(compiled)
    if not evidence:
        if first_metric is not None:
            evidence[first_metric] = _value_at(ctx.metric(first_metric), anchor)
        for name, compiled in rule.lets:
            v = scope.lets.get(name)
            if not is_series(v) and isinstance(v, (int, float)) and not isinstance(v, bool):
                evidence[name] = v
    markers = {name: ev(compiled) for name, compiled in rule.markers}

    causes = []
    for spec in rule.causes:
        if spec.condition is not None and not _scalar_truth(spec.condition.evaluate(scope)):
            continue
        catalog = ctx.catalog.get(spec.id)
        text = render(spec.text, f"cause {spec.id} text") if spec.text else (catalog.title if catalog else spec.id)
        fixes = [render(fx, f"cause {spec.id} fix") for fx in spec.fixes]
        causes.append(Cause(spec.id, spec.score, text, fixes))
    causes.sort(key=lambda c: -c.score)

    steps = [firing[0], firing[-1]] if firing else []
    if not firing and first_metric is not None:
        s = ctx.metric(first_metric)
        steps = [int(s.index[0]), int(s.index[-1])]
    return Finding(
        rule=rule.id, name=rule.name, symptom=symptom, severity=severity,
        title=render(rule.title, "title"), message=render(rule.message, "message"), steps=steps,
        evidence={k: _clean(v) for k, v in evidence.items()}, causes=causes,
        metrics=[m for m in rule.metrics if ctx.has_metric(m)], config_keys=list(rule.config_keys),
        markers={k: _clean(v) for k, v in markers.items() if v is not None}, group=rule.group, source=rule.source,
    )


def _clean(v):
    """Whole numbers as ints (step 200, not 200.0); rounding for JSON is the model's job."""
    if isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return int(v)
    return v
