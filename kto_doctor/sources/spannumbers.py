"""float() of many numbers of a chunk at once, read from their byte spans: the text readers' numpy ways
(build-nanogpt's log lines, a progress table's plain rows) hand over the spans of a piece's value texts and get the
values, exactly what `float()` gives, without one Python object per value.

`words(buf)` views the 8-byte word at every offset of a padded buffer; `span_numbers(buf, starts, ends)` converts
the texts between the offsets (decimal digits, a sign, a point) with SWAR digit arithmetic and one division by 10**k
(exact below 2**53, as `decimals` argues), reading a column whose texts share one layout with constant widths.
"""
from __future__ import annotations

import numpy as np


# the low w bytes of a word (a word-sized text of w bytes at its start)
KEEP_LOW = np.array([(1 << (8 * w)) - 1 for w in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


_POW10_INT = np.array([10 ** k for k in range(19)], dtype=np.int64)
_POW10 = np.array([float(10 ** k) for k in range(23)])  # exact doubles
_MAX_WIDTH = 18  # 10**18 < 2**63: the digits of a text this long, the point taken as a 0, fit an int64
_EXACT = 1 << 53  # a mantissa up to this is an exact double: one division by 10**k rounds as float() does
PAD = 8  # bytes before and after a chunk in the buffer `words` reads (8-byte words at any offset)
_U = np.uint64
# the top w bytes of a word (a text of w digits that ends where the word ends), and '0' in the others
_KEEP = np.array([0] + [((1 << (8 * w)) - 1) << (8 * (8 - w)) for w in range(1, 9)], dtype=_U)
_ZEROS = np.array([0x3030303030303030 & ~int(k) for k in _KEEP], dtype=_U)


def words(buf: bytes) -> np.ndarray:
    """The 8-byte little-endian word at every byte offset of `buf` (a view, no copy): words(buf)[i] holds
    buf[i:i + 8], buf[i] lowest."""
    return np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))


def _eight_digits(word: np.ndarray, width: np.ndarray, check: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(value, ok) of texts of `width` (0-8) digits each ending where its 8-byte word ends: the bytes before
    the text are taken as '0', every byte must be a digit (ok; not tested, None, where the caller has counted the
    text's bytes that are no digit), and the eight digits become one integer by three multiplications (the SWAR
    form of simdjson's parse_eight_digits_unrolled)."""
    x = (word & _KEEP[width]) | _ZEROS[width]
    ok = None
    if check:
        ok = ((x & _U(0xF0F0F0F0F0F0F0F0)) == _U(0x3030303030303030)) & \
            (((x + _U(0x0606060606060606)) & _U(0xF0F0F0F0F0F0F0F0)) == _U(0x3030303030303030))
    x &= _U(0x0F0F0F0F0F0F0F0F)
    x = (x * _U(2561)) >> _U(8)
    x = ((x & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    x = ((x & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)
    return x, ok


def span_numbers(buf: bytes, starts: np.ndarray, ends: np.ndarray, integers: bool = False,
                 counted: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """float() of the texts buf[starts[i]:ends[i]] for every text of the form `[-+]?digits[.digits]` (`.5` and
    `5.` too; a mantissa below 2**53): (values, ok, marks), ok False where a text is of another form (an
    exponent, `nan`, a blank, a unit), whose value is then 0. `buf` holds PAD bytes before and after the texts
    (offsets are into `buf`). `integers`: digits only (no sign, no point). `counted`: the caller checks that
    the texts hold no byte that is no digit but the `marks` signs and points read here (one count of the non-digit
    bytes of the whole piece), so the texts' bytes are not tested here (marks is 0 where not `counted`).

    Exact, as `decimals` is: the digits as an integer m < 2**53 and the digits after the point k give m / 10**k,
    one correctly rounded IEEE division of two exact doubles, which is float()'s correctly rounded result. Texts
    whose whole and fraction parts have at most 8 digits each are read as 8-byte words (`_eight_digits`: a few
    numpy operations a text); longer ones by `_wide_numbers`."""
    w8 = words(buf)
    check = not counted
    if integers:
        width = ends - starts
        short = width <= 8
        v, ok = _eight_digits(w8[ends - 8], np.minimum(width, 8), check)
        ok = short & (width >= 1) if ok is None else ok & short & (width >= 1)
        values = v.astype(np.float64)
        marks = 0
        if not short.all():
            wide = np.flatnonzero(~short & (width <= _MAX_WIDTH))
            if len(wide):
                values[wide], ok[wide], marks = _wide_numbers(buf, starts[wide], ends[wide], True)
        values[~ok] = 0.0
        return values, ok, marks
    a = np.frombuffer(buf, dtype=np.uint8)
    lead = a[starts]
    if len(starts) >= 64:
        got = _one_layout(buf, a, w8, lead, starts, ends, check, counted)
        if got is not None:
            return got
    signed = (lead == 45) | (lead == 43)
    minus = lead == 45
    first = starts + signed
    rest = ends - first
    # the first `.` among the 8 bytes from `first` on (8: none): the lowest zero byte of the word XOR '.' x 8
    t = w8[first] ^ _U(0x2E2E2E2E2E2E2E2E)
    z = (t - _U(0x0101010101010101)) & ~t & _U(0x8080808080808080)
    at = np.bitwise_count((z & (~z + _U(1))) - _U(1)) >> 3
    has_point = (at < rest) & (at < 8)
    wi = np.where(has_point, at, rest)  # the whole part's digits
    fr = np.where(has_point, rest - at - 1, 0)
    short = (rest <= 8) | has_point  # (no point in the first 8 bytes of a longer text: `_wide_numbers`)
    fr8 = np.minimum(fr, 8)
    short &= fr <= 8
    iv, ok = _eight_digits(w8[first + wi - 8], np.minimum(wi, 8), check)
    fv, ok2 = _eight_digits(w8[ends - 8], fr8, check)
    good = short & (rest >= 1) & ((wi + fr) >= 1)
    ok = good if ok is None else ok & ok2 & good
    mant = iv * _POW10_INT[fr8].astype(_U) + fv
    ok &= mant < _U(_EXACT)
    values = mant.astype(np.float64) / _POW10[fr8]
    np.negative(values, out=values, where=minus)
    marks = int(np.count_nonzero(signed & short)) + int(np.count_nonzero(has_point & short)) if counted else 0
    if not short.all():  # (a text led by no digit or point, or too long, is none of the form: not tried)
        wide = np.flatnonzero(~short)
        lead = a[first[wide]]
        wide = wide[(rest[wide] <= _MAX_WIDTH) & (((lead >= 48) & (lead <= 57)) | (lead == 46))]
        if len(wide):
            values[wide], ok[wide], more = _wide_numbers(buf, starts[wide], ends[wide], False)
            marks += more
    if not ok.all():
        values[~ok] = 0.0
    return values, ok, marks


def _one_layout(buf, a, w8, lead, starts, ends, check, counted):
    """`span_numbers` where most texts have the layout of the middle one (`3.123456`, `-0.5012`: the same sign, digits
    before and after the point): those read with the layout's widths as constants (no per-text width, point search
    or table lookups), the others by `span_numbers`. None where that text has no such layout or most differ."""
    mid = len(starts) // 2  # (the layout of a text in the middle: the first may be a table's rule line)
    w0 = int(ends[mid] - starts[mid])
    text = bytes(buf[starts[mid]:ends[mid]])
    minus = text[:1] == b"-"
    p0 = text.find(b".")
    wi, fr = (p0 - minus, w0 - p0 - 1) if p0 >= 0 else (w0 - minus, 0)
    if not text or wi > 8 or fr > 8 or wi + fr < 1 or text[:1] == b"+":
        return None
    same = ((ends - starts) == w0) & ((lead == 45) if minus else ((lead != 45) & (lead != 43)))
    if p0 >= 0:
        same &= a[ends - (fr + 1)] == 46
    k = int(np.count_nonzero(same))
    if 2 * k < len(starts):
        return None
    whole = k == len(starts)
    e = ends if whole else ends[same]
    if p0 >= 0:
        iv, ok = _eight_digits(w8[e - (fr + 9)], wi, check)
        fv, ok2 = _eight_digits(w8[e - 8], fr, check)
        mant = iv * _U(10 ** fr) + fv
        if ok is not None:
            ok &= ok2
    else:
        mant, ok = _eight_digits(w8[e - 8], wi, check)
    if wi + fr > 15:
        ok = mant < _U(_EXACT) if ok is None else ok & (mant < _U(_EXACT))
    v = mant.astype(np.float64)
    if fr:
        v /= _POW10[fr]
    if minus:
        np.negative(v, out=v)
    if ok is None:
        ok = np.ones(len(e), dtype=bool)
    marks = k * ((p0 >= 0) + minus) if counted else 0
    if whole:
        if not ok.all():
            v[~ok] = 0.0
        return v, ok, marks
    values = np.zeros(len(starts))
    good = np.zeros(len(starts), dtype=bool)
    values[same], good[same] = np.where(ok, v, 0.0), ok
    other = np.flatnonzero(~same)
    # (only those that may be numbers: a table's rule line `-----` would cost a call of its own)
    lo, l1 = lead[other], a[starts[other] + 1]
    other = other[((lo - np.uint8(48)) <= 9) | (lo == 46) | (((lo == 45) | (lo == 43)) & (((l1 - np.uint8(48)) <= 9)
                                                                                        | (l1 == 46)))]
    if not len(other):
        return values, good, marks
    values[other], good[other], more = span_numbers(buf, starts[other], ends[other], counted=counted)
    return values, good, marks + more


def _wide_numbers(buf: bytes, starts: np.ndarray, ends: np.ndarray, integers: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """`span_numbers` of texts of any width (up to 18 bytes; every byte tested), by groups of one width: each
    group a byte matrix (a row per text) whose digits are one integer matrix product, the point read as a 0 and
    then taken out (m = (t - r) / 10 + r, r the digits after it). Also the signs and points of the good ones."""
    buf = np.frombuffer(buf, dtype=np.uint8)
    n = len(starts)
    values = np.zeros(n)
    ok = np.zeros(n, dtype=bool)
    width = ends - starts
    marks = 0
    for w in np.unique(width).tolist():
        if w < 1 or w > _MAX_WIDTH:
            continue
        rows = np.flatnonzero(width == w)
        m = np.lib.stride_tricks.sliding_window_view(buf, w)[starts[rows]]  # (texts, w) bytes
        d = m - np.uint8(48)  # a digit 0-9; anything else wraps above 9
        digit = d <= 9
        minus = None
        if integers:
            good = digit.all(axis=1)
            point = None
        else:
            lead = m[:, 0]
            minus = lead == 45
            sign = minus | (lead == 43)
            ispoint = m == 46
            npoints = ispoint.sum(axis=1)
            other = ~digit & ~ispoint
            other[:, 0] &= ~sign
            good = ~other.any(axis=1) & (npoints <= 1) & (digit.sum(axis=1) >= 1)
            point = np.where(npoints > 0, ispoint.argmax(axis=1), w)
        d = np.where(digit, d, np.uint8(0)).astype(np.int64)
        t = d @ _POW10_INT[w - 1::-1]
        if point is not None:
            after = (w - 1 - point).clip(0)  # digits after the point (0 without one)
            r = t % _POW10_INT[after]
            mant = np.where(point < w, (t - r) // 10 + r, t)
            good &= mant < _EXACT
            v = mant.astype(np.float64) / _POW10[after]
            v = np.where(minus, -v, v)
        else:
            good &= t < _EXACT
            v = t.astype(np.float64)
        values[rows] = np.where(good, v, 0.0)
        ok[rows] = good
        if not integers:
            marks += int(np.count_nonzero(good & sign)) + int(np.count_nonzero(good & (npoints > 0)))
    return values, ok, marks
