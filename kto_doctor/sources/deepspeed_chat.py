"""DeepSpeed-Chat step-3 (PPO) prints, and tqdm descriptions `Epoch e, Step s, Loss: v` of DS-Chat-derived loops.

```
epoch: 0|step: 3183|ppo_ep: 1|act_loss: 30.921875|cri_loss: 30.515625|unsuper_loss: 0.0
average reward score: -7.80859375
Epoch: 0 | Step: 12 | PPO Epoch: 1 | Actor Loss: 0.21 | Critic Loss: 0.12 | Unsupervised Loss: 0.0
Average reward score: 0.61 Average return: ... Average length: 123 ...
Epoch 1, Step 3, Loss: 0.9670:   3%|▎         | 5/144 [00:07<03:42,  1.60s/it]
```
(`applications/DeepSpeed-Chat/training/step3_rlhf_finetuning/main.py`.) The reward line follows its loss line
and takes its step. `step` restarts every epoch (it counts prompt batches; `Step` of a tqdm description counts
micro-batches): the global step adds the epoch's offset, from the `Total Generation Batches N` banner where the
log states it, else from the largest step of the epochs before. A tqdm description is redrawn several times per
step: the last value of a step is kept. DeepSpeed's `OVERFLOW! ... Skipping step` lines are counted
(`overflow_count`, `loss_scale_min`).
"""
from __future__ import annotations

import re

import numpy as np

from . import lazyre, textlog
from .base import SourceData

# (the PPO epoch is matched, not captured: nothing reads it, and a capture is an object per record)
_PIPE_PAIR = rb"(?:^|(?<=[|,])|(?<=\| ))[ \t]*([A-Za-z][\w ]*?): ?(" + textlog.NUM + rb")(?=[ \t]*(?:[|,]|$))"

OLD = textlog.Kind(
    name="ppo", head=rb"epoch: (?P<epoch>\d+)[|,] ?step: (?P<step>\d+)[|,] ?ppo_ep: \d+[|,]",
    pair=_PIPE_PAIR, step=lambda f: f["step"])
NEW = textlog.Kind(
    name="ppo_new",
    head=rb"Epoch: (?P<epoch>\d+) \| Step: (?P<step>\d+) \| PPO Epoch: \d+ \|(?: Total Steps: \d+ \|)?",
    pair=_PIPE_PAIR, step=lambda f: f["step"])
# `average reward score: -7.8` (old) / `Average reward score: 0.61 Average return: ... Average length: 123`
_REWARD_REST = rb"(?:^|(?<= ))((?:[Aa]verage|Max|KL) [\w ]*?): (" + textlog.NUM + rb")(?= |$)"
REWARD = textlog.Kind(
    name="reward", head=rb"average reward score: (?P<reward>" + textlog.NUM + rb")", pair=_REWARD_REST,
    metrics=(("reward", "average reward score"),))
REWARD_NEW = textlog.Kind(
    name="reward_new", head=rb"Average reward score: (?P<reward>" + textlog.NUM + rb")", pair=_REWARD_REST,
    metrics=(("reward", "average reward score"),))
DESC = textlog.Kind(
    name="desc", head=rb"Epoch (?P<epoch>\d+), Step (?P<step>\d+), (?=Loss: )",
    pair=rb"(Loss): (" + textlog.NUM + rb")", tail=rb"(?=:\s+\d+%\||:?[ \t]*$)", step=lambda f: f["step"])

_BANNER = lazyre.compile(rb"Total (?:Generation Batches|Micro Batches) (\d+)")


def scan(reader: textlog.Reader, chunk: bytes) -> None:
    x = reader.extra
    # (the first banner is the one kept: none is looked for after it. Every banner holds ` Batches `, whose `B` is
    # seldom in these logs, where a `T` stands on every latency line: memchr on it, not a search of every byte)
    if "per_epoch" not in x and textlog.holds(chunk, b" Batches "):
        m = _BANNER.search(chunk)
        if m:
            x.setdefault("per_epoch", int(m.group(1)))
    textlog.count_overflows(reader, chunk)


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): while every step record is of the file's first epoch (no NaN)
    with a step, `post` changes no step (the global step of one epoch is its step, and a reward line's is the one
    of the step record before it, as textlog settles it); another epoch needs the whole file's (the banner, the
    largest step of each epoch): read the whole way."""
    eidx, epochs = reader.column("@epoch")
    if not len(eidx):
        return True
    first = reader.extra.setdefault("first_epoch", float(epochs[0]))
    return not (np.isnan(first) or (epochs != first).any() or np.isnan(steps[eidx]).any())


def post(reader: textlog.Reader, src: SourceData) -> None:
    if reader.streamed:  # (one epoch: no step to change, `stream`)
        src.hints.setdefault("framework", "deepspeed-chat")
        textlog.overflow_facts(reader, src)
        return
    kinds = reader.kinds()
    steps = reader.extra["steps"]
    eidx, epochs = reader.column("@epoch")
    # (the kinds that state an epoch state their step too, and take it as their step: the store's steps are the
    # step counter's, one array less kept a record)
    index = steps[eidx]
    if len(eidx):
        per = reader.extra.get("per_epoch")
        desc = (kinds[eidx] == 3).all()
        # tqdm description loops count epochs from 1, step 3 from 0; the banner counts the loop's items
        glob = textlog.epoch_steps(epochs, index, per_epoch=per)
        del index
        steps[eidx] = glob  # (in place: the finish's own array of every record's step, read only through `extra`)
        del glob
        inherit = np.flatnonzero((kinds == 2) | (kinds == 4))
        if len(inherit):  # reward lines: the (now global) step of the record before them, again
            own = np.zeros(len(steps), dtype=bool)
            own[eidx] = True
            textlog.take_previous(steps, inherit, own)
        reader.extra["steps"] = steps
        # more than one epoch (NaN, a damaged record's, counts as one: as np.unique, without its sorted copy)
        first = epochs[0]
        if (~np.isnan(epochs).all() if np.isnan(first) else (epochs != first).any()):
            how = f"(epoch - first epoch) x {per} + step" if per else \
                "step + the largest step of the epochs before (+1 per epoch)"
            src.warnings.append(f"{reader.path.name}: the step counter restarts every epoch; the global step is {how}")
        if desc:
            src.hints.setdefault("framework", "deepspeed-chat")
    src.hints.setdefault("framework", "deepspeed-chat")
    textlog.overflow_facts(reader, src)


FORMAT = textlog.Format(name="deepspeed_chat", kinds=(OLD, NEW, REWARD, DESC, REWARD_NEW), framework="deepspeed-chat",
                        scan=scan, post=post, keep=("epoch",), what="step records", stream=stream)


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "DeepSpeed-Chat step-3 prints (`epoch: 0|step: 3|ppo_ep: 1|act_loss: ...`, `average reward score: "
    "...`) and tqdm descriptions `Epoch 1, Step 3, Loss: 0.9670: 3%|...`",
    rb"epoch: \d+[|,] ?step: \d+[|,] ?ppo_ep: \d+", rb"Epoch: \d+ \| Step: \d+ \| PPO Epoch: ",
    rb"[Aa]verage reward score: ", rb"Epoch \d+, Step \d+, Loss: " + textlog.NUM + rb":",
    examples=("DeepSpeed-Chat training_log_output/*.log, TRACE / DS-Chat-derived training stdout",))
