"""mmengine / mmcv runner logs: xtuner, InternEvo on mmengine, and the mm* projects.

```
10/30 22:18:02 - mmengine - INFO - Epoch(train) [1][200/735]  lr: 1.9870e-04  eta: 2:46:39  time: 2.8906
    data_time: 0.0042  memory: 10762  loss: 2.7522  grad_norm: 3.0608
2024/05/07 11:45:16 - mmengine - INFO - Iter(train) [ 510/2046]  lr: 1.7590e-04  eta: 1:25:37  ...  loss: 0.6919
Epoch(val) [10][1000/1000]  aAcc: 87.4300  mIoU: ...
2021-11-22 01:32:34,502 - mmocr - INFO - Epoch [1][200/62598]\tlr: 1.000e-03, eta: 7 days, 15:55:58, ...
```
(`mmengine/runner/log_processor.py` `get_log_after_iter`; mmcv 1.x `TextLoggerHook`.) Items are `name: value`,
two blanks apart (mmcv 1.x: `, `; `eta` can hold a comma: `3 days, 3:30:35`).

Steps: `Iter(train) [i/N]` is iteration i (1-based). `Epoch(train) [e][i/N]` restarts i every epoch, so the
global step is (e - 1) * N + i, N being the iterations per epoch the line states. Validation lines take the
step of the training line before them. `loss`, `grad_norm` and `time` are means over the last 10 logged
iterations (mmengine's `window_size`), stated as the fact `loss_window`.
"""
from __future__ import annotations

import re

import numpy as np

from . import textlog
from .base import SourceData

_PAIR = rb"(?<![^\s,\x00])([A-Za-z_][\w./@=\-]*): ((?:\d+ days?, )?[^,\s]+)"
_OTHER = rb"(?:\d+ days?, )?[^,\s]+"
_KEYS = {"base_lr": None}


def _keys(key: str) -> str | None:
    return _KEYS.get(key, key)


def _epoch_step(f: dict) -> np.ndarray:
    return (f["epoch"] - 1) * f["iters"] + f["iter"]


def _kind(name, head, step=None, evaluation=False):
    return textlog.Kind(name=name, head=head, pair=_PAIR, other=_OTHER, step=step, eval=evaluation, keys=_keys)


EPOCH_TRAIN = _kind("epoch_train", rb"Epoch\(train\) *\[(?P<epoch>\d+)\]\[ *(?P<iter>\d+)/(?P<iters>\d+)\]",
                    _epoch_step)
ITER_TRAIN = _kind("iter_train", rb"Iter\(train\) *\[ *(?P<iter>\d+)/(?P<iters>\d+)\]", lambda f: f["iter"])
EPOCH_VAL = _kind("epoch_val", rb"Epoch\(val\) *\[(?P<epoch>\d+)\]\[ *(?P<iter>\d+)/(?P<iters>\d+)\]",
                  evaluation=True)
ITER_VAL = _kind("iter_val", rb"Iter\(val\) *\[ *(?P<iter>\d+)/(?P<iters>\d+)\]", evaluation=True)
# mmcv 1.x: a TAB after the header, `, ` between items
MMCV_EPOCH = _kind("mmcv_epoch", rb"(?<![\w(])Epoch \[(?P<epoch>\d+)\]\[(?P<iter>\d+)/(?P<iters>\d+)\]\t", _epoch_step)
MMCV_ITER = _kind("mmcv_iter", rb"(?<![\w(])Iter \[(?P<iter>\d+)/(?P<iters>\d+)\]\t", lambda f: f["iter"])
MMCV_EPOCH.token, MMCV_ITER.token = b"Epoch [", b"Iter ["

_XTUNER = (b"xtuner", b"EvaluateChatHook", b"tokens_per_sec", b"DatasetInfoHook")


# The optimizer of the config an mmengine trainer prints at start-up: `optimizer=dict(lr=1.0, type='DAdaptAdam')` inside
# `optim_wrapper` (it wins over a leftover `optim_type = '...'`), the class's last dotted part.
_OPTIMIZER = re.compile(rb"optimizer\s*=\s*dict\([^)\n]{0,300}?type\s*=\s*'(?:[\w.]*\.)?(\w+)'")
_OPTIM_TYPE = re.compile(rb"^optim_type\s*=\s*'(?:[\w.]*\.)?(\w+)'", re.M)


def facts(reader: textlog.Reader, chunk: bytes) -> None:
    if "optim" not in reader.src.facts and b"optim" in chunk:
        m = _OPTIMIZER.search(chunk) or _OPTIM_TYPE.search(chunk)
        if m is not None:
            reader.src.facts["optim"] = m.group(1).decode("ascii")
    if any(x in chunk for x in _XTUNER):
        reader.src.hints["framework"] = "xtuner"
    if b" - mmengine - " in chunk or b"Epoch(train)" in chunk or b"Iter(train)" in chunk:
        reader.src.hints.setdefault("framework", "mmengine")


def scan(reader: textlog.Reader, chunk: bytes) -> None:
    """Before each chunk: `post` reads the last `@iters` of the Epoch lines and the last of the Iter lines only; the
    others are dropped as the file streams (12 bytes a record kept to the end for nothing)."""
    got = reader.store.metrics.get("@iters")
    if got is None or len(got) <= 2:
        return
    idx, iters = reader.column("@iters")
    kinds = reader.kinds()[idx]
    keep = [int(where[-1]) for where in (np.flatnonzero((kinds == 0) | (kinds == 4)),
                                         np.flatnonzero((kinds == 1) | (kinds == 5))) if len(where)]
    keep.sort()
    reader.put("@iters", idx[keep].copy(), iters[keep].copy())


def _last_iters(reader: textlog.Reader) -> tuple:
    """The `@iters` of the last Epoch line and of the last Iter line (None where there is none) among the stored
    records."""
    idx, iters = reader.column("@iters")
    kinds = reader.kinds()[idx]
    got = []
    for sel in ((kinds == 0) | (kinds == 4), (kinds == 1) | (kinds == 5)):
        where = np.flatnonzero(sel)
        got.append(iters[where[-1]] if len(where) else None)
    return tuple(got)


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): the steps are final as the lines come (`post` states facts
    only); the last iterations per epoch and in all of the last Epoch and Iter lines are kept for it."""
    last = reader.extra.setdefault("last_iters", [None, None])
    for i, got in enumerate(_last_iters(reader)):
        if got is not None:
            last[i] = got
    return True


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("framework", "mmengine")
    src.facts["loss_window"] = 10
    ep, it = reader.extra.get("last_iters", (None, None)) if reader.streamed else _last_iters(reader)
    if ep is not None:
        n = int(ep)
        src.warnings.append(f"{reader.path.name}: Epoch(train) [e][i/{n}] lines: the global step is "
                            f"(e - 1) x {n} + i (iterations per epoch as the lines state them)")
    if it is not None and np.isfinite(it):
        src.facts["max_steps"] = int(it)


FORMAT = textlog.Format(name="mmengine", kinds=(EPOCH_TRAIN, ITER_TRAIN, EPOCH_VAL, ITER_VAL, MMCV_EPOCH, MMCV_ITER),
                        facts=facts, scan=scan, post=post, keep=("iters",), what="Epoch/Iter lines",
                        stream=stream)


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "mmengine / mmcv runner logs (xtuner, InternEvo, mm* projects): `Epoch(train) [1][200/735]  lr: ...  "
    "loss: ...  grad_norm: ...` and `Iter(train) [ 200/10000] ...`",
    rb"(?:Epoch|Iter)\((?:train|val)\) *\[[ \d/\]\[]+\] +\w+: ",
    rb"(?<![\w(])(?:Epoch \[\d+\]\[\d+/\d+\]|Iter \[\d+/\d+\])\t\w+: ",
    examples=("xtuner work_dirs/<config>/<date>/<date>.log, pasted issue excerpts",))
