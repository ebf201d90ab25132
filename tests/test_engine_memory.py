"""The rule engine's memory-saving ways give exactly what the simple ways give.

- Moving medians and zscore's floor worked a block of rows at a time (blocks made tiny here, so that every
  boundary case is crossed) against the whole-array ones.
- Masks over different steps placed a block at a time on a grid of steps against pandas' alignment.
- A comparison alone and `and`/`or` of masks over the same steps against the pandas operators they replace.
- Lets dropped after their last reader: every report of the sample runs is the one with every let kept.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kto_doctor.engine import evaluate, expr, functions

from test_engine_arrays import KINDS, _series, same


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(functions, "_BLOCK", 7)
    monkeypatch.setattr(expr, "_BLOCK", 5)


@pytest.mark.parametrize("size", [0, 1, 2, 6, 7, 8, 13, 14, 15, 50, 333])
@pytest.mark.parametrize("window", [1, 2, 3, 5, 7, 8, 20, 400])
def test_moving_median_into_is_the_whole_array_one(tiny_blocks, size, window):
    rng = np.random.default_rng(size * 31 + window)
    values = np.round(rng.normal(1.0, 0.3, size), 1)  # ties
    values[rng.random(size) < 0.2] = np.nan
    for min_periods in sorted({1, max(1, (window + 1) // 2), window}):
        want = functions._moving_median(values, window, min_periods)
        out = np.empty(size)
        functions._moving_median_into(values, window, min_periods, out)
        assert np.array_equal(out, want, equal_nan=True)
        inplace = values.copy()
        functions._moving_median_into(inplace, window, min_periods, inplace)
        assert np.array_equal(inplace, want, equal_nan=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 9, 40, 333])
@pytest.mark.parametrize("window", [3, 4, 5, 8, 50])
def test_zscore_in_blocks_is_the_pandas_zscore(tiny_blocks, kind, n, window):
    s = _series(np.random.default_rng(n * 13 + window), n, kind)
    same(functions._zscore_arrays(s, window), functions._zscore_series(s, window))


@pytest.mark.parametrize("n", [1, 4, 5, 6, 11, 40, 333])
@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("is_and", [True, False])
def test_masks_on_a_grid_in_blocks_are_pandas_alignment(tiny_blocks, n, stride, is_and):
    rng = np.random.default_rng(n * 3 + stride)
    a = pd.Series(rng.random(n) > 0.5, index=pd.Index(np.arange(n, dtype=np.int64) * stride + 7, name="step"))
    steps = a.index.to_numpy()[rng.random(n) < 0.6]
    b = pd.Series(rng.random(len(steps)) > 0.4, index=pd.Index(steps, name="step"))
    if a.index.equals(b.index):
        return
    for x, y in ((a, b), (b, a)):
        same(expr._combine(x, y, is_and), expr._combine_aligned(x, y, is_and))


@pytest.mark.parametrize("kind", KINDS)
def test_one_comparison_and_masks_on_the_same_steps_are_the_pandas_operators(kind):
    s = _series(np.random.default_rng(5), 333, kind)
    scope = expr.Scope(metric=lambda name: s if name == "loss" else None, config={}, params={}, run={})
    for source, a, op, b in (("loss > 1.0", s, ">", 1.0), ("loss <= loss", s, "<=", s), ("1.0 == loss", 1.0, "==", s)):
        got = expr.compile_expr(source).evaluate(scope)
        same(got, expr._combine(True, expr._compare(op, a, b), True))
    m1, m2 = s > 1.0, (s < 1.2).rename("other")
    for is_and in (True, False):
        for x, y in ((m1, m2), (m1, m1), (m2, m2.rename(None))):
            same(expr._combine(x, y, is_and), (x & y) if is_and else (x | y))


def _reports(paths) -> list[str]:
    from kto_doctor.analysis import analyze
    from kto_doctor.reports import render

    out = []
    for p in paths:
        text = render("json", analyze(p))
        out.append(json.dumps({k: v for k, v in json.loads(text).items() if k != "generated_at"}, sort_keys=True))
    return out


def test_lets_dropped_after_their_last_reader_change_no_report(monkeypatch):
    from pathlib import Path

    runs = sorted(p for p in (Path(__file__).resolve().parents[1] / "sample_logs").iterdir()
                  if p.is_dir() and not p.name.startswith("_"))
    assert runs
    dropped = _reports(runs)
    monkeypatch.setattr(evaluate, "_last_uses", lambda rule: [()] * len(rule.lets))
    assert _reports(runs) == dropped


def test_a_let_read_only_by_a_later_comparison_or_the_message_is_kept():
    from kto_doctor.engine.rules import load_builtin

    rules = {r.id: r for r in load_builtin().rules}
    drops = dict(zip([n for n, _ in rules["KTO102"].lets], evaluate._last_uses(rules["KTO102"])))
    assert drops["lo"] == () and "lo" in drops["flat"]  # `loss >= lo`: a comparison's right side
    lets = dict(zip([n for n, _ in rules["LOSS101"].lets], evaluate._last_uses(rules["LOSS101"])))
    assert not any("l" in d for d in lets.values())  # `l` is read by the message
    assert "smooth" in lets["high"]
