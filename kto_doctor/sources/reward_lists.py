"""A hand-written RL loop that prints each step's rewards as a list: `rewards: tensor([-1., -1., 0.5, -1.])`,
`rewards=[0.0, 0.0, 1.0, 0.0]`, a NumPy array's `rewards: [ 1.  0.  0.  1.]`.

Such loops (GRPO written from scratch, often beside vLLM's and DeepSpeed's start-up chatter) log no metric dict, no
step and no loss: the list of the completions' rewards is what they print once per step. Each list is one step, in
file order (ordinal steps): `reward` is its mean and `reward_std` its standard deviation (n - 1 in the denominator,
as TRL's GRPO logs it), so a batch whose completions all scored alike shows a reward_std of 0, the no-learning-signal
state GRPO's rules look for. A list longer than one group holds several groups: its spread is the batch's, not one
group's, and the report says the reading.

Claimed only where at least 3 such lines are found and the file holds fewer lines with a loss value than reward lists
(a loop that prints its loss with a step is the generic reader's, which reads more of it).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import Columns, SourceData, SourceError, read_bytes
from .registry import TEXT_SUFFIXES, Source

MAX_BYTES = 64 << 20
_NUM = rb"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf)"
# `rewards: tensor([...])`, `rewards=[...]`, `reward: [...]`, `Rewards: [...]` (at most 4,096 items' worth of text)
_START = rb"(?<![\w/.])[Rr]ewards?[ \t]*[:=][ \t]*(?:tensor\()?\["
_LIST = re.compile(_START + rb"([-+0-9.eE, \t\nainf]{1,40000}?)\]")
_CUT = re.compile(_START + rb"[-+0-9.eE, \t\nainf]*\Z")  # a list the file ends inside
_ITEM = re.compile(_NUM)
_LOSS = re.compile(rb"(?<![\w/])loss[ \t]*[:=]?[ \t]*" + _NUM, re.I)
_MIN_LINES = 3


def _at(data: bytes, rx: re.Pattern, needle: bytes, back: int):
    """The matches of `rx` that hold `needle` `back` bytes after their start, in file order: the literal is found by
    `find` and the regex tried only there (a regex that starts with a look-behind scans every byte, ~30 MB/s)."""
    p = data.find(needle, back)
    while p >= 0:
        m = rx.match(data, p - back)
        if m is not None:
            yield m
        p = data.find(needle, p + 1)


def _loss_lines(data: bytes) -> int:
    return sum(1 for needle in (b"oss", b"OSS") for _ in _at(data, _LOSS, needle, 1))


def _lists(data: bytes) -> tuple[list[np.ndarray], list[int], int]:
    """The lists, the line of each, and the offset where the last complete one ends."""
    out, lines = [], []
    line, pos, end = 1, 0, 0
    for m in _at(data, _LIST, b"eward", 1):
        items = _ITEM.findall(m.group(1))
        if not items:
            continue
        line += data.count(b"\n", pos, m.start())
        pos = m.start()
        out.append(np.array([float(x) for x in items], dtype=np.float64))
        lines.append(line)
        end = m.end()
    return out, lines, end


def _claims(data: bytes, n: int) -> bool:
    return n >= _MIN_LINES and _loss_lines(data) < n


def read(path: Path) -> SourceData:
    data = read_bytes(path)
    if len(data) > MAX_BYTES:
        raise SourceError(f"{path}: larger than a loop's printed reward lists")
    lists, lines, end = _lists(data)
    if not _claims(data, len(lists)):
        raise SourceError(f"{path}: not a log of printed reward lists")
    src = SourceData(path=path, format="reward_lists", step_kind="ordinal", hints={"method": "grpo", "framework": "unknown"})
    steps = np.arange(1, len(lists) + 1, dtype=np.float64)
    at = np.asarray(lines, dtype=np.int64)
    mean = np.array([np.nanmean(x) if np.isfinite(x).any() else np.nan for x in lists])
    std = np.array([np.nanstd(x, ddof=1) if np.isfinite(x).sum() > 1 else np.nan for x in lists])
    src.series["reward"] = Columns().finish(steps, mean, at)
    if np.isfinite(std).any():
        src.series["reward_std"] = Columns().finish(steps, std, at)
    sizes = sorted({len(x) for x in lists})
    size = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    src.records = len(lists)
    src.warnings.append(
        f"{path.name}: {len(lists)} printed reward lists ({size} completions each; `rewards: tensor([...])`) read "
        f"one step each, in file order: reward is each list's mean and reward_std its spread (over the whole list: "
        f"where a list holds several prompts' groups, the spread is the batch's)")
    cut = _CUT.search(data, end)
    if cut is not None:  # a paste or a file cut inside its last print
        line = data.count(b"\n", 0, cut.start()) + 1
        src.warnings.append(f"{path.name}: the last reward list is cut short (line {line}); "
                            f"the {len(lists)} complete one(s) before it were read")
    return src


def sniff(head: str) -> float:
    text = head.encode("utf-8", "replace")
    return 0.35 if _claims(text, len(_lists(text)[0])) else 0.0


SOURCE = Source(
    name="reward_lists",
    title="A hand-written RL loop's printed reward lists, one per step (`rewards: tensor([-1., 0.5, ...])`)",
    read=read,
    priority=62,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("stdout of a GRPO loop written from scratch",),
)
