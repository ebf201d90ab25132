"""textlog's streamed reading (`Format.stream`: mmengine, DeepSpeed-Chat, generic, tqdm bars, Megatron,
verl, llama-recipes) gives what the whole way gives.

Each case is read twice in small chunks (many flushes, records of one step across chunk ends): streamed, and with
`stream=False` (the store of every record to the end, `post` on all of them); series, steps, values, lines,
warnings, facts, hints, records, segments and errors must be the same. Where the file holds what a chunk cannot
settle (a restart, a second DeepSpeed-Chat epoch, a generic epoch line), the streamed reader reads it again the
whole way.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from kto_doctor.sources import (deepspeed_chat, generic_kv, llama_recipes, megatron, mmengine, progress_bar, textlog,
                                verl_console)


def _frame(path: Path, fmt, stream: bool):
    reader = textlog.Reader(path, fmt, stream=stream)
    try:
        src = reader.run()
    except Exception as exc:  # noqa: BLE001 - the error is part of the frame
        return ("error", type(exc).__name__, str(exc)), reader
    series = {k: (s.steps.tolist(), [repr(float(v)) for v in s.values], s.lines.tolist(), str(s.steps.dtype),
                  str(s.lines.dtype)) for k, s in src.series.items()}
    return (sorted(series.items()), src.warnings, src.facts, src.hints, src.records, src.segments,
            src.step_kind), reader


def _same(path: Path, fmt):
    got, reader = _frame(path, fmt, True)
    ref, _ = _frame(path, fmt, False)
    assert got == ref
    return reader


def _mm(r, i):
    return (f"05/04 08:52:{i % 60:02d} - mmengine - INFO - Iter(train) [{i * 10:7d}/9999990]  lr: {r.random() * 2e-4:.4e}"
            f"  eta: 3 days, 3:30:35  time: {0.3 + r.random():.4f}  data_time: {r.random() / 50:.4f}  memory: 10197  "
            f"loss: {r.random() * 3:.4f}  grad_norm: {r.random() * 4:.4f}\n")


def _ds(r, i, epoch=0):
    return (f"|E2E latency=2.12s |Gather latency=0.00s (0.00%) |Generate time=1.59s (75.13%)\n"
            f"epoch: {epoch}|step: {i}|ppo_ep: 1|act_loss: {r.random() - 0.5}|cri_loss: {r.random()}|"
            f"unsuper_loss: 0.0\naverage reward score: {r.random() * 2 - 1}\n" + "-" * 40 + "\n")


def _gen(r, i):
    out = f"iter {i}: loss {3 + r.random():.4f}, time {1000 + r.random() * 100:.2f}ms, mfu {15 + r.random():.2f}%\n"
    if i % 200 == 0:
        out += f"step {i}: train loss {3 + r.random():.4f}, val loss {3 + r.random():.4f}\nsaving checkpoint to out\n"
    return out


def _odd(text: str, r) -> str:
    """One value in 23 replaced by an odd spelling (nan, inf, exponent, negative, text, nothing)."""
    lines = text.split("\n")
    for i in range(3, len(lines), 23):
        toks = lines[i].split(" ")
        for j in range(len(toks) - 1, 2, -1):
            t = toks[j].rstrip(",%|").removesuffix("ms")
            if t.replace(".", "").isdigit():
                toks[j] = toks[j].replace(t, r.choice(["nan", "inf", "-inf", "1e-05", "-3.25", "abc", "", "NaN"]), 1)
                break
        lines[i] = " ".join(toks)
    return "\n".join(lines)


def _cases():
    r = random.Random(5)
    mm = "".join(_mm(r, i) for i in range(1, 1500))
    ds = "".join(_ds(r, i) for i in range(1, 1500))
    gen = "".join(_gen(r, i) for i in range(1, 3000))
    out = {}
    for name, text, fmt in (("mm", mm, mmengine), ("ds", ds, deepspeed_chat), ("gen", gen, generic_kv)):
        out[name] = (text, fmt, True)
        out[name + "_cut"] = (text[:len(text) * 2 // 3], fmt, True)
        out[name + "_nolf"] = (text.rstrip("\n"), fmt, True)
        out[name + "_crlf"] = (text.replace("\n", "\r\n"), fmt, None)
        out[name + "_odd"] = (_odd(text, r), fmt, None)
        out[name + "_restart"] = (text[:len(text) // 2] + text, fmt, False)
        lines = text.split("\n")
        redrawn = [x for ln in lines for x in ((ln, ln.replace(": 0.", ": 1.")) if ln and hash(ln) % 3 == 0 else (ln,))]
        out[name + "_redrawn"] = ("\n".join(redrawn), fmt, None)  # a step logged twice in a row: the later kept
    # mmengine: epoch-based with validation lines (the step of the line before, across chunk ends)
    lines = []
    for e in range(1, 4):
        for i in range(10, 610, 10):
            lines.append(f"10/30 22:18:02 - mmengine - INFO - Epoch(train) [{e}][{i}/600]  lr: 1.9870e-04  eta: 2:46:39"
                         f"  time: 2.8906  data_time: 0.0042  memory: 10762  loss: {r.random():.4f}  grad_norm: 3.0608")
            if i % 50 == 0:
                lines.append(f"10/30 22:18:02 - mmengine - INFO - Epoch(val) [{e}][{i}/600]  aAcc: 87.4300  "
                             f"mIoU: {r.random():.4f}")
    out["mm_epochs_val"] = ("\n".join(lines) + "\n", mmengine, True)
    # a metric that appears late, and one that leaves (the records of a group part)
    late = "".join(_mm(r, i).replace("  grad_norm", "  extra: 1.5  grad_norm") if 500 < i < 900 else _mm(r, i)
                   for i in range(1, 1500))
    out["mm_metric_late"] = (late, mmengine, True)
    # DeepSpeed-Chat: reward first, a second epoch (with the banner, late or not at all): the whole way
    out["ds_reward_first"] = ("average reward score: 0.5\n" + ds, deepspeed_chat, True)
    two = ds + "".join(_ds(r, i, epoch=1) for i in range(1, 1500))
    out["ds_epochs"] = (two, deepspeed_chat, False)
    out["ds_epochs_banner"] = ("Total Generation Batches 1500\n" + two, deepspeed_chat, False)
    # generic: an epoch summary or a step-less loss line late in the file (the whole way), repeated steps
    out["gen_epoch_late"] = (gen + "Epoch 1 completed. Average loss: 4.4899\n" + gen.replace("iter ", "iter 1"),
                             generic_kv, False)
    out["gen_loss_late"] = (gen + "final loss = 1.482\n", generic_kv, False)
    out["gen_same_steps"] = ("".join(f"iter {i // 3}: loss {i}.5, time 100ms\n" for i in range(6000)), generic_kv,
                             True)
    out["gen_dicts"] = (gen[:3000] + "{'loss': 1.0, 'learning_rate': 1e-5, 'epoch': 0.1}\n" * 80, generic_kv, None)
    return out


# ------------------------------------------------------------------ tqdm bars and Megatron (issue 15: flat memory)


def _bar(r, e, i, total, post="", head="Epoch {e}: "):
    """One tqdm draw of a bar at position i of total (epoch e), with a `loss=` postfix."""
    return (f"\r{head.format(e=e)}{100 * i // total:3d}%|\u2588\u2588       | {i}/{total} [00:17<01:02,  4.47s/it, "
            f"loss={r.random() * 3:.3g}{post}, v_num=3]")


def _bars(r, epochs, total, redraws=2, post="", head="Epoch {e}: ", start=0):
    """`epochs` bars of `total` positions (a number, or a function of the epoch), each drawn `redraws` times."""
    size = total if callable(total) else (lambda e: total)
    return "".join("".join(_bar(r, e, i, size(e), post, head) for _ in range(redraws)) + ("\n" if i == size(e) else "")
                   for e in range(start, start + epochs) for i in range(1, size(e) + 1))


def _nemo(r, i):
    draw = (f"Epoch 0:   0%|          | {{n}}/301501 [59:12<1573:03:24, 18.79s/it, loss={7 + r.random():.3g}, "
            f"v_num=3-16, reduced_train_loss={7 + r.random():.3f}, global_step={i - 1}.0, "
            f"consumed_samples={i * 128}.0]")
    return "\r" + draw.format(n=i) + "\r" + draw.format(n=i) + "\n"


def _bar_cases():
    r = random.Random(7)
    out = {}
    nemo = "".join(_nemo(r, i) for i in range(1, 2500))
    out["bar_nemo"] = (nemo, progress_bar, True)
    out["bar_nemo_cut"] = (nemo[:len(nemo) * 2 // 3], progress_bar, True)
    out["bar_epochs"] = (_bars(r, 6, 400), progress_bar, True)  # bar number x 400 + n
    out["bar_epochs_crlf"] = (_bars(r, 6, 400).replace("\n", "\r\n"), progress_bar, True)
    out["bar_totals"] = (_bars(r, 6, lambda e: 300 + 20 * e), progress_bar, True)  # n + the bar before's last
    # the totals part after a bar started again, or the positions stop stating an epoch: the whole way
    out["bar_total_late"] = (_bars(r, 5, 400) + _bars(r, 1, 250, start=5), progress_bar, False)
    out["bar_no_epoch_late"] = (_bars(r, 4, 400) + _bars(r, 2, 400, head="train: "), progress_bar, False)
    out["bar_global_step_late"] = (_bars(r, 4, 400) + nemo[:20000], progress_bar, False)
    out["bar_no_epoch"] = (_bars(r, 5, 500, head="steps: "), progress_bar, True)  # restarts by the position alone
    out["bar_epoch_postfix"] = (_bars(r, 4, 400, post=", epoch=1/4"), progress_bar, True)
    # the loss closest to the step's own: `avg_loss` first, `loss=` from the middle on (the other is dropped)
    avg = _bars(r, 2, 500).replace("loss=", "avg_loss=")
    out["bar_loss_late"] = (avg + _bars(r, 2, 500, start=2), progress_bar, True)
    out["bar_one_draw"] = (_bars(r, 3, 700, redraws=1), progress_bar, True)
    return out


def _mg(r, i, loss=True, skipped=0, scale="1.0"):
    out = (f" iteration {i * 10:8d}/   50000 | consumed samples: {i * 10240:12d} | elapsed time per iteration (ms): "
           f"{100 + r.random() * 50:.1f} | learning rate: {3e-4 * r.random():.6E} | global batch size:  1024 | "
           + (f"lm loss: {1 + r.random() * 2:.6E} | " if loss else "")
           + f"loss scale: {scale} | grad norm: {r.random():.3f} | number of skipped iterations: {skipped:3d} | "
           f"number of nan iterations:   0 |\n")
    if i % 10 == 0:
        out += "time (ms) | forward-compute: 193.77 | backward-compute: 73.02 | optimizer: 63.01\n"
    if i % 100 == 0:
        out += ("-" * 60 + f"\n validation loss at iteration {i * 10} | lm loss value: {1 + r.random():.6E} | "
                f"lm loss PPL: {5 + r.random():.6E} | \n" + "-" * 60 + "\n")
    return out


def _nemo_printer(r, i):
    return (f"Training epoch 0, iteration {i}/4999 | lr: 3e-05 | global_step: {i} | reduced_train_loss: "
            f"{r.random():.4f} | val_loss: {4 + (i // 300) * 0.1:.3f}\n")


def _megatron_cases():
    r = random.Random(11)
    out = {}
    plain = "".join(_mg(r, i) for i in range(1, 1500))
    out["mg"] = (plain, megatron, True)
    out["mg_cut"] = (plain[:len(plain) * 2 // 3], megatron, True)
    out["mg_restart"] = (plain[:len(plain) // 2] + plain, megatron, False)
    # a vanished loss: NaN where the interval advanced, nothing where every iteration of it was skipped
    holes = "".join(_mg(r, i, loss=i % 97 != 0, skipped=10 if i % 194 == 0 else 0, scale="65536.0")
                    for i in range(1, 1500))
    out["mg_vanished"] = (holes, megatron, True)
    # the first line without a loss: its interval is the file's typical one (known at the end)
    first = lambda skipped: _mg(r, 1, loss=False, skipped=skipped, scale="4096.0") + plain[plain.index("\n") + 1:]
    out["mg_first_all_skipped"] = (first(10), megatron, True)
    out["mg_first_nan"] = (first(3), megatron, None)  # (streamed as skipped; the end reads it the whole way)
    out["mg_first_no_count"] = (first(0).replace("number of skipped iterations:   0 |", "", 1), megatron, True)
    # wrapped by a terminal mid-item (joined), a damaged line
    wrapped = plain.replace("| grad norm: ", "| grad\nnorm: ", 50)
    out["mg_wrapped"] = (wrapped, megatron, None)
    out["mg_damaged"] = (plain.replace("| lm loss: ", "| lm loss: abc ", 30), megatron, None)
    # NeMo's printer repeats the last validation value on every line
    out["mg_nemo"] = ("".join(_nemo_printer(r, i) for i in range(1, 3000)), megatron, True)
    return out


def _verl(r, i, fmt="{}"):
    keys = ("actor/entropy", "actor/pg_loss", "actor/lr", "critic/score/mean", "response_length/mean", "timing_s/step")
    body = " - ".join(f"{k}:{fmt.format(r.random() * 3 - 1)}" for k in keys)
    out = f"(TaskRunner pid=222265) step:{i} - global_seqlen/min:419336 - {body} - training/global_step:{i}\n"
    if i % 5 == 0:
        out += "(TaskRunner pid=222265) [prompt] What is 12 + 30?\n(TaskRunner pid=222265) [score] 1.0\n"
    return out


def _verl_cases():
    r = random.Random(13)
    plain = "".join(_verl(r, i) for i in range(1, 2000))
    old = "".join(_verl(r, i, "{:.3f}") for i in range(1, 2000))
    return {"verl": (plain, verl_console, True), "verl_cut": (plain[:len(plain) * 2 // 3], verl_console, True),
            "verl_restart": (plain[:len(plain) // 2] + plain, verl_console, False),
            # verl <= 0.3's 3 decimals: the rate is not read; one value with more late in the file: it is
            "verl_three": (old, verl_console, True), "verl_three_but_one": (old + _verl(r, 2000), verl_console, True),
            "verl_np": ("".join(_verl(r, i, "np.float64({})") for i in range(1, 2000)), verl_console, True),
            "verl_wrapped": (plain.replace(" - critic/score/mean:", " - critic/score/mean\n:", 40), verl_console,
                             None)}


def _llama(r, e, s, per, ranks=1, draws=2):
    out = "".join(f"\rTraining Epoch: {e}/3, step {s}/{per} completed (loss: {r.random() * 2}): "
                  f"{100 * (s + 1) // per:3d}%|\u2588\u2588\u258c       | {s + 1}/{per} [00:31<08:20,  2.62s/it]"
                  for _ in range(ranks) for _ in range(draws))
    if s == per - 1:
        out += (f"\nevaluating Epoch: 100%|\u2588\u2588\u2588\u2588| 25/25 [00:06<00:00,  3.69it/s]\n"
                f" eval_ppl=tensor({2 + r.random():.4f}, device='cuda:0') eval_epoch_loss=tensor({r.random():.4f}, "
                f"device='cuda:0')\nEpoch {e}: train_perplexity={2 + r.random():.4f}, "
                f"train_epoch_loss={r.random():.4f}, epoch time 512.3s\n")
    return out


def _llama_cases():
    r = random.Random(17)
    plain = "".join(_llama(r, e, s, 700) for e in (1, 2, 3) for s in range(700))
    ranks = "".join(_llama(r, e, s, 500, ranks=3, draws=1) for e in (1, 2) for s in range(500))
    return {"llama": (plain, llama_recipes, True), "llama_cut": (plain[:len(plain) * 2 // 3], llama_recipes, True),
            "llama_ranks": (ranks, llama_recipes, True), "llama_one_draw": (
                "".join(_llama(r, e, s, 900, draws=1) for e in (1, 2) for s in range(900)), llama_recipes, True),
            "llama_restart": (plain[:len(plain) // 2] + plain, llama_recipes, False)}


CASES = {**_cases(), **_bar_cases(), **_megatron_cases(), **_verl_cases(), **_llama_cases()}


@pytest.mark.parametrize("chunk", [1 << 12, 1 << 15, textlog.CHUNK])
@pytest.mark.parametrize("case", sorted(CASES))
def test_streamed_reading_is_the_whole_way(case, chunk, tmp_path, monkeypatch):
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    text, fmt, streams = CASES[case]
    path = tmp_path / "train.log"
    path.write_bytes(text.encode())
    reader = _same(path, fmt.FORMAT)
    if streams is not None and chunk < len(text) // 4:  # (several chunks: the streamed way kept it, or gave up)
        assert reader.flushed > 0
        assert (len(reader.store) == 0) == streams


def test_streamed_store_holds_one_chunk(tmp_path, monkeypatch):
    """Streamed, the store of records is emptied after each chunk: nothing per record outlives its chunk."""
    monkeypatch.setattr(textlog, "CHUNK", 1 << 14)
    r = random.Random(1)
    path = tmp_path / "train.log"
    path.write_text("".join(_mm(r, i) for i in range(1, 3000)))
    reader = textlog.Reader(path, mmengine.FORMAT)
    sizes = []
    real = reader.flush

    def flush():
        real()
        sizes.append((len(reader.store), len(reader.store.metrics)))
    monkeypatch.setattr(reader, "flush", flush)
    src = reader.run()
    assert len(sizes) > 10 and set(sizes) == {(0, 0)}
    assert reader.streamed and src.records == 2999
    s = src.series["loss"]
    assert src.series["grad_norm"].steps is s.steps and src.series["grad_norm"].lines is s.lines
    np.testing.assert_array_equal(s.steps, np.arange(10, 30000, 10))



@pytest.mark.parametrize("case", ["bar_epochs", "bar_totals", "bar_nemo", "mg", "mg_vanished", "mg_nemo"])
def test_one_chunk_and_many_give_one_frame(case, tmp_path, monkeypatch):
    """The frame of a log read in one chunk is the frame of it read across many chunk ends (streamed both times)."""
    text, fmt, _ = CASES[case]
    path = tmp_path / "train.log"
    path.write_bytes(text.encode())
    monkeypatch.setattr(textlog, "CHUNK", 1 << 26)
    whole, reader = _frame(path, fmt.FORMAT, True)
    assert reader.streamed and reader.flushed + reader.repeated == whole[4]  # (every record settled)
    monkeypatch.setattr(textlog, "CHUNK", 1 << 12)
    parts, reader = _frame(path, fmt.FORMAT, True)
    assert reader.streamed and len(reader.store) == 0
    assert parts == whole


def test_bar_redrawn_steps_keep_the_last_value(tmp_path, monkeypatch):
    """A tqdm position redrawn with new postfix values, the redraws across chunk ends: the step's last value is
    kept, once; a bar that starts again continues after the one before."""
    monkeypatch.setattr(textlog, "CHUNK", 1 << 12)
    draws = []
    for e in range(2):
        for i in range(1, 301):
            draws += [f"\rEpoch {e}:  50%|\u2588     | {i}/300 [00:01<00:01,  2.00it/s, loss={e}.{i:03d}{k}, v_num=1]"
                      for k in range(3)]
        draws.append("\n")
    path = tmp_path / "bar.log"
    path.write_text("".join(draws), encoding="utf-8")
    reader = textlog.Reader(path, progress_bar.FORMAT)
    src = reader.run()
    assert reader.streamed and len(reader.store) == 0
    s = src.series["loss"]
    np.testing.assert_array_equal(s.steps, np.concatenate([np.arange(1, 301), np.arange(301, 601)]))
    np.testing.assert_array_equal(s.values, [float(f"{e}.{i:03d}2") for e in range(2) for i in range(1, 301)])
    assert any("starts again 1 time(s)" in w and "bar number x 300 + n" in w for w in src.warnings)


def test_megatron_streamed_sums_what_the_whole_file_says(tmp_path, monkeypatch):
    """Streamed in small chunks, Megatron's totals and its vanished losses are the whole file's: the skipped and
    NaN iteration counts summed over every chunk, a loss left out read as NaN at its iteration, and the first
    line's interval decided by the file's typical one at the end."""
    monkeypatch.setattr(textlog, "CHUNK", 1 << 12)
    r = random.Random(3)
    lines = [_mg(r, i, loss=i not in (1, 700), skipped={1: 10, 900: 4}.get(i, 0), scale="65536.0")
             for i in range(1, 1200)]
    path = tmp_path / "train.log"
    path.write_text("".join(lines))
    reader = textlog.Reader(path, megatron.FORMAT)
    src = reader.run()
    assert reader.streamed and len(reader.store) == 0 and reader.flushed > 1000
    assert src.facts["skipped_iterations_total"] == 14 and src.facts["overflow_steps"] == [10, 9000]
    loss = src.series["loss"]
    assert np.isnan(loss.values[loss.steps == 7000]).all() and 10 not in loss.steps
    assert src.facts["loss_missing_or_nan"] == 1
    assert any("1 iteration line(s) without a loss had every iteration" in w for w in src.warnings)
