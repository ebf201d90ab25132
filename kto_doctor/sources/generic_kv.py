"""The fallback: `name: value` / `name=value` / `name value` lines that carry a step counter.

For trainers no specific reader knows, so that their loss is still read (and a NaN in it still seen):
```
iter 2920: loss 3.9883, time 1099.34ms, mfu 15.34%                         (nanoGPT)
step 3000: train loss 4.0390, val loss 4.0427
2026-08-10 15:48:59 | INFO | root | step 13 | epoch 0 | loss 0.6407 | grad_norm 1.1754 | lr 1.00e-05
Epoch 4 | iter 961 step 961 | loss train: 1.062, val: 1.057 | iter time: 529.46 ms (step)     (litgpt)
[03:23:49] Epoch: [0]  [1480/1504]  lr: 0.000026  closs: 1.0800 (1.1317)  grad_norm: 0.4995 (1.1826)
| epoch 010  2000 / 8223 loss=1.27 (1.50), wps=962, lr=0.001, clip=100%, gnorm=2.1427   (fairseq)
100000 | loss nan | lr 0.000000e+00 | 2006.12ms | mfu 1.68%                  (llama2.c)
Epoch 1/200  then  5/5 [==========] - 2s 454ms/step - loss: 1.0597 - val_loss: nan   (Keras)
    1 93.44 s run, 11.8750 loss, 0.000000000001 LR, 642.43 GB used            (value before name)
```
A record line has one step token: `global step`/`global iter` first, then `step`, then `iter`/`iteration`, then
an `Epoch e [i/N]` counter ((e - first epoch) x N + i), then a bare leading integer; a token that a better one
follows on the same line is not the step, except an iteration just before an optimizer step (litgpt's
`iter 1152 step 144`, one line per micro-batch: the iteration is the step, so no line is lost). An epoch number alone is
the step only where nothing better exists in the file (said in a warning). Values may carry a unit (`ms`, `%`,
`GiB`) and a running average in parentheses (`0.4481 (0.5603)`: the value before it is read).

It is the lowest of the text readers: its sniff score is below every specific reader's, and a file with HF
metric dicts is left to the console reader. Everything it reads says so in a warning, with the names it could
not map; it refuses a file in which it recognises no metric at all (a README with `Step 1: install 2 things`).
"""
from __future__ import annotations

import re

import numpy as np

from . import textlog
from .base import SourceData, SourceError
from .registry import TEXT_SUFFIXES, Source
from ..ontology import is_known

N = textlog.NUM
_UNIT = rb"(?:%|ms|s|[KMGT]i?B|it/s|s/it|/s)?"
_AVG = rb"(?:[ \t]*\([^()\n]*\))?"
# key (1-4 words) then `:`/`=`/a blank, then a number with its unit and an optional `(average)`
# (a key may carry a qualifier in parentheses, not part of its name: litgpt's `loss train (curr): 1.657`); the number
# may be a printed tensor's (PEFT's examples: `train_epoch_loss=tensor(59.5122, device='cuda:0')`, the rest of the
# tensor is text between pairs)
_PAIR = (rb"(?:(?<=^)|(?<=[\s,|;\x00]))([A-Za-z][\w/.\-]*(?: [A-Za-z][\w/.\-]*){0,3}?)(?:[ \t]+\([\w .]{1,30}\))?"
         rb"[ \t]*(?:[:=][ \t]*|[ \t])(?:tensor\()?"
         rb"(" + N + rb")" + _UNIT + _AVG + rb"(?=[\s,|;)]|$)")
_VALUE_FIRST = (rb"(?:(?<=^)|(?<=[\s,]))(?P<value>" + N + rb")[ \t]*" + _UNIT
                + rb"[ \t]+(?P<key>[A-Za-z][\w/.\-]*(?: [A-Za-z][\w/.\-]*){0,2}?)(?=,|[ \t]*$)")
_NOT = rb"(?<![\w/.])"
_LATER_STEP = rb"(?![^\n\x1e]*" + _NOT + rb"(?:[Gg]lobal[ _](?:[Ss]tep|[Ii]ter)|[Ss]tep)[ \t]*[:=]?[ \t]*\d)"
_COUNTERS = rb"[Ii]ter(?:ation)?|[Gg]lobal[ _](?:[Ss]tep|[Ii]ter)|[Ss]tep"


def _later(tokens: bytes) -> bytes:
    """A guard: none of these counter tokens, with its number, later on the line."""
    return rb"(?![^\n\x1e]*" + _NOT + rb"(?:" + tokens + rb")[ \t]*[:=]?[ \t]*\d)"


_LATER_ITER = _later(_COUNTERS)
_TOTAL = rb"(?:[ \t]*/[ \t]*(?P<total>\d+))?"
# a custom loop's `batch 20` (or `Batch: 100/1563`) counter: the step where no step or iteration counter follows
_LATER_COUNTER = _later(_COUNTERS + rb"|[Bb]atch")


def _kind(name, head, pair=_PAIR, step=lambda f: f["step"], guard=b"", token=None):
    return textlog.Kind(name=name, head=head, pair=pair, step=step, lenient=True, other=rb"\S*?", guard=guard,
                        token=token)


# Heads start with their word (a two-letter class the regex engine scans for), the "not inside a word" check after.
# `token`: a literal every record of the kind holds (for VALUE_FIRST: that its lookahead needs): text without it is
# not searched for that kind (a head led by `^` or a lookbehind is tried at every byte). STEP's head is spelt so
# that it starts with one class ([Ss]), which the regex engine skips to; it matches `step`, `Step`, `STEP` as before.
GLOBAL = _kind("global", rb"[Gg]lobal(?<![\w/.][Gg]lobal)[ _](?:[Ss]tep|[Ii]ter(?:ation)?)s?[ \t]*[:=]?[ \t]*"
               rb"(?P<step>\d+)" + _TOTAL + rb"(?![\d.])", token=b"lobal")
STEP = _kind("step", rb"[Ss](?:(?<=s)tep|(?<=S)(?:tep|TEP))(?<![\w/.][Ss]tep)(?<![\w/.]STEP)[ \t]*[:=]?[ \t]*"
             rb"(?P<step>\d+)" + _TOTAL + rb"(?![\d.])", guard=rb"(?![^\n\x1e]*" + _NOT + rb"[Gg]lobal[ _](?:[Ss]tep|[Ii]ter)[ \t]*[:=]?[ \t]*\d)")
ITER = _kind("iter", rb"[Ii]ter(?<![\w/.][Ii]ter)(?:ation)?[ \t]*[:=]?[ \t]*(?P<step>\d+)" + _TOTAL + rb"(?![\d.])",
             guard=_LATER_STEP, token=b"ter")
# the iteration may follow the epoch after a blank (`Epoch: [0]  [1480/1504]`) or straight after its bracket, in
# parentheses (MiniMind's `Epoch:[1/1](20/4292) loss: 0.66`)
EPOCH = _kind("epoch", rb"[Ee]poch(?<![\w/.][Ee]poch)[ \t]*[:=]?[ \t]*\[?(?P<epoch>\d+)(?:/\d+)?\]?(?:/\d+)?"
              rb"(?:(?:[ \t]+\[?|(?<=\])\(|\[)[ \t]*(?P<i>\d+)[ \t]*/[ \t]*(?P<n>\d+)[\])]?)?(?![\d.])", guard=_LATER_COUNTER,
              step=lambda f: f["epoch"], token=b"poch")
# (after torchrun's rank prefix, `--tee 3`'s `[default0]:` or `[rank0]:`, as well as at the line start)
BARE = _kind("bare", rb"^[ \t>]*(?:\[(?:rank|default)\d+\]:[ \t]*)?(?P<step>\d+)[ \t]*\|(?=[^\n\x1e]*[A-Za-z])", token=b"|")
KERAS = _kind("keras", rb"(?<![\d/])(?P<n>\d+)/(?P<total>\d+) \[[=>.]*\] - (?:\d+m?s(?: \d+m?s/step)? - )?",
              step=None, token=b" [")
# Keras with `verbose=2` writes no bar: `224s - loss: 3.5508 - acc: 0.2966 - val_loss: 1.4529` (Keras 1) or
# `1875/1875 - 3s - loss: 0.29 - accuracy: 0.91` (TF2), under its `Epoch 3/50` line like the bar's
KERAS_TIMED = _kind("keras_timed", rb"^[ \t]*(?:\d+/\d+ - )?\d+m?s(?: \d+m?s/step)? - (?=[A-Za-z_][\w ]*: )", step=None,
                    token=b"s - ")
VALUE_FIRST = _kind("value_first",
                    rb"^[ \t]*(?P<step>\d+)[ \t]+(?=" + N + rb"[ \t]*" + _UNIT + rb"[ \t]+[A-Za-z][^\n\x1e]*, )",
                    pair=_VALUE_FIRST, token=b", ")
# litgpt's `iter 1152 step 144: loss 11.46` / `iter 4810 | step 601: loss 0.27` (gradient accumulation: 8 iterations per optimizer step): every line
# is its own micro-batch loss, so the iteration is the step; taking the optimizer step would keep one line in 8.
ITER_STEP = _kind("iter_step", rb"[Ii]ter(?<![\w/.][Ii]ter)(?:ation)?[ \t]*[:=]?[ \t]*(?P<step>\d+)(?![\d.])(?:[ \t]*\|)?[ \t]+"
                  rb"[Ss]tep[ \t]*[:=]?[ \t]*\d+(?![\d.])", token=b"ter")
# A custom loop's `ep: 0, batch: 20, ..., loss: 10.98` / `Epoch 1, Batch 100/1563, Loss: 2.3`: the batch counter,
# with the epoch before it where the line states one (a counter that restarts each epoch keeps rising across them).
BATCH = _kind("batch", rb"(?:(?<![\w/.])[Ee]p(?:och)?[ \t]*[:=]?[ \t]*\[?(?P<bep>\d+)\]?(?:/\d+)?[ \t]*[,|]?[ \t]*)?"
              rb"(?<![\w/.])[Bb]atch[ \t]*[:=]?[ \t]*\[?(?P<bi>\d+)(?:[ \t]*/[ \t]*(?P<bn>\d+))?\]?(?![\d.])",
              step=lambda f: f["bi"], guard=_LATER_ITER, token=b"atch")
# `Epoch 1 | Step 10/6501 | Loss: 0.52` (a loop whose step counter restarts every epoch and states the epoch's
# length): the step continues across epochs, (epoch - first) x length + step
EPOCH_STEP = _kind("epoch_step", rb"[Ee]poch(?<![\w/.][Ee]poch)[ \t]*[:=]?[ \t]*\[?(?P<sep>\d+)\]?(?:/\d+)?[ \t]*[,|]?[ \t]*"
                   rb"[Ss]tep[ \t]*[:=]?[ \t]*(?P<step>\d+)[ \t]*/[ \t]*(?P<sn>\d+)(?![\d.])", guard=_later(rb"[Gg]lobal[ _](?:[Ss]tep|[Ii]ter)"),
                   token=b"poch")
# tinygrad's llama example without its step: `10.5008 loss, 0.000016689301 LR, 8.83 GB used, 18.70 s` - each line
# one step, in log order
VALUE_ONLY = _kind("value_only", rb"^(?=[ \t]*" + N + rb"[ \t]*" + _UNIT + rb"[ \t]+[A-Za-z][\w ]*, " + N + rb")",
                   pair=_VALUE_FIRST, step=None, token=b", ")

# A `key: value` list whose step counter comes after the metrics: PaddleNLP's `[    INFO] - loss: 2.0005,
# learning_rate: 2.1e-06, global_step: 20, ...`, a DeepSpeed script's `loss:0.697265625, global_step:320`, and the
# same with `|`, `;` or tabs between the pairs or `key=value` pairs separated by blanks (`loss=2.0 lr=1e-05 step=20`).
# The record is the whole line (the head is empty), so the pairs before the counter are read too; the first pair is
# a metric (a list led by its counter is STEP's or GLOBAL's record, as before), and what precedes it is a timestamp,
# a bracketed or `|`/` - `-closed field (`[INFO]`, `2024-05-01 12:00:01 - INFO - `) or nothing. (A file cut inside
# the counter, `global_step:3` of 330, loses that record: textlog.parse drops a cut record whose field reaches the cut.)
_STEP_KEY = rb"(?:[Gg]lobal[_ ]step|[Ss]tep|[Ii]ter(?:ation)?)"
_KV_SEP = rb"(?:[ \t]*[,|;][ \t]*|\t[ \t]*|[ \t]+(?=[A-Za-z][\w/.]*=))"
_KV_KEY = rb"[A-Za-z][\w/.]*(?: [A-Za-z][\w/.]*){0,2}"
_KV_LEAD = rb"(?:[^\n\x1e]*?(?:[\]|]| - )[^A-Za-z\n\x1e]*)?"
_KV_FIRST = _KV_KEY + rb"[ \t]*[:=][ \t]*" + N + _KV_SEP  # the first pair, a metric, and its separator
_KV_COUNTER = _STEP_KEY + rb"[ \t]*[:=][ \t]*"  # the counter's key, before its number
KV_LIST = _kind("kv_list",
                rb"^(?=" + _KV_LEAD + rb"(?!" + _STEP_KEY + rb"[ \t]*[:=])" + _KV_FIRST + rb"[A-Za-z])"
                rb"(?=[^\n\x1e]*?(?<=[\s,|;])" + _KV_COUNTER + rb"(?P<step>\d+)(?:/\d+)?(?![\d.])"
                rb"[ \t]*(?:[,|;\t]|$|[ \t]+[A-Za-z]))")

# What may lead a line whose pairs are read from the first one on (the lead is not part of the record): nothing, a
# timestamp with its level (`2024-05-01 12:00:01,123 INFO `, `[INFO] `), or fields closed by `]`, `|` or ` - `.
_TIMESTAMP = rb"\[?\d{4}-\d\d-\d\d[ T][\d:.,]+\]?[ \t]+(?:\[?(?:INFO|DEBUG|WARNING|WARN|I|W)\]?[ \t:]+)?"
_LINE_LEAD = rb"(?:" + _TIMESTAMP + rb"|[^\n\x1e]*?(?:[\]|]| - )[^A-Za-z\n\x1e]*)??"
_NO_COUNTER = rb"(?![^\n\x1e]*" + _NOT + _STEP_KEY + rb"[ \t]*[:=]?[ \t]*\d)"
# HF's logs printed without their braces, or a loop's own line, where the only counter is the (fractional) epoch:
# `loss: 1.2145, learning_rate: 1.6e-05, epoch: 0.33` / `train loss = 1.9 | lr = 1e-05 | epoch = 0.03`. Each line is a
# logging event: a step in log order (placed on the global step axis as HF's dicts without a step are), the epoch
# kept as a series. An integer `epoch: 1, loss: 2.0` at the line start stays EPOCH's record.
KV_EPOCH = _kind("kv_epoch",
                 rb"^" + _LINE_LEAD + rb"(?=" + _KV_FIRST + rb"[A-Za-z])"
                 rb"(?=[^\n\x1e]*?(?<![\w/.])[Ee]poch[ \t]*[:=][ \t]*" + N + rb"[ \t]*(?:[,|;\t]|$|[ \t]+[A-Za-z]))"
                 + _NO_COUNTER, step=None, token=b"poch")
# Pairs separated by blanks only, with the step counter among them: `loss 2.0312 lr 1e-05 step 20`,
# `loss 1.98 | lr 1e-05 | step 40 | grad_norm 0.7`. The whole line must be such pairs (prose is not).
_SP_PAIR = rb"[A-Za-z][\w/.\-]*[ \t]+" + N + _UNIT
_SP_SEP = rb"(?:[ \t]*[,|;][ \t]*|[ \t]+)"
KV_SPACE = _kind("kv_space",
                 rb"^" + _LINE_LEAD + rb"(?=(?:" + _SP_PAIR + _SP_SEP + rb")+" + _STEP_KEY
                 + rb"[ \t]+(?P<step>\d+)(?:/\d+)?(?:" + _SP_SEP + _SP_PAIR + rb")*[ \t]*[,|;]?[ \t]*$)")
# A loop's line that prints its loss and no counter at all (okuvshynov/slowllama: `2023-09-29 20:16:01,559 backprop
# done, loss after forward pass = 1.482`): each line a step in log order, only where no line of the file has a counter
# (the counter's number may stand in a bracket: MiniMind's `Epoch:[1/1](20/4292)` after a logger's prefix is its EPOCH
# record, not a loss line)
_NO_EPOCH_BATCH = rb"(?![^\n\x1e]*" + _NOT + rb"(?:[Ee]poch|[Bb]atch)[ \t]*[:=]?[ \t]*[\[(]?[ \t]*\d)"
_LOSS_NAME = rb"(?:[Tt]rain(?:ing)?[ _])?[Ll]oss"
# `loss after forward pass = `, `train loss: `; never across a field separator (`value loss,,False,GRPO beta=0.0` of a
# CSV's text column is no loss of 0.0: sherrywan717/ppo-vs-grpo-math-rlvr)
_LOSS_GAP = rb"\b[^\n:=,;|]{0,40}?[ \t]*[:=][ \t]*"
_LOSS_KEY = rb"(?<![\w/.])(" + _LOSS_NAME + rb")" + _LOSS_GAP + rb"(" + N + rb")(?![\w.])"  # (key, value)
_LOSS_AT = rb"(?<![\w/.])" + _LOSS_NAME + _LOSS_GAP + N + rb"(?![\w.])"  # the same, no groups (a head's lookahead)
LOSS_LINE = _kind("loss_line", rb"^(?=[^\n\x1e]*?" + _LOSS_AT + rb")" + _NO_COUNTER + _NO_EPOCH_BATCH,
                  pair=_LOSS_KEY, step=None, token=b"oss")
# A loop's evaluation printed on its own line, without a counter, after the training line it belongs to:
# `Validation loss: 2.50`, `val loss 2.50`, `eval: loss=2.50 acc=0.5`, `dev | avg_loss: 2.17 | {...}` (microsoft/
# LMOps MiniLLM). The line starts with its role word (after a bracketed time or level) and holds a loss; every
# metric of it is an evaluation metric, at the step of the training line before it.
_ROLE = rb"(?:[Vv]al(?:id(?:ation)?)?|VAL(?:ID(?:ATION)?)?|[Ee]val(?:uation)?|EVAL|[Dd]ev|DEV|[Tt]est|TEST)"
_EVAL_LOSS = rb"(?<![\w/.])\w*[Ll]oss\b[^\n:=,;|]{0,20}?[ \t]*[:=]?[ \t]*" + N + rb"(?![\w.])"
EVAL_LINE = textlog.Kind(name="eval_line",
                         head=rb"^(?=[ \t]*(?:\[[^\]\n\x1e]*\][ \t]*)*" + _ROLE + rb"(?![\w/.])[^\n\x1e]*?" + _EVAL_LOSS + rb")"
                         + _NO_COUNTER + _NO_EPOCH_BATCH,
                         pair=_PAIR, step=None, eval=True, lenient=True, other=rb"\S*?", token=b"oss")
_DICTS = (b"{'loss'", b'{"loss"', b"{'eval_loss'", b'{"eval_loss"')


def scan(reader: textlog.Reader, chunk: bytes) -> None:
    if b"{" in chunk and b"loss" in chunk:  # (memchr for the brace first: four searches were 12% of the reading)
        reader.extra["dicts"] = reader.extra.get("dicts", 0) + sum(chunk.count(d) for d in _DICTS)
    textlog.count_overflows(reader, chunk)


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): while every record is of a kind that states its own step (a
    step, iteration, bare or `key: value` list counter), `post` changes no step; an epoch, Keras, batch, loss-only
    or step-less line needs the whole file's records: read the whole way."""
    return bool(_OWN_STEP[reader.kinds()].all())


def _valued(reader: textlog.Reader, n: int) -> np.ndarray:
    """The records that hold a value besides their head's fields (`@...`)."""
    out = np.zeros(n, dtype=bool)
    for name in reader.store.metrics:
        if not name.startswith("@"):
            out[reader.column(name)[0]] = True
    return out


def post(reader: textlog.Reader, src: SourceData) -> None:
    if reader.extra.get("dicts", 0) >= max(2, reader.records // 2):
        raise SourceError(f"{reader.path}: holds HF metric dicts (the console reader's)")
    if reader.streamed:  # (`stream`: no step to change)
        _post_names(reader, src, [])
        return
    kinds = reader.kinds()
    steps = reader.extra["steps"]  # (its own: textlog hands the store's steps to post, and takes them back)
    epoch_recs = np.flatnonzero(kinds == _EPOCH)
    notes = []
    # a counted line that holds no number but its counter is no record: an agent's `▶ STEP 2 | stop
    # reason='parse_error'` between a GRPO loop's `Epoch 3 | loss=-0.04 | reward= 5.67` lines (alivnavc/
    # GRPO-RL-SLM-SQLi) would otherwise be the steps those epoch summaries end
    valued = _valued(reader, len(kinds))
    bare = ~valued & (kinds != _EPOCH) if valued.any() else np.zeros(len(kinds), dtype=bool)
    steps[bare] = np.nan
    # (before any line takes the step of a counted line above it: an evaluation after the last `Epoch 1 | Step 6500`)
    epoch_step_recs = np.flatnonzero(kinds == _EPOCH_STEP)
    if len(epoch_step_recs):
        _epoch_step_steps(reader, steps, epoch_step_recs, notes)
    if len(epoch_recs):
        idx, i = reader.column("@i")
        _, n = reader.column("@n")
        eidx, ep = reader.column("@epoch")
        has_i = np.zeros(len(kinds), dtype=bool)
        has_i[idx[np.isfinite(i)]] = True
        indexed = has_i[eidx]  # (record numbers: a mask, where np.isin sorted both arrays)
        others = (kinds != _EPOCH) & (kinds != _KERAS) & (kinds != _KERAS_TIMED) & ~bare
        # one counted line beside three or more epoch summaries is a progress bar's last redraw pasted above them
        # (`13160/13320 [51:42<00:37, 4.24it/s, loss=0.0146]`, then `Epoch : 0 | Train loss : 0.135 | Validation
        # loss : 0.0696` per epoch): the summaries are the log, not five records at that line's step
        lone = np.count_nonzero(others) == 1 and len(eidx) >= 3 and not indexed.any()
        if lone:
            bar = int(np.flatnonzero(others)[0])
            steps[bar] = np.nan
            others = np.zeros_like(others)
            head = eidx == bar - 1  # the bar's own `Epoch 21: 99%` description on the line above it
            if head.any():
                steps[bar - 1] = np.nan
                eidx, ep, indexed = eidx[~head], ep[~head], indexed[~head]
            notes.append("one line with its own counter beside the `Epoch N` summaries (a progress bar's last "
                         "redraw) is left out")
        if indexed.any():  # Epoch e [i/N]: a global step; epoch-only lines (summaries) take the step before
            at = eidx[indexed]
            pos = np.searchsorted(idx, at)
            steps[at] = textlog.epoch_steps(ep[indexed], i[pos], per_epoch=n[pos])
            alone = eidx[~indexed]
            steps[alone] = np.nan
            textlog.take_previous(steps, alone, np.isfinite(steps))
            notes.append("`Epoch e [i/N]` lines: the step is (e - first epoch) x N + i")
        elif others.any():  # an epoch label among step lines is not a step: the step before
            steps[epoch_recs] = np.nan
            textlog.take_previous(steps, epoch_recs, np.isfinite(steps))
            _epoch_ends(reader, eidx, ep, notes)
        elif len(np.unique(ep)) < len(eidx):  # `Epoch 3, Loss: 0.52` on every batch: each line is a record
            steps[eidx] = np.arange(1, len(eidx) + 1, dtype=np.float64)
            if "epoch" not in reader.store.metrics:
                reader.put("epoch", eidx, _fractional_epochs(ep))
            src.step_kind = "ordinal"
            notes.append("the only counter is an epoch number that repeats on many lines: each line is a step (its "
                         "position in the log), the epoch is kept as a series")
        else:
            notes.append("the only counter is the epoch number: steps are epochs")
        keras = np.flatnonzero((kinds == _KERAS) | (kinds == _KERAS_TIMED))
        if len(keras):  # a Keras metrics line: the step of the `Epoch e/E` line before it
            own = np.zeros(len(steps), dtype=bool)
            own[epoch_recs] = True
            textlog.take_previous(steps, keras, own)
    loss_lines = np.flatnonzero(kinds == _LOSS_LINE)
    # a counted log's stray `final loss = ...`: not a step (dropped)
    if len(loss_lines) and ((kinds != _LOSS_LINE) & (kinds != _EVAL_LINE)).any():
        steps[loss_lines] = np.nan
        loss_lines = loss_lines[:0]
    if 0 < len(loss_lines) < 3:  # one or two sentences of prose (`the final loss: 0.5`) make no training log
        raise SourceError(f"{reader.path}: only {len(loss_lines)} line(s) with a loss and no step counter")
    if len(loss_lines):
        steps[loss_lines] = np.arange(1, len(loss_lines) + 1, dtype=np.float64)
        src.step_kind = "ordinal"
        notes.append("lines that print a loss and no counter: each line is a step, in log order")
    # lines without a step: the step of a counted line before them, or, where no line has one, their position
    for kind, what in ((_VALUE_ONLY, "`value name, value name` lines without a step"),
                       (_KV_EPOCH, "`name: value` lines whose only counter is the epoch")):
        recs = np.flatnonzero(kinds == kind)
        if not len(recs):
            continue
        if np.isfinite(steps).any():
            textlog.take_previous(steps, recs, np.isfinite(steps))
        else:
            steps[recs] = np.arange(1, len(recs) + 1, dtype=np.float64)
            src.step_kind = "ordinal"
            notes.append(f"{what}: each line is a step, in log order")
    evals = np.flatnonzero(kinds == _EVAL_LINE)
    if len(evals):  # the step of the training line before; none before it (an eval before training): dropped
        textlog.take_previous(steps, evals, np.isfinite(steps) & (kinds != _EVAL_LINE))
        notes.append("evaluation lines without a counter (`Validation loss: 2.5`): each at the step of the "
                     "training line before it")
    batch_recs = np.flatnonzero(kinds == _BATCH)
    if len(batch_recs):
        _batch_steps(reader, steps, batch_recs, notes)
    reader.extra["steps"] = steps
    _post_names(reader, src, notes)


def _post_names(reader: textlog.Reader, src: SourceData, notes: list) -> None:
    names = reader.metric_names()
    # a name the ontology does not know but that says it is a loss (`GD_loss`, `combined_loss`, `loss_ce`) makes the
    # lines training records too: they are read under their own names, so a NaN in them is still seen
    known = [n for n in names if is_known(n) or _loss_named(n)]
    if not known:
        raise SourceError(f"{reader.path}: no metric the ontology knows in its step lines (the generic reader "
                          f"saw: {', '.join(sorted(names)[:8]) or 'none'})")
    unmapped = sorted(n for n in names if not is_known(n))
    msg = (f"{reader.path.name}: read by the generic `name: value` fallback (no specific reader recognised this "
           f"file)" + ("; the step is each line's step counter" if src.step_kind != "ordinal" else ""))
    if notes:
        msg += "; " + "; ".join(notes)
    if unmapped:
        msg += f"; names kept as logged: {', '.join(unmapped[:12])}{' ...' if len(unmapped) > 12 else ''}"
    src.warnings.append(msg)
    src.hints["reader"] = "fallback"
    textlog.overflow_facts(reader, src)


def _epoch_ends(reader: textlog.Reader, eidx: np.ndarray, ep: np.ndarray, notes: list) -> None:
    """A loop's summary after each epoch among its step lines (`Epoch 1 completed. Average loss: 4.4899`): each
    label once, counting up. The line ends its epoch, so the epoch series takes the value 1.0 at the end of the
    first (HF's convention; a log that counts from 0 says `Epoch 0` there) at the step before it, and the words
    of the sentence before the metric's name (`completed.`) leave the name. Labels that start again are a second
    run appended to the log (the merger keeps the later where steps overlap)."""
    if len(eidx) < 1 or "epoch" in reader.store.metrics:
        return
    # a log of two runs appended (the labels start again) is two runs of labels, each counted from its first
    starts = np.flatnonzero(np.r_[True, np.diff(ep) <= 0])
    first = np.repeat(ep[starts], np.diff(np.r_[starts, len(ep)]))
    reader.put("epoch", eidx, ep + (first == 0))
    metrics = reader.store.metrics
    for name in [n for n in metrics if ". " in n and not n.startswith("@")]:
        short = name.rsplit(". ", 1)[1]
        if short and short not in metrics:
            metrics[short] = metrics.pop(name)
    notes.append("`Epoch N` summary lines between the step lines: each ends its epoch (the epoch series is read "
                 "from them)")


def _fractional_epochs(labels: np.ndarray) -> np.ndarray:
    """Epoch labels repeated on every batch line (`Epoch 0`, `Epoch 0`, ..., `Epoch 1`) as the HF Trainer's
    fractional epoch: the k-th line of an epoch is e + k / n, n the first epoch's line count (so a cut last epoch
    stays short of its end), e the label where the log counts from 0 (its first label is 0) and the label - 1
    otherwise (1-based, or a paste that starts late: `Epoch 35` lines are in the 35th epoch)."""
    labels = np.asarray(labels, dtype=np.float64)
    first = labels[0]
    base = 0.0 if first == 0 else 1.0
    per = max(1, int(np.count_nonzero(labels == first)))
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # where each run of one label begins
    k = np.arange(1, len(labels) + 1) - np.repeat(starts, np.diff(np.r_[starts, len(labels)]))  # 1.. within a run
    return (labels - base) + np.minimum(k, per) / per


def _batch_steps(reader: textlog.Reader, steps: np.ndarray, recs: np.ndarray, notes: list) -> None:
    """`ep: E, batch: B` lines: where the batch counter restarts at a new epoch, (E - first) x per-epoch + B with
    the per-epoch count stated (`B/N`), else B plus the largest step of the earlier epochs."""
    eidx, ep = reader.column("@bep")
    if len(eidx) < len(recs) or len(np.unique(ep)) < 2:
        return
    at = np.searchsorted(eidx, recs)
    if not (at < len(eidx)).all() or not (eidx[at] == recs).all():
        return
    nidx, n = reader.column("@bn")
    per = None
    if len(nidx) == len(recs) and np.isfinite(n).all() and len(np.unique(n)) == 1:
        per = float(n[0])
    steps[recs] = textlog.epoch_steps(ep[at], steps[recs], per_epoch=per)
    notes.append("`epoch, batch` lines: the batch counter continues across epochs")


def _epoch_step_steps(reader: textlog.Reader, steps: np.ndarray, recs: np.ndarray, notes: list) -> None:
    """`Epoch E | Step S/N` lines: where the step restarts at a new epoch, (E - first) x N + S; a step that keeps
    rising across the epochs (a global step beside its epoch) is left as it is."""
    eidx, ep = reader.column("@sep")
    nidx, n = reader.column("@sn")
    if len(eidx) != len(recs) or len(nidx) != len(recs) or len(np.unique(ep)) < 2:
        return
    s = steps[recs]
    if not (np.diff(s) < 0).any() or not np.isfinite(n).all() or len(np.unique(n)) != 1:
        return
    steps[recs] = textlog.epoch_steps(ep, s, per_epoch=float(n[0]))
    # the lines without a counter of their own took the step of the line above them before this: again, now
    textlog.inherit_steps(steps, FORMAT, reader.kinds())
    notes.append(f"`Epoch E | Step S/{int(n[0])}` lines: the step restarts each epoch, so the global step is "
                 f"(E - first epoch) x {int(n[0])} + S")


FORMAT = textlog.Format(name="generic_kv", kinds=(GLOBAL, EPOCH_STEP, STEP, ITER, EPOCH, BARE, KERAS, VALUE_FIRST, ITER_STEP,
                                                      BATCH, VALUE_ONLY, KV_LIST, KV_EPOCH, KV_SPACE, KERAS_TIMED,
                                                      EVAL_LINE, LOSS_LINE),
                        dialect="generic", scan=scan, post=post,
                        keep=("epoch", "i", "n", "bep", "bi", "bn", "sep", "sn"), what="step lines")


# the kinds that state their own step and whose step `post` leaves as it is: a file of only these is read streamed
_OWN_STEP = np.zeros(len(FORMAT.kinds), dtype=bool)
_OWN_STEP[[FORMAT.kinds.index(k) for k in (GLOBAL, STEP, ITER, BARE, VALUE_FIRST, ITER_STEP, KV_LIST, KV_SPACE)]] = True
assert all(FORMAT.kinds[i].step is not None for i in np.flatnonzero(_OWN_STEP))
_EVAL_LINE, _LOSS_LINE = FORMAT.kinds.index(EVAL_LINE), FORMAT.kinds.index(LOSS_LINE)  # (indices `post` tests)
_KERAS_TIMED = FORMAT.kinds.index(KERAS_TIMED)
_EPOCH, _KERAS, _BATCH = FORMAT.kinds.index(EPOCH), FORMAT.kinds.index(KERAS), FORMAT.kinds.index(BATCH)
_VALUE_ONLY, _KV_EPOCH, _EPOCH_STEP = (FORMAT.kinds.index(VALUE_ONLY), FORMAT.kinds.index(KV_EPOCH),
                                       FORMAT.kinds.index(EPOCH_STEP))
FORMAT.stream = stream


def read(path):
    return textlog.read(path, FORMAT)


_SNIFF = re.compile(b"|".join(rb"(?:" + p + rb")" for p in (
    rb"(?:^|[\s|>\]])(?:[Gg]lobal[ _](?:[Ss]tep|[Ii]ter)|[Ss]tep|[Ii]ter(?:ation)?|[Bb]atch)[ \t]*[:=]?[ \t]*\d+[^\n]*?"
    rb"[A-Za-z][\w/.\-]*(?: [A-Za-z]\w*){0,3}[ \t]*[:= ][ \t]*" + N,
    rb"[Ee]poch[ \t]*[:=]?[ \t]*\[?\d+\]?[^\n]*?[A-Za-z]\w*(?: [A-Za-z]\w*){0,2}[ \t]*[:=][ \t]*" + N,
    rb"^[ \t>]*\d+[ \t]*\|[ \t]*[A-Za-z]\w*[ \t:=]+" + N,
    rb"\d+/\d+ \[[=>.]+\] - [^\n]*?\w+: " + N,  # Keras
    rb"^[ \t]*(?:\d+/\d+ - )?\d+m?s - [A-Za-z_]\w*: " + N,  # Keras, verbose=2
    rb"^[ \t]*(?:\d+[ \t]+)?" + N + rb"[ \t]*" + _UNIT + rb"[ \t]+[A-Za-z][\w ]*, " + N,  # value before name
    _KV_FIRST + rb"(?:[^\n]*?(?<=[\s,|;]))?" + _KV_COUNTER + rb"\d+(?:/\d+)?(?![\d.])",  # KV_LIST
    _KV_FIRST + rb"[^\n]*?(?<![\w/.])[Ee]poch[ \t]*[:=][ \t]*" + N,  # KV_EPOCH
    rb"^(?:" + _SP_PAIR + _SP_SEP + rb")+" + _STEP_KEY + rb"[ \t]+\d+")))  # KV_SPACE
# A loss written as a pair on the same line (`loss 3.98`, `train loss: 4.03`, `closs: 1.08 (1.13)`, `11.875 loss,`):
# the fallback exists to read an unknown trainer's loss.
_LOSS_PAIR = re.compile(rb"(?i:[a-z_]*loss(?:[ _/][a-z]+)?[ \t]*[:=]?[ \t]*" + N + rb"(?![\w.])"
                        rb"|(?<![\w.])" + N + rb"[ \t]*" + _UNIT + rb"[ \t]+[a-z_]*loss\b)")
# What may come before a record's step token on its line: no words (a timestamp, `> `, a bar), or fields closed by
# `|` or `]` (`2026-08-10 15:48:59 | INFO | root | step 13`, `[03:23:49] Epoch: [0]`). "At step 1, the loss 0.92"
# in a README or a sample's notes is prose, not a record. An epoch field may lead (`ep: 0, batch: 20`).
_PREFIX = re.compile(rb"[^A-Za-z]*|.*[|\]][^A-Za-z]*|" + _TIMESTAMP + rb"|[^A-Za-z]*[Ee]p(?:och)?[ \t]*[:=]?[ \t]*\d+(?:/\d+)?[ \t]*[,|]?[ \t]*")


def _record_lines(head: bytes) -> int:
    n = 0
    for line in head.splitlines():
        if _LOSS_PAIR.search(line) is None:
            continue
        if any(_PREFIX.fullmatch(line, 0, m.start()) for m in _SNIFF.finditer(line)):
            n += 1
    return n


def _loss_named(name: str) -> bool:
    low = name.lower()
    return low.endswith("loss") or low.startswith("loss")


def sniff(head: str) -> float:
    """Always below the specific readers (`registry.score` starts at 0.55): 0.1 to 0.3 with the record lines seen
    (a step token where a record starts, and a loss on the line); none without one."""
    hits = _record_lines(head.encode("utf-8", "replace"))
    return 0.0 if not hits else min(0.3, 0.1 + 0.02 * hits)


SOURCE = Source(
    name="generic_kv",
    title="Fallback for any `name: value` / `name=value` lines with a step counter (nanoGPT, litgpt, MetricLogger, "
          "fairseq, NeMo Automodel, Keras, ...); the report says when it was used",
    read=read,
    priority=90,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    fallback=True,
    examples=("stdout of a trainer kto-doctor has no reader for",),
)
