"""Columns of decimal numbers printed with one fixed layout (`%.4f`, `%.6E`, `%d`), read in bulk with numpy.

Most text logs print a metric with a fixed format: mmengine `loss: 1.4863`, Megatron `lm loss: 6.540000E+00`,
a progress table's `0.682100`. Within a chunk such a column is often one layout: the same width, the digits in
the same places, the same signs, point and exponent letter. Then the texts stacked as rows of a byte matrix give
every digit at once, and each value is `m * 10**s` (or `m / 10**-s`) of its integer digits `m` and scale `s`.

That is exactly what `float()` gives, not an approximation: where `m` < 2**53 and |s| <= 22 both operands
are exact doubles, and one IEEE multiplication or division rounds the exact decimal value correctly, as
`float()` does (the fast path of Clinger's algorithm, which correctly rounded parsers take too). A column
that is not one layout of at most 15 digits with |s| <= 22 is left to `float()` (`read` returns None).
"""
from __future__ import annotations

import numpy as np

from . import lazyre

# a number as the fast path reads it: blanks, a sign, digits with an optional point, an optional exponent
_LAYOUT = lazyre.compile(rb"([ \t]*)([-+]?)(\d*)(?:(\.)(\d*))?(?:([eE])([-+]?)(\d+))?[ \t]*")
_POW10 = np.array([float(10 ** k) for k in range(23)])  # exact doubles
_MAX_DIGITS = 15  # 10**15 < 2**53: the integer of the digits is an exact double
MIN_ROWS = 64  # below this the setup costs more than float() per text


def read(texts: list) -> np.ndarray | None:
    """float() of every text (bytes) when all have the layout of the first one, else None (nothing read)."""
    return read_joined(texts)[0]


def read_joined(texts: list) -> tuple[np.ndarray | None, bytes | None]:
    """`read`, and the texts joined by line feeds where it joined them (else None): a caller that reads the column
    another way when this one does not (`bulkfloat`) takes the joined texts instead of joining them again (a pass
    over every text object: ~100 ns a text here, where the objects of a chunk's split no longer sit in cache)."""
    n = len(texts)
    first = texts[0] if n else None
    if n < MIN_ROWS or not isinstance(first, bytes):
        return None, None
    if not isinstance(texts[-1], bytes) or len(texts[-1]) != len(first):  # two widths: not one layout
        if not (first.isdigit() and isinstance(texts[-1], bytes) and texts[-1].isdigit()):  # (nor counters: no join)
            return None, None
        try:
            texts_joined = b"\n".join(texts)
        except TypeError:
            return None, None
        return read_counts(texts_joined, n), texts_joined
    m = _LAYOUT.fullmatch(first)
    if m is None:
        return None, None
    blanks, sign, whole, point, frac, letter, exp_sign, exp = m.groups()
    frac = frac or b""
    if not (whole or frac) or len(whole) + len(frac) > _MAX_DIGITS or (exp and len(exp) > 3):
        return None, None
    if texts[-1] == first and texts.count(first) == n:  # one text throughout (`unsuper_loss: 0.0`, `/5000`)
        return np.full(n, float(first)), None
    try:
        texts_joined = b"\n".join(texts)
    except TypeError:  # a None (a record without this value)
        return None, None
    values = _read(texts_joined, n, first, blanks, sign, whole, point, frac, letter, exp_sign, exp)
    if values is None and first.isdigit():  # counters whose widths differ inside the chunk
        values = read_counts(texts_joined, n)
    return values, texts_joined


_DIGITS_LF = b"0123456789\n"


def read_counts(texts_joined: bytes, n: int) -> np.ndarray | None:
    """float() of `n` texts of decimal digits only, of any widths from 1 to 15 (steps, epochs, counters: `7`,
    `1408`), joined by line feeds; else None. Each is an integer below 2**53 that its digits give exactly, and
    float() of it is that integer (leading zeros included); no sign is taken (`-0` is float()'s -0.0). Read from the
    joined bytes by the digit at each place before a text's end, a pass per place of the widest."""
    if texts_joined.translate(None, _DIGITS_LF):  # a byte that is no digit (a sign, a point, a blank)
        return None
    a = np.frombuffer(texts_joined, dtype=np.uint8)
    ends = np.flatnonzero(a == 10)
    if len(ends) != n - 1:  # pragma: no cover (a text held a line feed)
        return None
    ends = np.append(ends, len(a))
    widths = np.diff(ends, prepend=-1) - 1
    if widths.min() < 1 or widths.max() > _MAX_DIGITS:  # an empty text; a count that may not be exact
        return None
    values = np.zeros(n, dtype=np.int64)
    for place in range(int(widths.max())):
        digit = a[np.maximum(ends - 1 - place, 0)].astype(np.int64) - 48
        values += np.where(widths > place, digit, 0) * 10 ** place
    return values.astype(np.float64)


def _read(texts_joined: bytes, n: int, first: bytes, blanks, sign, whole, point, frac, letter, exp_sign,
          exp) -> np.ndarray | None:
    joined = texts_joined + b"\n"
    # Each text and its line feed a row of the first one's width: every row must end in the line feed and hold
    # no other (the checks below), so there are n line feeds in all, none inside a text: every text has the width.
    width = len(first) + 1
    if len(joined) != n * width:
        return None
    rows = np.frombuffer(joined, dtype=np.uint8).reshape(n, width)
    first += b"\n"
    # where the first text has a digit every text must have one; everywhere else the first text's byte
    digit = np.zeros(width, dtype=bool)
    a = len(blanks) + len(sign)
    digit[a:a + len(whole)] = True
    b = a + len(whole) + len(point or b"")
    digit[b:b + len(frac)] = True
    c = b + len(frac) + len(letter or b"") + len(exp_sign or b"")
    if exp:
        digit[c:c + len(exp)] = True
    fixed = np.flatnonzero(~digit)
    if len(fixed) and not (rows[:, fixed] == np.frombuffer(first, dtype=np.uint8)[fixed]).all():
        return None
    digits = rows[:, np.r_[a:a + len(whole), b:b + len(frac)]] - np.uint8(48)  # uint8: a non-digit wraps to > 9
    if (digits > 9).any():
        return None
    k = digits.shape[1]
    mantissa = digits.astype(np.int64) @ (np.int64(10) ** np.arange(k - 1, -1, -1, dtype=np.int64))
    scale = np.full(n, -len(frac), dtype=np.int64)
    if exp:
        e = rows[:, c:c + len(exp)] - np.uint8(48)
        if (e > 9).any():
            return None
        e = e.astype(np.int64) @ (np.int64(10) ** np.arange(len(exp) - 1, -1, -1, dtype=np.int64))
        scale += -e if exp_sign == b"-" else e
    if np.abs(scale).max() > 22:
        return None
    values = mantissa.astype(np.float64)
    up = scale >= 0
    if up.all():
        values *= _POW10[scale]
    else:
        values = np.where(up, values * _POW10[np.maximum(scale, 0)], values / _POW10[np.maximum(-scale, 0)])
    return -values if sign == b"-" else values
