"""Small SVG line charts for the HTML report, written by hand (no plotting library).

One chart = one or more stacked panels sharing the x axis (steps). Each panel: its own y scale (linear,
log, or sign-aware log from `chartdata`), nice ticks, the series as polylines after min/max decimation
(≤ ~800 points per chart whatever the run length), gaps at NaN with `×` marks on the top edge (▲/▼ for
±inf), the firing window shaded, dashed reference lines with labels. Colours come from CSS classes
(`ln0`…, `win`, `ref`, `grid`, `nan`) so the page decides light/dark/print. Every text is escaped.
"""
from __future__ import annotations

import math
from dataclasses import field
from html import escape

from ..fastclass import dataclass
from . import chartdata as cd

MAX_POINTS = 800


@dataclass
class Panel:
    name: str
    x: object
    y: object
    hlines: dict = field(default_factory=dict)  # label -> value
    ref: tuple | None = None   # (x, y): a reference run's curve, drawn dashed under the series
    band: tuple | None = None  # (x, lo, hi): a tolerance band, drawn shaded under the series


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"


def chart(panels: list[Panel], *, width: int = 720, panel_height: int = 150, window=None, vlines=None,
          xlim=None, label: str = "", compact: bool = False, max_points: int = MAX_POINTS) -> str:
    """An `<svg>` element (viewBox, scales to its container) of the panels over steps."""
    import numpy as np

    panels = [p for p in panels if p.x is not None and len(p.x)]
    if not panels:
        return ""
    left, right = (48, 10) if compact else (64, 16)
    top_pad, bottom = (16, 22) if compact else (20, 30)
    gap = 10
    height = len(panels) * (panel_height + top_pad) + (len(panels) - 1) * gap + bottom
    if xlim is None:
        x0 = min(float(np.min(p.x)) for p in panels)
        x1 = max(float(np.max(p.x)) for p in panels)
    else:
        x0, x1 = xlim
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pw = width - left - right

    def px(s):
        return left + (float(s) - x0) / (x1 - x0) * pw

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
           f'role="img" aria-label="{escape(label or ", ".join(p.name for p in panels))}">']
    if label:
        out.append(f"<title>{escape(label)}</title>")
    per_panel = max(50, max_points // len(panels))
    vlines = {k: float(v) for k, v in (vlines or {}).items() if v is not None and math.isfinite(float(v))}
    for i, p in enumerate(panels):
        y_top = i * (panel_height + top_pad + gap) + top_pad
        y_bot = y_top + panel_height
        labels = []  # (x, y, anchor, text) of the step markers' labels, first panel only
        for k, s in vlines.items():
            if i == 0 and x0 <= s <= x1:
                anchor = "end" if px(s) > left + pw * 0.7 else "start"
                labels.append((px(s) + (-4 if anchor == "end" else 4), y_top + 12, anchor,
                               f"{cd.label(k)} {cd.fmt(s)}"))
            elif i == 0:  # off the chart: say where it is, at the edge it lies beyond
                right_side = s > x1
                text = f"{cd.label(k)}: step {cd.fmt(s)} →" if right_side else f"← {cd.label(k)}: step {cd.fmt(s)}"
                labels.append((left + pw - 4 if right_side else left + 4, y_top + 12,
                               "end" if right_side else "start", text))
        taken = [_label_box(*lab) for lab in labels]
        out.extend(_panel(p, i, px, x0, x1, left, pw, y_top, y_bot, window, per_panel, compact, taken))
        for k, s in vlines.items():
            if x0 <= s <= x1:
                xx = _n(px(s))
                out.append(f'<line class="ref" x1="{xx}" x2="{xx}" y1="{y_top}" y2="{y_bot}"/>')
        for x, y, anchor, text in labels:
            out.append(f'<text class="reflabel" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}">{escape(text)}</text>')
    # x axis under the last panel
    base = height - bottom
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{base}" y2="{base}"/>')
    for t in cd.nice_ticks(x0, x1, 4 if compact else 7):
        if x0 <= t <= x1:
            xx = _n(px(t))
            out.append(f'<line class="axis" x1="{xx}" x2="{xx}" y1="{base}" y2="{base + 4}"/>')
            out.append(f'<text class="tick" x="{xx}" y="{base + 15}" text-anchor="middle">{escape(cd.fmt(t))}</text>')
    if not compact:
        out.append(f'<text class="tick" x="{left + pw}" y="{base + 27}" text-anchor="end">step</text>')
    out.append("</svg>")
    return "".join(out)


def _ref_arrays(p: Panel, max_points: int):
    """The panel's reference curve and band as float arrays, thinned to the point budget."""
    import numpy as np

    ref_x = ref_y = band = None
    if p.ref is not None and len(p.ref[0]):
        ref_x, ref_y = (np.asarray(a, dtype=float) for a in p.ref)
        step = max(1, len(ref_x) // max_points)
        ref_x, ref_y = ref_x[::step], ref_y[::step]
    if p.band is not None and len(p.band[0]):
        bx, blo, bhi = (np.asarray(a, dtype=float) for a in p.band)
        step = max(1, len(bx) // max_points)
        ok = np.isfinite(bx)
        band = (bx[ok][::step], blo[ok][::step], bhi[ok][::step])
    return ref_x, ref_y, band


CHAR_WIDTH = 6.6  # px per character of an 11px label, a little over the average so that estimates do not touch


def _label_box(x: float, y: float, anchor: str, text: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) a text label covers, estimated from its length (no font metrics in a static SVG)."""
    w = len(text) * CHAR_WIDTH
    x0 = x - w if anchor == "end" else (x - w / 2 if anchor == "middle" else x)
    return (x0, y - 11, x0 + w, y + 3)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(candidates, taken):
    """The first (x, y, anchor) whose label box is clear of the boxes already drawn (else the first)."""
    for x, y, anchor, text in candidates:
        box = _label_box(x, y, anchor, text)
        if not any(_overlaps(box, t) for t in taken):
            taken.append(box)
            return x, y, anchor
    x, y, anchor, text = candidates[0]
    taken.append(_label_box(x, y, anchor, text))
    return x, y, anchor


def _panel(p: Panel, i, px, x0, x1, left, pw, y_top, y_bot, window, max_points, compact, taken=None):
    import numpy as np

    x = np.asarray(p.x, dtype=float)
    y = np.asarray(p.y, dtype=float)
    hlines = {k: float(v) for k, v in (p.hlines or {}).items() if v is not None and math.isfinite(float(v))}
    ref_x, ref_y, band = _ref_arrays(p, max_points)
    extra = list(hlines.values())
    for arr in ([ref_y] if ref_y is not None else []) + (list(band[1:]) if band is not None else []):
        extra.extend(arr[np.isfinite(arr)].tolist())
    scale = cd.choose_scale(y, extra=extra)
    t = scale.fwd(y)
    ht = {k: float(scale.fwd([v])[0]) for k, v in hlines.items()}
    others = [scale.fwd(a) for a in ([ref_y] if ref_y is not None else []) + (list(band[1:]) if band else [])]
    fin = np.concatenate([t[np.isfinite(t)], [v for v in ht.values() if math.isfinite(v)]]
                         + [a[np.isfinite(a)] for a in others])
    lo, hi = cd.padded_range(float(fin.min()), float(fin.max())) if len(fin) else (0.0, 1.0)

    def py(v):
        return y_bot - (v - lo) / (hi - lo) * (y_bot - y_top)

    out = [f'<g class="panel" data-metric="{escape(p.name)}">']
    out.append(f'<rect class="plot" x="{left}" y="{y_top}" width="{pw}" height="{y_bot - y_top}"/>')
    if window:
        w0, w1 = max(float(window[0]), x0), min(float(window[-1]), x1)
        if w1 >= w0:
            a, b = px(w0), px(w1)
            if b - a < 3:
                a, b = (a + b) / 2 - 1.5, (a + b) / 2 + 1.5
            out.append(f'<rect class="win" x="{_n(a)}" y="{y_top}" width="{_n(b - a)}" height="{y_bot - y_top}"/>')
    for pos, lab in scale.ticks(lo, hi, 3 if compact else 5):
        yy = _n(py(pos))
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{yy}" y2="{yy}"/>')
        out.append(f'<text class="tick" x="{left - 5}" y="{yy}" dy="3" text-anchor="end">{escape(lab)}</text>')
    if band is not None:
        bx, blo, bhi = band[0], scale.fwd(band[1]), scale.fwd(band[2])
        blo = np.where(np.isfinite(blo), blo, lo)  # a lower edge below 0 on a log scale: the bottom
        bhi = np.where(np.isfinite(bhi), bhi, hi)
        pts = [f"{_n(px(a))},{_n(py(min(max(b, lo), hi)))}" for a, b in zip(bx, bhi)]
        pts += [f"{_n(px(a))},{_n(py(min(max(b, lo), hi)))}" for a, b in zip(bx[::-1], blo[::-1])]
        if pts:
            out.append(f'<polygon class="band" points="{" ".join(pts)}"/>')
    if ref_y is not None:
        for rx, rt in cd.finite_runs(ref_x, scale.fwd(ref_y)):
            pts = " ".join(f"{_n(px(a))},{_n(py(b))}" for a, b in zip(rx, rt))
            out.append(f'<polyline class="refln" fill="none" points="{pts}"/>')
    title = p.name + (f" ({scale.note})" if scale.kind != "linear" else "")
    out.append(f'<text class="ptitle" x="{left}" y="{y_top - 5}">{escape(title)}</text>')
    # the series: finite stretches as polylines, decimated to the point budget
    runs = cd.finite_runs(x, t)
    total = sum(len(r[0]) for r in runs) or 1
    for rx, rt in runs:
        budget = max(4, int(max_points * len(rx) / total))
        dx, dt = cd.decimate(rx, rt, budget)
        if len(dx) == 1:
            out.append(f'<circle class="dot{i % 4}" cx="{_n(px(dx[0]))}" cy="{_n(py(dt[0]))}" r="2"/>')
            continue
        pts = " ".join(f"{_n(px(a))},{_n(py(b))}" for a, b in zip(dx, dt))
        out.append(f'<polyline class="ln{i % 4}" fill="none" points="{pts}"/>')
    # non-finite values: one mark per pixel column
    bad = ~np.isfinite(y)
    if bad.any():
        seen = set()
        for s, v in zip(x[bad], y[bad]):
            col = int(px(s))
            kind = "nan" if math.isnan(v) else ("posinf" if v > 0 else "neginf")
            if (col, kind) in seen:
                continue
            seen.add((col, kind))
            glyph, yy = {"nan": ("×", y_top + 9), "posinf": ("▲", y_top + 9), "neginf": ("▼", y_bot - 2)}[kind]
            out.append(f'<text class="nan" x="{col}" y="{yy}" text-anchor="middle">{glyph}</text>')
        n_nan = int(np.isnan(y).sum())
        n_inf = int(bad.sum()) - n_nan
        what = ", ".join(w for w in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else "") if w)
        out.append(f'<text class="nanlabel" x="{left + pw}" y="{y_top - 5}" text-anchor="end">{escape(what)}</text>')
    for k, v in ht.items():
        if not (math.isfinite(v) and lo <= v <= hi):
            continue
        yy = py(v)
        out.append(f'<line class="ref" x1="{left}" x2="{left + pw}" y1="{_n(yy)}" y2="{_n(yy)}"/>')
        text = f"{cd.label(k)} {cd.fmt(hlines[k])}"
        above, below = yy - 4, yy + 12
        rows = [y for y in (above, below) if y_top + 10 < y < y_bot - 2] or [below if yy - 4 <= y_top + 10 else above]
        candidates = [(xx, y, anchor, text) for y in rows
                      for xx, anchor in ((left + pw - 4, "end"), (left + 4, "start"))]
        lx, ly, anchor = _place(candidates, taken if taken is not None else [])
        out.append(f'<text class="reflabel" x="{_n(lx)}" y="{_n(ly)}" text-anchor="{anchor}">{escape(text)}</text>')
    out.append("</g>")
    return out
