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
