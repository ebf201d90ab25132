"""`float()` of many value texts in one C call: a syntax check of all of them at once, then pandas' C parser.

A text reader's learned shapes hand over columns of value texts (`0.2345678901234567`, `-1.5e-05`, `12`). Python's
`float()` costs 100-500 ns a text here (one object per value), and the fixed-layout path (`decimals`) only reads
columns printed with one layout; Python reprs (verl, torchtune, DeepSpeed-Chat) vary in length. pandas' CSV parser
reads a column of decimal numbers in C (fast_float since pandas 3.1, Python's own `PyOS_string_to_double` with
`float_precision="round_trip"` before), both correctly rounded, so for a text in the decimal grammar

    [-+]? (digits [. digits?]? | . digits) ([eE] [-+]? digits)?

it gives exactly `float(text)`, -0.0 included. Which texts are in that grammar is decided here, not by pandas (whose
leniencies differ between versions): the texts joined by line feeds may hold no byte but digits, `.`, `+`, `-`,
`e`, `E` (one `bytes.translate`), and the non-digit bytes, few per text, are checked as a sequence (a sign only
first or right after the exponent letter, one point before at most one exponent, a digit in the mantissa and in
the exponent). Anything else (`nan`, `inf`, `1_000`, `---`, a unit left on a value) makes `read` return None and
the caller takes the per-text way, so what is read is what `float()` reads, bit for bit.
"""
from __future__ import annotations

import io

import numpy as np

MIN_VALUES = 4096  # below this pandas' call costs more than float() per text (and small files never import it)
_KEEP = b"0123456789.+-eE\n"
_ROUND_TRIP: dict | None = None  # read_csv's float option: exact on every pandas version


def _float_option() -> dict:
    global _ROUND_TRIP
    if _ROUND_TRIP is None:
        import pandas as pd

        major, minor = (int(p) for p in pd.__version__.split(".")[:2])
        # pandas 3.1 reads every float with fast_float (exact) and deprecates the option; before, only
        # "round_trip" (Python's own parser) is exact: the default "high" may differ in the last bit.
        _ROUND_TRIP = {} if (major, minor) >= (3, 1) else {"float_precision": "round_trip"}
    return _ROUND_TRIP


# the non-digit bytes of the joined texts: 0 line feed, 1 sign, 2 point, 3 exponent letter (4: any other byte),
# as a `bytes.translate` table (~1 ns a byte, where a numpy lookup costs ~4)
_CODE = bytearray([4]) * 256
_CODE[ord("\n")] = 0
_CODE[ord("+")] = _CODE[ord("-")] = 1
_CODE[ord(".")] = 2
_CODE[ord("e")] = _CODE[ord("E")] = 3
_CODE = bytes(_CODE)
# what may follow what (code * 4 + next code), with the digits between them: bit flags of the conditions
_DIGITS, _NO_DIGITS, _FIRST, _MANTISSA, _NEVER = 1, 2, 4, 8, 16
_FOLLOW = [
    _DIGITS, _NO_DIGITS, 0, _DIGITS,  # after a line feed: digits to the end; a sign; a point; digits then e
    _DIGITS, _NEVER, _FIRST, _DIGITS | _FIRST,  # after a sign: digits to the end; (mantissa sign) a point, e
    _MANTISSA, _NEVER, _NEVER, _MANTISSA,  # after a point: the end or e, a digit on one side of the point
    _DIGITS, _NO_DIGITS, _NEVER, _NEVER,  # after e: digits to the end; a sign right away
    ]
# The flags as one byte a pair, a `translate` table indexed by the pair's key: code << 4 | next code << 1 | digits
# between them. `_BROKEN`: the pair itself breaks the grammar (never allowed; digits missing, or where none may
# be); `_SIGNED`: a sign before a point or e, allowed only right after a line feed; `_POINT`: a point, which
# needs a digit on one side. (A pair with a code 4 byte, which the caller excludes, is broken.)
_BROKEN, _SIGNED, _POINT = 1, 2, 4
_PAIR = bytearray([_BROKEN]) * 256
for _pair, _flags in enumerate(_FOLLOW):
    for _digits in (0, 1):
        _PAIR[(_pair >> 2) << 4 | (_pair & 3) << 1 | _digits] = (
            (_BROKEN if _flags & _NEVER or _flags & _DIGITS and not _digits or _flags & _NO_DIGITS and _digits
             else 0) | (_SIGNED if _flags & _FIRST else 0) | (_POINT if _flags & _MANTISSA else 0))
_PAIR = bytes(_PAIR)


def decimal_syntax(joined: bytes, json: bool = False) -> bool:
    """Whether every line of `joined` (texts each followed by a line feed, and one line feed before the first)
    is a number in the decimal grammar above. The bytes must be only those of `_KEEP` (checked by the caller):
    the non-digit bytes, a few per text, are checked as pairs in order, with whether digits stand between them
    (one byte a pair, its flags looked up by `translate`). `json`: also a JSON number that json.loads reads as
    this float (`_json_rules`)."""
    a = np.frombuffer(joined, dtype=np.uint8)
    special = np.flatnonzero((a - np.uint8(48)) > 9)  # every byte that is no digit: \n . + - e E
    code = np.frombuffer(a[special].tobytes().translate(_CODE), dtype=np.uint8)
    if code[0] != 0 or code[-1] != 0:
        return False
    digits = np.diff(special) > 1  # digits between a special byte and the next one
    key = (code[:-1] << 4) | (code[1:] << 1) | digits.view(np.uint8)
    flags = np.frombuffer(key.tobytes().translate(_PAIR), dtype=np.uint8)
    if (flags & _BROKEN).any():
        return False
    # a sign before a point or e: the mantissa's, right after a line feed (a sign is never the first special byte)
    if ((flags[1:] & _SIGNED).astype(bool) & (code[:-2] != 0)).any():
        return False
    # a point: digits before or after it (a point is never the first special byte either)
    if ((flags[1:] & _POINT).astype(bool) & ~digits[1:] & ~digits[:-1]).any():
        return False
    return not json or _json_rules(a, special, code, digits)


def _json_rules(a: np.ndarray, special: np.ndarray, code: np.ndarray, digits: np.ndarray) -> bool:
    """Of texts in the decimal grammar (`decimal_syntax`'s special bytes, their codes, digits after each): whether
    each is a JSON number that json.loads and float64 read as this module does. Not taken: a `+` before the
    mantissa, a point without digits on both sides (`.5`, `-.5`, `1.`, `1.e5`), a leading zero before a digit
    (`01`, `-00`), `-0` (json.loads makes it the int 0, +0.0), an exponent of three digits or more (a finite text
    whose float is inf, or an int beyond a double: `1e400`). Checked on the special bytes, a few per text."""
    lead = np.zeros(len(code), dtype=bool)  # a mantissa's sign: a sign right after a line feed
    lead[1:] = (code[1:] == 1) & (code[:-1] == 0)
    if (a[special[lead]] == 43).any():
        return False
    point = code == 2  # (never the first or the last special byte: a line feed is)
    if (point[1:] & ~digits).any() or (point[:-1] & ~digits).any():
        return False
    # the mantissa's first byte: after a line feed (but the last) or after its sign
    first = special[np.flatnonzero(((code == 0) | lead)[:-1])] + 1
    zero = first[a[first] == 48]
    after = a[zero + 1]
    if ((after - np.uint8(48)) <= 9).any():  # a leading zero: `01`, `-01`
        return False
    if ((after == 10) & (a[zero - 1] == 45)).any():  # `-0`
        return False
    e = np.flatnonzero(code == 3)  # (never the last special byte)
    if len(e):
        signed = code[e + 1] == 1
        d = np.where(signed, special[np.minimum(e + 2, len(special) - 1)] - special[e + 1],
                     special[e + 1] - special[e]) - 1
        if (d >= 3).any():
            return False
    return True


def parse(joined: bytes) -> np.ndarray:
    """The floats of the texts of `joined` (a line feed before the first, one after each) that `decimal_syntax`
    accepted: pandas' C parser, exactly float() of each (the module's argument); as many as lines, or fewer only
    where a text was no number of the grammar (the caller compares the count)."""
    import pandas as pd

    return pd.read_csv(io.BytesIO(memoryview(joined)[1:]), header=None, names=["v"], dtype={"v": np.float64},
                       engine="c", na_filter=False, skip_blank_lines=False, **_float_option())["v"].to_numpy()


def read(columns: list, pre: list | None = None) -> list | None:
    """float() of every text of every column (lists of bytes), one array per column; None where some text is
    not a plain decimal number (or is no bytes): then nothing was read. `pre`: per column, its texts already
    joined by line feeds (`decimals.read_joined`), or None."""
    try:
        # (one join: the texts of a column joined already are copied as one piece, not visited again)
        pieces = [b"\n".join(c) if j is None else j for c, j in zip(columns, pre or [None] * len(columns))]
        joined = b"\n".join([b"", *pieces, b""])
    except TypeError:  # a None: a record without the value
        return None
    if joined.translate(None, _KEEP) or not decimal_syntax(joined):
        return None
    values = parse(joined)
    total = sum(len(c) for c in columns)
    if len(values) != total:  # cannot happen for texts of the grammar; never guess
        return None
    out, start = [], 0
    for c in columns:
        out.append(values[start:start + len(c)])
        start += len(c)
    return out
