"""Shortcuts of `textlog`'s common path that must answer as the plain way does: `holds` (a token searched by memchr
on its byte least seen in the text's start) is `in`, and `block_floats` reads a column that only starts with a
missing value as `floats` does."""
from __future__ import annotations

import random

import numpy as np

from kto_doctor.sources import textlog


def test_holds_is_in_wherever_the_token_and_its_bytes_are():
    rng = random.Random(5)
    tokens = (b"epoch: ", b"Epoch ", b"average reward score: ", b", skipped=", b"Total ", b"aa", b"|E")
    for _ in range(3000):
        hay = bytes(rng.choice(b"epoch: Evarg|,skid=Tl\n ") for _ in range(rng.randrange(0, 400)))
        token = rng.choice(tokens)
        if rng.random() < 0.3:
            pos = rng.randrange(len(hay) + 1)
            hay = hay[:pos] + token + hay[pos:]
        for sample in (1, 7, 64, 1 << 13):
            assert textlog.holds(hay, token, sample) == (token in hay)


def test_a_column_that_starts_without_a_value_is_read_as_floats_reads_it():
    col = [None] + [b"%.4f" % (i / 7) for i in range(200)]
    got = textlog.block_floats(["x"], {"x": col})["x"]
    want = textlog.floats(col)
    assert got[0].tobytes() == want[0].tobytes()
    assert got[1].tolist() == want[1].tolist()
    empty = textlog.block_floats(["y"], {"y": [None] * 100})["y"]
    assert np.isnan(empty[0]).all() and not empty[1].any()


def test_progress_table_rows_keep_their_file_lines_with_other_lines_between(tmp_path):
    """The rows' lines counted only where a gap is not empty (rows of consecutive lines leave empty gaps): every
    value still points at its row's line in the file, with prose, blank lines and a CRLF row between rows."""
    from kto_doctor.sources import progress_table

    rng = random.Random(2)
    out, want = ["| Step | Training Loss | Validation Loss |", "|------|---------------|-----------------|"], []
    for k in range(1, 400):
        for _ in range(rng.choice((0, 0, 0, 1, 3))):
            out.append(rng.choice(("", "  ", "some prose between rows")))
        out.append(f"| {k * 10} | {rng.random():.6f} | {rng.random():.6f} |" + ("\r" if k % 37 == 0 else ""))
        want.append(len(out))
    p = tmp_path / "table.md"
    p.write_text("\n".join(out) + "\n")
    data = progress_table.read(p)
    assert data.series["loss"].lines.tolist() == want
    assert data.series["loss"].steps.tolist() == [10.0 * k for k in range(1, 400)]
