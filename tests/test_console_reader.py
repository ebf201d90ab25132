"""The console reader's fast path (dicts read a shape at a time) against the old way (every dict through
json.loads / the tolerant extractor), chunk boundaries, and the order-dependent facts of a console."""
from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from kto_doctor import sources
from kto_doctor.sources import console


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def mixed_log(seed: int = 0, n: int = 600) -> str:
    """Dicts of many shapes and value spellings among tqdm redraws, logger echoes, facts and damage."""
    rng = random.Random(seed)
    odd = ["-0", "01", ".5", "1.", "+1", "1e400", "-nan", "0x10", "True", "None", "'1_0'", "' 0.5'", "'74.98%'",
           "'0:01:03'", "-Infinity", "'-inf'", "NaN", "[1, 2]", "'a, b'", "nan", "-inf", "'-0'", "'01'", "'.5'",
           "'+1'", "''", "'1e5'", "1" * 450, "1e-05", "-1.5E+3", "'7'"]
    out = []
    for i in range(1, n):
        step = 5 * i
        out.append(f"  {i % 100:2d}%|##| {step}/{5 * n} [00:01<00:10,  1.2it/s]\r")
        k = rng.random()
        if k < 0.25:
            out.append(f"{{'loss': {rng.random()}, 'grad_norm': {rng.random() * 3}, 'learning_rate': "
                       f"{rng.random() * 1e-5}, 'rewards/chosen': -{rng.random()}e-05, 'epoch': {i / 100}}}\n")
        elif k < 0.4:
            out.append(f"[default0]:\x1b[32m{{'loss': '{rng.random():.4f}', 'grad_norm': 'nan', "
                       f"'epoch': '{i / 100}'}}\x1b[0m\n")
        elif k < 0.45:
            out.append(f"{{'loss': {rng.choice(odd)}, 'kl': {rng.choice(odd)}, 'epoch': {i / 100}}}\n")
        elif k < 0.5:  # all values quoted numbers (the fast numeric way), the odd one among them; stray braces
            out.append(f"{{'loss': '{rng.random()}', 'kl': {rng.choice(odd)}, 'epoch': '{i / 100}'}}\n")
            out.append(rng.choice(["", "config {\n", "{'a': {'loss': 1}}\n", "{} {'x\n", "x{'loss': 2}}\n"]))
        elif k < 0.55:
            out.append(f"{{'eval_loss': {rng.random()}, 'eval_runtime': 3.2, 'kl': 5.0, 'epoch': {i / 100}}}\n")
        elif k < 0.6:
            out.append(f'{{"current_steps": {step}, "total_steps": {5 * n}, "loss": {rng.random()}, "lr": 1e-05, '
                       f'"epoch": {i / 100}, "percentage": {i / 10:.2f}, "elapsed_time": "0:00:{i % 60:02d}"}}\n')
        elif k < 0.65:
            out.append(f'{{"loss": {rng.random():.8f}, "acc": 0.5, "grad_norm": {rng.choice(["NaN", "1.5", "nan"])}, '
                       f'"global_step/max_steps": "{step}/{5 * n}", "percentage": "{i / 10:.2f}%"}}\n')
        elif k < 0.7:
            out.append(f"[INFO|trainer.py:1] 2025 >> {{'loss': {rng.random():.4f}, 'epoch': {i / 100}}}\n")
        elif k < 0.74:  # keys that differ only in digits, in either order: one skeleton, two shapes
            a, b = ("loss_1", "loss_2") if i % 2 else ("loss_2", "loss_1")
            out.append(f"{{'{a}': {i}, '{b}': {i + 1}, 'loss': 0.{i}, 'step': {rng.choice([0, step])}}}\n")
        elif k < 0.77:
            out.append("[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768\n")
        elif k < 0.8:
            out.append(f"{{'model': 'qwen', 'n': {i}}}\n{{'loss': 0.9, 'grad_norm': [1, 'epoch': 0.2}}\n")
        elif k < 0.82:
            out.append(f"{{'train_runtime': {rng.random() * 100}, 'train_loss': 0.4, 'epoch': 1.0}}\n")
        else:
            out.append(f"{{'loss': {rng.random()}, 'grad_norm': {rng.random()}, 'epoch': {i / 100}}}\n")
    return "".join(out)


def snapshot(src) -> dict:
    series = {k: (s.steps.tolist(), [repr(v) for v in s.values.tolist()], s.lines.tolist())
              for k, s in src.series.items()}
    return {"series": series, "facts": repr(sorted(src.facts.items())), "warnings": src.warnings,
            "records": src.records, "step_kind": src.step_kind, "segments": src.segments, "hints": src.hints}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_reads_what_the_old_way_reads(tmp_path, monkeypatch, seed):
    path = write(tmp_path, "mixed.log", mixed_log(seed))
    fast = snapshot(console.read(path))
    monkeypatch.setattr(console, "_shape", lambda fields, names: None)  # every dict the old way
    assert snapshot(console.read(path)) == fast


@pytest.mark.parametrize("size", [97, 4096, 65536])
def test_chunk_boundaries_do_not_matter(tmp_path, monkeypatch, size):
    for text in (mixed_log(3), mixed_log(3).replace("\n", "\r")):  # also `\r`-only: chunks cut at a `\r`
        path = write(tmp_path, "mixed.log", text)
        monkeypatch.setattr(console, "START", 1 << 24)
        monkeypatch.setattr(console, "CHUNK", 1 << 24)
        whole = snapshot(console.read(path))
        for start in (size, 1 << 24):  # the first chunk as small as the others, or larger (as it is)
            monkeypatch.setattr(console, "START", start)
            monkeypatch.setattr(console, "CHUNK", size)
            assert snapshot(console.read(path)) == whole


def test_keys_that_share_a_skeleton_keep_their_own_values(tmp_path):
    text = "".join(f"{{'loss_1': {i}, 'loss_2': {i + 100}, 'loss': 0.5, 'epoch': {i}}}\n" if i % 2 else
                   f"{{'loss_2': {i + 100}, 'loss_1': {i}, 'loss': 0.5, 'epoch': {i}}}\n" for i in range(1, 9))
    src = console.read(write(tmp_path, "x.log", text))
    assert src.series["loss_1"].values.tolist() == list(range(1, 9))
    assert src.series["loss_2"].values.tolist() == list(range(101, 109))


def test_value_spellings(tmp_path):
    text = ("{'loss': '0.5', 'grad_norm': nan, 'kl': -inf, 'epoch': 0.1}\n"
            "{'loss': 1e400, 'grad_norm': None, 'kl': True, 'epoch': 0.2}\n"
            '{"loss": 0.25, "grad_norm": NaN, "kl": -Infinity, "epoch": 0.3}\n'
            "{'loss': '74.98%', 'grad_norm': '0:01:03', 'kl': 2, 'epoch': 0.4}\n")
    src = console.read(write(tmp_path, "v.log", text))
    assert src.series["loss"].values.tolist() == [0.5, math.inf, 0.25, 74.98]
    grad = src.series["grad_norm"]
    assert grad.steps.tolist() == [1, 3] and np.isnan(grad.values).all()  # None and text are not values
    assert src.series["kl"].values.tolist() == [-math.inf, 1.0, -math.inf, 2.0]


def test_one_step_twice_on_one_line_keeps_the_later_value(tmp_path):
    # the middle dict has another shape (string values), so its values are stored apart from the others
    text = "{'loss': 0.9, 'step': 10}\r{'loss': '0.8', 'step': 20}\r{'loss': 0.7, 'step': 20}\r"
    src = console.read(write(tmp_path, "cr.log", text))
    assert src.series["loss"].steps.tolist() == [10, 20] and src.series["loss"].values.tolist() == [0.9, 0.7]


def test_many_overflows_map_to_the_steps_after_them(tmp_path):
    lines = []
    for i in range(1, 301):
        if i % 3 == 0:
            lines.append("[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 1024, reducing to 512")
        lines.append(f"{{'loss': 0.5, 'step': {10 * i}, 'epoch': 0.1}}")
    src = console.read(write(tmp_path, "o.log", "\n".join(lines) + "\n"))
    assert src.facts["overflow_count"] == 100
    assert src.facts["overflow_steps"] == [10 * i for i in range(3, 301, 3)]


def test_deepspeeds_older_overflow_wording_is_counted_beside_the_metric_dicts(tmp_path):
    """DeepSpeed before 0.4 said `[Rank 0] Overflow detected. Skipping step. Attempted loss scale: X, reducing to
    Y` (DeepSpeed#697's paste): those skips count like the newer `OVERFLOW!` lines, in order, and belong to the
    record after them; the wording's interleaved `Reducing dynamic loss scale` lines are no second count."""
    old = ("[2021-01-26 22:05:35,108] [INFO] [logging.py:60:log_dist] [Rank 0] Overflow detected. Skipping step. "
           "Attempted loss scale: {s}, reducing to {h}\n"
           "[2021-01-26 22:05:35,108] [INFO] [fused_optimizer.py:316:_update_scale] Reducing dynamic loss scale "
           "from {s} to {h}\n")
    text = (old.format(s=65536, h=32768) + "{'loss': 2.5, 'step': 10}\n" + old.format(s=32768, h=16384)
            + "{'loss': 2.4, 'step': 20}\n" + OVERFLOW.format(scale=16384, half=8192) + "{'loss': 2.3, 'step': 30}\n")
    src = console.read(write(tmp_path, "old.log", text))
    assert src.facts["overflow_count"] == 3
    assert src.facts["overflow_steps"] == [10, 20, 30]
    assert src.facts["loss_scale_min"] == 8192.0


def test_a_paste_of_the_older_overflow_lines_alone_is_claimed_and_judged(tmp_path):
    """Timer lines and DeepSpeed#697's `Overflow detected` line at scale 1, no metric dict, under a name no reader
    knows: the console reader claims the paste by content and the fp16 rule calls the scaler exhausted."""
    import json

    from typer.testing import CliRunner

    from kto_doctor.cli import app

    p = write(tmp_path, "issue697.txt",
              "[2021-01-26 21:57:06,613] [INFO] [timer.py:166:stop] 0/130, SamplesPerSec=36.81\n"
              "[2021-01-26 22:05:35,108] [INFO] [logging.py:60:log_dist] [Rank 0] Overflow detected. Skipping step. "
              "Attempted loss scale: 1, reducing to 1\n")
    r = CliRunner().invoke(app, ["analyze", str(p), "-f", "json", "--isolated"])
    doc = json.loads(r.stdout)
    fp16 = [f for f in doc["findings"] if f["rule"] == "FP16101"]
    assert r.exit_code == 1 and fp16 and fp16[0]["severity"] == "error"
    assert "1 fp16 \"Skipping step\" overflow line " in fp16[0]["message"]


OVERFLOW = ("[2023-08-07 18:35:18,432] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
            "Skipping step. Attempted loss scale: {scale}, reducing to {half}\n")


def test_a_paste_of_overflow_lines_alone_is_judged_on_them(tmp_path):
    """No metric dict at all, only DeepSpeed's overflow lines: the log is read (not "no training logs"), the
    fp16 verdict comes from them, and the report says the training itself could not be checked."""
    import json

    from typer.testing import CliRunner

    from kto_doctor.cli import app

    def analyse(scales):
        p = tmp_path / "paste.log"
        p.write_text("training crashed, log below\n" + "".join(OVERFLOW.format(scale=s, half=s // 2 if s > 1 else 0)
                                                             for s in scales))
        r = CliRunner().invoke(app, ["analyze", str(p), "-f", "json", "--isolated"])
        return r.exit_code, json.loads(r.stdout)

    code, doc = analyse([65536, 32768, 16, 1, 0])  # the scale run down to nothing
    fp16 = [f for f in doc["findings"] if f["rule"] == "FP16101"]
    assert code == 1 and fp16 and fp16[0]["severity"] == "error"
    assert doc["status"] == "failing"  # no loss was logged, but the overflow facts were judged: that verdict
    code, doc = analyse([65536, 32768])  # two skips while the scaler calibrates: explained, not failed
    fp16 = [f for f in doc["findings"] if f["rule"] == "FP16101"]
    assert fp16 and fp16[0]["severity"] == "info"
    assert doc["status"] == "warning"  # RUN101: no step was logged, so never "healthy"


@pytest.mark.parametrize("kind", ["dpo_reference", "step", "both"])
def test_stated_steps_read_in_bulk_match_the_old_way(tmp_path, monkeypatch, kind):
    """Dicts that state their own step (`counters/updates`, `step`, a step of 0 taken as none) read a
    shape at a time, their steps set for a whole chunk at once, against every dict read the old way."""
    rng = random.Random(7)
    out = []
    for i in range(1, 400):
        out.append(f"  {i % 100:2d}%|##| {i}/400 [00:01<00:10,  1.2it/s]\r")
        if kind in ("dpo_reference", "both"):
            out.append(f"train stats after {i * 32} examples: {{'rewards_train/chosen': '{rng.random():.5g}', "
                       f"'loss/train': '{rng.random():.5g}', 'grad_norm': '{rng.random() * 9:.5g}', "
                       f"'counters/examples': {i * 32}, 'counters/updates': {i}}}\n")
            if i % 50 == 0:
                out.append(f"eval after {i * 32}: {{'loss/eval': '{rng.random():.5g}', "
                           f"'rewards_eval/chosen': '{rng.random():.5g}'}}\n")
        if kind in ("step", "both"):
            out.append(f"{{'loss': {rng.random()}, 'grad_norm': '{rng.random()}', 'step': {rng.choice([0, i, i])}}}\n")
    path = write(tmp_path, "stated.log", "".join(out))
    fast = snapshot(console.read(path))
    assert fast["series"]
    monkeypatch.setattr(console, "_shape", lambda fields, names: None)
    assert snapshot(console.read(path)) == fast


def test_find_rare_finds_what_find_finds():
    """`textlog.find_rare` (memchr on one byte of the needle, the plain search past `limit` of that byte)
    is `bytes.find`, wherever the needle, its rare byte and the start are."""
    from kto_doctor.sources.textlog import find_rare

    rng = random.Random(3)
    for _ in range(2000):
        hay = bytes(rng.choice(b"KLvThe avrgtiobc!OVERFLW\n ") for _ in range(rng.randrange(0, 300)))
        for needle, k in ((b"KL di", 0), (b"The av", 5), (b"OVERFLOW! Rank ", 8), (b"vv", 1)):
            if rng.random() < 0.3:
                pos = rng.randrange(len(hay) + 1)
                hay = hay[:pos] + needle + hay[pos:]
            for start in (0, rng.randrange(len(hay) + 1)):
                for limit in (1, 2, 256):
                    assert find_rare(hay, needle, k, start, limit) == hay.find(needle, start)


def test_a_machine_translated_paste_with_full_width_punctuation_is_read(tmp_path):
    """Translation of an issue (GitHub's, a browser's) rewrites `{"loss": 2.29, "step": 1000}` with full-width
    colons and commas and curly quotes, sometimes mismatched: the dicts are still read, with a warning."""
    p = tmp_path / "paste.log"
    p.write_text("我尝试了 4 位量化微调，损失变得非常高： {“epoch”：0.19，“grad_norm”：0.39，“learning_rate”：9.1e-05，"
                 "“loss”：2.2934，“step”：1000}，{“epoch”：0.39，“grad_norm”：NaN，“learning_rate”：6.8e-05，"
                 "“loss”：5661.338，“step”：2000}，{”epoch“：0.58，”grad_norm“：NaN，”learning_rate“：3.7e-05，"
                 "”loss“：0.0，”step“：3000}\n", encoding="utf-8")
    data = console.read(p)
    assert data.series["loss"].steps.tolist() == [1000, 2000, 3000]
    assert data.series["loss"].values.tolist() == [2.2934, 5661.338, 0.0]
    assert math.isnan(data.series["grad_norm"].values[1])
    assert any("full-width punctuation" in w for w in data.warnings)


def test_start_up_facts_are_searched_in_the_whole_first_chunk(tmp_path, monkeypatch):
    """Later chunks are smaller than the first: the "Running training" block is still found anywhere in the first
    START bytes (dataset preprocessing can print megabytes before it), and only there, as before."""
    monkeypatch.setattr(console, "START", 1 << 16)
    monkeypatch.setattr(console, "CHUNK", 1 << 12)
    block = "[INFO|trainer.py:1694] >> ***** Running training *****\n[INFO] >>   Total optimization steps = 1,000\n"
    dicts = "".join(f"{{'loss': {1 / i}, 'epoch': {i / 100}, 'step': {i}}}\n" for i in range(1, 50))
    for filler, found in ((20_000, True), (100_000, False)):
        text = "Tokenizing the dataset: a line of preprocessing output\n" * (filler // 54) + block + dicts
        src = console.read(write(tmp_path, "train.log", text))
        assert (src.facts.get("total_steps") == 1000) == found, filler


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_a_metric_logged_twice_at_a_step_is_compacted_before_its_steps_are_gathered(tmp_path, monkeypatch, seed):
    """`epoch` in train and eval records at one step: the reader keeps the later value of each step from the
    record numbers (`_last_per_step`), what `Columns.finish` keeps from the gathered arrays, and its steps
    array is the one of the metrics logged at the same steps."""
    lines = []
    for i in range(1, 400):
        lines.append(f"{{'loss': {random.Random(seed + i).random()}, 'grad_norm': 1.5, 'epoch': {i / 100}}}\n")
        if i % (7 + seed) == 0:
            lines.append(f"{{'eval_loss': 0.{i}, 'eval_runtime': 3.2, 'epoch': {i / 100 + 0.001}}}\n")
    for text in (mixed_log(seed), "".join(lines)):
        path = write(tmp_path, "epochs.log", text)
        src = console.read(path)
        fast = snapshot(src)
        monkeypatch.setattr(console, "_last_per_step", lambda i, steps, seen: None)
        assert snapshot(console.read(path)) == fast
        monkeypatch.undo()
    epoch, loss = src.series["epoch"], src.series["loss"]
    assert epoch.steps is loss.steps and len(epoch.steps) == 399
    assert epoch.values[6 + seed] == (7 + seed) / 100 + 0.001  # the eval record's, the later one


def test_a_bar_found_further_back_gives_its_step_among_others(tmp_path):
    """Where a line holding ` [` (DeepSpeed's `[INFO]`) sits between a progress bar and its dict, the bar is found
    further back; its count, read beside the other dicts' counts in one parse, stays its own number."""
    parts = ["***** Running training *****\n"]
    for step in range(1, 200):
        parts.append(f"\r 10%|###| {step}/1000 [00:01<00:10,  1.00it/s]")
        if step % 7 == 0:
            parts.append("\n[2025-03-19 11:36:25,378] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] "
                         "OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768")
        parts.append(f"\n{{'loss': {1 / step:.4f}, 'grad_norm': 1.5, 'learning_rate': 1e-05, 'epoch': 0.01}}\n")
    p = tmp_path / "train.log"
    p.write_text("".join(parts))
    src = console.read(p)
    assert src.series["loss"].steps.tolist() == list(range(1, 200))
    assert src.series["loss"].values.tolist() == [float(f"{1 / s:.4f}") for s in range(1, 200)]


def test_a_large_file_is_read_with_the_collector_paused_and_reads_the_same(tmp_path, monkeypatch):
    import gc

    path = write(tmp_path, "mixed.log", mixed_log(4))
    plain = snapshot(console.read(path))
    monkeypatch.setattr(console, "LARGE", 1)  # every file large: the chunk pass with the collector paused
    states = []
    chunk = console._Reader.chunk
    monkeypatch.setattr(console._Reader, "chunk", lambda self, *a: states.append(gc.isenabled()) or chunk(self, *a))
    assert gc.isenabled()
    assert snapshot(console.read(path)) == plain
    assert states and not any(states) and gc.isenabled()  # paused for the pass, running again after it
    gc.disable()
    try:
        console.read(path)
        assert not gc.isenabled()  # a caller's paused collector stays paused
    finally:
        gc.enable()
    monkeypatch.setattr(console._Reader, "chunk", lambda self, *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        console.read(path)
    assert gc.isenabled()  # and runs again when the pass fails


def test_a_hand_written_loops_event_log_reads_train_loss_and_val_loss_at_their_global_steps(tmp_path):
    # a custom loop's JSON-lines log (minimind-style): `train_loss` every 10 steps with its `global_step`, a
    # `val_loss` row every 100; HF's end-of-run summary (train_runtime + train_loss) stays a summary
    rows = ['{"event": "start", "lr": 0.0005}']
    for i in range(1, 21):
        rows.append(f'{{"event": "train", "global_step": {10 * i}, "train_loss": {5 - i / 10}, "lr": 0.0005}}')
        if i % 10 == 0:
            rows.append(f'{{"event": "eval", "global_step": {10 * i}, "val_loss": {4 - i / 20}}}')
    rows.append('{"train_runtime": 120.5, "train_loss": 4.1, "global_step": 200, "epoch": 1.0}')
    src = console.read(write(tmp_path, "events.jsonl", "\n".join(rows) + "\n"))
    loss = src.series["loss"]
    assert loss.steps.tolist() == [10 * i for i in range(1, 21)]
    assert loss.values.tolist() == [5 - i / 10 for i in range(1, 21)]  # not the summary's 4.1 at step 200
    assert src.series["eval_loss"].steps.tolist() == [100, 200]
    assert src.series["eval_loss"].values.tolist() == [3.5, 3.0]
    assert src.facts["train_loss"] == 4.1 and src.facts["train_runtime"] == 120.5


def test_a_step_printed_before_the_dict_on_its_line_is_the_dicts_step(tmp_path):
    # SkyRL-style loops print `step N: {...}`; without reading the head every dict was placed at its ordinal
    p = tmp_path / "train.log"
    p.write_text("loading model\nstep 10: {'loss': 2.0, 'grad_norm': 1.0}\nStep 20 | {'loss': 1.8, 'grad_norm': 0.9}\n"
                 "global_step=30: {'loss': 1.7, 'grad_norm': 0.9}\n")
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [10, 20, 30]
    assert not any("inferred from log order" in w for w in data.warnings)


def test_a_step_head_with_other_words_before_the_dict_after_a_separator(tmp_path):
    # CS336-style GRPO loops: `Step 10: rl_loss: 0.0123, reward_data: {...}`; the dict's step is the head's
    p = tmp_path / "grpo.log"
    p.write_text("".join(f"Step {s}: rl_loss: 0.01, reward_data: {{'reward': {r}, 'format_reward': {2 * r}}}\n"
                         for s, r in ((10, 0.25), (20, 0.3), (30, 0.35))))
    data = sources.read(p)
    assert data.series["reward"].steps.tolist() == [10, 20, 30]
    # without a separator after the number the words are prose, not a head
    q = tmp_path / "prose.log"
    q.write_text("Step 10 we log {'loss': 2.0}\nStep 20 we log {'loss': 1.8}\n")
    assert sources.read(q).series["loss"].steps.tolist() == [1, 2]


def test_a_step_word_elsewhere_on_the_line_is_no_step_head(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("after step 10 we log {'loss': 2.0}\nafter step 20 we log {'loss': 1.8}\n")
    assert sources.read(p).series["loss"].steps.tolist() == [1, 2]


# ------------------------------------------------------------------------------ several runs in one file

def _launch(total: int, losses: list, resumed: bool = False, finished: bool = True) -> str:
    """One Trainer launch as a nohup.out holds it: the banner block, a dict per 10 steps, the end summary."""
    out = ["[INFO|trainer.py:1969] >> ***** Running training *****",
           "[INFO|trainer.py:1970] >>   Num examples = 3,278",
           f"[INFO|trainer.py:1977] >>   Total optimization steps = {total}"]
    if resumed:
        out.append("[INFO|trainer.py:2100] >>   Continuing training from checkpoint, will skip to saved global_step")
    for i, v in enumerate(losses):
        out.append(f"{{'loss': {v}, 'grad_norm': 1.0, 'learning_rate': 1e-05, 'epoch': {(i + 1) / len(losses):.2f}}}")
    if finished:
        out.append("{'train_runtime': 387.7, 'train_samples_per_second': 8.4, 'train_loss': 0.39, 'epoch': 1.0}")
    return "\n".join(out) + "\n"


def test_runs_appended_one_after_another_are_not_spliced(tmp_path):
    # srcao-bingo/FairRLHF-Multi-role's nohup.out: a reward-model run, then SFT runs, each appended by its launch;
    # read as one series, the second run's loss looked like a divergence from the first's 0.12
    p = write(tmp_path, "nohup.out.log", "launching rm\n" + _launch(102, [0.7, 0.4, 0.2, 0.12, 0.12])
              + "launching sft\n" + _launch(187, [1.9, 1.6, 1.4, 1.3, 1.25, 1.2]))
    src = console.read(p)
    assert src.series["loss"].values.tolist() == [1.9, 1.6, 1.4, 1.3, 1.25, 1.2]
    assert src.facts["total_steps"] == 187
    assert "holds 2 training runs" in src.warnings[0] and "from line 12" in src.warnings[0]
    assert min(src.series["loss"].lines) >= 9  # the lines are the file's own


def test_a_relaunch_that_resumes_or_follows_a_crash_is_one_run(tmp_path):
    crashed = _launch(100, [2.0, 1.8, 1.6], finished=False) + _launch(100, [1.5, 1.4, 1.3])
    src = console.read(write(tmp_path, "crash.log", crashed))
    assert len(src.series["loss"].values) == 6 and not any("training runs" in w for w in src.warnings)
    resumed = _launch(100, [2.0, 1.8, 1.6]) + _launch(200, [1.5, 1.4, 1.3], resumed=True)
    src = console.read(write(tmp_path, "resumed.log", resumed))
    assert len(src.series["loss"].values) == 6 and not any("training runs" in w for w in src.warnings)


def test_a_relaunch_on_saved_weights_restarts_the_schedule(tmp_path):
    # 112292454/ChatGLM-Efficient-Tuning-main's WebQSP log (held-out set 33): resume_from_checkpoint=None, then
    # "Loaded fine-tuned model from checkpoint(s): .../checkpoint-4000", and the step counter back at 10 each launch
    import kto_doctor

    def launch(n, load, base=2.0):
        head = ["resume_from_checkpoint=None,"]
        if load:
            head.append("07/15/2023 13:03:30 - INFO - pet.core.adapter - Loaded fine-tuned model from checkpoint(s): "
                        "out/checkpoint-40")
        rows = [f"  1%|#| {10 * i}/{10 * n} [00:01<00:10,  1.2it/s]\r{{'loss': {base - 0.01 * i:.4f}, 'learning_rate': "
                f"{5e-05 * min(1, i / 3):.3g}, 'epoch': {i / 10:.2f}}}" for i in range(1, n + 1)]
        return "\n".join(head + rows) + "\n"

    p = write(tmp_path, "train.log", launch(8, False) + launch(8, True, 1.9) + launch(12, True, 1.8))
    rules = [f.rule for f in kto_doctor.analyze(p).findings]
    assert "SCHED109" in rules
    q = write(tmp_path, "fresh.log", launch(8, False) + launch(12, False, 1.9))  # started over from scratch: no finding
    assert "SCHED109" not in [f.rule for f in kto_doctor.analyze(q).findings]


def test_a_short_runs_dicts_flushed_at_its_end_are_placed_by_their_epochs(tmp_path):
    # Salieri2077/DPO_RLHF_oceanDemo (held-out set 35): under nohup a 100-step run's stdout never filled its buffer,
    # so all 20 dicts reach the file after the last bar, `100/100`; each one's epoch says its step
    bars = "".join(f"{i}%|#| {i}/100 [00:{i:02d}<00:10,  1.2it/s]\r" for i in range(1, 101))
    dicts = "".join(f"{{'loss': {1.1 - 0.005 * k:.4f}, 'rewards/margins': 0.5, 'epoch': {k / 10:.1f}}}\n"
                    for k in range(1, 21))
    text = ("[INFO|trainer.py:1969] >> ***** Running training *****\n"
            "[INFO|trainer.py:1977] >>   Total optimization steps = 100\n" + bars + "\n" + dicts)
    src = console.read(write(tmp_path, "train_dpo.log", text))
    assert src.series["loss"].steps.tolist() == [5.0 * k for k in range(1, 21)]
    assert any("printed at once after the last progress bar" in w for w in src.warnings)

    # Time-MoE#71 (held-out set 37): a data bar, `7/7 [00:00<00:00, 1809.34it/s]`, above nine dicts of a run 0.35
    # epochs in is not the run's last step: more dicts than the bar has steps cannot be that bar's training
    data_bar = "100%|#####| 7/7 [00:00<00:00, 1809.34it/s]\n"
    dicts = "".join(f"{{'loss': {0.15 + 0.003 * (k % 3):.4f}, 'grad_norm': 0.5, 'learning_rate': 0.0001, "
                    f"'epoch': {0.04 * k:.2f}}}\n" for k in range(1, 10))
    src = console.read(write(tmp_path, "finetune.log", data_bar + dicts))
    assert not any("printed at once" in w for w in src.warnings)
    assert len(src.series["loss"].values) == 9
    from kto_doctor.analysis import analyze
    assert "LOSS103" not in [f.rule for f in analyze(str(tmp_path / "finetune.log")).findings]


APEX = "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to {scale}\n"


def test_apex_amp_overflow_lines_are_counted_beside_hf_dicts_and_in_a_loop_log(tmp_path):
    """apex amp prints its own skip line (NVIDIA/apex#493: eight in one epoch, the scale 256 -> 2, the validation
    loss 0.148 -> 0.712). Beside a Trainer's metric dicts (the console reader) and in a hand-written loop's log (the
    generic fallback) the lines are the same fp16 facts as DeepSpeed's: how many steps were skipped and how low the
    scale fell; a log without them states neither."""
    from kto_doctor.analysis import analyze
    from kto_doctor.sources import console, generic_kv

    dicts = "".join(f"{{'loss': {2.0 - 0.01 * s:.3f}, 'learning_rate': 1e-05, 'epoch': {s / 100:.2f}}}\n" for s in range(1, 41))
    halvings = "".join(APEX.format(scale=float(2 ** k)) for k in range(15, 9, -1))  # 32768 ... 1024: six skips
    hf = tmp_path / "hf.log"
    hf.write_text(halvings + dicts)
    data = console.read(hf)
    assert data.facts["overflow_count"] == 6 and data.facts["loss_scale_min"] == 1024.0
    assert data.facts["overflow_steps"] == [1] * 6  # each skip belongs to the first train record after it

    loop = tmp_path / "loop.log"
    loop.write_text("".join(f"step {s}: loss {3.0 - 0.02 * s:.4f}\n" for s in range(1, 30))
                    + "".join(APEX.format(scale=float(s)) for s in (256, 128, 64, 32, 16, 8, 4, 2))
                    + "".join(f"step {s}: loss {2.4 + 0.05 * (s - 30):.4f}\n" for s in range(30, 40)))
    data = generic_kv.read(loop)
    assert data.facts["overflow_count"] == 8 and data.facts["loss_scale_min"] == 2.0
    fp16 = [f for f in analyze(str(loop)).findings if f.rule == "FP16101"]
    assert fp16 and fp16[0].severity == "warning" and "collapses to 2" in fp16[0].title

    plain = tmp_path / "plain.log"
    plain.write_text(dicts + "Gradient overflow is a thing this line only talks about\n")
    assert "overflow_count" not in console.read(plain).facts
