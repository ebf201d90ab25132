"""`bytematrix`: the fields of lines of one layout read at fixed offsets are exactly float() of their texts."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kto_doctor.sources import bytematrix
from kto_doctor.sources.spannumbers import PAD


@pytest.mark.parametrize("seed", range(4))
def test_fields_are_float_of_their_texts(seed):
    rng = random.Random(seed)
    for _ in range(150):
        sign = rng.choice(["", "-", "+"])
        wi = rng.randrange(0, 13)
        point = wi == 0 or rng.random() < 0.7
        fr = rng.randrange(0 if wi else 1, 16 - wi) if point else 0
        if not 0 < wi + fr <= bytematrix.MAX_DIGITS:
            continue
        layout = bytematrix.number_layout((sign + "0" * wi + ("." if point else "") + "0" * fr).encode())
        assert layout == (sign.encode(), wi, point, fr)
        texts = [sign + "".join(rng.choice("0123456789") for _ in range(wi)) + ("." if point else "")
                 + "".join(rng.choice("0123456789") for _ in range(fr)) for _ in range(40)]
        lines = [f"| {t} | {t} |".encode() for t in texts]
        width = len(lines[0])
        buf = b"\n" * PAD + b"\n".join(lines) + b"\n" * PAD
        starts = np.arange(len(lines)) * (width + 1) + PAD
        got = bytematrix.fields_values(bytematrix.words(buf), starts, [(2, layout), (5 + len(texts[0]), layout)])
        want = np.array([float(t) for t in texts])
        assert got[:, 0].tobytes() == want.tobytes() and got[:, 1].tobytes() == want.tobytes(), texts[:3]


def test_number_layouts_that_are_no_plain_numbers():
    for text in (b"", b"-", b".", b"+.", b"0e0", b"0 0", b"0.0.0", b"00000000.00000000", b"0" * 16, b"--0", b"nan"):
        assert bytematrix.number_layout(text) is None, text


def test_lines_are_grouped_by_their_bytes_other_than_digits():
    lines = [b"| 12 | 0.5 |"] * 40 + [b"| 13 | -0.5 |"] * 40 + [b"| 14 | 0.5 |", b"| ab | 0.5 |"] + [b"| 99 | 1.5 |"] * 3
    buf = b"\n" * PAD + b"\n".join(lines) + b"\n" * PAD
    arr = np.frombuffer(buf, dtype=np.uint8)
    lf = np.flatnonzero(arr == 10)
    lf = lf[(lf >= PAD - 1) & (lf <= len(buf) - PAD)]
    starts = lf[:-1] + 1
    got = {model: rows.tolist() for model, rows in bytematrix.layouts(arr, starts, lf[1:] - starts, min_rows=32)}
    assert got == {b"| 00 | 0.0 |": list(range(40)) + [80] + [82, 83, 84], b"| 00 | -0.0 |": list(range(40, 80))}


def _layouts_plain(lines: list, min_rows: int, per_width: int, max_widths: int) -> list:
    """`layouts` by Python bytes: each line's layout its bytes with the digits as `0`; widths by count (ties as
    numpy's argsort of the counts, reversed), per width the middle remaining line's layout and the lines of it."""
    zero = bytes.maketrans(b"0123456789", b"0" * 10)
    counts = np.bincount([len(ln) for ln in lines])
    out = []
    for w in np.argsort(counts)[::-1][:max_widths].tolist():
        if counts[w] < min_rows or w == 0:
            break
        left = [i for i, ln in enumerate(lines) if len(ln) == w]
        for _ in range(per_width):
            model = lines[left[len(left) // 2]].translate(zero)
            same = [i for i in left if lines[i].translate(zero) == model]
            if len(same) >= min_rows:
                out.append((model, same))
            left = [i for i in left if lines[i].translate(zero) != model]
            if len(left) < min_rows:
                break
    return out


@pytest.mark.parametrize("seed", range(6))
def test_layouts_are_the_plain_grouping(seed):
    """Lines of a few layouts of widths 1-40 (multiples of 8 and not), with the bytes beside the digits (`/`, `:`)
    and non-ASCII bytes, some lines of a layout changed in one byte: the groups are the plain grouping's."""
    rng = random.Random(seed)
    forms = [bytes(rng.choice(b"0123456789/:.-| a\xc3\xa9") for _ in range(rng.choice([1, 7, 8, 9, 16, 23, 40])))
             for _ in range(rng.randrange(3, 9))]
    lines = []
    for _ in range(rng.randrange(200, 2000)):
        form = bytearray(rng.choice(forms))
        for i, c in enumerate(form):
            if 48 <= c <= 57:
                form[i] = rng.randrange(48, 58)
        if rng.random() < 0.05:
            form[rng.randrange(len(form))] = rng.choice(b"0/:x")
        lines.append(bytes(form).replace(b"\n", b" "))
    buf = b"\n" * PAD + b"\n".join(lines) + b"\n" * PAD
    starts = np.cumsum([PAD] + [len(ln) + 1 for ln in lines[:-1]])
    widths = np.array([len(ln) for ln in lines])
    for min_rows, per_width, max_widths in ((32, 4, 8), (2, 16, 64), (100, 1, 2)):
        got = bytematrix.layouts(np.frombuffer(buf, dtype=np.uint8), starts, widths, min_rows, per_width, max_widths)
        want = _layouts_plain(lines, min_rows, per_width, max_widths)
        assert [(m, r.tolist()) for m, r in got] == want


def test_fields_of_several_layouts_are_float_of_their_texts():
    """One call with short fields (8 bytes or less), long ones and signs mixed: each column float() of its texts."""
    rng = random.Random(5)
    layouts = ["00", "-0.000", "+000.0", "0.00000000000", "-00000000.000000", ".0", "0.", "00000000"]
    texts = [[lay.replace("0", "{}").format(*(rng.choice("0123456789") for _ in range(lay.count("0"))))
              for lay in layouts] for _ in range(300)]
    lines = [(" " + " ".join(row) + " ").encode() for row in texts]
    buf = b"\n" * PAD + b"\n".join(lines) + b"\n" * PAD
    starts = np.arange(len(lines)) * (len(lines[0]) + 1) + PAD
    offsets = np.cumsum([1] + [len(t) + 1 for t in texts[0][:-1]]).tolist()
    fields = [(a, bytematrix.number_layout(lay.encode())) for a, lay in zip(offsets, layouts)]
    got = bytematrix.fields_values(bytematrix.words(buf), starts, fields)
    assert got.shape == (len(lines), len(layouts))
    for j in range(len(layouts)):
        assert got[:, j].tobytes() == np.array([float(row[j]) for row in texts]).tobytes(), layouts[j]
