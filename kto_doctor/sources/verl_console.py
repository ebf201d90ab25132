"""verl's console logger (`trainer.logger=console`): one `step:N - key:value - key:value ...` line per step.

```
(TaskRunner pid=222265) step:34 - global_seqlen/min:419336 - actor/entropy:0.2226 - actor/pg_loss:0.0423 - ...
(main_task pid=19799) step:2 - critic/kl:-0.001 - critic/vf_loss:24.428 - critic/score/mean:0.025 - ...
```
(`verl/utils/logger/aggregate_logger.py` `concat_dict_to_str`.) Items are `key:value` joined by ` - `; old verl
prints values with 3 decimals (`actor/lr:0.000` for 1e-6), newer ones the full repr, numpy 2 scalars as
`np.float64(0.0042)`. A Ray prefix may precede the record. The step is the leading `step:N` only: `timing_s/step`
and `training/global_step` inside the record are not steps, and neither is "step" in a printed rollout.
`step:0` holds the validation before training. Records are 1-4 KB lines, often hard-wrapped when pasted
(`prompt_length/max` | `:397.000`, or hand-wrapped docs whose continuation lines start with `    - `): such
lines are joined back onto their record.
"""
from __future__ import annotations

import sys

import numpy as np

from . import textlog
from .base import SourceData

# `step:` where a record starts: after the line start, blanks, a Ray prefix `(TaskRunner pid=1) ` or an ANSI reset
_HEAD = rb"step:(?<![^\s)\]>m]step:)(?<![\w/.]mstep:)(?P<step>\d+)(?= - |[ \t]*$)"
_PAIR = (rb"(?:^|(?<= - )|(?<=\x00))[ \t]*(?:- )?([^\s:][^\n:]*?):(?:np\.\w+\()?([^\s()]+?)\)?"
         rb"(?= - |[ \t]*-?[ \t]*$| *\x00)")
_OTHER = rb"\S*?"

STEP = textlog.Kind(name="step", head=_HEAD, pair=_PAIR, other=_OTHER, step=lambda f: f["step"],
                    incomplete=rb" -[ \t]*\Z")

# A wrapped record: the next line starts inside a key or value and goes on with ` - key:value` items, or (docs)
# starts with `- key:value`; never a line that starts a record itself.
# (The cheap test first: the line's shape; then the scan of the whole line for a record's step token.)
# (Each alternative starts with a run whose next byte must be one the run does not take, so giving bytes back can
# never help: on 3.11+ the runs are possessive, which spares the engine those tries at every line feed: a third of
# the search on verl's lines, led by a Ray prefix.)
_P = b"+" if sys.version_info >= (3, 11) else b""
_JOIN = (rb"\n(?=[ \t]*" + _P + rb"- [^\s:]+:\S|[^\s]*" + _P + rb"(?: - [^\s:]+:\S+)+[ \t]*-?[ \t]*$|[^\s:]*" + _P
         + rb":\S+[ \t]*$)(?![^\n]*?(?<![\w/.])step:\d)")


def _three_decimals(reader: textlog.Reader, least: int = 8):
    """At least `least` finite values, every one a multiple of 0.001 (to 1e-6): checked a metric at a time and a
    slice at a time (the same elementwise test as on all values at once, without copies of every value: 0.6 GB at
    1 GB). With `least` 0 (a streamed chunk): the finite values counted, None where one is no such multiple."""
    finite = 0
    for name in [n for n in reader.store.metrics if not n.startswith("@")]:
        v = reader.store.metrics[name].arrays()[1]
        for a in range(0, len(v), 1 << 20):
            x = v[a:a + (1 << 20)]
            x = x[np.isfinite(x)]
            finite += len(x)
            if not np.allclose(x * 1000, np.round(x * 1000), rtol=0, atol=1e-6):
                return None if not least else False
    return finite if not least else finite >= least


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): `post` changes no step; whether every value so far is printed
    with 3 decimals, and how many finite ones there were, kept for it."""
    x = reader.extra
    if x.setdefault("three", True):
        finite = _three_decimals(reader, 0)
        if finite is None:
            x["three"] = False
        else:
            x["finite"] = x.get("finite", 0) + finite
    return True


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("framework", "verl")
    if reader.streamed:
        x = reader.extra
        if x.get("three", True) and x.get("finite", 0) >= 8:
            _three_decimals_read(reader, src, "learning_rate" in reader.group_of)
        return
    if _three_decimals(reader):
        _three_decimals_read(reader, src, "learning_rate" in reader.store.metrics)


def _three_decimals_read(reader: textlog.Reader, src: SourceData, rate: bool) -> None:
    """verl <= 0.3 prints `{v:.3f}`: `actor/lr:0.000` says only that the rate is below 0.0005 (`rate`: the file
    holds a learning rate, which is then not read)."""
    src.facts["value_decimals"] = 3
    if rate:
        reader.store.metrics.pop("learning_rate", None)
        reader.drop_streamed("learning_rate")
        src.warnings.append(f"{reader.path.name}: every value is printed with 3 decimals (verl <= 0.3), so "
                            "`actor/lr:0.000` only says the rate is below 0.0005: the learning rate is not read")


def facts(reader: textlog.Reader, chunk: bytes) -> None:
    """The configuration verl printed before its first step (verl_config: its group size, estimator, rate...),
    from the first chunk the reader reads anyway."""
    from .. import verl_config

    head = chunk[:verl_config.MAX_TREE]
    if b"{'" not in head:
        return
    tree = verl_config.printed_tree(head.decode("utf-8", "replace"))
    if tree is None:
        return
    src = reader.src
    stated = verl_config.facts(tree)
    for key, value in stated.items():
        src.config.setdefault(key, value)
    src.warnings.append(f"{reader.path.name}: the configuration verl printed at start-up was read ("
                        + ", ".join(f"{k} {v}" for k, v in stated.items() if k in _SHOWN) + ")")


_SHOWN = ("adv_estimator", "num_generations", "learning_rate", "max_completion_length", "beta")


FORMAT = textlog.Format(name="verl_console", kinds=(STEP,), framework="verl", join=_JOIN, facts=facts, post=post,
                        what="step lines", stream=stream)


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "verl console logger lines `step:12 - actor/pg_loss:0.01 - critic/score/mean:0.25 - ...` "
    "(also with `(TaskRunner pid=...)` prefixes)",
    rb"(?:^|[\s)])step:\d+ - [\w/@.()-]+:[-\w.(]",
    examples=("verl / TinyZero / rllm stdout (trainer.logger=['console']), pasted issue excerpts",))
