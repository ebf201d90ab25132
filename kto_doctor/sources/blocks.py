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

from .base import Columns, MetricNames, SourceData, SourceError, adopt_summary_loss, open_stream
from .registry import TEXT_SUFFIXES, Source
from .textlog import NUM

_PAIR = re.compile(rb"^[ \t]*(?:(?:\xe2\x80\xa2|\xc2\xb7|[*\-])[ \t]*)?([A-Za-z][\w/@.\-]*(?: [A-Za-z][\w/@.\-]*){0,4})"
                   rb"[ \t]*(?:[:=][ \t]*|[ \t]+)(" + NUM + rb")(?:[ \t]*(?:%|s|ms|[KMGT]i?B))?[ \t]*\r?$")
_STEP = re.compile(rb"^[^A-Za-z0-9\n]*(?:[Gg]lobal[ _])?(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)[ \t:#=]*(\d+)"
                   rb"(?:[ \t]*/[ \t]*\d+)?(?![\d.])(?:[ \t]+[\w.]+){0,3}[^A-Za-z0-9\n]*\r?$")
_SECTION = re.compile(rb"^[^A-Za-z\n]*([A-Za-z][\w /&()-]{0,40}):[ \t]*\r?$")
_SKIP_SECTION = re.compile(rb"(?i)tim(e|ing)|memory|throughput|perf")
_SUMMARY = (b"***** train metrics *****", b"***** eval metrics *****", b"Run summary:", b"Run history:")


_KEYS: dict[bytes, str] = {}


def _key(raw: bytes) -> str:
    key = _KEYS.get(raw)
    if key is None:
        key = re.sub(r"[ ]+", "_", raw.decode("utf-8", "replace").strip()).lower()
        if len(_KEYS) < 4096:  # (a cache of the names a log uses, not of every string it holds)
            _KEYS[raw] = key
    return key


class _Scan:
    """Blocks as they complete, from an iterable of lines: `(step or None, line, {key: value})`. `stepped` turns
    true at the first step line; `summary` when a Trainer/W&B summary block shows the file is the console
    reader's (the scan stops there)."""

    def __init__(self) -> None:
        self.stepped = False
        self.summary = False

    def __call__(self, lines):
        cur: dict | None = None
        cur_step, cur_line = None, 0
        skipping = False
        for n, line in enumerate(lines, 1):
            s = _STEP.match(line)
            m = _PAIR.match(line) if s is None else None
            if m is not None:
                if skipping:
                    continue
                key = _key(m.group(1))
                if cur is None or key in cur:  # a repeated name starts the next block
                    if cur and (len(cur) >= 2 or cur_step is not None):
                        yield cur_step, cur_line, cur
                    cur, cur_step, cur_line = {}, None, n
                cur[key] = float(m.group(2))
                continue
            if s is not None:
                if cur and (len(cur) >= 2 or cur_step is not None):
                    yield cur_step, cur_line, cur
                cur, cur_step, cur_line, skipping = {}, float(s.group(1)), n, False
                self.stepped = True
                continue
            if any(mark in line for mark in _SUMMARY):
                self.summary = True
                return
            sec = _SECTION.match(line)
            if sec is not None:  # a titled section inside a block: skipped when it is timing or memory
                skipping = _SKIP_SECTION.search(sec.group(1)) is not None
                continue
            if cur and cur_step is None:  # prose or a blank line ends a block that no step line opened
                if len(cur) >= 2:
                    yield cur_step, cur_line, cur
                cur = None
            if not line.strip():
                skipping = False
        if cur and (len(cur) >= 2 or cur_step is not None):
            yield cur_step, cur_line, cur


def _claims(keys, blocks: int) -> bool:
    from ..ontology import canonical, is_known

    known = [name for name in (canonical(k, False, None) for k in keys) if is_known(name)]
    return bool(known) and (blocks >= 2 or any(k in ("loss", "reward", "eval_loss") for k in known))


def read(path: Path) -> SourceData:
    """One pass over the lines. What is kept is the output, in arrays: a step and a line per block, a block number
    and a value per metric (20 bytes a value); blocks before the first step line wait for it (they take step 0
    when one comes, their position in the log when none does)."""
    steps, lines = array("d"), array("q")
    data: dict[str, tuple[array, array]] = {}  # logged key -> (block numbers, values)
    pending: list[tuple[int, dict]] = []
    scan = _Scan()
    prev = 0.0

    def add(step: float, line: int, row: dict) -> None:
        n = len(steps)
        steps.append(step)
        lines.append(line)
        for key, value in row.items():
            got = data.get(key)
            if got is None:
                got = data[key] = (array("i"), array("d"))
            got[0].append(n)
            got[1].append(value)

    with open_stream(path) as stream:
        for step, line, row in scan(stream):
            if step is None and not scan.stepped:
                pending.append((line, row))
                continue
            for early_line, early_row in pending:
                add(0.0, early_line, early_row)
            pending.clear()
            prev = step if step is not None else prev
            add(prev, line, row)
        cut = stream.truncated
    if scan.summary:
        raise SourceError(f"{path}: holds the Trainer's or W&B's summary block (the console reader's)")
    for i, (line, row) in enumerate(pending, 1):
        add(float(i), line, row)
    if not steps or not _claims(data, len(steps)):
        raise SourceError(f"{path}: no blocks of one metric per line")
    src = SourceData(path=path, format="blocks", step_kind="exact" if scan.stepped else "ordinal")
    src.series = _series(src, data, np.frombuffer(steps, dtype=np.float64), np.frombuffer(lines, dtype=np.int64))
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in its blocks")
    src.records = len(steps)
    how = "each block's step line" if scan.stepped else "the block's position in the log"
    src.warnings.append(f"{path.name}: read as blocks of one metric per line ({len(steps)} block(s); the step is "
                        f"{how})")
    if cut:
        src.warnings.append(f"{path.name}: read up to the size ceiling (KTO_DOCTOR_MAX_FILE_BYTES); the rest of the "
                            "file was not read")
    return src


def _series(src: SourceData, data: dict, steps: np.ndarray, lines: np.ndarray) -> dict:
    """The logged keys' arrays as Series under their canonical names; keys that mean one metric (`loss` and
    `train/loss`) are merged in block order, the later block's value winning at a step (as `Columns` does)."""
    cols = Columns()
    cols.set_steps(steps, lines)
    cols.finish_segments(src, "the step lines")
    names = MetricNames()
    by_name: dict[str, list[str]] = {}
    for key in data:
        name = names[key, False]
        if name is None and names.summary_loss(key):
            name = "\x00" + key
        if name is not None:
            by_name.setdefault(name, []).append(key)
    out: dict = {}
    held = {}
    for name, keys in by_name.items():
        rows = np.concatenate([np.frombuffer(data[k][0], dtype=np.int32) for k in keys])
        vals = np.concatenate([np.frombuffer(data[k][1], dtype=np.float64) for k in keys])
        if len(keys) > 1:
            order = np.argsort(rows, kind="stable")
            rows, vals = rows[order], vals[order]
        series = cols.finish(steps[rows], vals, lines[rows])
        if series is None:
            continue
        if name.startswith("\x00"):
            held[name[1:]] = series
        else:
            out[name] = series
    for key, series in held.items():
        adopt_summary_loss(src, key, series, out)
    return out


def sniff(head: str) -> float:
    text = head.encode("utf-8", "replace")
    scan = _Scan()
    blocks = list(scan(text.split(b"\n")[:2000]))
    if scan.summary or not blocks:
        return 0.0
    return 0.25 if _claims({k for _, _, row in blocks for k in row}, len(blocks)) else 0.0


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
