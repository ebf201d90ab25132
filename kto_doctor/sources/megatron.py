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


def post(reader: textlog.Reader, src: SourceData) -> None:
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


def _vanished_loss(reader: textlog.Reader, src: SourceData, it_recs: np.ndarray, steps: np.ndarray) -> None:
    """Iteration lines without a loss key: NaN where some iteration of the interval advanced."""
    lidx, lvals = reader.column("loss")
    has_loss = np.zeros(len(steps), dtype=bool)
    has_loss[lidx] = True
    missing = it_recs[~has_loss[it_recs]]
    missing = missing[~np.isin(missing, reader.bad_records)]  # a damaged or cut line lost its key to the damage
    if not len(missing):
        return
    sidx, svals = reader.column("skipped_iterations")
    skipped = np.full(len(steps), np.nan)
    skipped[sidx] = svals
    it_steps = steps[it_recs]
    gaps = np.diff(it_steps)
    typical = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else None
    interval = np.empty(len(it_recs))
    interval[1:] = gaps
    interval[0] = typical if typical is not None else it_steps[0]
    interval = interval[np.searchsorted(it_recs, missing)]
    all_skipped = skipped[missing] >= interval
    nan_at = missing[~all_skipped]
    if len(nan_at):
        order = np.argsort(np.concatenate([lidx, nan_at]), kind="stable")
        reader.put("loss", np.concatenate([lidx, nan_at])[order],
                   np.concatenate([lvals, np.full(len(nan_at), np.nan)])[order])
        lines = reader.lines()[nan_at]
        src.facts["loss_missing_or_nan"] = int(len(nan_at))
        src.warnings.append(
            f"{reader.path.name}: {len(nan_at)} iteration line(s) print no loss (first at line {int(lines[0])}): "
            "Megatron leaves the loss out when the interval's mean is NaN, so it is read as NaN there")
    if all_skipped.any():
        src.warnings.append(
            f"{reader.path.name}: {int(all_skipped.sum())} iteration line(s) without a loss had every iteration of "
            "the interval skipped (fp16 loss-scale search); no loss was computed there")


def _dedupe_repeated_eval(reader: textlog.Reader, recs: np.ndarray) -> None:
    """NeMo's printer repeats the last validation value on every line: keep it where it changes."""
    for name in [n for n in reader.store.metrics if n.startswith("eval_")]:
        idx, vals = reader.column(name)
        mine = np.isin(idx, recs)
        if not mine.any():
            continue
        v = vals[mine]
        new = np.ones(len(v), dtype=bool)
        new[1:] = ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
        keep = ~mine
        keep[np.flatnonzero(mine)[new]] = True
        reader.put(name, idx[keep], vals[keep])


FORMAT = textlog.Format(name="megatron", kinds=(ITERATION, VALIDATION, NEMO), framework=None,
                        join=_JOIN, post=post, what="iteration lines")


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "Megatron-LM / Megatron-DeepSpeed ` iteration N/ M | lm loss: ... |` lines and NeMo 2's "
    "`Training epoch E, iteration N/M | ...` printer",
    rb"iteration +\d+/ *\d+ \| ", rb"Training epoch \d+, iteration \d+/\d+ \| ",
    examples=("Megatron-LM pretrain_gpt.py stdout, NeMo 2.0 ProgressPrinter output, pasted issue excerpts",))
