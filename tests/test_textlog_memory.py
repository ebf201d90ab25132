"""textlog's store keeps what the readers' `post` hooks read and no more, and record lines in 4 bytes while they fit."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kto_doctor.sources import mmengine, progress_bar, textlog

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _read_in_two(path: Path, fmt, base: int | None):
    """`path` read as two chunks, the second's lines numbered after `base` (default: the first's line count)."""
    raw = path.read_bytes()
    cut = raw.index(b"\n", len(raw) // 2) + 1
    first = raw[:cut].count(b"\n")
    r = textlog.Reader(path, fmt)
    r.chunk(raw[:cut], 0)
    r.chunk(raw[cut:], first if base is None else base, final=True)
    return r.finish(), first


def test_line_numbers_past_int32_widen_the_store():
    path = sorted((FIXTURES / "mmengine").glob("*.log"))[0]
    low, first = _read_in_two(path, mmengine.FORMAT, None)
    high, _ = _read_in_two(path, mmengine.FORMAT, 2 ** 31 + 7)
    assert sorted(low.series) == sorted(high.series)
    for name, s in high.series.items():
        ref = low.series[name]
        assert s.lines.dtype == np.int64 and ref.lines.dtype == np.int64
        np.testing.assert_array_equal(s.values, ref.values)
        late = ref.lines > first
        assert late.any() and (~late).any()
        np.testing.assert_array_equal(s.lines[~late], ref.lines[~late])
        np.testing.assert_array_equal(s.lines[late], ref.lines[late] - first + 2 ** 31 + 7)


def _frame(path: Path, fmt):
    try:
        src = textlog.read(path, fmt)
    except textlog.SourceError as exc:
        return str(exc)
    return (sorted((n, s.steps.tobytes(), s.values.tobytes(), s.lines.tobytes()) for n, s in src.series.items()),
            src.warnings, sorted(src.facts.items()), sorted(src.hints.items()), src.records)


def test_trimmed_store_reads_the_same(monkeypatch):
    """The scan hooks drop what post would not read, between chunks: the frames are those read without them."""
    for fmt, folder in ((mmengine.FORMAT, "mmengine"), (progress_bar.FORMAT, "progress_bar")):
        for path in sorted((FIXTURES / folder).glob("*.log")):
            monkeypatch.setattr(textlog, "CHUNK", 1 << 14)  # (many chunks: the hooks trim between them)
            trimmed = _frame(path, fmt)
            monkeypatch.setattr(fmt, "scan", None)
            assert trimmed == _frame(path, fmt), path
            monkeypatch.undo()


def test_last_of_each_step_keeps_what_last_per_step_keeps():
    """The mask found a block at a time keeps exactly the values `last_per_step` keeps (runs of one step across
    block edges, a last step alone, all steps distinct), and gives up (None) on a NaN step or fewer than two."""
    rng = np.random.default_rng(4)
    for n in (2, 3, 7, 64, 1000):
        for block in (1, 2, 3, 5, 1 << 20):
            steps = np.cumsum(rng.integers(0, 3, size=3 * n)).astype(np.float64)
            idx = np.sort(rng.choice(3 * n, size=n, replace=False)).astype(np.int32)
            vals = rng.random(n)
            keep = textlog.last_of_each_step(steps, idx, block=block)
            s, v, ln = textlog.last_per_step(steps[idx], vals.copy(), np.arange(n, dtype=np.int64) + 1)
            assert keep is not None
            np.testing.assert_array_equal(steps[idx[keep]], s)
            np.testing.assert_array_equal(vals[keep], v)
            np.testing.assert_array_equal((np.arange(n) + 1)[keep], ln)
    steps = np.array([1.0, np.nan, 2.0, 2.0])
    assert textlog.last_of_each_step(steps, np.arange(4), block=2) is None
    assert textlog.last_of_each_step(steps, np.array([0])) is None
