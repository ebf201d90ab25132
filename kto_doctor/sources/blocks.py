"""Metrics printed one per line, in a block per step.

```
step 50 token 250m                          ========================= Step 3/100 =========================
train/loss 2.2328                           📊 Training Results:
train/grad_norm 12.5982                       • Loss: 0.1032
train/learning_rate 0.0000                    • Avg Reward: 0.3486
                                            ⏱️  Timing:
                                              • Total step time: 66.55s
```
A custom loop's summary print (`for k, v in logs.items(): print(k, v)`), NeMo-RL's per-step report, a W&B-like
dump pasted into an issue. A block is a run of lines that each hold exactly one `name value` / `name: value` pair
(a bullet `•`, `-` or `*` may lead); a line naming a step (`step 50`, `Step 3/100`, `iteration 7`, between `=`
rules or not) starts the next block and gives its step. Without any step line each block (blocks are separated by
a blank line or a line that is no pair) is one step in log order. A section whose title speaks of time or memory
(`Timing:`, `Memory:`) is bookkeeping and not read.

It is a fallback like the generic `name: value` reader: its sniff score is below every specific reader's, and the
HF Trainer's `***** train metrics *****` block (the console reader's run summary) is left alone. It needs two
blocks, or one block holding a loss or a reward, so that a config printed one key per line is not a run.
"""
from __future__ import annotations

import re
from array import array
from pathlib import Path

import numpy as np

from .base import Columns, SourceData, SourceError, open_stream
from .registry import TEXT_SUFFIXES, Source
from .textlog import NUM

_PAIR = re.compile(rb"^[ \t]*(?:(?:\xe2\x80\xa2|\xc2\xb7|[*\-])[ \t]*)?([A-Za-z][\w/@.\-]*(?: [A-Za-z][\w/@.\-]*){0,4})"
                   rb"[ \t]*(?:[:=][ \t]*|[ \t]+)(" + NUM + rb")(?:[ \t]*(?:%|s|ms|[KMGT]i?B))?[ \t]*\r?$")
_STEP = re.compile(rb"^[^A-Za-z0-9\n]*(?:[Gg]lobal[ _])?(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)[ \t:#=]*(\d+)"
                   rb"(?:[ \t]*/[ \t]*\d+)?(?![\d.])(?:[ \t]+[\w.]+){0,3}[^A-Za-z0-9\n]*\r?$")
_SECTION = re.compile(rb"^[^A-Za-z\n]*([A-Za-z][\w /&()-]{0,40}):[ \t]*\r?$")
_SKIP_SECTION = re.compile(rb"(?i)tim(e|ing)|memory|throughput|perf")
_SUMMARY = (b"***** train metrics *****", b"***** eval metrics *****", b"Run summary:", b"Run history:")
MAX_BYTES = 256 << 20  # a paste or a loop's print, not a multi-GB log: larger files go to the line readers


def _key(raw: bytes) -> str:
    return re.sub(r"[ ]+", "_", raw.decode("utf-8", "replace").strip()).lower()


def _scan(lines):
    """(step or None, line, {key: value}) per block, and whether any step line was seen."""
    blocks: list[tuple[float | None, int, dict]] = []
    cur: dict | None = None
    cur_step, cur_line = None, 0
    skipping = False
    stepped = False
    for n, line in enumerate(lines, 1):
        s = _STEP.match(line)
        m = _PAIR.match(line) if s is None else None
        if m is not None:
            if skipping:
                continue
            key = _key(m.group(1))
            if cur is None or key in cur:  # a repeated name starts the next block
                if cur:
                    blocks.append((cur_step, cur_line, cur))
                    cur_step = None
                cur, cur_line = {}, n
            cur[key] = float(m.group(2))
            continue
        if s is not None:
            if cur:
                blocks.append((cur_step, cur_line, cur))
            cur, cur_step, cur_line, skipping, stepped = {}, float(s.group(1)), n, False, True
            continue
        sec = _SECTION.match(line)
        if sec is not None:  # a titled section inside a block: skipped when it is timing or memory
            skipping = _SKIP_SECTION.search(sec.group(1)) is not None
            continue
        if cur and cur_step is None:  # prose or a blank line ends a block that no step line opened
            blocks.append((cur_step, cur_line, cur))
            cur = None
        if not line.strip():
            skipping = False
    if cur:
        blocks.append((cur_step, cur_line, cur))
    return [b for b in blocks if len(b[2]) >= 2 or (b[0] is not None and b[2])], stepped


def _claims(blocks) -> bool:
    from ..ontology import canonical, is_known

    known = {k for _, _, row in blocks for k in row if is_known(canonical(k, False, None))}
    core = any(canonical(k, False, None) in ("loss", "reward", "eval_loss") for k in known)
    return bool(known) and (len(blocks) >= 2 or core)


def read(path: Path) -> SourceData:
    with open_stream(path) as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SourceError(f"{path}: larger than a printed block log")
    if any(s in data for s in _SUMMARY):
        raise SourceError(f"{path}: holds the Trainer's or W&B's summary block (the console reader's)")
    blocks, stepped = _scan(data.split(b"\n"))
    if not blocks or not _claims(blocks):
        raise SourceError(f"{path}: no blocks of one metric per line")
    src = SourceData(path=path, format="blocks", step_kind="exact" if stepped else "ordinal")
    steps = array("d")
    prev = 0.0
    for i, (step, _, _) in enumerate(blocks, 1):
        if stepped:  # a block before the first step line takes step 0; later ones without a step: the one before
            prev = step if step is not None else prev
            steps.append(prev)
        else:
            steps.append(float(i))
    cols = Columns()
    st = np.frombuffer(steps, dtype=np.float64)
    ln = np.asarray([line for _, line, _ in blocks], dtype=np.int64)
    cols.set_steps(st, ln)
    for (_, line, row), step in zip(blocks, st.tolist()):
        cols.add_row(row, step, line)
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in its blocks")
    src.records = len(blocks)
    how = "each block's step line" if stepped else "the block's position in the log"
    src.warnings.append(f"{path.name}: read as blocks of one metric per line ({len(blocks)} block(s); the step is "
                        f"{how})")
    return src


def sniff(head: str) -> float:
    text = head.encode("utf-8", "replace")
    if any(s in text for s in _SUMMARY):
        return 0.0
    blocks, _ = _scan(text.split(b"\n")[:2000])
    return 0.25 if blocks and _claims(blocks) else 0.0


SOURCE = Source(
    name="blocks",
    title="Metrics printed one per line in a block per step (`step 50` then `train/loss 2.23` lines; NeMo-RL's "
          "`Step 3/100` report with `• Loss: 0.10` bullets)",
    read=read,
    priority=85,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("a custom loop's `print(k, v)` of its logs pasted into an issue", "NeMo-RL GRPO console output"),
)
