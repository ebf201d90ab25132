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


READERS = ("build_nanogpt", "deepspeed_chat", "deepspeed_chat_sft_rm", "generic_kv", "llama_recipes", "llmc",
           "megatron", "mmengine", "progress_bar", "step_value", "torchtune", "verl_console")


def test_a_kinds_finder_led_by_a_literal_finds_what_its_regex_finds():
    """`Kind.finditer` (the literal that leads every match found by memchr, the regex matched there) against
    `find.finditer`, for every kind of the text readers whose finder starts with a literal: on texts of their own
    records among noise, the literal often without a record (past the switch back to the engine's scan), at the
    text's start and end, after `\\r` redraws."""
    import importlib

    kinds = [k for r in READERS for k in importlib.import_module(f"kto_doctor.sources.{r}").FORMAT.kinds]
    led = [k for k in kinds if k.lead]
    assert len(led) >= 15
    assert textlog.literal_lead(rb"(?:abc|abd)x") == b"ab"  # (a prefix of both alternatives)
    assert textlog.literal_lead(rb"(?P<a>abc)d") == b"abcd" and textlog.literal_lead(rb"(?:(?P<a>ab)c|abd)x") == b""
    assert textlog.literal_lead(rb"(?i:abc)") == b"" and textlog.literal_lead(rb"a?bc") == b""
    rng = random.Random(28)
    samples = [b"Training Epoch: 1/3, step 12/203 completed (loss: 1.0917): 6%|# | 12/203 [00:31<08:20, 2.62s/it]",
               b"Epoch 1: train_perplexity=2.9738, train_epoch_loss=1.0898, epoch time 512.3s",
               b"epoch: 0|step: 3|ppo_ep: 1|act_loss: 0.25|cri_loss: 0.5|unsuper_loss: 0.0",
               b"average reward score: -0.5", b"Epoch 0:  12%|###  | 600/5000 [01:00<07:20, loss=0.5, v_num=3]",
               b"(TaskRunner pid=1) step:3 - actor/pg_loss:0.1 - critic/score/mean:0.2",
               b" iteration       10/    1000 | lm loss: 2.500000E+00 | loss scale: 1.0 |",
               b"05/04 08:52:23 - mmengine - INFO - Iter(train) [  10/100]  lr: 1.0e-04  loss: 0.5",
               b"Step 3 | loss:0.5 lr:2e-05", b"eval_ppl=tensor(2.4, device='cuda:0') eval_epoch_loss=tensor(0.8)"]
    for _ in range(300):
        parts = []
        for _ in range(rng.randrange(1, 40)):
            pick = rng.random()
            if pick < 0.4:
                parts.append(rng.choice(samples))
            elif pick < 0.7:  # a record's start token alone, cut or with noise after it
                k = rng.choice(led)
                parts.append(k.lead + bytes(rng.choice(b"0123 :|=.x") for _ in range(rng.randrange(8))))
            else:
                parts.append(bytes(rng.choice(b"abcEpoch step:|0123 ") for _ in range(rng.randrange(30))))
        text = b"".join(p + rng.choice([b"\n", b"\x1e", b" ", b""]) for p in parts)
        if rng.random() < 0.2:
            text = (rng.choice(led).lead + b"x\n") * 100 + text
        for k in led:
            want = [(m.span(), m.groups()) for m in k.find.finditer(text)]
            assert [(m.span(), m.groups()) for m in k.finditer(text)] == want, (k.name, text[:200])


def test_redraws_are_marked_as_translate_marks_them():
    rng = random.Random(3)
    for n in (0, 1, 7, 5000):
        raw = bytes(rng.randrange(256) for _ in range(n)) + b"\r\n\r"
        assert textlog.redraws_marked(raw) == raw.translate(bytes.maketrans(b"\r", b"\x1e"))


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
