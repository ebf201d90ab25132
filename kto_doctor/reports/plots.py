"""Terminal pictures: a one-line sparkline under each finding, and larger charts (`kto-doctor plot`, --plot).

Sparkline: one column per bucket of steps (min/max per bucket; the extreme farther from the median is
drawn, so a spike survives resampling), `×` for a logged NaN, `↑`/`↓` for ±inf, a caret line under the
firing window, first / worst / last values beside it. Log scale when the values span decades.

Degrades cleanly: no styles unless options.color (the CLI turns it off for NO_COLOR and pipes), and with
TERM=dumb plain ASCII (`_.-~^` levels, `x` for NaN, `*` charts) instead of Unicode blocks and braille.
"""
from __future__ import annotations

import math
import os

from . import chartdata as cd
from .safe import terminal as safe_text

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-~^"
GLYPHS = {False: {"nan": "×", "posinf": "↑", "neginf": "↓", "empty": " ", "caret": "^"},
          True: {"nan": "x", "posinf": "!", "neginf": "!", "empty": " ", "caret": "^"}}
MAX_SPARK_METRICS = 2
SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def ascii_only(options=None) -> bool:
    """Plain ASCII on a dumb terminal (or when a caller asks for it with options.extra['ascii'])."""
    extra = getattr(options, "extra", None) or {}
    if "ascii" in extra:
        return bool(extra["ascii"])
    return os.environ.get("TERM", "") == "dumb"


def _colored(options) -> bool:
    return bool(getattr(options, "color", False)) and not os.environ.get("NO_COLOR")


# --- sparkline ----------------------------------------------------------------------------------------

def spark(x, y, width: int = 48, window=None, ascii: bool = False, scale: cd.Scale | None = None):
    """(characters, window mask) for one series: `width` columns (fewer when fewer rows were logged)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = max(1, min(int(width), len(x)))
    scale = scale or cd.choose_scale(y)
    t = scale.fwd(y)
    b = cd.buckets(x, y, t, n)
    glyph = GLYPHS[ascii]
    levels = ASCII_LEVELS if ascii else BLOCKS
    fin = t[np.isfinite(t)]
    lo, hi = (float(fin.min()), float(fin.max())) if len(fin) else (0.0, 1.0)
    mid = float(np.median(fin)) if len(fin) else 0.0
    chars = []
    prev = None
    for i in range(n):
        if b.nan[i]:
            chars.append(glyph["nan"])
            continue
        if b.posinf[i] or b.neginf[i]:
            chars.append(glyph["posinf"] if b.posinf[i] else glyph["neginf"])
            continue
        if math.isnan(b.lo[i]):
            v = prev  # no row in this bucket (sparse logging): hold the previous level
        else:
            v = b.lo[i] if abs(b.lo[i] - mid) > abs(b.hi[i] - mid) else b.hi[i]
        if v is None:
            chars.append(glyph["empty"])
            continue
        prev = v
        frac = 0.5 if hi == lo else (v - lo) / (hi - lo)
        chars.append(levels[min(len(levels) - 1, max(0, int(round(frac * (len(levels) - 1)))))])
    mask = [False] * n
    if window:
        w0, w1 = float(window[0]), float(window[-1])
        for i in range(n):
            a, z = b.step_range(i)
            last = i == n - 1
            if (a <= w1) and (z > w0 or (last and z >= w0)):
                mask[i] = True
        if not any(mask):  # a one-step window between bucket edges: mark its bucket
            mask[int(cd.bucket_index([w0], n, b.x0, b.x1)[0])] = True
    return "".join(chars), mask


def finding_sparkline(run, finding, options):
    """The text report's picture of one finding: a sparkline per main metric, or None when none was logged.

    With options.plot the larger chart is drawn instead.
    """
    from rich.text import Text

    metrics = [m for m in (finding.metrics or []) if run.series(m) is not None]
    if not metrics:
        return None
    if getattr(options, "plot", False):
        return finding_chart(run, finding, options)
    metrics = metrics[:MAX_SPARK_METRICS]
    ascii = ascii_only(options)
    color = _colored(options)
    namew = min(16, max(len(safe_text(m)) for m in metrics))
    window = list(finding.steps) if finding.steps else None
    dim = "dim" if color else ""
    rows = []
    for m in metrics:
        x, y = cd.xy(run, m)
        scale = cd.choose_scale(y)
        w = cd.worst_of(m, x, y, window)
        ends = f"first {cd.fmt(y[0])} · last {cd.fmt(y[-1])}"
        low = (f"worst {cd.fmt(w[1])} @{int(w[0])}" if w else "") + (" · log" if scale.kind != "linear" else "")
        rows.append((m, x, y, scale, ends, low))
    used = 4 + namew + 2 + max(max(len(r[4]), len(r[5])) for r in rows)
    width = _spark_width(options, used)
    out = Text()
    for k, (m, x, y, scale, ends, low) in enumerate(rows):
        chars, mask = spark(x, y, width, window, ascii, scale)
        if k:
            out.append("\n")
        out.append("   " + safe_text(m)[:namew].ljust(namew) + " ", style=dim)
        for ch, inside in zip(chars, mask):
            style = ""
            if color:
                style = SEV_STYLE.get(finding.severity, "bold") if inside else "dim"
                if ch in (GLYPHS[ascii]["nan"], GLYPHS[ascii]["posinf"], GLYPHS[ascii]["neginf"]):
                    style = "bold magenta"
            out.append(ch, style=style)
        out.append(" " * (width - len(chars) + 2) + ends, style=dim)
        carets = "".join(GLYPHS[ascii]["caret"] if v else " " for v in mask) if window else ""
        out.append("\n" + " " * (4 + namew) + carets.ljust(width) + "  ")
        out.append(low, style=dim)
    return out


def _spark_width(options, used: int = 58) -> int:
    """Columns left for the sparkline once the name and the values beside it are placed (24 to 60)."""
    return max(24, min(60, int(getattr(options, "width", 100) or 100) - used))


# --- larger charts ------------------------------------------------------------------------------------

# braille dot bits: (column 0..1, row 0..3 from the top)
_BRAILLE = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (0, 3): 0x40,
            (1, 0): 0x08, (1, 1): 0x10, (1, 2): 0x20, (1, 3): 0x80}


def chart(x, y, *, title: str = "", width: int = 70, height: int = 12, window=None, hlines=None, vlines=None,
          ascii: bool = False, color: bool = False, style: str = "cyan", xlim=None):
    """A `height` × `width` chart of one series with y-axis labels and x-axis steps, as a rich Text.

    hlines {label: value} are dotted rows; vlines {label: step} a column of `│`/`|` (off-chart ones are
    named under the axis); the firing window is a caret line under the axis; NaN/inf columns are marked
    on a line of their own.
    """
    import numpy as np
    from rich.text import Text

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    hlines = {k: v for k, v in (hlines or {}).items() if v is not None and math.isfinite(v)}
    vlines = dict(vlines or {})
    scale = cd.choose_scale(y, extra=hlines.values())
    t = scale.fwd(y)
    x0, x1 = (float(x.min()), float(x.max())) if xlim is None else xlim
    ht = {k: float(scale.fwd([v])[0]) for k, v in hlines.items()}
    fin = np.concatenate([t[np.isfinite(t)], [v for v in ht.values() if math.isfinite(v)]])
    lo, hi = cd.padded_range(float(fin.min()), float(fin.max()), 0.02) if len(fin) else (0.0, 1.0)
    sub_x, sub_y = (1, 1) if ascii else (2, 4)
    cols, rows = width * sub_x, height * sub_y
    b = cd.buckets(x, y, t, cols, x0, x1)

    def row_of(v):
        return int(round((hi - v) / (hi - lo) * (rows - 1))) if hi > lo else rows // 2

    dots = np.zeros((rows, cols), dtype=bool)
    refs = np.zeros((rows, cols), dtype=bool)
    for v in ht.values():
        if math.isfinite(v) and lo <= v <= hi:
            refs[row_of(v), ::2] = True
    prev = None
    for c in range(cols):
        if math.isnan(b.lo[c]):
            prev = None if (b.nan[c] or b.posinf[c] or b.neginf[c]) else prev
            continue
        r_top, r_bot = row_of(b.hi[c]), row_of(b.lo[c])
        own = (r_top, r_bot)
        if prev is not None:  # join to the previous column so the line stays connected
            if prev[1] < r_top:
                r_top = prev[1] + 1 if prev[1] + 1 < r_top else r_top
                r_top = min(r_top, (prev[1] + own[0] + 1) // 2)
            if prev[0] > r_bot:
                r_bot = max(r_bot, (prev[0] + own[1]) // 2)
        dots[r_top:r_bot + 1, c] = True
        prev = own

    vcols = {}
    for k, s in vlines.items():
        if s is not None and x0 <= s <= x1 and x1 > x0:
            vcols[k] = min(width - 1, int((s - x0) / (x1 - x0) * width))

    ticks = scale.ticks(lo, hi, target=max(3, height // 2))
    labels = {}
    for pos, lab in ticks:
        r = row_of(pos) // sub_y
        if 0 <= r < height and r not in labels:
            labels[r] = lab
    lw = max([len(v) for v in labels.values()] + [6])

    out = Text()
    if title:
        out.append("\n" + safe_text(title) + (f"  ({scale.note})" if scale.kind != "linear" else "") + "\n",
                   style="bold" if color else "")
    for r in range(height):
        out.append(labels.get(r, "").rjust(lw) + (" |" if ascii else " ┤" if r in labels else " │"),
                   style="dim" if color else "")
        for c in range(width):
            cell = dots[r * sub_y:(r + 1) * sub_y, c * sub_x:(c + 1) * sub_x]
            rcell = refs[r * sub_y:(r + 1) * sub_y, c * sub_x:(c + 1) * sub_x]
            if ascii:
                ch = "*" if cell.any() else ("-" if rcell.any() else " ")
            else:
                code = 0
                for (dx, dy), bit in _BRAILLE.items():
                    if cell[dy, dx] or rcell[dy, dx]:
                        code |= bit
                ch = chr(0x2800 + code) if code else " "
            if ch == " " and c in vcols.values():
                ch = "|" if ascii else "│"
                out.append(ch, style="magenta" if color else "")
                continue
            st = (style if cell.any() else "magenta") if color and ch != " " else ""
            out.append(ch, style=st)
        out.append("\n")
    pad = " " * (lw + 2)
    out.append(" " * lw + (" +" if ascii else " └") + ("-" if ascii else "─") * width + "\n",
               style="dim" if color else "")
    # non-finite markers
    marks = []
    for c in range(width):
        sl = slice(c * sub_x, (c + 1) * sub_x)
        if b.nan[sl].any():
            marks.append(GLYPHS[ascii]["nan"])
        elif b.posinf[sl].any() or b.neginf[sl].any():
            marks.append(GLYPHS[ascii]["posinf"] if b.posinf[sl].any() else GLYPHS[ascii]["neginf"])
        else:
            marks.append(" ")
    if any(m != " " for m in marks):
        out.append("NaN".rjust(lw) + "  " + "".join(marks).rstrip() + "\n", style="bold magenta" if color else "")
    if window:
        w0, w1 = float(window[0]), float(window[-1])
        car = []
        for c in range(width):
            a = x0 + (x1 - x0) * c / width
            z = x0 + (x1 - x0) * (c + 1) / width
            car.append("^" if (a <= w1 and (z > w0 or c == width - 1 and z >= w0)) else " ")
        if "^" not in car:
            car[min(width - 1, max(0, int((w0 - x0) / max(x1 - x0, 1e-12) * width)))] = "^"
        out.append("window".rjust(lw) + "  " + "".join(car).rstrip() + "\n", style="bold" if color else "")
    left, right = cd.fmt(x0), cd.fmt(x1)
    mid = cd.fmt(round((x0 + x1) / 2))
    axis = list(left.ljust(width))
    m0 = width // 2 - len(mid) // 2
    if m0 > len(left) + 1 and m0 + len(mid) < width - len(right) - 1:
        axis[m0:m0 + len(mid)] = mid
    axis[width - len(right):] = right
    out.append("step".rjust(lw) + "  " + "".join(axis) + "\n", style="dim" if color else "")
    notes = [f"{'-' if ascii else '┄'} {cd.label(k)} {cd.fmt(v)}" for k, v in hlines.items()]
    notes += [f"{'|' if ascii else '│'} {cd.label(k)} step {cd.fmt(s)}" + ("" if k in vcols else " (off chart)")
              for k, s in vlines.items() if s is not None]
    if notes:
        out.append(pad + "   ".join(notes) + "\n", style="magenta" if color else "")
    return out


def finding_chart(run, finding, options):
    """The larger charts of a finding's metrics (analyze --plot)."""
    from rich.text import Text

    metrics = [m for m in (finding.metrics or []) if run.series(m) is not None]
    vlines, hlines = cd.split_markers(finding.markers)
    out = Text()
    for i, m in enumerate(metrics):
        x, y = cd.xy(run, m)
        mine = {k: v for k, v in hlines.items() if cd.marker_metric(k, metrics) == m}
        out.append_text(chart(x, y, title="   " + m, width=_chart_width(options), height=10,
                              window=finding.steps or None, hlines=mine, vlines=vlines if i == 0 else None,
                              ascii=ascii_only(options), color=_colored(options)))
    return out


def _chart_width(options) -> int:
    return max(30, min(100, int(getattr(options, "width", 100) or 100) - 14))
