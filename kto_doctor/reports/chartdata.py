"""Numbers behind every chart (terminal and SVG): series extraction, scales, buckets, ticks, labels.

Pure numpy. Nothing here draws; `plots` (terminal) and `svg` (HTML) turn these numbers into pictures, so
both agree on what a log scale, a NaN or a bucket is.
"""
from __future__ import annotations

import math
import re

from ..fastclass import dataclass

# Decades a positive (or all-negative) series must span before a log axis pays off.
LOG_DECADES = 2.0
# Mixed-sign series: |max| / typical small |value| above this gets a symmetric log axis.
SYMLOG_RATIO = 1e3


def xy(run, metric: str):
    """(steps, values) as float arrays sorted by step, or None when the metric was never logged."""
    import numpy as np

    s = run.series(metric)
    if s is None or len(s) == 0:
        return None
    x = np.asarray(s.index, dtype=float)
    y = np.asarray(s.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    if len(x) > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    return x, y


def fmt(v) -> str:
    """A short number label: 0.565, 1.2e-6, -2.03e8, 4,739 (steps)."""
    if v is None:
        return "n/a"
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    a = abs(v)
    if v == int(v) and a < 1e6:
        return f"{int(v):,}"
    s = format(v, ".3g")
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp)}"
    return s


@dataclass
class Scale:
    """How values map to the drawing axis: `fwd` transforms, `ticks` labels the transformed range."""

    kind: str  # "linear", "log", "neglog" (all negative, log of magnitude), "symlog"
    linthresh: float = 1.0
    note: str = ""

    def fwd(self, v):
        import numpy as np

        v = np.asarray(v, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "log":
                out = np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
            elif self.kind == "neglog":
                out = np.where(v < 0, -np.log10(np.where(v < 0, -v, 1.0)), np.nan)
            elif self.kind == "symlog":
                out = np.sign(v) * np.log10(1.0 + np.abs(v) / self.linthresh)
            else:
                out = v.copy()
        out[~np.isfinite(v)] = np.nan
        return out

    def inv(self, t: float) -> float:
        if self.kind == "log":
            return 10.0 ** t
        if self.kind == "neglog":
            return -(10.0 ** -t)
        if self.kind == "symlog":
            return math.copysign(self.linthresh * (10.0 ** abs(t) - 1.0), t)
        return t

    def ticks(self, lo: float, hi: float, target: int = 5) -> list[tuple[float, str]]:
        """[(position in transformed space, label)] inside [lo, hi]."""
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return []
        if self.kind == "linear":
            return [(t, fmt(t)) for t in nice_ticks(lo, hi, target)]
        if self.kind in ("log", "neglog"):
            sign = 1 if self.kind == "log" else -1
            a, b = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
            if b < a:  # less than a decade visible: label the ends
                return [(lo, fmt(self.inv(lo))), (hi, fmt(self.inv(hi)))]
            step = max(1, math.ceil((b - a + 1) / target))
            return [(float(k), _decade(sign, k if sign > 0 else -k)) for k in range(a, b + 1, step)]
        # symlog: 0 and ±linthresh·10^k
        out = []
        if lo <= 0 <= hi:
            out.append((0.0, "0"))
        top = max(abs(lo), abs(hi))
        k0 = math.floor(math.log10(self.linthresh))
        kmax = k0 + math.ceil(top) + 1
        step = max(1, math.ceil((kmax - k0) / max(2, target // 2)))
        for k in range(k0, kmax + 1, step):
            for sgn in (1, -1):
                t = sgn * math.log10(1.0 + 10.0 ** k / self.linthresh)
                if lo - 1e-9 <= t <= hi + 1e-9:
                    out.append((t, _decade(sgn, k)))
        return sorted(out)


def _decade(sign: int, k: int) -> str:
    if -3 <= k <= 4:
        v = 10.0 ** k
        return fmt(sign * v)
    return f"{'-' if sign < 0 else ''}1e{k}"


def choose_scale(values, extra=()) -> Scale:
    """Linear unless the finite values span decades: log (all > 0), neglog (all < 0), symlog (mixed)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = np.concatenate([v[np.isfinite(v)], np.asarray([e for e in extra if e is not None and math.isfinite(e)],
                                                      dtype=float)])
    if len(v) < 2:
        return Scale("linear")
    lo, hi = float(v.min()), float(v.max())
    if lo > 0 and math.log10(hi / lo) >= LOG_DECADES:
        return Scale("log", note="log scale")
    if hi < 0 and math.log10(lo / hi) >= LOG_DECADES:
        return Scale("neglog", note="log scale of |value|, all values negative")
    a = np.abs(v[v != 0])
    if lo < 0 < hi and len(a):
        small = float(np.percentile(a, 10))
        big = float(a.max())
        if small > 0 and big / small >= SYMLOG_RATIO:
            return Scale("symlog", linthresh=max(small, big * 1e-9), note="symmetric log scale (sign kept)")
    return Scale("linear")


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    t = first
    while t <= hi + step * 1e-9:
        out.append(0.0 if abs(t) < step * 1e-9 else round(t, 12))
        t += step
    return out


def padded_range(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    """A drawing range around [lo, hi] with a margin; a flat series gets a band around its value."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return (0.0, 1.0)
    if hi == lo:
        d = abs(lo) * 0.1 or 1.0
        return (lo - d, hi + d)
    d = (hi - lo) * pad
    return (lo - d, hi + d)


@dataclass
class Buckets:
    """Per-column summary of a series over an x range (terminal columns, SVG decimation)."""

    lo: object       # min of finite transformed values per bucket (NaN when none)
    hi: object       # max of finite transformed values per bucket
    nan: object      # bool: a logged NaN fell in the bucket
    posinf: object   # bool: +inf
    neginf: object   # bool: -inf
    count: object    # rows in the bucket
    x0: float
    x1: float

    def step_range(self, i: int) -> tuple[float, float]:
        n = len(self.lo)
        w = (self.x1 - self.x0) / n
        return self.x0 + i * w, self.x0 + (i + 1) * w


def bucket_index(x, n: int, x0: float, x1: float):
    import numpy as np

    if x1 <= x0:
        return np.zeros(len(x), dtype=np.int64)
    idx = np.floor((np.asarray(x, dtype=float) - x0) / (x1 - x0) * n).astype(np.int64)
    return np.clip(idx, 0, n - 1)


def buckets(x, y_raw, t, n: int, x0: float | None = None, x1: float | None = None) -> Buckets:
    """Min/max of the transformed values `t` per bucket of x, and which buckets hold non-finite raw values."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    y_raw = np.asarray(y_raw, dtype=float)
    t = np.asarray(t, dtype=float)
    x0 = float(x.min()) if x0 is None else x0
    x1 = float(x.max()) if x1 is None else x1
    idx = bucket_index(x, n, x0, x1)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    fin = np.isfinite(t)
    np.minimum.at(lo, idx[fin], t[fin])
    np.maximum.at(hi, idx[fin], t[fin])
    lo[~np.isfinite(lo)] = np.nan
    hi[~np.isfinite(hi)] = np.nan
    count = np.bincount(idx, minlength=n)
    flags = []
    for mask in (np.isnan(y_raw), np.isposinf(y_raw), np.isneginf(y_raw)):
        flags.append(np.bincount(idx[mask], minlength=n) > 0)
    return Buckets(lo, hi, flags[0], flags[1], flags[2], count, x0, x1)


def decimate(x, t, max_points: int = 800):
    """Min/max decimation of one finite stretch: at most `max_points` points, spikes kept, order kept."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    if len(x) <= max_points:
        return x, t
    nb = max(1, max_points // 2)
    idx = bucket_index(x, nb, float(x[0]), float(x[-1]))
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(x)]
    out = []
    for s, e in zip(starts, ends):
        seg = t[s:e]
        i_min, i_max = s + int(np.argmin(seg)), s + int(np.argmax(seg))
        for i in sorted({i_min, i_max}):
            out.append(i)
    out = np.asarray(out, dtype=np.int64)
    return x[out], t[out]


def finite_runs(x, t):
    """Split at non-finite transformed values: [(x, t)] stretches to draw as separate lines (NaN = gap)."""
    import numpy as np

    t = np.asarray(t, dtype=float)
    ok = np.isfinite(t)
    if not ok.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    return [(x[a:b], t[a:b]) for a, b in zip(edges[::2], edges[1::2])]


# --- what a finding's chart shows -------------------------------------------------------------------

_STEP_MARKER = re.compile(r"(^|_)(step|steps|end|start|begin|warmup)(_|$)")


def split_markers(markers: dict) -> tuple[dict, dict]:
    """Finding markers as ({name: step} vertical lines, {name: value} horizontal lines)."""
    vlines, hlines = {}, {}
    for k, v in (markers or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(f):
            continue
        (vlines if _STEP_MARKER.search(str(k).lower()) else hlines)[str(k)] = f
    return vlines, hlines


def marker_metric(name: str, metrics: list[str]) -> str | None:
    """Which of the finding's metrics a value marker belongs to: the longest metric named in the marker."""
    low = name.lower().replace("/", "_")
    best = None
    for m in metrics:
        key = m.lower().replace("/", "_")
        if key and key in low and (best is None or len(key) > len(best)):
            best = m
    return best if best is not None else (metrics[0] if metrics else None)


def label(name: str) -> str:
    return name.replace("_", " ")


_HIGHER_WORSE = ("loss", "grad_norm", "kl", "perplexity", "logits")
_LOWER_WORSE = ("accurac", "margin", "reward")


def worst_of(metric: str, x, y, window=None):
    """(step, value) of the worst value in the window: a non-finite one first, then by the metric's
    direction (loss, grad_norm, kl: highest; rewards, margins, accuracies: lowest; else farthest from the
    median). None when the window holds no value."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if window:
        sel = (x >= window[0]) & (x <= window[-1])
        if sel.any():
            x, y = x[sel], y[sel]
    if len(y) == 0:
        return None
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return float(x[i]), float(y[i])
    m = metric.lower()
    if any(k in m for k in _LOWER_WORSE):
        i = int(np.argmin(y))
    elif "logits" in m:
        i = int(np.argmax(np.abs(y)))
    elif any(k in m for k in _HIGHER_WORSE):
        i = int(np.argmax(y))
    else:
        i = int(np.argmax(np.abs(y - np.median(y))))
    return float(x[i]), float(y[i])
