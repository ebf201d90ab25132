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


def _llama_log(rng, steps, sep: str) -> bytes:
    """llama-recipes' description, redrawn 1-3 times a step with a loss of its own each time (ranks), each draw
    after `sep` (a CR: one line of redraws; a LF: a line each), an eval and epoch print after some steps."""
    out = []
    for i, s in enumerate(steps):
        for _ in range(int(rng.integers(1, 4))):
            out.append(f"{sep}Training Epoch: 1/3, step {s}/50 completed (loss: {rng.random():.4f}): "
                       f"{2 * s:3d}%|\u2588\u258c | {s + 1}/50 [00:31<08:20,  2.62s/it]")
        if i > 40 and rng.random() < 0.1:
            out.append(f"\n eval_ppl=tensor({1 + rng.random():.4f}, device='cuda:0') eval_epoch_loss=tensor("
                       f"{rng.random():.4f}, device='cuda:0')\nEpoch 1: train_perplexity=2.9738, train_epoch_loss="
                       f"{rng.random():.4f}, epoch time 512.3s\n")
    return "".join(out).encode()


def test_overwritten_redraws_dropped_as_they_stream(monkeypatch, tmp_path):
    """llama_recipes drops a redraw that the next one overwrites (same step, all values readable, no restart at it):
    the frames, segments, warnings and record count are those read with every redraw kept, also where the step
    counter restarts (a resumed run) on a step drawn twice, and across chunks."""
    from kto_doctor.sources import llama_recipes

    rng = np.random.default_rng(7)
    restarts = 0
    cases = [list(range(50)), list(range(30)) + list(range(20, 50)), list(range(10)) * 3 + [3, 3, 2, 9],
             [5] * 4 + list(range(5, 40)) + list(range(0, 12))]
    for k, (steps, sep) in enumerate((c, sep) for c in cases for sep in ("\r", "\n")):
        path = tmp_path / f"llama{k}.log"
        text = _llama_log(rng, steps, sep)
        path.write_bytes(text if k % 2 else text + b"\rTraining Epoch: 1/3, step 49/50 completed (loss: 0.")
        for chunk in (1 << 12, 8 << 20):
            monkeypatch.setattr(textlog, "CHUNK", chunk)
            got = textlog.read(path, llama_recipes.FORMAT)
            monkeypatch.setattr(llama_recipes.FORMAT, "overwrites", False)
            want = textlog.read(path, llama_recipes.FORMAT)
            monkeypatch.setattr(llama_recipes.FORMAT, "overwrites", True)
            assert _frame_of(got) == _frame_of(want), (k, chunk)
            assert got.segments == want.segments and got.records == want.records
            restarts += bool(want.segments)
    assert restarts >= 4  # (the resumed runs are read as segments)


def _frame_of(src):
    return (sorted((n, s.steps.tobytes(), s.values.tobytes(), s.lines.tobytes()) for n, s in src.series.items()),
            src.warnings, sorted(src.facts.items()))


def test_metrics_of_the_same_records_share_their_steps_and_lines(tmp_path, monkeypatch):
    """mmengine's lr, loss and grad_norm stand on every training record: one steps array and one lines array serve
    the three (16 bytes a value of the output); the validation line's metrics, on other records, have their own.
    Each series is what it is when every metric gathers its own (the arrays compared, not only their identity)."""
    lines = []
    for e in range(1, 4):
        for i in range(1, 41):
            lines.append(f"10/30 22:18:02 - mmengine - INFO - Epoch(train) [{e}][{i:2d}/40]  lr: {i * 1e-5:.4e}  "
                         f"eta: 2:46:39  time: 2.8906  data_time: 0.0042  memory: 10762  loss: {i / 7:.4f}  "
                         f"grad_norm: {e + i / 3:.4f}")
            if i % 10 == 0:  # a redraw of the same step (the later value is kept)
                lines.append(lines[-1].replace("loss: ", "loss: 1"))
        lines.append(f"10/30 22:18:02 - mmengine - INFO - Epoch(val) [{e}][10/10]  aAcc: {e * 10:.4f}  mIoU: {e:.4f}")
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines) + "\n")
    got = mmengine.read(path)
    train = [got.series[n] for n in ("learning_rate", "loss", "grad_norm")]
    assert all(s.steps is train[0].steps and s.lines is train[0].lines for s in train)
    evals = [s for n, s in got.series.items() if s.steps is not train[0].steps]
    assert len(evals) == 2 and evals[0].steps is evals[1].steps
    monkeypatch.setattr(textlog.np, "array_equal", lambda a, b: False)  # (no metric takes another's arrays)
    alone = mmengine.read(path)
    assert alone.series["loss"].steps is not alone.series["grad_norm"].steps
    for name, s in alone.series.items():
        for field in ("steps", "values", "lines"):
            np.testing.assert_array_equal(getattr(got.series[name], field), getattr(s, field))
    np.testing.assert_array_equal(got.series["loss"].steps, np.arange(1, 121))


def test_blocks_keys_of_the_same_blocks_share_their_steps_and_lines(tmp_path, monkeypatch):
    from kto_doctor.sources import blocks

    text = "".join(f"step {i} token {i * 5}m \n" + "".join(f"train/{k} {(i * 7 + j) % 13 / 3:.4f} \n"
                                                          for j, k in enumerate(("loss", "lr", "grad_norm")))
                   + ("eval/loss 1.5000 \n" if i % 4 == 0 else "") + "\n" for i in range(1, 400))
    path = tmp_path / "train.log"
    path.write_text(text)
    got = blocks.read(path)
    train = [s for n, s in got.series.items() if len(s.steps) == 399]
    assert len(train) == 3 and all(s.steps is train[0].steps and s.lines is train[0].lines for s in train)
    monkeypatch.setattr(blocks.np, "array_equal", lambda a, b: False)
    alone = blocks.read(path)
    assert sorted(alone.series) == sorted(got.series)
    for name, s in alone.series.items():
        for field in ("steps", "values", "lines"):
            np.testing.assert_array_equal(getattr(got.series[name], field), getattr(s, field))


def test_take_previous_a_block_at_a_time_is_the_whole_way():
    """`take_previous` over blocks of records (the last own record carried over) gives what one pass over every
    record gives: NaN steps, targets that are own records too, no own record before a target, blocks of 1 to 8."""
    def whole(steps, targets, own):
        last = np.arange(len(steps))
        last[~own] = -1
        np.maximum.accumulate(last, out=last)
        last = last[targets]
        steps[targets] = np.where(last >= 0, steps[np.maximum(last, 0)], np.nan)

    rng = np.random.default_rng(1)
    for trial in range(2000):
        n = int(rng.integers(0, 60))
        steps = rng.integers(0, 5, n).astype(float)
        steps[rng.random(n) < 0.2] = np.nan
        own = np.isfinite(steps) if trial % 3 == 0 else rng.random(n) < rng.random()
        targets = np.flatnonzero(rng.random(n) < rng.random())
        if trial % 7 == 0 and len(targets) > 2:
            targets = targets[::-1].copy()  # (not in file order: the whole way)
        want, got = steps.copy(), steps.copy()
        whole(want, targets, own)
        textlog.take_previous(got, targets, own, block=int(rng.integers(1, 9)))
        np.testing.assert_array_equal(got, want)
