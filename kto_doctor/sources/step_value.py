"""Bare `<step> <value>` lines: a loop's `print(step, loss.item())`, pasted into an issue.

```
76930 2.6496577
76940 2.59109
76980 nan
```
(prajdabre/yanmtt#7, a BART pre-training paste), also `step, value` and the same glued to the end of a tqdm
bar the loop printed over (unsloth#1145: `4%|▎ | 11/312 [02:27<1:00:48, 12.12s/it]10, 2.2398`). Nothing on such a line names the value. It is read as the
loss when the file speaks of a loss anywhere in its start (the issue's title, the script's banner, a header
`step loss`), and kept as `value` otherwise, which the report lists as a name it does not know; its NaN is seen
either way. The file's other lines (prose, a `Saving the model` between two lines) are skipped. A last line
without its line end (a file cut while it was written: `1299 9.5687` of `1299 9.568782966377839`) is not read,
and the warnings say so.

A fallback: it claims a file only when 5 or more such lines in its start count up, and scores below every reader
that knows its lines' names, so a table of numbers that some other format explains is that format's.
"""
from __future__ import annotations

import re

from . import lazyre, textlog
from .base import SourceData

# (after a tqdm bar that the print was glued to, `  4%|▎    | 11/312 [02:27<1:00:48, 12.12s/it]10, 2.2398`:
# unsloth#1145's `print(step, loss)` inside a training loop, comma-separated)
_BAR = rb"(?:[ \t]*\d{1,3}%\|[^|\n]{0,80}\|[ \t]*\d+/\d+[ \t]*\[[^\]\n]{0,80}\])?"
_LINE = (rb"^" + _BAR + rb"[ \t]*(?P<step>\d+)(?:[ \t]+|,[ \t]*)(?P<value>" + textlog.NUM
         + rb")(?=[ \t]*\r?$)")
PAIR = textlog.Kind(name="pair", head=_LINE, step=lambda f: f["step"], token=None)
_SNIFF = lazyre.compile(_LINE, re.M)
_LOSS_WORD = lazyre.compile(rb"(?i)loss")
MIN_LINES = 5
LOOK = 1 << 16  # the start searched for the word `loss`


def scan(reader: textlog.Reader, chunk: bytes) -> None:
    if "loss_word" not in reader.extra:  # the first chunk holds the file's start
        reader.extra["loss_word"] = _LOSS_WORD.search(chunk, 0, LOOK) is not None
    # (chunks come in file order: after the last one, whether the file ends inside a line, and which line that is)
    reader.extra["feeds"] = reader.extra.get("feeds", 0) + chunk.count(b"\n")
    reader.extra["open_end"] = bool(chunk) and not chunk.endswith(b"\n")


def post(reader: textlog.Reader, src: SourceData) -> None:
    idx, vals = reader.column("@value")
    if reader.extra.get("open_end") and len(idx) and reader.lines()[idx[-1]] == reader.extra["feeds"] + 1:
        # the last line has no line end: a file cut while it was written, whose last pair may be cut inside its
        # value (`1299 9.5687` of `1299 9.568782966377839`, `1299 9`) and still look whole: not read
        idx, vals = idx[:-1], vals[:-1]
        src.warnings.append(f"{reader.path.name}: the file ends inside a line (cut short); its last value was not "
                            "read")
    name = "loss" if reader.extra.get("loss_word") else "value"
    reader.put(name, idx, vals)
    src.warnings.append(
        f"{reader.path.name}: read as bare `<step> <value>` lines; the value is "
        + ("taken as the loss (the file speaks of a loss)" if name == "loss"
           else "kept as `value` (nothing in the file names it: --map value=loss if it is the loss)"))
    src.hints["reader"] = "fallback"


FORMAT = textlog.Format(name="step_value", kinds=(PAIR,), scan=scan, post=post, keep=("value",), redraws=False,
                        what="`<step> <value>` lines")


def read(path):
    return textlog.read(path, FORMAT)


def sniff(head: str) -> float:
    """0.15 to 0.25 where MIN_LINES or more bare lines count up (each step above the one before); else 0."""
    steps = [int(m.group("step")) for m in _SNIFF.finditer(head.encode("utf-8", "replace"))]
    if len(steps) < MIN_LINES or any(b <= a for a, b in zip(steps, steps[1:])):
        return 0.0
    return min(0.25, 0.15 + 0.01 * len(steps))


def _source():
    from .registry import TEXT_SUFFIXES, Source

    return Source(name="step_value", title="Bare `<step> <value>` lines (a loop's `print(step, loss)`), read as the "
                  "loss where the file speaks of one; a fallback", read=read, priority=95, sniff=sniff,
                  suffixes=TEXT_SUFFIXES, examples=("an issue paste of `76930 2.6496577` lines",))


SOURCE = _source()
