"""Rolling medians through bottleneck are exactly pandas' rolling medians (engine/functions.py).

GRAD102 and LOSS102 take rolling medians of every logged row; bottleneck computes them much faster, and
these tests pin that nothing a rule sees changes: every value, NaN and index, on random series with
gaps, infinities, ties and windows at and past the edges.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kto_doctor.engine import functions as F

bottleneck = pytest.importorskip("bottleneck")


def _pandas(s, n, min_periods):
    return s.rolling(n, min_periods=min_periods).median()


def _series(rng, size, nan_frac=0.1, inf_frac=0.0, ties=False, dtype=float):
    x = rng.integers(0, 5, size).astype(float) if ties else rng.standard_normal(size) * 10.0 ** rng.integers(-3, 4)
    x[rng.random(size) < nan_frac] = np.nan
    if inf_frac:
        x[rng.random(size) < inf_frac] = np.inf
        x[rng.random(size) < inf_frac] = -np.inf
    idx = pd.Index(np.cumsum(rng.integers(1, 4, size)), name="step")
    return pd.Series(x, index=idx, name="grad_norm").astype(dtype)


CASES = [(size, n, mp) for size in (0, 1, 2, 3, 7, 50, 1000) for n in (1, 2, 3, 5, 20, 50, 51, 2000)
         for mp in sorted({1, 3, max(1, (n + 1) // 2), n}) if mp <= n]


@pytest.mark.parametrize("size,n,min_periods", CASES)
@pytest.mark.parametrize("kind", ["plain", "nans", "infs", "ties", "all_nan"])
def test_rolling_median_equals_pandas(size, n, min_periods, kind):
    rng = np.random.default_rng(size * 1000 + n * 10 + min_periods)
    s = _series(rng, size, nan_frac={"plain": 0, "all_nan": 1.0}.get(kind, 0.2),
                inf_frac=0.1 if kind == "infs" else 0.0, ties=kind == "ties")
    got = F.rolling_median(s, n, min_periods)
    want = _pandas(s, n, min_periods)
    pd.testing.assert_series_equal(got, want, check_exact=True)


@pytest.mark.parametrize("dtype", ["int64", "Float64", bool])
def test_other_dtypes(dtype):
    rng = np.random.default_rng(7)
    s = _series(rng, 300, nan_frac=0.0 if dtype != "Float64" else 0.2, ties=True, dtype=dtype)
    for n, mp in ((5, 3), (20, 10), (400, 1)):
        if dtype is bool:
            s = s.astype(float)  # the rule functions turn booleans into 0/1 first (_numeric)
        pd.testing.assert_series_equal(F.rolling_median(s, n, mp), _pandas(s, n, mp), check_exact=True,
                                       check_dtype=False)


def test_min_periods_above_the_window_fails_as_pandas_does():
    s = pd.Series([1.0, 2.0, 3.0])
    with pytest.raises(ValueError) as ours:
        F.rolling_median(s, 2, 3)
    with pytest.raises(ValueError) as theirs:
        _pandas(s, 2, 3)
    assert str(ours.value) == str(theirs.value)


def test_rule_functions_unchanged_without_bottleneck(monkeypatch):
    """rolling_median() and zscore() give the same Series with bottleneck and with the pandas fallback."""
    rng = np.random.default_rng(3)
    s = _series(rng, 5000, nan_frac=0.05, inf_frac=0.01)
    fast = [F.FUNCTIONS["rolling_median"].fn(s, 50.0), F.FUNCTIONS["zscore"].fn(s, 50.0),
            F.FUNCTIONS["zscore"].fn(s, 20.0)]
    monkeypatch.setattr(F, "_bottleneck", lambda: None)
    slow = [F.FUNCTIONS["rolling_median"].fn(s, 50.0), F.FUNCTIONS["zscore"].fn(s, 50.0),
            F.FUNCTIONS["zscore"].fn(s, 20.0)]
    for a, b in zip(fast, slow):
        pd.testing.assert_series_equal(a, b, check_exact=True)
