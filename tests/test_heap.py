"""heap.release (malloc_trim between the steps of a large analysis) changes memory, never results."""
from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pytest
import pandas as pd

from kto_doctor import analysis, heap
from kto_doctor.engine import evaluate
from kto_doctor.model import Run


def long_run(rows: int) -> Run:
    rng = np.random.default_rng(0)
    steps = pd.Index(np.arange(1, rows + 1, dtype=np.int64) * 2, name="step")
    loss = 0.7 - 0.2 * np.linspace(0, 1, rows) + 0.01 * rng.random(rows)
    loss[rows // 2: rows // 2 + 40] *= 6  # a spike
    grad = 1.0 + rng.random(rows)
    grad[rows // 3] = np.nan
    frame = pd.DataFrame({"loss": loss, "grad_norm": grad, "learning_rate": np.full(rows, 1e-5)}, index=steps)
    run = Run(path="<long>", metrics=frame, config={}, method="sft", framework="trl")
    run._series = {name: frame[name] for name in frame}
    return run


def findings(run) -> list:
    report = analysis.evaluate(run, analysis.load_rules())
    return [(f.rule, f.severity, f.steps, f.message, sorted(f.evidence.items())) for f in report.findings]


def test_release_is_harmless_and_repeatable():
    heap.release()
    heap.release()
    assert heap._trim is not None  # looked up once: the function, or False where the C library has none


def test_a_long_run_releases_memory_before_the_rules_and_finds_the_same(monkeypatch):
    run = long_run(heap.LARGE + 5_000)
    calls = []
    monkeypatch.setattr(heap, "release", lambda: calls.append("release"))
    with_release = findings(run)
    assert calls == ["release"]  # before the rules (not after each: the next would fault the pages again)
    assert with_release and any(r == "LOSS102" for r, *_ in with_release)
    monkeypatch.setattr(heap, "release", lambda: None)
    monkeypatch.setattr(heap, "LARGE", 10 ** 12)  # never large: the simple path
    assert findings(run) == with_release


def test_a_short_run_never_releases(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "release", lambda: calls.append(1))
    findings(long_run(500))
    assert not calls and not evaluate.RunContext(long_run(500)).large


@pytest.mark.parametrize("code", ["d", "q", "b"])
def test_grow_holds_what_an_array_holds(code, monkeypatch):
    """Appends of every size, across the move to a mapping of its own (and without one, as off Linux): the same
    items as an array.array, and the view is that memory, writable."""
    rng = np.random.default_rng(1)
    dtype = np.dtype(code)
    for can_map in (True, False):
        monkeypatch.setattr(heap, "_CAN_MAP", can_map)
        grow, plain = heap.Grow(code), array(code)
        assert len(grow) == 0 and len(grow.view(dtype)) == 0
        for size in [0, 1, 7, 1000, 130_000, 3, 300_000, 1, 0, 50_000]:
            part = (rng.integers(-100, 100, size) if code != "d" else rng.random(size)).astype(dtype)
            if size == 1:
                grow.append(part[0].item())
                plain.append(part[0].item())
            else:
                grow.frombytes(part)
                plain.frombytes(part.tobytes())
            assert len(grow) == len(plain)
        view = grow.view(dtype)
        assert view.dtype == dtype and np.array_equal(view, np.frombuffer(plain, dtype=dtype))
        assert (grow.mapped is not None) == (can_map and len(plain) * dtype.itemsize > heap.MAPPED)
        view[0] = 1
        assert grow.view(dtype)[0] == 1
