"""Lines of one byte layout read as a byte matrix: the text readers' numpy ways for lines that a program wrote
with one format string (a progress table's rows, ...).

A piece's lines are grouped by width; within a width, the lines whose bytes other than digits are a model
line's (its *layout*: the digits read as `0`) are one matrix, each of whose fields (a run of the layout
`[-+]?0*.?0*` between fixed bytes) is one column of numbers read at fixed offsets, with no per-line width, point
search or byte test: the layout's compare has tested every byte of every line already. Values are exactly
`float()`'s: the digits as an integer m < 2**53 (at most 15 digits) and the digits after the point k give
m / 10**k, one correctly rounded IEEE division of two exact doubles (as `spannumbers` and `decimals` argue).
"""
from __future__ import annotations

import numpy as np

_U = np.uint64
_POW10 = np.array([float(10 ** k) for k in range(23)])  # exact doubles
# the top w bytes of a word (a text of w digits that ends where the word ends), and '0' in the others
_KEEP = [_U(0)] + [_U(((1 << (8 * w)) - 1) << (8 * (8 - w))) for w in range(1, 9)]
_ZEROS = [_U(0x3030303030303030 & ~int(k)) for k in _KEEP]
MAX_DIGITS = 15  # 10**15 < 2**53: a mantissa of this many digits is an exact double


def words(buf: bytes) -> np.ndarray:
    """The 8-byte little-endian word at every byte offset of `buf` (a view, no copy)."""
    return np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))


def digits(w8: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """The integers of `width` (0-15) known digits ending at byte offsets `ends` (exclusive) of the buffer that
    `w8` views (at least 8 bytes before the first text): uint64. No byte is tested (the caller's layout compare
    did): eight digits are one integer by three multiplications (simdjson's parse_eight_digits_unrolled)."""
    if width <= 0:
        return np.zeros(len(ends), dtype=_U)
    if width > 8:
        return digits(w8, ends - 8, width - 8) * _U(10 ** 8) + digits(w8, ends, 8)
    x = (w8[ends - 8] & _KEEP[width]) | _ZEROS[width]
    x &= _U(0x0F0F0F0F0F0F0F0F)
    x = (x * _U(2561)) >> _U(8)
    x = ((x & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    x = ((x & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)
    return x


def number_layout(text: bytes):
    """(sign, whole digits, point, fraction digits) of a field's layout text (digits as `0`) of the form
    `[-+]?0*(.0*)?` with at least one and at most MAX_DIGITS digits; None for any other text."""
    sign = text[:1] if text[:1] in (b"-", b"+") else b""
    body = text[len(sign):]
    whole, point, frac = body.partition(b".")
    if whole.strip(b"0") or frac.strip(b"0") or not (0 < len(whole) + len(frac) <= MAX_DIGITS):
        return None
    return sign, len(whole), bool(point), len(frac)


def field_values(w8: np.ndarray, starts: np.ndarray, a: int, layout) -> np.ndarray:
    """float() of the field of `layout` (`number_layout`) at byte offset `a` of every line starting at `starts`."""
    sign, wi, point, fr = layout
    at = starts + (a + len(sign))
    if fr:
        mant = digits(w8, at + wi, wi) * _U(10 ** fr) + digits(w8, at + wi + 1 + fr, fr)
        v = mant.astype(np.float64)
        v /= _POW10[fr]
    else:
        v = digits(w8, at + wi, wi).astype(np.float64)
    if sign == b"-":
        np.negative(v, out=v)
    return v


def layouts(arr: np.ndarray, starts: np.ndarray, widths: np.ndarray, min_rows: int = 32, per_width: int = 4,
            max_widths: int = 8):
    """The groups of lines of one layout: (layout bytes, indices into `starts`) for each layout held by at least
    `min_rows` lines (their widths the most common first, up to `max_widths` widths and `per_width` layouts a
    width). `arr` is the buffer as uint8 (at least 7 bytes after the last line), `starts` the lines' first byte
    offsets, `widths` their widths (without the line feed). A layout is a line's bytes with every digit read as
    `0`; lines are compared 8 bytes at a time."""
    out = []
    if not len(widths):
        return out
    counts = np.bincount(widths)
    top = np.argsort(counts)[::-1][:max_widths]
    for w in top.tolist():
        if counts[w] < min_rows or w == 0:
            break
        rows = np.flatnonzero(widths == w)
        w8 = (w + 7) & ~7  # (the bytes after the line, up to a whole word, are masked off)
        m = np.lib.stride_tricks.sliding_window_view(arr, w8)[starts[rows]]  # (lines, w8) bytes, a copy
        t = m - np.uint8(48)
        t *= t <= 9
        m -= t  # every digit read as '0' (m - (m - '0') where m is a digit)
        mw = m.view(_U)  # (lines, w8 / 8) words
        if w < w8:  # the bytes after the line, in its last word, as 0 (one word a line: a slice m[:, w:] costs 5x)
            mw[:, -1] &= _U((1 << 8 * (w + 8 - w8)) - 1)
        left = np.arange(len(rows))
        for _ in range(per_width):
            model = mw[left[len(left) // 2]]  # (the middle line's: the first may be an odd one)
            same = _rows_equal(mw[left] if len(left) < len(rows) else mw, model)
            k = int(np.count_nonzero(same))
            if k >= min_rows:
                out.append((model.tobytes()[:w], rows[left[same]]))
            left = left[~same]
            if len(left) < min_rows:
                break
    return out


def _rows_equal(mw: np.ndarray, model: np.ndarray) -> np.ndarray:
    """`(mw == model).all(axis=1)`, a column at a time where the rows are many (numpy's loops over a row of a few
    words cost ~6x more; a column costs a few microseconds of calls, more than that for a few hundred rows)."""
    if len(mw) < 512 * mw.shape[1]:
        return (mw == model).all(axis=1)
    same = mw[:, 0] == model[0]
    for j in range(1, mw.shape[1]):
        same &= mw[:, j] == model[j]
    return same


def fields_values(w8: np.ndarray, starts: np.ndarray, fields: list) -> np.ndarray:
    """float() of each field (offset in the line, `number_layout`) of every line starting at `starts`: a
    (lines, fields) matrix (a transposed view: its columns are contiguous). Fields whose text (sign aside) is at
    most 8 bytes are read together, one 8-byte word a field, the point taken out by moving the whole part's bytes
    up by one; the others by `field_values`. Computed a field a row (long loops; a row a line costs ~3x)."""
    out = np.empty((len(fields), len(starts)))
    short = [j for j, (a, (sg, wi, pt, fr)) in enumerate(fields) if wi + pt + fr <= 8]
    for j, (a, lay) in enumerate(fields):
        if j not in short:
            out[j] = field_values(w8, starts, a, lay)
    if not short:
        return out.T
    ends, hi, lo, div = [], [], [], []
    for j in short:
        a, (sg, wi, pt, fr) = fields[j]
        ends.append(a + len(sg) + wi + pt + fr - 8)
        # the digits' bytes of the word that ends where the text does, the point (at q) taken out by moving the
        # bytes before it up by one; a digit's low four bits are its value (the bytes before the text: 0)
        q = 8 - fr - 1
        keep = int(_KEEP[wi + fr]) & 0x0F0F0F0F0F0F0F0F
        lo.append((((1 << (8 * q)) - 1) & (keep >> 8)) if pt else 0)
        hi.append(((1 << 64) - (1 << (8 * (q + 1)))) & keep if pt else keep)
        div.append(-_POW10[fr] if sg == b"-" else _POW10[fr])  # (x / -d is -(x / d), exactly)
    x = w8[np.array(ends, dtype=np.int64)[:, None] + starts]  # (fields, lines)
    y = x & np.array(lo, dtype=_U)[:, None]
    y <<= _U(8)
    x &= np.array(hi, dtype=_U)[:, None]
    x |= y
    del y
    x *= _U(2561)
    x >>= _U(8)
    x &= _U(0x00FF00FF00FF00FF)
    x *= _U(6553601)
    x >>= _U(16)
    x &= _U(0x0000FFFF0000FFFF)
    x *= _U(42949672960001)
    x >>= _U(32)
    v = x.astype(np.float64)
    v /= np.array(div)[:, None]
    if len(short) == len(fields):
        return v.T
    out[short] = v
    return out.T
