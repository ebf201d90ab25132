"""Value columns read in one C call (sources/bulkfloat.py): bit for bit what float() reads, or nothing."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from kto_doctor.sources import bulkfloat, decimals, textlog


def _bits(values) -> bytes:
    return np.asarray(values, dtype=np.float64).tobytes()


def _float_reads(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_syntax_check_is_floats_grammar():
    """Every text of up to six bytes of `0 1 . + - e` (55,986 texts): the check passes exactly those float()
    reads, alone and in any company (one bad text fails the lot)."""
    texts = [("".join(t)).encode() for n in range(1, 7) for t in itertools.product("01.+-e", repeat=n)]
    verdict = {t: bulkfloat.decimal_syntax(b"\n" + t + b"\n") for t in texts}
    assert [t for t, ok in verdict.items() if ok != _float_reads(t)] == []
    rng = random.Random(7)
    for _ in range(2000):
        some = [rng.choice(texts) for _ in range(rng.randint(2, 6))]
        assert bulkfloat.decimal_syntax(b"\n" + b"\n".join(some) + b"\n") == all(verdict[t] for t in some)


def test_values_are_what_float_reads():
    rng = random.Random(15)
    texts = []
    for _ in range(30000):
        x = rng.choice([rng.random(), -rng.random() * 1e-5, rng.random() * 1e20, rng.gauss(0, 1) * 1e-300,
                        rng.randint(-10 ** 18, 10 ** 18), 0.0, -0.0])
        layout = rng.choice(["%r", "%r", "%r", "%.6E", "%g", "%.3f", "%+.1e"])
        texts.append((layout % x).encode())
    texts += [b"-0", b"+0", b"+1.5", b"1.", b".5", b"-.5e-3", b"1E+05", b"1" * 40, b"1e400", b"-1e400", b"1e-400",
              b"4.9e-324", b"2.2250738585072014e-308", b"0." + b"0" * 350 + b"1", b"1" * 400 + b".5",
              b"9007199254740993", b"0.1000000000000000055511151231257827"]
    columns = [texts[i::3] for i in range(3)]
    got = bulkfloat.read(columns)
    assert got is not None
    for col, values in zip(columns, got):
        assert _bits(values) == _bits([float(t) for t in col])


@pytest.mark.parametrize("bad", [b"nan", b"-inf", b"Infinity", b"1_000", b"0x10", b"1.2.3", b"1e5e3", b"--1", b"1-",
                                 b"e5", b".", b"-", b"1e", b"1e+", b".e1", b"1.5ms", b"74.98%"])
def test_what_it_leaves_to_float(bad):
    column = [b"1.25", b"-3"] * 10 + [bad]
    assert bulkfloat.read([column]) is None
    assert bulkfloat.read([[b"1.5"], [None]]) is None


def test_block_columns_are_read_as_one_by_one(monkeypatch):
    """`block_floats` (fixed layouts, then the rest in one call, then column by column) gives what `floats` gives
    for each column alone, also where one column holds a NaN spelling or a unit."""
    rng = random.Random(3)
    n = 3000
    cols = {
        "layout": [b"%.4f" % rng.random() for _ in range(n)],
        "repr": [repr(rng.random() - 0.5).encode() for _ in range(n)],
        "ints": [b"%d" % rng.randint(0, 10 ** 6) for _ in range(n)],
        "nan": [repr(rng.random()).encode() for _ in range(n - 1)] + [b"nan"],
        "unit": [b"%.2fms" % rng.random() for _ in range(n)],
    }
    calls = []
    real = bulkfloat.read
    monkeypatch.setattr(bulkfloat, "read", lambda c, pre=None: calls.append(len(c)) or real(c, pre))
    got = textlog.block_floats(list(cols), cols)
    # (the counters of varying widths are read by `decimals.read_counts`) the bulk way was tried on the other three,
    # then on each
    assert calls[0] == 3 and 1 in calls
    monkeypatch.setattr(decimals, "read", lambda texts: None)
    for key, texts in cols.items():
        values, ok = textlog.floats(texts)
        assert _bits(got[key][0]) == _bits(values)
        assert (ok is None) == (got[key][1] is None) and (ok is None or (ok == got[key][1]).all())


def test_pre_joined_columns_read_alike():
    """A column handed over joined already (`decimals.read_joined` joined it and could not read it) gives what the
    column's texts give; `read_joined` returns the join it made only where it made one."""
    rng = random.Random(8)
    lay = [b"%.4f" % rng.random() for _ in range(5000)]
    mixed = [b"%.4f" % rng.random() for _ in range(4999)] + [b"1.0e-05"[:6]]  # one width, another layout at the end
    reprs = [repr(rng.random() - 0.5).encode() for _ in range(5000)]
    values, joined = decimals.read_joined(lay)
    assert joined is None or joined == b"\n".join(lay)
    assert values is not None and values.tolist() == [float(t) for t in lay]
    values, joined = decimals.read_joined(mixed)
    assert values is None and joined == b"\n".join(mixed)
    assert decimals.read_joined(reprs[:10]) == (None, None)
    plain = bulkfloat.read([mixed, reprs])
    pre = bulkfloat.read([mixed, reprs], [joined, None])
    assert plain is not None and pre is not None
    for a, b, texts in zip(plain, pre, (mixed, reprs)):
        assert a.tobytes() == b.tobytes() == np.array([float(t) for t in texts]).tobytes()


def _json_reads(text: bytes) -> bool:
    """A JSON number that json.loads reads as float64 reads the same text: no `-0` (the int 0), an exponent of at
    most two digits (three may be a finite text whose float is inf, or an int beyond a double)."""
    import json
    import re

    if re.fullmatch(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,2})?", text) is None or text == b"-0":
        return False
    got = json.loads(text)
    return float(got) == float(text) and str(float(got)) == str(float(text))


def test_the_json_rules_take_what_json_loads_reads_as_float_does():
    """Every text of up to six bytes of `0 1 . + - e E` and random longer ones: `decimal_syntax(json=True)` passes
    exactly the JSON numbers json.loads reads as float() does (`_json_reads`), alone and in any company."""
    texts = [("".join(t)).encode() for n in range(1, 6) for t in itertools.product("01.+-eE", repeat=n)]
    rng = random.Random(11)
    texts += [bytes(rng.choice(b"0123456789.+-eE") for _ in range(rng.randint(6, 12))) for _ in range(20000)]
    texts += [b"-0", b"-0.0", b"-0e5", b"0e5", b"1e99", b"1e100", b"1E+05", b"1e-07", b"-1.5e-07", b"00", b"-00",
              b"0.5", b"-0.5", b"10", b"1.0e+01", b"6.318160053332078e-07", b"44.949106478873816", b".5", b"1."]
    verdict = {t: bulkfloat.decimal_syntax(b"\n" + t + b"\n", json=True) for t in texts}
    assert [t for t, ok in verdict.items() if ok != _json_reads(t)] == []
    assert sum(verdict.values()) > 1000
    for _ in range(3000):
        some = [rng.choice(texts) for _ in range(rng.randint(2, 6))]
        assert bulkfloat.decimal_syntax(b"\n" + b"\n".join(some) + b"\n", json=True) == all(verdict[t] for t in some)
