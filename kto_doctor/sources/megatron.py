"""Megatron-LM / Megatron-DeepSpeed iteration lines, and NeMo 2's text progress printer.

```
 iteration      100/   10000 | consumed samples: 102400 | ... | learning rate: 3.000E-04 | global batch size: 1024 |
   lm loss: 6.540000E+00 | loss scale: 1.0 | grad norm: 1.234 | number of skipped iterations:   0 |
   number of nan iterations:   0 |
 validation loss at iteration 100 | lm loss value: 6.540000E+00 | lm loss PPL: 6.9E+02 |
Training epoch 0, iteration 120/149 | lr: 3e-05 | global_step: 120 | reduced_train_loss: 1.233 | val_loss: 4.106
```
(`megatron/training/training.py` `training_log`; NeMo `progress_printer.py`.) Items are ` name: value |`;
numbers are right-justified, so a learned shape allows any run of blanks. The step is the iteration
(1-based, skipped iterations included); NeMo's printer states `global_step` too, which wins.

Megatron quirks this reader states instead of hiding:
- A loss key is printed only `if avg > 0.0`: an interval whose mean loss is NaN prints no loss key at all
  (NaN > 0 is False). An iteration line without the loss key, where not every iteration of the interval was
  skipped, is read as a NaN loss at that iteration (fact `loss_missing_or_nan`); when every iteration was
  skipped (fp16 loss-scale search at the start) there was no loss to print, and nothing is invented.
- `number of skipped iterations` (fp16 overflows) and `number of nan iterations` (among the skipped ones only)
  are series and totals (`skipped_iterations_total`, `nan_iterations_total`); with a loss scale above 1 (fp16
  dynamic scaling) the skipped ones are also the `overflow_count` the fp16 rule reads. A loss scale of 1.0
  (bf16) is not a loss-scale minimum.
- The loss and most values are means over the logging interval (`loss_reduction`).
"""
from __future__ import annotations

import numpy as np

from . import textlog
from .base import SourceData

# ` name: value |`, and old Megatron's (GPT-2 era, CPM, GLM, Chinese-Transformer-XL) ` name value |` without the
# colon, taken only where the value is one number closing the item: `learning rate 6.3E-06 | lm loss NAN |`
_PAIR = rb" *([^|:\n]+?)(?:: +| +(?=" + textlog.NUM + rb" *(?:\||$)))([^|\n]*?) *(?:\||$)"
_OTHER = rb"[^|\n]*?"


def _iteration_keys(key: str) -> str | None:
    return key


def _validation_keys(key: str) -> str | None:
    if key.endswith(" PPL"):  # exp(loss): derived
        return None
    return key[: -len(" value")] if key.endswith(" value") else key


def _nemo_step(f: dict) -> np.ndarray:
    gs = f.get("global_step")
    it = f["iteration"]
    return it if gs is None else np.where(np.isnan(gs), it, gs)


ITERATION = textlog.Kind(
    name="iteration",
    head=rb"iteration(?<![\w/]iteration) +(?P<iteration>\d+)/ *(?P<train_iters>\d+) *\|",
    pair=_PAIR, other=_OTHER, step=lambda f: f["iteration"], keys=_iteration_keys)
VALIDATION = textlog.Kind(
    name="validation",
    head=rb"validation loss at iteration +(?P<iteration>\d+)(?: on validation set)? *\|",
    pair=_PAIR, other=_OTHER, eval=True, step=lambda f: f["iteration"], keys=_validation_keys)
NEMO = textlog.Kind(
    name="nemo",
    head=rb"Training epoch (?P<epoch>\d+), iteration (?P<iteration>\d+)/(?P<total>\d+) *\|",
    pair=_PAIR, other=_OTHER, step=_nemo_step, uses=("global_step",))

# A Megatron record wrapped by a terminal or a paste: the line ends inside an item (not at `|`), and the next
# one carries `| ` items without being a record of its own.
# (The lookaheads are lazy and the cheap one first: the same test, without trying the alternation at every byte
# of the next line from its end backwards; it ran at every line feed not after `|`: 0.2 s a 64 MB log.)
_JOIN = rb"\n(?<![|\s]\n)(?=[^\n]*?\| )(?![^\n]*?(?:iteration +\d+/|validation loss at|Training epoch \d))"


def _total(counts: np.ndarray) -> int:
    """The sum of a counter column: a count is a whole number below 2**53; anything else (`1e400`, `-3`, NaN) is
    damage and left out, not a reason to drop the file's every record (int(inf) raises)."""
    ok = np.isfinite(counts) & (counts >= 0) & (counts < 2.0 ** 53)
    return int(counts[ok].sum()) if ok.any() else 0


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): `post`'s work on the chunk's records as they come, what it states
    of the whole file summed up in `extra` (`_Streamed`): NeMo's repeated validation values dropped (the last one
    carried over), a vanished loss read as NaN where some iteration of the interval advanced (the interval from
    the iteration line before, across chunks), the skipped and NaN iteration counts and the loss scales."""
    x = reader.extra.get("megatron")
    if x is None:
        x = reader.extra["megatron"] = _Streamed()
    kinds = reader.kinds()
    nemo = np.flatnonzero(kinds == 2)
    if len(nemo):
        x.nemo = True
        _dedupe_repeated_eval(reader, nemo, x.last_eval)
    it_recs = np.flatnonzero(kinds == 0)
    if len(it_recs):
        x.iterations = True
        _vanished_loss(reader, None, it_recs, steps, x)
    sidx, skipped = reader.column("skipped_iterations")
    _, nans = reader.column("nan_iterations")
    if len(skipped):
        x.skipped = (x.skipped or 0) + _total(skipped)
        x.overflow_steps += [int(v) for v in steps[sidx[skipped > 0]] if np.isfinite(v)]
    if len(nans):
        x.nans = (x.nans or 0) + _total(nans)
    _, scale = reader.column("loss_scale")
    scale = scale[np.isfinite(scale)]
    if len(scale):
        x.scale_max = max(x.scale_max, float(scale.max()))
        x.scale_min = min(x.scale_min, float(scale.min()))
    return True


class _Streamed:
    """What `post` states of a streamed file, summed up chunk by chunk (`stream`)."""

    def __init__(self) -> None:
        self.nemo = self.iterations = False
        self.last_eval: dict = {}  # NeMo's validation metric -> its last value
        self.last_step: float | None = None  # the step of the last iteration line
        self.gaps: dict = {}  # step gap between iteration lines (> 0) -> how many
        self.first: tuple | None = None  # the first iteration line's (skipped, step) where it has no loss
        self.nan_count, self.nan_line, self.all_skipped = 0, 0, 0
        self.skipped: int | None = None
        self.nans: int | None = None
        self.overflow_steps: list = []
        self.scale_max, self.scale_min = -np.inf, np.inf


def _post_streamed(reader: textlog.Reader, src: SourceData, x: "_Streamed") -> None:
    if x.nemo:
        src.hints["framework"] = "nemo"
    if not x.iterations:
        return
    src.hints.setdefault("framework", "megatron")
    src.facts["loss_reduction"] = "mean over the logging interval"
    if x.first is not None:  # the first iteration line without a loss: its interval is the typical one
        skipped, step = x.first
        if x.gaps:
            gaps = np.array(sorted(x.gaps))
            where = np.cumsum([x.gaps[g] for g in gaps])
            n = int(where[-1])
            mid = gaps[np.searchsorted(where, [(n - 1) // 2 + 1, n // 2 + 1])]
            step = float(np.median(mid))
        if not skipped >= step:  # (`stream` read it as skipped: here is where that is known)
            raise textlog.Fallback
        x.all_skipped += 1
    _vanished_warnings(reader, src, x.nan_count, x.nan_line, x.all_skipped)
    if x.skipped is not None:
        src.facts["skipped_iterations_total"] = x.skipped
    if x.nans is not None:
        src.facts["nan_iterations_total"] = x.nans
    if x.scale_max > 1.0:
        src.facts["fp16"] = True
        src.facts["loss_scale_min"] = x.scale_min
        if x.skipped is not None:
            src.facts["overflow_count"] = x.skipped
            src.facts["overflow_steps"] = x.overflow_steps


def post(reader: textlog.Reader, src: SourceData) -> None:
    if reader.streamed:
        _post_streamed(reader, src, reader.extra.get("megatron") or _Streamed())
        return
    kinds = reader.kinds()
    steps = reader.extra["steps"]
    it_recs = np.flatnonzero(kinds == 0)
    if (kinds == 2).any():
        src.hints["framework"] = "nemo"
        _dedupe_repeated_eval(reader, np.flatnonzero(kinds == 2))
    if not len(it_recs):
        return
    src.hints.setdefault("framework", "megatron")
    src.facts["loss_reduction"] = "mean over the logging interval"
    _vanished_loss(reader, src, it_recs, steps)
    _, skipped = reader.column("skipped_iterations")
    _, nans = reader.column("nan_iterations")
    if len(skipped):
        src.facts["skipped_iterations_total"] = _total(skipped)
    if len(nans):
        src.facts["nan_iterations_total"] = _total(nans)
    _, scale = reader.column("loss_scale")
    scale = scale[np.isfinite(scale)]
    if len(scale) and scale.max() > 1.0:  # fp16 dynamic loss scaling (bf16 prints 1.0)
        src.facts["fp16"] = True
        src.facts["loss_scale_min"] = float(scale.min())
        if len(skipped):
            src.facts["overflow_count"] = _total(skipped)
            sidx, svals = reader.column("skipped_iterations")
            src.facts["overflow_steps"] = [int(s) for s in steps[sidx[svals > 0]] if np.isfinite(s)]


def _vanished_loss(reader: textlog.Reader, src: SourceData | None, it_recs: np.ndarray, steps: np.ndarray,
                   x: "_Streamed | None" = None) -> None:
    """Iteration lines without a loss key: NaN where some iteration of the interval advanced. Streamed (`x`), of one
    chunk: the interval of its first line from the last line of the chunk before, the first line of the file's
    decided in `_post_streamed` (its interval is the file's typical one), the warnings' counts kept in `x`."""
    lidx, lvals = reader.column("loss")
    has_loss = np.zeros(len(steps), dtype=bool)
    has_loss[lidx] = True
    it_steps = steps[it_recs]
    if x is not None:  # every interval between iteration lines counts for the typical one
        gaps = np.diff(it_steps, prepend=it_steps[:1] if x.last_step is None else x.last_step)
        if x.last_step is None:
            gaps = gaps[1:]
        up, count = np.unique(gaps[gaps > 0], return_counts=True)
        for g, c in zip(up.tolist(), count.tolist()):
            x.gaps[g] = x.gaps.get(g, 0) + c
    missing = it_recs[~has_loss[it_recs]]
    missing = missing[~np.isin(missing, reader.bad_records)]  # a damaged or cut line lost its key to the damage
    if not len(missing):
        if x is not None:
            x.last_step = float(it_steps[-1])
        return
    sidx, svals = reader.column("skipped_iterations")
    skipped = np.full(len(steps), np.nan)
    skipped[sidx] = svals
    gaps = np.diff(it_steps)
    interval = np.empty(len(it_recs))
    interval[1:] = gaps
    if x is None:
        typical = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else None
        interval[0] = typical if typical is not None else it_steps[0]
    elif x.last_step is not None:
        interval[0] = it_steps[0] - x.last_step
    else:  # the file's first: skipped where its count may say so, decided at the end (`_post_streamed`)
        interval[0] = np.nan if np.isnan(skipped[it_recs[0]]) else -np.inf
        if missing[0] == it_recs[0] and not np.isnan(skipped[it_recs[0]]):
            x.first = (float(skipped[it_recs[0]]), float(it_steps[0]))
            x.all_skipped -= 1  # (counted below, and again at the end where it was)
    interval = interval[np.searchsorted(it_recs, missing)]
    all_skipped = skipped[missing] >= interval
    nan_at = missing[~all_skipped]
    if x is not None:
        x.last_step = float(it_steps[-1])
    if len(nan_at):
        order = np.argsort(np.concatenate([lidx, nan_at]), kind="stable")
        reader.put("loss", np.concatenate([lidx, nan_at])[order],
                   np.concatenate([lvals, np.full(len(nan_at), np.nan)])[order])
    first_line = int(reader.lines()[nan_at[0]]) if len(nan_at) else 0
    if x is not None:
        x.nan_line = x.nan_line if x.nan_count else first_line
        x.nan_count += len(nan_at)
        x.all_skipped += int(all_skipped.sum())
        return
    _vanished_warnings(reader, src, len(nan_at), first_line, int(all_skipped.sum()))


def _vanished_warnings(reader: textlog.Reader, src: SourceData, nan_count: int, first_line: int,
                       all_skipped: int) -> None:
    if nan_count:
        src.facts["loss_missing_or_nan"] = int(nan_count)
        src.warnings.append(
            f"{reader.path.name}: {nan_count} iteration line(s) print no loss (first at line {first_line}): "
            "Megatron leaves the loss out when the interval's mean is NaN, so it is read as NaN there")
    if all_skipped:
        src.warnings.append(
            f"{reader.path.name}: {all_skipped} iteration line(s) without a loss had every iteration of "
            "the interval skipped (fp16 loss-scale search); no loss was computed there")


def _dedupe_repeated_eval(reader: textlog.Reader, recs: np.ndarray, last: dict | None = None) -> None:
    """NeMo's printer repeats the last validation value on every line: keep it where it changes. `last`: each
    metric's last value on the lines before (streamed: the chunk before's), updated."""
    for name in [n for n in reader.store.metrics if n.startswith("eval_")]:
        idx, vals = reader.column(name)
        mine = np.isin(idx, recs)
        if not mine.any():
            continue
        v = vals[mine]
        new = np.ones(len(v), dtype=bool)
        new[1:] = ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
        if last is not None:
            if name in last:
                new[0] = not (v[0] == last[name] or (np.isnan(v[0]) and np.isnan(last[name])))
            last[name] = float(v[-1])
        keep = ~mine
        keep[np.flatnonzero(mine)[new]] = True
        reader.put(name, idx[keep], vals[keep])


FORMAT = textlog.Format(name="megatron", kinds=(ITERATION, VALIDATION, NEMO), framework=None,
                        join=_JOIN, post=post, what="iteration lines", stream=stream)


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "Megatron-LM / Megatron-DeepSpeed ` iteration N/ M | lm loss: ... |` lines and NeMo 2's "
    "`Training epoch E, iteration N/M | ...` printer",
    rb"iteration +\d+/ *\d+ \| ", rb"Training epoch \d+, iteration \d+/\d+ \| ",
    examples=("Megatron-LM pretrain_gpt.py stdout, NeMo 2.0 ProgressPrinter output, pasted issue excerpts",))
