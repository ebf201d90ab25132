"""The functions rule expressions may call.

Every function takes step series (pandas Series indexed by global step, the logged values of a metric)
and/or scalars. Windows count logged rows. A function given None (a metric or config key the run does
not have) returns None, except `defined`, `coalesce` and the counters, so a condition over something
absent is simply not met. `kto-doctor rules functions` prints this table from the docstrings.
"""
from __future__ import annotations

import math
from typing import Callable

from ..fastclass import dataclass

MAX_WINDOW = 1_000_000


@dataclass(frozen=True)
class FunctionSpec:
    fn: Callable
    arity: tuple[int, int | None]
    signature: str
    doc: str
    category: str


FUNCTIONS: dict[str, FunctionSpec] = {}


def _register(name, arity, signature, category):
    def deco(fn):
        FUNCTIONS[name] = FunctionSpec(fn, arity, signature, (fn.__doc__ or "").strip(), category)
        return fn

    return deco


def _pd():
    import pandas as pd

    return pd


def _np():
    import numpy as np

    return np


def _is_series(v):
    # Asked of the type: `values` of a Series instance is a property that builds an array.
    t = type(v)
    return hasattr(t, "index") and hasattr(t, "values") and not issubclass(t, (str, bytes))


def _none_in(*args):
    return any(a is None for a in args)


def _series(v, name):
    if not _is_series(v):
        raise TypeError(f"expected a metric series as argument '{name}', got {type(v).__name__}")
    return v


def _window(n):
    if _is_series(n) or n is None:
        raise TypeError("a window must be a number of logged rows")
    n = int(n)
    if n < 1 or n > MAX_WINDOW:
        raise ValueError(f"window {n} out of range 1..{MAX_WINDOW}")
    return n


def _numeric(s):
    """A float view of a Series (booleans become 0/1)."""
    if s.dtype == bool:
        return s.astype(float)
    return s


# -- element-wise math ---------------------------------------------------------------------------


def _elementwise(np_fn, math_fn):
    def apply(x):
        if x is None:
            return None
        np = _np()
        if _is_series(x):
            with np.errstate(all="ignore"):
                return np_fn(_numeric(x))
        try:
            return math_fn(float(x))
        except (ValueError, OverflowError):
            return math.nan

    return apply


def _safe_log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _safe_log10(x):
    return math.log10(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _safe_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sigmoid_scalar(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _np_sigmoid(s):
    np = _np()
    return 1.0 / (1.0 + np.exp(-s))


def _install_elementwise():
    def lazy(name):
        def f(s):
            return getattr(_np(), name)(s)

        return f

    table = {
        "abs": (lazy("abs"), abs, "Absolute value."),
        "log": (lazy("log"), _safe_log, "Natural logarithm (ln); log(0) is -inf, log of a negative number NaN."),
        "ln": (lazy("log"), _safe_log, "Natural logarithm, same as log."),
        "log10": (lazy("log10"), _safe_log10, "Base-10 logarithm."),
        "exp": (lazy("exp"), _safe_exp, "e to the power x."),
        "sqrt": (lazy("sqrt"), lambda x: math.sqrt(x) if x >= 0 else math.nan, "Square root."),
        "tanh": (lazy("tanh"), math.tanh, "Hyperbolic tangent."),
        "atanh": (lazy("arctanh"), lambda x: math.atanh(x) if -1 < x < 1 else math.nan,
                  "Inverse hyperbolic tangent (NaN outside (-1, 1))."),
        "sigmoid": (_np_sigmoid, _sigmoid_scalar, "Logistic function 1 / (1 + e^-x)."),
        "floor": (lazy("floor"), math.floor, "Round down."),
        "ceil": (lazy("ceil"), math.ceil, "Round up."),
        "sign": (lazy("sign"), lambda x: math.copysign(1.0, x) if x != 0 else 0.0, "-1, 0 or 1."),
    }
    for name, (np_fn, math_fn, doc) in table.items():
        fn = _elementwise(np_fn, math_fn)
        fn.__doc__ = doc
        FUNCTIONS[name] = FunctionSpec(fn, (1, 1), "(x)", doc, "math")


_install_elementwise()


@_register("round", (1, 2), "(x, digits=0)", "math")
def f_round(x, digits=0.0):
    """Round to `digits` decimals."""
    if x is None:
        return None
    d = float(digits)
    if not math.isfinite(d) or abs(d) > 20:
        raise ValueError(f"digits {digits:g} out of range -20..20")
    d = int(d)
    if _is_series(x):
        return x.round(d)
    return round(float(x), d)


def _value_test(name: str, np_name: str, scalar_test, doc: str):
    """Register an element-wise test (numpy's isnan/isinf/isfinite) on a series, scalar_test on a number."""
    def test(x):
        if x is None:
            return None
        if _is_series(x):
            return _pd().Series(getattr(_np(), np_name)(_numeric(x).to_numpy(dtype=float)), index=x.index, copy=False)
        return scalar_test(x)

    test.__doc__ = doc
    return _register(name, (1, 1), "(s)", "non-finite")(test)


f_isnan = _value_test("isnan", "isnan", lambda x: isinstance(x, float) and math.isnan(x),
                      "True where the value is NaN (a logged NaN, not a missing row).")
f_isinf = _value_test("isinf", "isinf", lambda x: isinstance(x, float) and math.isinf(x),
                      "True where the value is +inf or -inf.")
f_isfinite = _value_test("isfinite", "isfinite",
                         lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x)),
                         "True where the value is a finite number.")


@_register("nonfinite", (1, 1), "(s)", "non-finite")
def f_nonfinite(x):
    """True where the value is NaN or ±inf."""
    r = f_isfinite(x)
    if r is None:
        return None
    return ~r if _is_series(r) else not r


# -- rolling windows -------------------------------------------------------------------------------


def _rolling(s, n):
    n = _window(n)
    return _numeric(s).rolling(n, min_periods=max(1, (n + 1) // 2))


def _bottleneck():
    try:
        import bottleneck
    except ImportError:  # a platform without its wheels: pandas computes the same, more slowly
        return None
    return bottleneck


def rolling_median(s, n: int, min_periods: int):
    """`s.rolling(n, min_periods).median()`, through bottleneck's moving median where installed.

    Both skip NaN (and ±inf), need `min_periods` values in the window and average the two middle values of an even
    count, so the results are identical (tests/test_rolling_median.py); bottleneck's double heap is 5-100x
    faster than pandas' skiplist on long runs (GRAD102 and LOSS102 take two rolling medians per metric).
    """
    bn = _bottleneck()
    if bn is None or s.dtype == object or min_periods > n:  # (pandas refuses min_periods > n: same error)
        return s.rolling(n, min_periods=min_periods).median()
    np = _np()
    values = s.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(values)
    if inf.any():  # pandas' rolling windows read ±inf as missing (a copy only where there is one)
        values = np.where(inf, np.nan, values)
    del inf
    size = len(values)
    if size == 0 or min_periods > min(n, size):  # no window ever holds enough values
        out = np.full(size, np.nan)
    else:
        # A window longer than the series sees the same rows as one of the series' length.
        out = bn.move_median(values, min(n, size), min_count=min_periods)
    return _pd().Series(out, index=s.index, name=s.name, copy=False)


def _install_rolling():
    """rolling_<stat>(s, n): one pandas rolling statistic each, from our own fixed table."""
    table = {
        "rolling_mean": ("mean", "Mean of the last n logged rows, this one included (needs at least half the window)."),
        "rolling_median": ("median", "Median of the last n logged rows, this one included."),
        "rolling_min": ("min", "Minimum of the last n logged rows, this one included."),
        "rolling_max": ("max", "Maximum of the last n logged rows, this one included."),
        "rolling_std": ("std", "Standard deviation of the last n logged rows."),
        "rolling_sum": ("sum", "Sum of the last n logged rows (a count when s is a condition)."),
    }
    for name, (stat, doc) in table.items():
        def fn(s, n, _stat=stat):
            if _none_in(s, n):
                return None
            if _stat == "median":
                n = _window(n)
                return rolling_median(_numeric(_series(s, "s")), n, max(1, (n + 1) // 2))
            return getattr(_rolling(_series(s, "s"), n), _stat)()

        fn.__doc__ = doc
        FUNCTIONS[name] = FunctionSpec(fn, (2, 2), "(s, n)", doc, "window")


_install_rolling()


@_register("ema", (2, 2), "(s, span)", "window")
def f_ema(s, span):
    """Exponential moving average with the given span in logged rows."""
    if _none_in(s, span):
        return None
    return _numeric(_series(s, "s")).ewm(span=_window(span), adjust=False).mean()


@_register("prev_mean", (2, 2), "(s, n)", "window")
def f_prev_mean(s, n):
    """Mean of the n logged rows BEFORE this one (the baseline a spike is measured against)."""
    if _none_in(s, n):
        return None
    return _rolling(_series(s, "s"), n).mean().shift(1)


@_register("prev_max", (2, 2), "(s, n)", "window")
def f_prev_max(s, n):
    """Maximum of the n logged rows before this one."""
    if _none_in(s, n):
        return None
    return _rolling(_series(s, "s"), n).max().shift(1)


@_register("zscore", (2, 2), "(s, n)", "window")
def f_zscore(s, n):
    """Robust z-score against the n rows before: (x - median) / (1.4826 * MAD), NaN while the window fills."""
    if _none_in(s, n):
        return None
    s = _numeric(_series(s, "s"))
    n = _window(n)
    if s.dtype == _np().float64 and max(3, (n + 1) // 2) <= n and _bottleneck() is not None:
        return _zscore_arrays(s, n)
    return _zscore_series(s, n)


def _zscore_series(s, n: int):
    """zscore the pandas way (any dtype; the reference `_zscore_arrays` is tested against)."""
    np = _np()
    clean = s.where(np.isfinite(s))
    med = rolling_median(clean, n, max(3, (n + 1) // 2)).shift(1)
    dev = (clean - med).abs()
    mad = rolling_median(dev, n, max(3, (n + 1) // 2)).shift(1)
    scale = 1.4826 * mad
    # A perfectly flat history has MAD 0: measure against a small floor relative to the level instead.
    floor = (med.abs() * 1e-3).where(med.abs() > 0, 1e-12)
    scale = scale.where(scale > floor, floor)
    with np.errstate(all="ignore"):
        return (clean - med) / scale


def _moving_median(values, n: int, min_periods: int):
    """`rolling_median(Series(values), n, min_periods)` (min_periods <= n) of a float array without ±inf, as an
    array: a window longer than the array sees the same rows as one of its length."""
    size = len(values)
    if size == 0 or min_periods > min(n, size):
        return _np().full(size, _np().nan)
    return _bottleneck().move_median(values, min(n, size), min_count=min_periods)


_BLOCK = 1 << 16  # rows of a long series worked on at once where a whole-array temporary would be as large as it


def _moving_median_into(values, n: int, min_periods: int, out) -> None:
    """`out[:] = _moving_median(values, n, min_periods)`, a block of rows at a time, `out` may be `values` itself:
    no temporary as large as the array. A row's median reads only the n rows up to it, so each block is the moving
    median of itself and the n - 1 rows before it (their values as they were, kept before they are
    overwritten), from that block's n-th row on: the same windows, the same medians."""
    np = _np()
    size = len(values)
    w = min(n, size)
    if size == 0 or min_periods > w:
        out[:] = np.nan
        return
    move_median = _bottleneck().move_median
    before = values[:0].copy()  # the (up to) w - 1 rows before the block, as they were
    for lo in range(0, size, _BLOCK):
        hi = min(lo + _BLOCK, size)
        block = np.concatenate((before, values[lo:hi])) if len(before) else values[lo:hi]
        k = min(w, len(block))  # (shorter than the window: the block starts the array, as in _moving_median)
        got = move_median(block, k, min_count=min_periods) if min_periods <= k else np.full(len(block), np.nan)
        before = block[max(0, len(block) - (w - 1)):].copy() if w > 1 else before
        out[lo:hi] = got[len(block) - (hi - lo):]
        del got, block


def _zscore_arrays(s, n: int):
    """zscore of a float64 Series with the same operations as `_zscore_series`, on arrays: about a third of
    the memory (GRAD102 and LOSS102 take it of a whole run's loss or grad_norm). A moving median reads only
    the rows up to its own, so the median of the rows before row r (`shift(1)`) is the moving median of
    the array without its last row, at r - 1: every array below is aligned on r - 1, rows 1.. of the result
    (row 0 has no history: NaN). The moving medians and the floor are written in place a block at a time: the
    result, the deviations and the input are the only arrays of the series' length (GRAD102's peak: 13.9 ->
    9.1 MB over a 558k-row grad_norm)."""
    np = _np()
    values = s.to_numpy(dtype=float)
    size = len(values)
    out = np.empty(size)
    if size:
        out[0] = np.nan
    if size > 1:
        finite = np.isfinite(values)
        clean = values if finite.all() else np.where(finite, values, np.nan)  # where(): ±inf as missing too
        del finite
        need = max(3, (n + 1) // 2)
        med = out[1:]  # the median before row r, at r - 1; it becomes the result in place
        with np.errstate(all="ignore"):
            _moving_median_into(clean[:-1], n, need, med)
            dev = np.empty(size - 1)  # |x - median before| of rows 0..size-2 (row 0: NaN)
            dev[0] = np.nan
            np.subtract(clean[1:-1], med[:-1], out=dev[1:])
            np.abs(dev, out=dev)
            dev[np.isinf(dev)] = np.nan  # (an overflow: rolling_median reads ±inf as missing)
            scale = dev
            _moving_median_into(dev, n, need, scale)  # the MAD before row r, at r - 1 (in the deviations' place)
            del dev
            scale *= 1.4826
            # A perfectly flat history has MAD 0: measure against a small floor relative to the level instead.
            for lo in range(0, size - 1, _BLOCK):
                at = slice(lo, lo + _BLOCK)
                floor = np.abs(med[at])
                flat = ~(floor > 0)
                floor *= 1e-3
                floor[flat] = 1e-12
                del flat
                part = scale[at]
                low = ~(part > floor)
                part[low] = floor[low]
                del low, floor, part
            np.subtract(clean[1:], med, out=med)
            med /= scale
    return _pd().Series(out, index=s.index, name=s.name, copy=False)


@_register("diff", (1, 2), "(s, n=1)", "window")
def f_diff(s, n=1.0):
    """Change from the value n logged rows earlier."""
    if _none_in(s, n):
        return None
    return _numeric(_series(s, "s")).diff(int(n))


@_register("pct_change", (1, 2), "(s, n=1)", "window")
def f_pct_change(s, n=1.0):
    """Relative change from the value n logged rows earlier ((x - x_prev) / |x_prev|)."""
    if _none_in(s, n):
        return None
    s = _numeric(_series(s, "s"))
    prev = s.shift(int(n))
    np = _np()
    with np.errstate(all="ignore"):
        return (s - prev) / prev.abs()


@_register("shift", (2, 2), "(s, n)", "window")
def f_shift(s, n):
    """The value n logged rows earlier (n < 0: later)."""
    if _none_in(s, n):
        return None
    n = float(n)
    if not math.isfinite(n):
        raise ValueError("the number of rows must be finite")
    return _series(s, "s").shift(int(math.copysign(_window(abs(n)), n)) if n else 0)


@_register("cummax", (1, 1), "(s)", "window")
def f_cummax(s):
    """Running maximum (the best-so-far of a metric that should rise)."""
    if s is None:
        return None
    return _numeric(_series(s, "s")).cummax()


@_register("cummin", (1, 1), "(s)", "window")
def f_cummin(s):
    """Running minimum (the best-so-far of a loss)."""
    if s is None:
        return None
    return _numeric(_series(s, "s")).cummin()


@_register("ffill", (1, 1), "(s)", "window")
def f_ffill(s):
    """Carry the last logged value forward over gaps (to compare metrics logged at different steps)."""
    if s is None:
        return None
    return _series(s, "s").ffill()


@_register("asof", (2, 2), "(s, ref)", "window")
def f_asof(s, ref):
    """s at each step of ref: the value s logged there or last before it (NaN before its first row), to
    compare a metric logged every few steps (GRPO rewards once per generation) with one logged every step."""
    if _none_in(s, ref):
        return None
    np = _np()
    s, ref = _series(s, "s"), _series(ref, "ref")
    at = ref.index.to_numpy()
    if not len(s):
        return _pd().Series(np.full(len(at), np.nan), index=ref.index)
    pos = np.searchsorted(s.index.to_numpy(), at, side="right") - 1
    vals = s.to_numpy(dtype=float)[np.clip(pos, 0, None)]
    return _pd().Series(np.where(pos >= 0, vals, np.nan), index=ref.index)


# -- selecting rows --------------------------------------------------------------------------------


@_register("head", (2, 2), "(s, n)", "select")
def f_head(s, n):
    """The first n logged rows."""
    if _none_in(s, n):
        return None
    return _series(s, "s").iloc[: _window(n)]


@_register("tail", (2, 2), "(s, n)", "select")
def f_tail(s, n):
    """The last n logged rows."""
    if _none_in(s, n):
        return None
    return _series(s, "s").iloc[-_window(n):]


@_register("head_frac", (2, 2), "(s, f)", "select")
def f_head_frac(s, f):
    """The first fraction f (0..1) of the logged rows (at least one row)."""
    if _none_in(s, f):
        return None
    s = _series(s, "s")
    k = max(1, int(math.ceil(len(s) * min(max(float(f), 0.0), 1.0))))
    return s.iloc[:k]


@_register("tail_frac", (2, 2), "(s, f)", "select")
def f_tail_frac(s, f):
    """The last fraction f (0..1) of the logged rows (at least one row)."""
    if _none_in(s, f):
        return None
    s = _series(s, "s")
    k = max(1, int(math.ceil(len(s) * min(max(float(f), 0.0), 1.0))))
    return s.iloc[-k:]


@_register("after", (2, 2), "(s, step)", "select")
def f_after(s, step):
    """Rows logged at steps >= step."""
    if _none_in(s, step):
        return None
    return _from_step(_series(s, "s"), float(step), after=True)


@_register("before", (2, 2), "(s, step)", "select")
def f_before(s, step):
    """Rows logged at steps < step."""
    if _none_in(s, step):
        return None
    return _from_step(_series(s, "s"), float(step), after=False)


def _from_step(s, step: float, after: bool):
    """s[s.index >= step] (after) or s[s.index < step]: on steps in order, the rows are one slice of s (a view,
    where a mask would copy the values and the index); otherwise the mask."""
    index = s.index
    if step == step and index.is_monotonic_increasing:
        cut = int(index.searchsorted(step, side="left"))
        return s.iloc[cut:] if after else s.iloc[:cut]
    return s[index >= step] if after else s[index < step]


@_register("finite", (1, 1), "(s)", "select")
def f_finite(s):
    """Only the finite values (drops NaN and ±inf rows)."""
    if s is None:
        return None
    s = _series(s, "s")
    keep = _np().isfinite(_numeric(s).to_numpy(dtype=float))
    return s if keep.all() else s[keep]  # (every row kept: the series itself, not a copy)


@_register("where", (3, 3), "(cond, a, b)", "select")
def f_where(cond, a, b):
    """a where cond holds, else b (element-wise)."""
    from .expr import truthy_mask

    m = truthy_mask(cond)
    if not _is_series(m):
        return a if m else b
    pd = _pd()
    idx = m.index
    av = a.reindex(idx) if _is_series(a) else pd.Series(a, index=idx, dtype=object if a is None else float)
    bv = b.reindex(idx) if _is_series(b) else pd.Series(b, index=idx, dtype=object if b is None else float)
    return av.where(m, bv)


# -- reductions ------------------------------------------------------------------------------------


def _reduce(s, how):
    if s is None:
        return None
    if not _is_series(s):
        return float(s) if not isinstance(s, (bool, str)) else s
    v = _numeric(s).to_numpy(dtype=float)
    np = _np()
    finite = np.isfinite(v)
    if not finite.all():
        v = v[finite]
    del finite
    if v.size == 0:
        return None
    return float(how(v))


@_register("first", (1, 1), "(s)", "reduce")
def f_first(s):
    """The first logged value (NaN included: it is what was logged); the first item of a list."""
    if isinstance(s, list):
        return s[0] if s else None
    if s is None or not _is_series(s):
        return s
    return None if len(s) == 0 else _item(s.iloc[0])


@_register("last", (1, 1), "(s)", "reduce")
def f_last(s):
    """The last logged value."""
    if s is None or not _is_series(s):
        return s
    return None if len(s) == 0 else _item(s.iloc[-1])


def _item(v):
    if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
        return bool(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


@_register("mean", (1, 1), "(s)", "reduce")
def f_mean(s):
    """Mean of the finite values."""
    return _reduce(s, lambda v: v.mean())


@_register("median", (1, 1), "(s)", "reduce")
def f_median(s):
    """Median of the finite values."""
    return _reduce(s, lambda v: _np().median(v))


@_register("std", (1, 1), "(s)", "reduce")
def f_std(s):
    """Standard deviation of the finite values."""
    return _reduce(s, lambda v: v.std(ddof=1) if v.size > 1 else 0.0)


@_register("sum", (1, 1), "(s)", "reduce")
def f_sum(s):
    """Sum of the finite values (a count of True rows for a condition)."""
    return _reduce(s, lambda v: v.sum())


@_register("quantile", (2, 2), "(s, q)", "reduce")
def f_quantile(s, q):
    """The q-quantile (0..1) of the finite values."""
    if q is None:
        return None
    return _reduce(s, lambda v: _np().quantile(v, min(max(float(q), 0.0), 1.0)))


@_register("min", (1, None), "(s) or (a, b, ...)", "reduce")
def f_min(*args):
    """min(s): smallest finite value of a series; min(a, b, ...): element-wise minimum."""
    return _minmax(args, min, "min")


@_register("max", (1, None), "(s) or (a, b, ...)", "reduce")
def f_max(*args):
    """max(s): largest finite value of a series; max(a, b, ...): element-wise maximum."""
    return _minmax(args, max, "max")


def _minmax(args, pick, name):
    if len(args) == 1:
        return _reduce(args[0], lambda v: v.min() if name == "min" else v.max())
    if any(a is None for a in args):
        return None
    if any(_is_series(a) for a in args):
        pd = _pd()
        frame = pd.concat([a if _is_series(a) else None for a in args if _is_series(a)], axis=1)
        scalars = [float(a) for a in args if not _is_series(a)]
        out = frame.min(axis=1) if name == "min" else frame.max(axis=1)
        for c in scalars:
            out = out.clip(upper=c) if name == "min" else out.clip(lower=c)
        return out
    return pick(float(a) for a in args)


@_register("count", (1, 1), "(s)", "reduce")
def f_count(s):
    """Number of logged rows (NaN rows included); 0 for a metric that is not there; the length of a list."""
    if s is None:
        return 0.0
    if isinstance(s, list):
        return float(len(s))
    if not _is_series(s):
        return 1.0
    return float(len(s))


@_register("rows_needed", (2, 2), "(n, s)", "reduce")
def f_rows_needed(n, s):
    """n rows, or half of the rows s logged (at least 1) when that is fewer: a persistence threshold that
    scales with sparse logging (a run that logged 4 rows needs 2 of them, not 3)."""
    if n is None:
        return None
    n = float(n)
    logged = f_count(s)
    return float(min(n, max(1.0, math.ceil(logged / 2))))


@_register("count_true", (1, 1), "(cond)", "reduce")
def f_count_true(c):
    """Number of rows where the condition holds."""
    from .expr import truthy_mask

    if c is None:
        return 0.0
    m = truthy_mask(c)
    return float(m.sum()) if _is_series(m) else float(bool(m))


@_register("count_nonfinite", (1, 1), "(s)", "reduce")
def f_count_nonfinite(s):
    """Number of logged NaN or ±inf values."""
    if s is None:
        return 0.0
    return float(f_nonfinite(s).sum()) if _is_series(s) else float(not f_isfinite(s))


@_register("frac", (1, 1), "(cond)", "reduce")
def f_frac(c):
    """Fraction (0..1) of rows where the condition holds."""
    from .expr import truthy_mask

    if c is None:
        return None
    m = truthy_mask(c)
    if not _is_series(m):
        return float(bool(m))
    return float(m.mean()) if len(m) else None


@_register("any", (1, 1), "(cond)", "reduce")
def f_any(c):
    """True if the condition holds on at least one row."""
    from .expr import truthy_mask

    m = truthy_mask(c)
    return bool(m.any()) if _is_series(m) else bool(m)


@_register("all", (1, 1), "(cond)", "reduce")
def f_all(c):
    """True if the condition holds on every row (False for no rows)."""
    from .expr import truthy_mask

    if c is None:
        return False
    m = truthy_mask(c)
    return bool(len(m) and m.all()) if _is_series(m) else bool(m)


@_register("longest_run", (1, 1), "(cond)", "reduce")
def f_longest_run(c):
    """Length, in logged rows, of the longest stretch where the condition holds without a break."""
    from .expr import truthy_mask

    m = truthy_mask(c)
    if not _is_series(m):
        return float(bool(m))
    np = _np()
    v = m.to_numpy(dtype=bool)
    if not v.any():
        return 0.0
    padded = np.concatenate(([0], v.view(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return float((edges[1::2] - edges[::2]).max())


@_register("slope", (1, 1), "(s)", "reduce")
def f_slope(s):
    """Least-squares slope of the finite values per step (units of s per training step)."""
    if s is None:
        return None
    s = _numeric(_series(s, "s"))
    np = _np()
    x = np.asarray(s.index, dtype=float)
    y = s.to_numpy(dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return None
    x, y = x[ok], y[ok]
    xm = x - x.mean()
    denom = float((xm * xm).sum())
    if denom == 0:
        return None
    return float((xm * (y - y.mean())).sum() / denom)


@_register("at_step", (2, 2), "(s, step)", "reduce")
def f_at_step(s, step):
    """The value logged at `step`, or the last one before it."""
    if _none_in(s, step):
        return None
    s = _series(s, "s")
    sub = s[s.index <= float(step)]
    return _item(sub.iloc[-1]) if len(sub) else None


@_register("argmax", (1, 1), "(s)", "reduce")
def f_argmax(s):
    """The step at which s is largest (finite values)."""
    return _argext(s, "max")


@_register("argmin", (1, 1), "(s)", "reduce")
def f_argmin(s):
    """The step at which s is smallest (finite values)."""
    return _argext(s, "min")


def _argext(s, how):
    if s is None:
        return None
    s = _numeric(_series(s, "s"))
    np = _np()
    v = s.to_numpy(dtype=float)
    finite = np.isfinite(v)
    if finite.all():  # the first row holding the extreme, as idxmax/idxmin of the finite rows give it
        if not len(v):
            return None
        pos = int(v.argmax() if how == "max" else v.argmin())
    elif not finite.any():
        return None
    else:  # the other rows can hold no extreme: a value beyond every finite one in their place
        filled = np.where(finite, v, -np.inf if how == "max" else np.inf)
        pos = int(filled.argmax() if how == "max" else filled.argmin())
    return float(s.index[pos])


def _true_steps(c):
    """The steps where a condition series holds (None when c is not a series)."""
    from .expr import truthy_mask

    m = truthy_mask(c)
    return m.index[m.to_numpy(dtype=bool)] if _is_series(m) else None


@_register("first_step", (1, 1), "(cond)", "reduce")
def f_first_step(c):
    """The first step where the condition holds (None if never)."""
    idx = _true_steps(c)
    return float(idx[0]) if idx is not None and len(idx) else None


@_register("last_step", (1, 1), "(cond)", "reduce")
def f_last_step(c):
    """The last step where the condition holds (None if never)."""
    idx = _true_steps(c)
    return float(idx[-1]) if idx is not None and len(idx) else None


@_register("steps", (1, 1), "(s)", "reduce")
def f_steps(s):
    """The steps at which s was logged, as a series (step -> step)."""
    if s is None:
        return None
    s = _series(s, "s")
    return _pd().Series(s.index.to_numpy(dtype=float), index=s.index, copy=False)


# -- scalars ---------------------------------------------------------------------------------------


@_register("defined", (1, 1), "(x)", "scalar")
def f_defined(x):
    """True when a config key or metric is present (and a series is not empty)."""
    if x is None:
        return False
    if _is_series(x):
        return len(x) > 0
    return True


@_register("coalesce", (2, None), "(a, b, ...)", "scalar")
def f_coalesce(*args):
    """The first argument that is defined (not None)."""
    for a in args:
        if a is not None and not (_is_series(a) and len(a) == 0):
            return a
    return None


@_register("rel_change", (2, 2), "(a, b)", "scalar")
def f_rel_change(a, b):
    """(b - a) / |a|: relative change from a to b."""
    if _none_in(a, b):
        return None
    a, b = float(a), float(b)
    if a == 0:
        return math.inf if b > 0 else (-math.inf if b < 0 else 0.0)
    return (b - a) / abs(a)


@_register("clip", (3, 3), "(x, lo, hi)", "scalar")
def f_clip(x, lo, hi):
    """x limited to [lo, hi]."""
    if _none_in(x, lo, hi):
        return None
    if _is_series(x):
        return _numeric(x).clip(lower=float(lo), upper=float(hi))
    return min(max(float(x), float(lo)), float(hi))


@_register("ceil_to", (2, 2), "(x, k)", "scalar")
def f_ceil_to(x, k):
    """x rounded up to a multiple of k (e.g. a padded length: ceil_to(cutoff_len, 8))."""
    if _none_in(x, k):
        return None
    x, k = float(x), float(k)
    if not math.isfinite(x) or not math.isfinite(k):
        return math.nan
    if k <= 0:
        return x
    q = x / k
    return math.ceil(q) * k if math.isfinite(q) else math.nan


@_register("is_int", (1, 2), "(x, tol=1e-6)", "scalar")
def f_is_int(x, tol=1e-6):
    """True when x is within tol of a whole number."""
    if x is None:
        return None
    if _is_series(x):
        v = _numeric(x)
        return (v - v.round()).abs() <= float(tol)
    x = float(x)
    return math.isfinite(x) and abs(x - round(x)) <= float(tol)


@_register("filter", (2, 2), "(s, cond)", "select")
def f_filter(s, cond):
    """Only the rows of s where cond holds (e.g. median(filter(loss, flat)))."""
    from .expr import truthy_mask

    if _none_in(s, cond):
        return None
    s = _series(s, "s")
    m = truthy_mask(cond)
    if not _is_series(m):
        return s if m else s.iloc[:0]
    if not m.index.equals(s.index):
        from .expr import mask_on

        m = mask_on(m, s.index)
    keep = m.to_numpy(dtype=bool)
    return s if keep.all() else s[keep]  # (every row kept: the series itself, not a copy)


@_register("switch", (3, None), "(key, k1, v1, k2, v2, ..., default)", "scalar")
def f_switch(key, *pairs):
    """The value paired with `key` (e.g. switch(run.method, 'kto', 5e-6, 'dpo', 1e-6, 5e-5)); the last
    argument is the default when no key matches."""
    if len(pairs) % 2 == 0:
        raise TypeError("switch needs key/value pairs and a final default")
    for k, v in zip(pairs[0::2], pairs[1::2]):
        if key == k:
            return v
    return pairs[-1]


@_register("contains", (2, 2), "(text, part)", "scalar")
def f_contains(text, part):
    """True when the text contains `part`, ignoring case (e.g. contains(config.model_name_or_path, '8b')).
    None when the text is not there."""
    if _none_in(text, part):
        return None
    if _is_series(text) or _is_series(part):
        raise TypeError("contains() works on text (config values), not on metric series")
    return str(part).lower() in str(text).lower()


@_register("denominator", (2, 2), "(x, max_den)", "scalar")
def f_denominator(x, max_den):
    """The smallest n <= max_den for which x is k/n to 1e-9 (an accuracy over an evaluation set of n examples),
    None when there is none: a value printed to full precision that no small count explains."""
    if x is None or max_den is None:
        return None
    if _is_series(x):
        raise TypeError("denominator() works on one value (last(s), a let), not on a series")
    from fractions import Fraction

    x = float(x)
    if not math.isfinite(x):
        return None
    f = Fraction(x).limit_denominator(int(max_den))
    return float(f.denominator) if abs(float(f) - x) <= 1e-9 else None


@_register("version_at_least", (2, 2), "(version, minimum)", "scalar")
def f_version_at_least(version, minimum):
    """True when a version text ('0.19.1', 'v1.9.0.dev0') is at least `minimum` ('0.19'), compared number by
    number; None when either has no version number (a fact nobody stated)."""
    a, b = _version(version), _version(minimum)
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)) >= b + (0,) * (n - len(b))


def _version(text):
    import re

    if text is None or _is_series(text):
        return None
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text) if not isinstance(text, float) else repr(text))
    return tuple(int(x) for x in m.group(1).split(".")[:4]) if m else None


@_register("minus", (2, 2), "(a, b)", "scalar")
def f_minus(a, b):
    """The items of list a that are not in list b (b may be one text), in a's order: e.g. the non-finite
    series other rules do not already report, minus(run.nonfinite_metrics, params.covered)."""
    if a is None:
        return None
    if not isinstance(a, list):
        raise TypeError("minus() takes a list first (run.metrics, a list param)")
    drop = set(b) if isinstance(b, list) else ({b} if b is not None else set())
    return [x for x in a if x not in drop]


@_register("fmt", (2, 2), "(x, spec)", "scalar")
def f_fmt(x, spec):
    """x as text with a format spec ('.3g', '.2e', ',.0f', '.1%'), for building optional sentences."""
    from .template import _SPEC, format_value

    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise ValueError(f"invalid format spec {spec!r}")
    return format_value(x, spec)
