"""A loop that prints its loss tensor each step: `tensor(3.2207, device='cuda:0')`, `tensor(nan, device='cuda:0',
grad_fn=<NllLossBackward0>)`.

Pasted into an issue ("the loss becomes nan"), such a log has no names and no step counter: each line is one
step's scalar. Read as the loss, one row per printed tensor in file order (ordinal steps), and said so in a
warning. Recognised only where printed scalar tensors are most of the file's lines (at least 3, and at least half
of the non-blank lines), so a traceback or a batch printout is not read as a loss.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import Columns, SourceData, SourceError, read_bytes
from .registry import TEXT_SUFFIXES, Source

MAX_BYTES = 16 << 20  # a paste, not a log of millions of steps: larger files are not this format
_TENSOR = re.compile(rb"^[ \t]*(?:loss[ \t]*[:=]?[ \t]*)?tensor\([ \t]*(-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))"
                     rb"[ \t]*(?:,[^\n]*)?\)[ \t]*\r?$", re.M)
_MIN_LINES = 3


def _values(text: bytes) -> tuple[list[float], list[int]]:
    values, lines = [], []
    line = 1
    pos = 0
    for m in _TENSOR.finditer(text):
        line += text.count(b"\n", pos, m.start())
        pos = m.start()
        values.append(float(m.group(1)))
        lines.append(line)
    return values, lines


def _claims(text: bytes, n: int) -> bool:
    nonblank = sum(1 for ln in text.splitlines() if ln.strip())
    return n >= _MIN_LINES and 2 * n >= nonblank


def read(path: Path) -> SourceData:
    data = read_bytes(path)
    if len(data) > MAX_BYTES:
        raise SourceError(f"{path}: larger than a paste of printed loss tensors")
    values, lines = _values(data)
    if not _claims(data, len(values)):
        raise SourceError(f"{path}: not a log of printed loss tensors")
    src = SourceData(path=path, format="printed_tensor", step_kind="ordinal")
    steps = np.arange(1, len(values) + 1, dtype=np.float64)
    src.series["loss"] = Columns().finish(steps, np.asarray(values, dtype=np.float64),
                                          np.asarray(lines, dtype=np.int64))
    src.records = len(values)
    src.warnings.append(f"{path.name}: {len(values)} printed tensors without a name or a step (`tensor(3.22, "
                        "device=...)`) read as the loss, one step each")
    tail = data.rstrip().rsplit(b"\n", 1)[-1]
    if b"tensor(" in tail and _TENSOR.search(tail) is None:  # a paste or a file cut inside its last print
        last_line = data.rstrip().count(b"\n") + 1
        src.warnings.append(f"{path.name}: the last line is a printed tensor cut short (line {last_line}); "
                            f"the {len(values)} complete one(s) before it were read")
    return src


def sniff(head: str) -> float:
    text = head.encode("utf-8", "replace")
    return 0.45 if _claims(text, len(_TENSOR.findall(text))) else 0.0


SOURCE = Source(
    name="printed_tensor",
    title="A loop's printed loss tensors, one per line (`tensor(3.2207, device='cuda:0')`), read as the loss",
    read=read,
    priority=60,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("a paste of `print(loss)` output in an issue",),
)
