"""Fast paths give the answers of the slow ones they replace (issue 11 §4: speed without changing a finding)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kto_doctor.engine.evaluate import streaks


def _streaks_row_by_row(vals, steps, tolerance, for_rows, for_steps):
    """The engine's former loop, one row at a time: the reference the whole-array version must match."""
    fired = np.zeros(len(vals), dtype=bool)
    i, n = 0, len(vals)
    while i < n:
        if not vals[i]:
            i += 1
            continue
        start, last_true, gap = i, i, 0
        j = i + 1
        while j < n:
            if vals[j]:
                last_true, gap = j, 0
            else:
                gap += 1
                if gap > tolerance:
                    break
            j += 1
        if last_true - start + 1 >= for_rows and float(steps[last_true]) - float(steps[start]) >= for_steps:
            fired[start:last_true + 1] = True
        i = last_true + 1
    return fired


def test_streaks_match_the_row_by_row_definition():
    rng = random.Random(7)
    for case in range(3000):
        n = rng.randint(0, 60)
        density = rng.random()
        vals = np.array([rng.random() < density for _ in range(n)], dtype=bool)
        steps = np.cumsum([rng.choice((1, 1, 2, 5, 10)) for _ in range(n)]).astype(np.int64)
        tolerance, for_rows, for_steps = rng.randint(0, 4), rng.randint(1, 8), rng.choice((0, 0, 3, 20, 50))
        got = streaks(vals, steps, tolerance, for_rows, for_steps)
        want = _streaks_row_by_row(vals, steps, tolerance, for_rows, for_steps)
        assert got.tolist() == want.tolist(), (case, vals.tolist(), tolerance, for_rows, for_steps)


@pytest.mark.parametrize("vals,tolerance,for_rows,want", [
    ([1, 1, 0, 1, 1], 0, 3, [0, 0, 0, 0, 0]),  # a false row breaks both halves below 3 rows
    ([1, 1, 0, 1, 1], 1, 3, [1, 1, 1, 1, 1]),  # one broken row tolerated: one 5-row streak
    ([1, 0, 0, 1], 1, 2, [0, 0, 0, 0]),  # two broken rows end it
    ([0, 1, 1, 1, 0], 0, 3, [0, 1, 1, 1, 0]),
])
def test_streaks_examples(vals, tolerance, for_rows, want):
    steps = np.arange(len(vals)) * 10
    assert streaks(np.array(vals, dtype=bool), steps, tolerance, for_rows, 0).astype(int).tolist() == want
