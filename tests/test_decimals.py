"""Fixed-layout decimal columns read in bulk (sources/decimals.py): bit for bit what float() reads, or nothing."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kto_doctor.sources import decimals, textlog

FORMATS = ["%.4f", "%.6E", "%.3f", "%d", "%.4e", "%.0f", "%.15f", "%.10E", "%.6f", "% .4f", "%+.3f", "%8.3f",
           "%.1e", "%.22f", " %.6f ", "%.2f\t"]


def _bits(values) -> bytes:
    return np.asarray(values, dtype=np.float64).tobytes()


def test_every_layout_read_is_what_float_reads():
    rng = random.Random(15)
    fast = 0
    for _ in range(3000):
        fmt = rng.choice(FORMATS)
        scale = 10.0 ** rng.randint(-25, 25)
        sign = rng.choice([1, -1])
        values = [rng.random() * scale * sign for _ in range(rng.choice([64, 200]))]
        if fmt == "%d":
            values = [int(v) for v in values]
        texts = [(fmt % v).encode() for v in values]
        got = decimals.read(texts)
        if got is not None:
            fast += 1
            assert _bits(got) == _bits([float(t) for t in texts]), (fmt, texts[:2])
    assert fast > 500  # the common layouts do take the bulk way


@pytest.mark.parametrize("text", [b"-0.0000", b"0", b"+1.5", b"1.", b".5", b"1e22", b"1e-22", b"9.99999999999999e22",
                                  b"123456789012345", b" 7.5\t", b"1E+05", b"000123.4500"])
def test_edge_layouts(text):
    got = decimals.read([text] * 64)  # (one text throughout: float() of it, no matrix)
    assert got is not None and _bits(got) == _bits([float(text)] * 64)
    last = max(i for i, c in enumerate(text) if chr(c).isdigit())  # the same layout, another last digit
    other = text[:last] + (b"1" if text[last:last + 1] == b"0" else b"0") + text[last + 1:]
    column = [text] * 63 + [other]
    got = decimals.read(column)
    assert got is not None and _bits(got) == _bits([float(t) for t in column])


@pytest.mark.parametrize("column", [
    [b"1.5"] * 32 + [b"1", b"2.34"] * 16,  # same total width, texts of other widths: misaligned rows must not pass
    [b"1.25"] * 63 + [None],  # a record without the value
    [b"1.25"] * 63 + [b"1.2\n"],
    [b"1.25"] * 63 + [b"nan\n"],
    [b"1234567890123456"] * 64,  # 16 digits: the integer of the digits may not be an exact double
    [b"1e23"] * 63 + [b"2e23"],  # 10**23 is not an exact double (one text throughout would be float() of it)
    [b"nan"] * 64, [b"1_000"] * 64, [b"0x10"] * 64, [b"1.25"] * 63 + [b"1.2x"], [b"1.25"] * 10,
])
def test_what_it_leaves_to_float(column, monkeypatch):
    assert decimals.read(column) is None
    values, ok = textlog.floats(column)  # the column reader reads it the old way: as without the bulk way
    monkeypatch.setattr(decimals, "read", lambda texts: None)
    values_old, ok_old = textlog.floats(column)
    assert _bits(values) == _bits(values_old)
    assert (ok is None and ok_old is None) or (ok == ok_old).all()


def test_column_reader_takes_the_bulk_way(monkeypatch):
    texts = [b"%.4f" % (i / 7) for i in range(1000)]
    calls = []
    real = decimals.read
    monkeypatch.setattr(decimals, "read", lambda t: calls.append(len(t)) or real(t))
    values, ok = textlog.floats(texts)
    assert calls == [1000] and ok is None
    assert _bits(values) == _bits([float(t) for t in texts])


def test_counters_of_any_width_are_what_float_reads():
    """Steps and epochs whose widths differ within a column (`7`, `1408`, `0042`): `read_counts`, bit for bit."""
    rng = random.Random(28)
    for _ in range(2000):
        top = 10 ** rng.randint(1, 15)
        texts = [b"%d" % rng.randrange(top) for _ in range(rng.choice([64, 300]))]
        if rng.random() < 0.3:
            texts = [t.zfill(rng.randint(1, 15)) for t in texts]
        got = decimals.read(texts)
        assert got is not None and _bits(got) == _bits([float(t) for t in texts])
    assert _bits(decimals.read([b"12"] * 32 + [b"1", b"234"] * 16)) == _bits([12.0] * 32 + [1.0, 234.0] * 16)


@pytest.mark.parametrize("odd", [b"", b"-1", b"-0", b"+3", b" 7", b"7 ", b"1_000", b"1.5", b"1e5", b"nan",
                                 b"1234567890123456", "\u0663".encode(), b"7\n8", None])
def test_counters_leave_what_is_no_plain_count(odd):
    column = [b"1", b"22", b"333"] * 30 + [odd] + [b"4444"]
    assert decimals.read(column) is None
    values, ok = textlog.floats(column)  # the column reader reads it as it would without the bulk way
    reference = [float(t) if t is not None else None for t in column[:-2]]
    assert _bits(values[:-2]) == _bits(reference) and float(column[-1]) == values[-1]
