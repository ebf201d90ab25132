"""The rule engine's array ways (fewer copies of a long series) give exactly what the pandas ways give.

Each case builds series as a run holds them (steps in order, some NaN, ±inf, zeros, flat stretches, repeated
values, -0.0) and odd ones (steps out of order or repeated), and compares the fast function with the simple
expression it replaces, value for value, NaN for NaN, index for index.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kto_doctor.engine import expr, functions
from kto_doctor.engine.functions import FUNCTIONS


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def same(a, b):
    """Equal values (NaN where NaN, the same sign of zero), index, dtype and name."""
    assert type(a) is type(b)
    if isinstance(a, pd.Series):
        assert a.dtype == b.dtype and a.name == b.name
        assert a.index.equals(b.index) and a.index.dtype == b.index.dtype
        va, vb = a.to_numpy(), b.to_numpy()
        if va.dtype.kind == "f":
            assert np.array_equal(va, vb, equal_nan=True)
            assert np.array_equal(np.signbit(va), np.signbit(vb))
        else:
            assert np.array_equal(va, vb)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def _values(rng, n, kind):
    v = rng.normal(1.0, 0.3, n)
    if kind == "noisy":
        v[rng.random(n) < 0.05] = np.nan
        v[rng.random(n) < 0.02] = np.inf
        v[rng.random(n) < 0.02] = -np.inf
        v[rng.random(n) < 0.05] = 0.0
        v[rng.random(n) < 0.02] = -0.0
    elif kind == "flat":
        v[: n // 2] = 0.5  # MAD 0: the floor
        v[n // 2: n // 2 + 3] = 0.0
    elif kind == "huge":
        v[::7] = 1e308
        v[1::7] = -1e308  # differences overflow to inf
    elif kind == "rounded":
        v = np.round(v, 1)  # ties in medians and extremes
    return v


KINDS = ["plain", "noisy", "flat", "huge", "rounded"]
SIZES = [0, 1, 2, 3, 5, 8, 40, 333]


def _series(rng, n, kind, steps="sorted"):
    if steps == "sorted":
        index = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
    elif steps == "repeated":
        index = np.sort(rng.integers(0, max(n // 2, 1), n)).astype(np.int64)
    else:
        index = rng.permutation(n).astype(np.int64) * 3
    return pd.Series(_values(rng, n, kind), index=pd.Index(index), name="loss")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("window", [3, 4, 5, 20, 50, 1000])
def test_zscore_arrays_is_the_pandas_zscore(kind, n, window):
    s = _series(np.random.default_rng(n * 7 + window), n, kind)
    same(functions._zscore_arrays(s, window), functions._zscore_series(s, window))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("steps", ["sorted", "repeated", "shuffled"])
def test_after_and_before_are_the_masks(kind, n, steps):
    rng = np.random.default_rng(n * 3 + len(steps))
    s = _series(rng, n, kind, steps)
    points = [-np.inf, np.inf, np.nan, -1.0, 0.0, 2.5]
    if n:
        points += [float(s.index[0]), float(s.index[n // 2]), float(s.index[-1]), float(s.index[-1]) + 1]
    for step in points:
        same(call("after", s, step), s[s.index >= step])
        same(call("before", s, step), s[s.index < step])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
def test_extremes_reductions_and_selections(kind, n):
    rng = np.random.default_rng(n + 11)
    s = _series(rng, n, kind)
    finite = s[np.isfinite(s.to_numpy())]
    for how, fn in (("max", "argmax"), ("min", "argmin")):
        want = None if not len(finite) else float(finite.idxmax() if how == "max" else finite.idxmin())
        same(call(fn, s), want)
    for name, reduce in (("min", np.min), ("max", np.max), ("mean", np.mean), ("median", np.median),
                         ("sum", np.sum)):
        want = None if not len(finite) else float(reduce(finite.to_numpy()))
        same(call(name, s), want)
    same(call("finite", s), finite)
    cond = s > 1.0
    same(call("filter", s, cond), s[cond.to_numpy()])
    everything = pd.Series(True, index=s.index)
    same(call("filter", s, everything), s[everything.to_numpy()])
    other = cond.iloc[::2]  # a condition over fewer steps: its missing rows are False
    same(call("filter", s, other), s[other.reindex(s.index, fill_value=False).astype(bool).to_numpy()])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("is_and", [True, False])
@pytest.mark.parametrize("case", ["subset", "overlap", "disjoint", "repeated", "shuffled", "named", "grid", "grid5",
                                  "grid_off", "grid_past"])
def test_combine_of_masks_over_different_steps(n, is_and, case):
    rng = np.random.default_rng(n * 5 + len(case))
    a = _series(rng, n, "noisy") > 1.0
    if case.startswith("grid"):  # steps every N (arithmetic rows); off it or past its end: the merge
        stride = 5 if case == "grid5" else 1
        a = pd.Series(rng.random(n) > 0.5, index=pd.Index(np.arange(n, dtype=np.int64) * stride + 3, name="step"))
        steps = a.index.to_numpy()[rng.random(n) < 0.6]
        if case == "grid_off" and len(steps):
            steps = np.unique(np.append(steps, steps[-1] + 2))
        if case == "grid_past" and len(steps):
            steps = np.append(steps, steps[-1] + 2 * stride * n + 1)
        b = pd.Series(rng.random(len(steps)) > 0.4, index=pd.Index(steps, name="step"))
    elif case == "subset":
        b = (a.iloc[rng.random(n) < 0.7]) | True
    elif case == "overlap":
        b = pd.Series(rng.random(n) > 0.5, index=pd.Index(a.index.to_numpy() + 1))
    elif case == "disjoint":
        b = pd.Series(rng.random(n) > 0.5, index=pd.Index(np.arange(n, dtype=np.int64) * 2 + 10 ** 6))
    elif case == "repeated":
        b = _series(rng, n, "plain", "repeated") > 1.0
    elif case == "shuffled":
        b = _series(rng, n, "plain", "shuffled") > 1.0
    else:
        a.index.name = "step"
        steps = a.index.to_numpy()[n - n // 2:]
        b = pd.Series(rng.random(len(steps)) > 0.5, index=pd.Index(steps, name="step"), name="loss")
    if a.index.equals(b.index):
        return
    for x, y in ((a, b), (b, a)):
        try:
            want = expr._combine_aligned(x, y, is_and)
        except ValueError as e:  # repeated steps: pandas cannot align them, and neither way pretends to
            with pytest.raises(ValueError, match=str(e)):
                expr._combine(x, y, is_and)
            continue
        same(expr._combine(x, y, is_and), want)
