"""The quirks each text reader owns, on small logs written here in the exact grammar of each format
(`/work/staging/fixtures/text/FORMATS.md` of issue 15, with the printing code it cites)."""
from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources
from kto_doctor.sources import (console, deepspeed_chat, generic_kv, megatron, mmengine, progress_bar, progress_table,
                                textlog, torchtune, verl_console)
from kto_doctor.sources.base import SourceError
from kto_doctor.sources.registry import candidates


def write(tmp_path, text: str, name: str = "train.log"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def meg(it, loss=None, skipped=0, scale=1.0, grad="0.5", total=1000):
    parts = [f" iteration {it:8d}/{total:8d} | consumed samples: {it * 8:12d} | learning rate: 3.000E-04 |"
             f" global batch size:     8 |"]
    if loss is not None:
        parts.append(f" lm loss: {loss:.6E} |")
    parts.append(f" loss scale: {scale:.1f} | grad norm: {grad} | number of skipped iterations: {skipped:3d} |"
                 f" number of nan iterations:   0 |")
    return "".join(parts) + "\n"


# ------------------------------------------------------------------------------------------ Megatron


def test_megatron_vanished_loss_key_is_a_nan_where_iterations_advanced(tmp_path):
    text = meg(10, 2.5) + meg(20, 2.4) + meg(30) + meg(40, 2.3)
    data = megatron.read(write(tmp_path, text))
    loss = data.series["loss"]
    assert list(loss.steps) == [10, 20, 30, 40]
    assert math.isnan(loss.values[2]) and loss.values[3] == pytest.approx(2.3)
    assert data.facts["loss_missing_or_nan"] == 1
    assert any("read as NaN" in w and "line 3" in w for w in data.warnings)


def test_megatron_interval_with_every_iteration_skipped_has_no_loss(tmp_path):
    # fp16 start: the loss scale search skips all 10 iterations of the first interval, then training goes on
    text = meg(10, skipped=10, scale=8388608.0) + meg(20, 10.05, skipped=3, scale=32768.0) + \
        meg(30, 9.8, scale=32768.0)
    data = megatron.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [20, 30]  # nothing invented at 10
    assert "loss_missing_or_nan" not in data.facts
    assert data.facts["overflow_count"] == 13 and data.facts["loss_scale_min"] == 32768.0
    assert data.facts["overflow_steps"] == [10, 20] and data.facts["fp16"] is True


def test_megatron_bf16_loss_scale_is_not_an_exhausted_scaler(tmp_path):
    data = megatron.read(write(tmp_path, meg(1, 2.0) + meg(2, 1.9)))
    assert "loss_scale_min" not in data.facts and "overflow_count" not in data.facts
    assert data.facts["skipped_iterations_total"] == 0


def test_megatron_record_wrapped_mid_key_and_mid_number_is_joined(tmp_path):
    line = meg(13251, 2.924229, scale=524288.0, grad="122160.116")
    a, b = line.index("learning rate:") + len("learning rate:"), line.index("iterations:") - 2
    wrapped = line[:a] + "\n" + line[a:b] + "\n" + line[b:]
    text = meg(13250, 2.93) + wrapped + "time (ms) | forward-compute: 193.77 | backward-compute: 73.02\n" + \
        meg(13252, 2.92)
    data = megatron.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [13250, 13251, 13252]
    assert data.series["grad_norm"].values[1] == pytest.approx(122160.116)
    assert data.series["skipped_iterations"].values[1] == 0  # `iteratio` + `ns:` made one key again
    assert list(data.series["loss"].lines) == [1, 2, 6]
    assert not [w for w in data.warnings if "damaged" in w]
    assert "forward-compute" not in data.series  # the timer line after a whole record is not a continuation


def test_megatron_validation_lines_are_eval_series(tmp_path):
    text = meg(100, 2.5) + "-" * 20 + "\n validation loss at iteration 100 | lm loss value: 2.600000E+00 |" \
        " lm loss PPL: 1.3E+01 | \n" + "-" * 20 + "\n"
    data = megatron.read(write(tmp_path, text))
    assert data.series["eval_loss"].values.tolist() == [2.6] and list(data.series["eval_loss"].steps) == [100]
    assert not [n for n in data.series if "PPL" in n]


# ------------------------------------------------------------------------------------------ mmengine


def test_mmengine_epoch_lines_become_global_steps_and_say_how(tmp_path):
    rows = [(1, 730, 2.0), (2, 10, 1.9), (2, 20, 1.8)]
    text = "".join(f"10/30 22:18:02 - mmengine - INFO - Epoch(train) [{e}][{i:3d}/735]  lr: 1.9870e-04  eta: "
                   f"3 days, 2:46:39  time: 2.8906  data_time: 0.0042  memory: 10762  loss: {v}  grad_norm: nan\n"
                   for e, i, v in rows)
    text += "10/30 22:19:02 - mmengine - INFO - Epoch(val) [2][100/100]  aAcc: 87.4300  loss: 1.7500\n"
    data = mmengine.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [730, 745, 755]
    assert np.isnan(data.series["grad_norm"].values).all()
    assert list(data.series["eval_loss"].steps) == [755]  # the step of the training line before it
    assert any("(e - 1) x 735 + i" in w for w in data.warnings)
    assert "eta" not in data.series and "memory" not in data.series


def test_the_printed_configs_optimizer_is_a_fact_and_a_learning_rate_free_one_is_not_judged(tmp_path):
    # xtuner prints its config first: optim_wrapper's optimizer wins over a leftover optim_type (HandSomeGuy001)
    head = ("optim_type = 'torch.optim.AdamW'\noptim_wrapper = dict(\n"
            "    optimizer=dict(lr=1.0, type='DAdaptAdam'), type='DeepSpeedOptimWrapper')\n")
    text = head + "".join(f"08/27 08:55:02 - mmengine - INFO - Iter(train) [{i:4d}/1344]  lr: 1.0000e+00  eta: 1:00:00"
                          f"  time: 2.9  data_time: 0.01  memory: 10762  loss: {2.0 - i / 1000:.4f}\n"
                          for i in range(10, 310, 10))
    p = write(tmp_path, text)
    assert mmengine.read(p).facts["optim"] == "DAdaptAdam"
    report = kto_doctor.analyze(p)
    assert "SCHED104" not in [f.rule for f in report.findings]
    assert any(s.rule == "SCHED104" for s in report.skipped)
    # the same log with a plain AdamW at lr 1.0 is far too high
    plain = write(tmp_path, text.replace("type='DAdaptAdam'", "type='AdamW'"), "plain.log")
    assert [f.severity for f in kto_doctor.analyze(plain).findings if f.rule == "SCHED104"] == ["error"]


# ------------------------------------------------------------------------------------------ verl


def test_verl_step_token_only_where_a_record_starts(tmp_path):
    text = ("(main_task pid=1) Assistant: Let me solve this step by step. step:7 is not a record\n"
            "saved checkpoint to /ckpt/global_step:9/actor\n"
            "\x1b[36m(TaskRunner pid=42)\x1b[0m step:3 - actor/pg_loss:0.1 - timing_s/step:1.25 - "
            "training/global_step:3 - critic/score/mean:np.float64(0.25) - response_length/mean:120\n")
    data = verl_console.read(write(tmp_path, text))
    assert data.records == 1
    assert list(data.series["policy_loss"].steps) == [3] and data.series["reward"].values[0] == 0.25
    assert "timing_s/step" not in data.series and "training/global_step" not in data.series


def test_verl_join_with_possessive_runs_finds_the_same_line_breaks():
    """The wrapped-record finder's leading runs are possessive on 3.11+ (a speed-up): the line breaks it finds are
    those of the plain pattern, on random lines over the bytes its classes and literals tell apart."""
    import random
    import re

    plain = re.compile(rb"\n(?=[ \t]*- [^\s:]+:\S|[^\s]*(?: - [^\s:]+:\S+)+[ \t]*-?[ \t]*$|[^\s:]*:\S+[ \t]*$)"
                       rb"(?![^\n]*?(?<![\w/.])step:\d)", re.M)
    ours = re.compile(verl_console._JOIN, re.M)
    r = random.Random(11)
    pieces = [b" ", b"\t", b"-", b" - ", b":", b"a", b"1", b"/", b".", b"\n", b"step:", b"(", b")", b"x:1"]
    for _ in range(3000):
        text = b"\n" + b"".join(r.choice(pieces) for _ in range(r.randrange(1, 24)))
        assert [m.start() for m in ours.finditer(text)] == [m.start() for m in plain.finditer(text)], text


def test_verl_record_cut_with_a_dangling_separator_is_kept_and_reported(tmp_path):
    text = "step:1 - actor/pg_loss:0.1 - actor/entropy:0.5\nstep:2 - actor/pg_loss:nan - actor/entropy:0.4 -"
    data = verl_console.read(write(tmp_path, text))
    assert math.isnan(data.series["policy_loss"].values[1])
    assert any("incomplete or damaged" in w and "line 2" in w for w in data.warnings)


def test_verl_three_decimal_logs_do_not_read_a_zero_learning_rate(tmp_path):
    text = "".join(f"step:{i} - actor/pg_loss:0.01{i} - actor/lr:0.000 - critic/score/mean:0.2{i}0\n"
                   for i in range(1, 5))
    data = verl_console.read(write(tmp_path, text))
    assert "learning_rate" not in data.series and data.facts["value_decimals"] == 3


# ------------------------------------------------------------------------------------------ bars


def test_progress_bar_redraws_keep_the_last_value_of_each_step(tmp_path):
    bar = "Epoch 0:  22%|##        | {n}/18 [00:17<01:02,  4.47s/it, loss={v}, v_num=193315]"
    text = "\r".join([bar.format(n=1, v="10.47"), bar.format(n=1, v="10.22"), bar.format(n=2, v="10.22"),
                      bar.format(n=2, v="10.05")]) + "\n"
    data = progress_bar.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [1, 2] and data.series["loss"].values.tolist() == [10.22, 10.05]
    assert "running mean" in data.facts["loss_reduction"]


def test_a_hand_written_loops_bar_with_name_value_postfix_items_is_read(tmp_path):
    """`pbar.set_postfix_str(f"loss {loss:.4f}")` (a French SFT script's bar): `name value` after the rate, no `=`;
    redrawn each step with the last value until the next update, the last value of each step kept; the file is
    the progress-bar reader's by content, whatever its name."""
    from kto_doctor.sources import detect

    bar = "SFT:   3%|▎         | {n}/375 [02:09<1:13:19, 12.05s/it, loss {v}]"
    lines = [bar.format(n=n, v="6.0530") for n in (10, 11, 12)] + [bar.format(n=20, v="6.0530"),
                                                                   bar.format(n=20, v="0.4931"),
                                                                   bar.format(n=21, v="nan")]
    p = write(tmp_path, "Entraînement SFT: 2000 examples\n" + "\r".join(lines) + "\n")
    assert detect(p) == "progress_bar"
    data = progress_bar.read(p)
    assert list(data.series["loss"].steps) == [10, 11, 12, 20, 21]
    assert data.series["loss"].values.tolist()[:4] == [6.053, 6.053, 6.053, 0.4931]
    assert np.isnan(data.series["loss"].values[4])


def test_nemo_global_step_in_tqdm_notation_is_the_step(tmp_path):
    text = ("Epoch 0:  50%|#####     | 2001/4000 [1:00:00<1:00:00, 1.2it/s, reduced_train_loss=2.340, "
            "global_step=2e+3, consumed_samples=6.4e+4]\n")
    data = progress_bar.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [2000] and data.series["loss"].values[0] == pytest.approx(2.34)


def test_nemo_bars_of_several_epochs_keep_the_postfix_step(tmp_path):
    bar = "Epoch {e}: 100%|#####| {n}/2 [00:01<00:00, 1.2it/s, reduced_train_loss={v}, global_step={g}.0]\n"
    text = "".join(bar.format(e=e, n=n, v=v, g=g) for e, n, v, g in [(0, 1, 2.5, 0), (0, 2, 2.4, 1), (1, 1, 2.3, 2),
                                                                       (1, 2, 2.2, 3)])
    data = progress_bar.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [0, 1, 2, 3] and not data.warnings


def test_deepspeed_chat_reward_line_takes_the_step_of_its_loss_line(tmp_path):
    text = ("Beginning of Epoch 1/2, Total Generation Batches 2\n"
            "epoch: 0|step: 0|ppo_ep: 1|act_loss: 0.2|cri_loss: 0.1|unsuper_loss: 0.0\naverage reward score: -0.5\n"
            "epoch: 0|step: 1|ppo_ep: 1|act_loss: 0.3|cri_loss: 0.2|unsuper_loss: 0.0\naverage reward score: 0.1\n"
            "epoch: 1|step: 0|ppo_ep: 1|act_loss: inf|cri_loss: inf|unsuper_loss: 0.0\naverage reward score: 0.2\n"
            "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768\n")
    data = deepspeed_chat.read(write(tmp_path, text))
    assert list(data.series["reward"].steps) == [0, 1, 2]  # epoch 1 continues after the 2 batches of epoch 0
    assert data.series["reward"].values.tolist() == [-0.5, 0.1, 0.2]
    assert math.isinf(data.series["policy_loss"].values[2])
    assert data.facts["overflow_count"] == 1 and data.facts["loss_scale_min"] == 32768


def test_torchtune_single_metric_lines_merge_by_step(tmp_path):
    text = "Step 1 | loss:2.5 lr:2e-05 \nStep 2 | loss:2.25\nStep 2 | lr:1e-05\n"
    data = torchtune.read(write(tmp_path, text))
    assert data.series["loss"].values.tolist() == [2.5, 2.25]
    assert data.series["learning_rate"].values.tolist() == [2e-05, 1e-05]


# ------------------------------------------------------------------------------------------ tables


def test_progress_table_cells_no_log_commas_and_unicode_minus(tmp_path):
    text = ("| Step | Training Loss | Validation Loss | Rewards/chosen |\n|---|---|---|---|\n"
            "| 10 | No log | 0,693100 | \u22120,010000 |\n| 20 | 0,650000 | 0,680000 | **+0,120000** |\n")
    data = progress_table.read(write(tmp_path, text, "README.md"))
    assert list(data.series["loss"].steps) == [20]  # `No log` is missing, not NaN
    assert data.series["eval_loss"].values.tolist() == [0.6931, 0.68]
    assert data.series["eval_rewards/chosen"].values.tolist() == [-0.01, 0.12]  # a table with a validation column


def test_progress_table_tab_separated_copy_of_the_notebook(tmp_path):
    text = "Step\tTraining Loss\tValidation Loss\n100\t2.095300\t6.817593\n200\t1.715300\t6.964114\n"
    data = progress_table.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [100, 200] and data.series["eval_loss"].values[1] == 6.964114


# ------------------------------------------------------------------------------------------ DPO reference


def test_dpo_reference_eval_dict_takes_the_step_of_the_train_stats_before_it(tmp_path):
    text = ("eval after 0: {'rewards_eval/chosen': '0', 'logps_eval/chosen': '-120.5', 'loss/eval': '0.69315'}\n"
            "train stats after 64 examples: {'rewards_train/chosen': '0.01', 'loss/train': '0.68', 'grad_norm': "
            "'nan', 'counters/examples': 64, 'counters/updates': 2}\n"
            "eval after 64: {'rewards_eval/chosen': '0.03', 'logps_eval/chosen': '-119', 'loss/eval': '0.67'}\n")
    data = console.read(write(tmp_path, text))
    assert list(data.series["eval_loss"].steps) == [0, 2] and list(data.series["loss"].steps) == [2]
    assert math.isnan(data.series["grad_norm"].values[0])
    assert data.hints["framework"] == "dpo-reference"
    assert any("counters/updates" in w for w in data.warnings)


# ------------------------------------------------------------------------------------------ the fallback


def test_fallback_reads_an_unknown_trainer_and_says_so(tmp_path):
    text = "".join(f"iter {i}: loss {4 - i / 100:.4f}, time 1099.34ms, mfu 15.34%\n" for i in range(10, 60, 10))
    data = generic_kv.read(write(tmp_path, text))
    assert list(data.series["loss"].steps) == [10, 20, 30, 40, 50]
    assert data.hints["reader"] == "fallback" and any("fallback" in w for w in data.warnings)


def test_fallback_is_tried_after_every_reader_that_recognised_the_file(tmp_path):
    p = write(tmp_path, meg(1, 2.0) + meg(2, 1.9) + "step 3: loss 1.8\n")
    names = [s.name for s in candidates(p, lambda: p.read_text())]
    assert names[0] == "megatron" and names.index("generic_kv") > names.index("megatron")
    assert generic_kv.sniff(p.read_text()) < 0.5  # below registry.score(1), any specific reader's least


def test_fallback_refuses_text_without_a_known_metric(tmp_path):
    p = write(tmp_path, "Step 1: install 2 packages\nStep 2: run 3 commands\n", "README.txt")
    with pytest.raises(SourceError):
        generic_kv.read(p)


def test_fallback_does_not_take_notes_written_beside_a_log_for_a_log(tmp_path):
    """A run folder's Markdown notes quote steps and losses in sentences; the fallback must not make them a
    second run (or merge their numbers into the run)."""
    from kto_doctor.discover import discover

    notes = ("# What happened\n\nThe user stopped it at step 204, worried by a loss stuck at 0.58.\n"
             "At step 1, before any update (lr 0), the loss is 0.92 instead of 0.5.\n"
             "- step 200 of a 4,739-step warm-up: the loss cannot move yet.\n")
    assert generic_kv.sniff(notes) == 0.0
    write(tmp_path, notes, "NOTES.md")
    write(tmp_path, "".join(f"iter {i}: loss {4 - i / 100:.4f}, time 99.3ms\n" for i in range(10, 60, 10)))
    (run,) = discover(tmp_path).runs
    assert [f.path.name for f in run.files] == ["train.log"]
    # the same lines as records of a log (step token where the record starts) are read
    assert generic_kv.sniff("[03:23:49] step 204 | loss: 0.58\n2026-08-10 15:48:59 | INFO | step 205 | loss 0.57\n") > 0


def test_fallback_leaves_hf_metric_dicts_to_the_console_reader(tmp_path):
    dicts = "".join(f"{{'loss': {2 - i / 10}, 'learning_rate': 1e-05, 'epoch': {i / 10}}}\n" for i in range(5))
    p = write(tmp_path, "step 1: loss 2.0\n" + dicts)
    with pytest.raises(SourceError):
        generic_kv.read(p)
    assert sources.read(p).format == "console"


# ------------------------------------------------------------------------------------------ the engine


def test_file_cut_inside_a_number_drops_the_cut_value_and_says_so(tmp_path):
    text = meg(1, 2.5) + meg(2, 2.4)
    cut = text + meg(3, 2.3)[:text.index("lm loss") + 12]  # `| lm loss: 2.3` of 2.300000E+00
    data = megatron.read(write(tmp_path, cut))
    assert data.series["loss"].values.tolist() == [2.5, 2.4]
    assert any("ends inside a record" in w for w in data.warnings)


def test_shapes_read_exactly_what_the_slow_path_reads(tmp_path):
    """Thousands of records of a few shapes (the fast path) against one-by-one parsing of each line."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(1, 3000):
        extra = f" grad_norm:{rng.random():.4f}" if i % 3 else ""
        loss = "nan" if i % 97 == 0 else f"{rng.random() * 3:.6g}"
        lines.append(f"Step {i} | loss:{loss} lr:{rng.random() * 1e-5:.3e}{extra} \n")
    p = write(tmp_path, "".join(lines))
    fast = torchtune.read(p)
    kind = torchtune.STEP
    for j in (0, 1, 96, 1500, 2998):
        row = textlog.parse(kind, lines[j].encode().rstrip(b"\n"))
        step = row.fields["step"]
        at = np.flatnonzero(fast.series["loss"].steps == step)[0]
        want = float(row.values["loss"])
        got = fast.series["loss"].values[at]
        assert (math.isnan(want) and math.isnan(got)) or got == want
    assert len(fast.series["loss"].steps) == 2999 and len(fast.series["grad_norm"].steps) == 2000


def test_a_damaged_skip_counter_does_not_cost_the_file(tmp_path):
    """`number of skipped iterations: 1e400` (damage) reads as infinity; the totals leave it out instead of
    failing the reader, and every record is still read."""
    text = meg(1, 2.5) + meg(2, 2.4).replace("iterations:   0 |", "iterations: 1e400 |", 1) + meg(3, 2.3, skipped=2)
    data = megatron.read(write(tmp_path, text))
    assert data.series["loss"].values.tolist() == [2.5, 2.4, 2.3]
    assert data.facts["skipped_iterations_total"] == 2


def test_utf16_and_gzip_logs_read_the_same(tmp_path):
    import gzip

    text = meg(1, 2.5) + meg(2, 2.4)
    plain = megatron.read(write(tmp_path, text)).series["loss"].values.tolist()
    assert megatron.read(write(tmp_path, "\ufeff" + text, "a.log")).series["loss"].values.tolist() == plain
    (tmp_path / "b.log").write_bytes(text.encode("utf-16"))
    assert megatron.read(tmp_path / "b.log").series["loss"].values.tolist() == plain
    (tmp_path / "c.log.gz").write_bytes(gzip.compress(text.encode()))
    assert megatron.read(tmp_path / "c.log.gz").series["loss"].values.tolist() == plain


def test_terminal_colour_codes_between_names_and_values_are_removed(tmp_path):
    """torchtitan colours every field of its `step: N  loss: v` line; with the escapes in place no reader would
    see a name beside its value. An escape cut by a read buffer (1 MB reads) is completed by the next read."""
    from kto_doctor.sources import base

    line = ("[rank0]:2024-08-01 10:00:{t:02d},123 - root - INFO - \x1b[31mstep: {s:2d}  \x1b[32mloss: {v:7.4f}  "
            "\x1b[33mmemory: 38.02GiB(40.01%)  \x1b[34mwps: 1,234  \x1b[35mmfu: 12.34%\x1b[39m\n")
    colour = "".join(line.format(t=s % 60, s=s, v=10 - s * 0.001) for s in range(1, 3001))
    plain = base._StripAnsi._CSI.sub(b"", colour.encode()).decode()
    assert "\x1b" not in plain
    a, b = write(tmp_path, colour, "colour.log"), write(tmp_path, plain, "plain.log")
    with base.open_stream(a) as f:  # small reads: escapes cut at every possible place
        got = b"".join(iter(lambda: f.read(7), b""))
    assert got == plain.encode()
    read_a, read_b = sources.read(a), sources.read(b)
    assert read_a.format == read_b.format == "generic_kv"
    assert read_a.series["loss"].values.tolist() == read_b.series["loss"].values.tolist()
    assert read_a.series["loss"].steps.tolist() == list(range(1, 3001))


def test_a_fifo_is_refused_not_opened(tmp_path):
    import os

    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="FIFO"):
        megatron.read(fifo)


def test_progress_bar_repeated_redraws_are_dropped_as_they_stream_with_the_same_result(tmp_path):
    """Redraws that repeat the next record exactly are not stored (memory follows the steps, not the redraws), and
    the result is what keeping every redraw gives: a changed postfix, a NaN, a restarted bar (epochs), a cut end."""
    import dataclasses

    rng = np.random.default_rng(3)
    bar = "Epoch {e}:  50%|#####     | {n}/1500 [00:17<01:02,  4.47s/it, loss={v}, v_num=3]"
    draws = []
    for e in range(2):
        for n in range(1, 1501):
            v = "nan" if n % 400 == 0 else f"{rng.random() * 3:.3f}"
            draws += [bar.format(e=e, n=n, v=v)] * (1 + n % 3)
            if n % 7 == 0:  # the postfix changed in the last redraw: its value is the step's
                draws.append(bar.format(e=e, n=n, v=f"{rng.random():.3f}"))
    text = "".join(d + ("\n" if i % 5 == 0 else "\r") for i, d in enumerate(draws))
    p = write(tmp_path, text[:-30])
    reader = textlog.Reader(p, progress_bar.FORMAT)
    got = reader.run()
    every = textlog.Reader(p, dataclasses.replace(progress_bar.FORMAT, repeats=False))
    want = every.run()
    assert reader.repeated > 1000 and reader.records + reader.repeated == every.records  # (both streamed)
    assert got.records == want.records and got.warnings == want.warnings and got.facts == want.facts
    assert got.series.keys() == want.series.keys()
    for name, s in want.series.items():
        for field in ("steps", "values", "lines"):
            np.testing.assert_array_equal(getattr(got.series[name], field), getattr(s, field))
    assert len(want.series["loss"].steps) == 2999 and any("starts again" in w for w in got.warnings)


def _same_source(got, want) -> None:
    assert got.records == want.records and got.warnings == want.warnings and got.facts == want.facts
    assert got.segments == want.segments and got.series.keys() == want.series.keys()
    for name, s in want.series.items():
        for field in ("steps", "values", "lines"):
            np.testing.assert_array_equal(getattr(got.series[name], field), getattr(s, field))


def test_leftovers_searched_without_the_marks_of_taken_records_find_what_the_whole_text_gives(tmp_path):
    """A chunk whose records the primary shape took is left as one mark line per record; the kinds' finders skip
    those lines (`without_marker_lines`) and must find the same records, on the same lines, as over every line:
    other kinds between runs of taken records, blank and odd lines, a record cut by the file's end."""
    import dataclasses

    rng = np.random.default_rng(7)
    lines = []
    for i in range(1, 6000):
        lines.append(f"iter {i}: loss {3 + rng.random():.4f}, time {1000 + rng.random() * 100:.2f}ms, mfu 15.1%")
        if i % 700 == 0:
            lines.append(f"step {i}: train loss {3 + rng.random():.4f}, val loss {3 + rng.random():.4f}")
        if i % 911 == 0:
            lines += ["", "\x1f", f"  {i} 1.25 loss, 0.5 lr, 3.0 GB used", f"[INFO] - loss: 2.5, global_step: {i}"]
        if i % 1333 == 0:
            lines.append(f"{i} | loss 0.{i} | lr 1e-05")
    text = "\n".join(lines)
    p = write(tmp_path, text[:-9])
    assert generic_kv.FORMAT.markers_droppable
    fast = textlog.Reader(p, generic_kv.FORMAT)
    got = fast.run()
    whole = dataclasses.replace(generic_kv.FORMAT)
    whole.__dict__["markers_droppable"] = False
    _same_source(got, textlog.Reader(p, whole).run())
    assert len(got.series["loss"].steps) > 5900


@pytest.mark.parametrize("pattern, within", [
    (rb"^(?=[^\n]*loss)step (\d+)", True), (rb"(?<=[\s,|;])loss (\d+)(?=[\s,]|$)", True),
    (rb"loss:\s+\d+", False), (rb"a[^|]*b", False), (rb"a.b", False), (rb"(?<=\n\n)step", False),
    (rb"a(?=\s\S)", False), (rb"[^\n\x1f]*", True)])
def test_within_lines_says_whether_a_match_may_reach_over_a_line_feed(pattern, within):
    assert textlog.within_lines(pattern) is within


def test_last_value_per_step_moved_down_in_place_is_what_columns_keep():
    """`last_per_step` (in place, a block at a time) against `Columns.finish`'s masked copies: redraws of a step,
    repeated steps at block edges, steps that never repeat, and orders it must leave alone."""
    from kto_doctor.sources.base import Columns

    rng = np.random.default_rng(11)
    cases = []
    for n, repeat in ((1, 0.0), (2, 1.0), (5000, 0.5), (5000, 0.0), (5000, 0.999), (4099, 0.3)):
        steps = np.cumsum(rng.random(n) >= repeat).astype(np.float64)
        cases.append((steps, rng.random(n), np.arange(n, dtype=np.int64) * 2))
    s, v, ln = cases[2]
    cases.append((s[::-1].copy(), v, ln))  # steps going down: not its case
    cases.append((s, v, ln[::-1].copy()))  # lines going down: not its case
    for s, v, ln in cases:
        want = Columns().finish(s.copy(), v.copy(), ln.copy())
        store = array("d", v.tolist())
        got = Columns().finish(*textlog.last_per_step(s.copy(), np.frombuffer(store), ln.copy(), block=64))
        for field in ("steps", "values", "lines"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


@pytest.mark.parametrize("kind", ["line by line", "short gaps", "long gaps", "very long gaps", "one record",
                                  "marks in the gaps"])
def test_line_feeds_before_each_record_are_the_gaps_counted_one_by_one(kind):
    rng = np.random.default_rng(len(kind))
    n = 1 if kind == "one record" else 3000
    pieces = {"line by line": [b"\n"], "short gaps": [b"\n", b"\n", b"\nx\n", b"\x1e", b"\n\n"],
              "long gaps": [b"\n" + b"y" * 200 + b"\n", b"\n"], "one record": [b"\n\n"],
              "very long gaps": [b"\n" + b"y" * 4000 + b"\nz\n"],  # (counted gap by gap)
              "marks in the gaps": [b"\n\x1f\n", b"\n", b"\x1f"]}[kind]
    gaps = [b"head\n"] + [pieces[i] for i in rng.integers(0, len(pieces), n - 1)] + [b"\n"]
    gaps = [g[:1] if g == b"\n" else g for g in gaps]  # (what a split hands back: the cached one-byte object)
    want = np.cumsum([g.count(b"\n") for g in gaps[:-1]])
    np.testing.assert_array_equal(textlog.feeds_before(gaps, b"\x1f".join(gaps)), want)
    # (`fresh`: the marks of the joined text are found by numpy where they are the records' own; a mark in a gap
    # sends it back to the gaps' lengths)
    np.testing.assert_array_equal(textlog.feeds_before(gaps, b"\x1f".join(gaps), fresh=True), want)


def test_line_numbers_across_chunks_are_those_of_one_chunk(tmp_path, monkeypatch):
    """The next chunk's first line comes from the line feeds the split counted (`Chunks.feeds`) where a shape took
    records: the same as counting them, with wrapped records (a joined line feed is still a line), timer lines, CRLF
    and 4 KB chunks."""
    lines = []
    for it in range(1, 3001):
        line = meg(it, 2 + (it % 7) / 10)
        if it % 97 == 0:
            a = line.index("learning rate:") + len("learning rate:")
            line = line[:a] + "\n" + line[a:]
        lines.append(line)
        if it % 10 == 0:
            lines.append("time (ms) | forward-compute: 193.77 | backward-compute: 73.02\n")
    text = "".join(lines)
    chunk = textlog.Reader.chunk
    monkeypatch.setattr(textlog, "CHUNK", 4096)
    for name, data in (("plain.log", text), ("crlf.log", text.replace("\n", "\r\n"))):
        p = write(tmp_path, data, name)
        got = megatron.read(p)
        assert got.series["loss"].lines[-1] == text.count("\n") - 1
        with monkeypatch.context() as m:  # every chunk's line feeds counted by the stream
            m.setattr(textlog.Reader, "chunk", lambda self, *a, **k: chunk(self, *a, **k) and None)
            _same_source(got, megatron.read(p))
