"""`--against REF`: the run checked against a reference run it should resemble.

Alignment. Both runs are put on the run's step axis. When both have the same number of training steps
(`total_steps` from the configuration, else the last logged step) a reference step is the same run step;
otherwise the reference's steps are scaled by run_total / ref_total ("fraction of training"), so a 1,000-step
run can be checked against a 2,000-step reference. `align="step"` or `"fraction"` forces either.

Band. For each compared metric the reference's finite values give a robust envelope: the rolling median
over a centred window of `window` rows (at least `window_frac` of the series), and as spread 1.4826 x the
median absolute deviation (MAD) of the window from that median — the standard deviation for Gaussian noise,
but one spike or one NaN in the reference moves neither. Taken around the window's median, the MAD also
grows with the local slope: where the reference changes fast, a run a few steps ahead or behind stays inside. A noise-free reference (a deterministic learning-rate schedule,
a metric clamped at 0) has MAD 0, so the spread has a floor: `floor_rel` x |median| and `floor_scale` x the
median |value| of the whole reference series. Median and spread are interpolated linearly at the run's
steps; outside the reference's span they are NaN (not compared).

Rules. The rules of group `reference` (REF101 "left the band", REF102 "the run lacks a metric the reference
has", and any team rule in that group) are
ordinary YAML rules evaluated once per compared metric on a small derived run whose series are `observed`
(the run's logged values), `expected` (the band's centre) and `spread`; `config.reference_metric`,
`config.reference_path`, `config.alignment` and `config.reference_config_diff` say what is compared. So
their findings go through every format, `--fail-on`, baselines, `--ignore` and overrides like any other.
The band's parameters are REF101's params (override them like any rule's).
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import field
from typing import Any

from .fastclass import dataclass

REFERENCE_GROUP = "reference"
BAND_RULE = "REF101"
# The core series of the methods: what a run is judged by. Summed logits, epoch, throughput and the
# like are left out by default (`--against-metrics` adds any metric, globs allowed).
CORE_METRICS = (
    "loss", "eval_loss", "grad_norm", "learning_rate", "kl", "eval_kl",
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins", "eval_rewards/accuracies",
    "logps/chosen", "logps/rejected", "nll_loss", "sft_loss", "odds_ratio_loss", "log_odds_ratio",
    "reward", "reward_std", "frac_reward_zero_std", "entropy", "completions/clipped_ratio",
    "completions/mean_length", "objective/kl", "objective/entropy", "objective/rlhf_reward", "eval_accuracy",
)
BAND_DEFAULTS = {"k": 4.0, "window": 9, "window_frac": 0.01, "floor_rel": 0.02, "floor_scale": 0.01}
MAD_TO_SIGMA = 1.4826
# Configuration keys whose difference between the run and the reference says nothing about training.
_IGNORED_CONFIG = ("output_dir", "run_name", "logging_dir", "overwrite_output_dir", "report_to", "seed",
                   "data_seed", "save_steps", "save_strategy", "save_total_limit", "logging_steps", "plot_loss",
                   "hub_model_id", "push_to_hub", "resume_from_checkpoint", "dataloader_num_workers",
                   "total_steps", "warmup_steps_effective", "kl_window", "effective_batch_size")


@dataclass
class Band:
    """One metric's reference curve and band, on the run's step axis (for charts and the rules)."""

    metric: str
    ref_x: Any      # reference steps mapped onto the run's axis
    ref_y: Any      # the reference's logged (finite) values
    center: Any     # rolling median at ref_x
    spread: Any     # 1.4826 x rolling MAD at ref_x, floored

    def at(self, x):
        """(center, spread) interpolated at run steps `x`; NaN outside the reference's span."""
        import numpy as np

        x = np.asarray(x, dtype=float)
        c = np.full(len(x), np.nan)
        s = np.full(len(x), np.nan)
        if len(self.ref_x) == 0:
            return c, s
        inside = (x >= self.ref_x[0]) & (x <= self.ref_x[-1])
        c[inside] = np.interp(x[inside], self.ref_x, self.center)
        s[inside] = np.interp(x[inside], self.ref_x, self.spread)
        return c, s


@dataclass
class Comparison:
    """What `--against` compared: the reference, the alignment and a band per metric."""

    path: str
    align: str               # "step" or "fraction"
    factor: float            # run steps per reference step
    k: float                 # band half-width in spreads (REF101's params.k)
    metrics: list[str]       # compared metrics (those the reference has)
    missing: list[str] = field(default_factory=list)  # in the reference, not in the run
    bands: dict[str, Band] = field(default_factory=dict)
    config_diff: dict[str, tuple] = field(default_factory=dict)  # key -> (run value, reference value)

    def to_dict(self) -> dict:
        from .model import _jsonable

        return {"path": self.path, "align": self.align, "step_factor": _jsonable(self.factor),
                "band_k": _jsonable(self.k), "metrics": list(self.metrics), "missing": list(self.missing),
                "config_diff": {k: _jsonable(list(v)) for k, v in self.config_diff.items()}}


# ---------------------------------------------------------------- alignment and bands


def total_steps(run) -> float | None:
    t = run.config.get("total_steps")
    if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0:
        return float(t)
    last = run.steps["last"]
    return float(last) if last else None


def alignment(run, ref, mode: str = "auto") -> tuple[str, float]:
    """("step" | "fraction", factor): reference step s sits at run step s * factor."""
    if mode not in ("auto", "step", "fraction"):
        raise ValueError(f"alignment must be auto, step or fraction, not {mode!r}")
    rt, ft = total_steps(run), total_steps(ref)
    if mode == "step" or rt is None or ft is None:
        return "step", 1.0
    if mode == "auto" and rt == ft:
        return "step", 1.0
    return "fraction", rt / ft


def band(metric: str, steps, values, factor: float = 1.0, params: dict | None = None) -> Band:
    """The robust envelope of one reference series (finite values only), see the module doc."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    p = {**BAND_DEFAULTS, **(params or {})}
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values) & np.isfinite(steps)
    steps, values = steps[ok], values[ok]
    n = len(values)
    if n == 0:
        e = np.array([], dtype=float)
        return Band(metric, e, e, e, e)
    w = max(int(p["window"]), int(round(float(p["window_frac"]) * n)))
    w = max(1, min(w | 1, n if n % 2 else n - 1 or 1))  # odd, at most the series
    half = w // 2
    padded = np.pad(values, half, constant_values=np.nan)
    win = sliding_window_view(padded, w)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmedian(win, axis=1)
            mad = np.nanmedian(np.abs(win - center[:, None]), axis=1)
    scale = float(np.median(np.abs(values)))
    floor = np.maximum(float(p["floor_rel"]) * np.abs(center), float(p["floor_scale"]) * scale)
    # A reference that is exactly 0 everywhere still needs a band a rounding error cannot leave.
    floor = np.maximum(floor, 1e-12)
    spread = np.maximum(MAD_TO_SIGMA * mad, floor)
    return Band(metric, steps * factor, values, center, spread)


def chosen_metrics(run, ref, patterns=None) -> tuple[list[str], list[str]]:
    """(metrics both compare, reference metrics the run lacks), in the reference's order.

    Default: the core series the reference logged. Patterns (names or globs such as 'rewards/*') pick any
    metric of the reference; a pattern that matches nothing in the reference is a usage error.
    """
    ref_names = [m for m in ref.metric_names if _has_values(ref, m)]
    if patterns:
        picked = []
        for pat in patterns:
            hits = [m for m in ref_names if fnmatch.fnmatchcase(m, pat)]
            if not hits:
                from . import InputError

                raise InputError(f"--against-metrics {pat}: the reference run has no such metric "
                                 f"(it has {', '.join(ref_names[:12])}{', ...' if len(ref_names) > 12 else ''})")
            picked += [m for m in hits if m not in picked]
    else:
        picked = [m for m in ref_names if m in CORE_METRICS]
    present = [m for m in picked if _has_values(run, m)]
    return present, [m for m in picked if m not in present]


def _has_values(run, m) -> bool:
    s = run.series(m)
    return s is not None and len(s) > 0


def config_diff(run, ref) -> dict[str, tuple]:
    """Training configuration keys whose values differ (both stated), for the finding's probable cause."""
    out = {}
    rc, fc = run.config, ref.config
    stated = ("run facts", "derived")  # provenances of values that were measured or computed, not set
    for k in sorted(set(rc) & set(fc)):
        if k in _IGNORED_CONFIG or k.endswith(("_dir", "_path", "_name")) and k != "model_name_or_path":
            continue
        if run.config_provenance.get(k) in stated or ref.config_provenance.get(k) in stated:
            continue
        a, b = rc[k], fc[k]
        if a is None or b is None or isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            continue
        if a != b and not (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            out[k] = (a, b)
    return out


def describe_diff(diff: dict[str, tuple], limit: int = 6) -> str:
    from .engine.template import format_value

    items = [f"{k} {format_value(a)} (reference {format_value(b)})" for k, (a, b) in list(diff.items())[:limit]]
    more = len(diff) - limit
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------- evaluation


def build(run, ref, *, metrics=None, align: str = "auto", params: dict | None = None) -> Comparison:
    mode, factor = alignment(run, ref, align)
    p = {**BAND_DEFAULTS, **(params or {})}
    present, missing = chosen_metrics(run, ref, metrics)
    comp = Comparison(path=ref.path, align=mode, factor=factor, k=float(p["k"]), metrics=present, missing=missing,
                      config_diff=config_diff(run, ref))
    for m in present + missing:
        s = ref.series(m)
        comp.bands[m] = band(m, s.index.to_numpy(dtype=float), s.to_numpy(dtype=float, na_value=float("nan")),
                             factor, p)
    return comp


def derived_run(run, comp: Comparison, metric: str):
    """The small run a reference rule sees for one metric: observed, expected, spread on the run's steps."""
    import numpy as np
    import pandas as pd

    from .model import Run

    b = comp.bands[metric]
    obs = run.series(metric)
    if obs is not None and len(obs):
        idx = obs.index
        center, spread = b.at(idx.to_numpy(dtype=float))
        series = {"observed": obs.astype(float).rename("observed"),
                  "expected": pd.Series(center, index=idx, name="expected"),
                  "spread": pd.Series(spread, index=idx, name="spread")}
    else:  # the run lacks the metric: the reference's curve on the run's axis, for REF102
        idx = pd.Index(np.rint(b.ref_x).astype(np.int64), name="step")
        keep = ~idx.duplicated(keep="last")
        idx = idx[keep]
        series = {"expected": pd.Series(b.center[keep], index=idx, name="expected"),
                  "spread": pd.Series(b.spread[keep], index=idx, name="spread")}
    frame = pd.concat(series, axis=1, sort=True)
    frame.index.name = "step"
    run_total = total_steps(run)
    ref_span = float(b.ref_x[-1]) if len(b.ref_x) else None
    run_last = run.steps["last"]
    config = dict(run.config)
    config.update({
        "reference_metric": metric,
        "reference_path": comp.path,
        "alignment": comp.align,
        "reference_rows": int(len(b.ref_y)),
        # Reference rows of this metric at or before the run's last step (on the run's axis): a run that
        # stopped before the reference's first eval is not missing its eval_loss.
        "reference_rows_reached": int(np.sum(b.ref_x <= (run_last if run_last is not None else -1))),
        "reference_last_step": ref_span,
        "run_total_steps": run_total,
        "reference_config_diff": describe_diff(comp.config_diff),
    })
    return Run(path=run.path, metrics=frame, config=config, method=run.method, framework=run.framework,
               facts={}, _series=series)


def evaluate(run, ref, rules, catalog, *, metrics=None, align: str = "auto"):
    """(findings, skipped, passed, comparison) of the reference rules for every compared metric."""
    from .engine.evaluate import RunContext, evaluate_rule
    from .model import Skipped

    band_rule = next((r for r in rules if r.id == BAND_RULE), None)
    params = {k: v for k, v in (band_rule.params if band_rule else {}).items() if k in BAND_DEFAULTS}
    comp = build(run, ref, metrics=metrics, align=align, params=params)
    findings, skipped, passed = [], [], []
    if not comp.metrics and not comp.missing:
        skipped.append(Skipped("REF101", f"the reference {ref.path} has none of the compared metrics"))
        return findings, skipped, passed, comp
    for rule in rules:
        fired = False
        reasons = set()
        for m in comp.metrics + comp.missing:
            out = evaluate_rule(rule, RunContext(derived_run(run, comp, m), catalog))
            if out.finding is not None:
                f = out.finding
                f.metrics = [m]
                f.evidence = {"metric": m, **f.evidence}
                findings.append(f)
                fired = True
            elif out.error:
                reasons.add(out.skipped.reason)
        if reasons:
            skipped.append(Skipped(rule.id, "; ".join(sorted(reasons)), rule.name))
        elif not fired:
            passed.append(rule.id)
    return findings, skipped, passed, comp


def load_reference(path, overrides=None):
    """The reference run, or InputError naming it as the reference (exit 2)."""
    from . import InputError
    from .run import load_run

    try:
        return load_run(path, overrides=overrides)
    except InputError as e:
        raise InputError(f"--against: {e}") from None
