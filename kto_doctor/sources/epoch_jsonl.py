"""The per-epoch `log.txt` of the DeiT / MAE training-loop lineage (LLaMA-Adapter, many research fine-tuning repos):
one JSON object per epoch, the training loop's averages prefixed `train_`, the evaluation's `val_` or `test_`.

```
{"train_lr": 0.00014, "train_closs": 1.0714, "epoch": 0, "val_lr": 0.00028, "val_closs": 1.0658}
{"train_lr": 0.00042, "train_loss": 2.31, "test_loss": 2.2, "test_acc1": 41.3, "epoch": 1, "n_parameters": 86567656}
```

The line is written when an epoch ends, so the row of `"epoch": 0` is the state after one epoch: its step is the
epoch + 1, and so is its `epoch` series (HF's convention, where 1.0 is the end of the first epoch). The prefixes
go, `val_`/`test_` make the name an eval one, and the rest is the ontology's (`closs` is the generic dialect's loss).
A line that is not a JSON object with an `epoch` is skipped and counted; the rest of the file is kept.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .base import Columns, SourceData, SourceError, note_collisions, open_stream, to_float, usable_step
from .registry import Source

_PREFIXES = (("train_", False), ("val_", True), ("test_", True), ("eval_", True))
_COUNTS = ("n_parameters", "epoch")


def read(path: Path) -> SourceData:
    src = SourceData(path=path, format="epoch_jsonl")
    cols = Columns(dialect="generic")
    bad, first_bad = 0, None
    steps: list[float] = []
    lines: list[int] = []
    with open_stream(path) as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                row = json.loads(raw)
            except (ValueError, RecursionError):
                row = None
            epoch = row.get("epoch") if isinstance(row, dict) else None
            if not usable_step(epoch):
                bad += 1
                first_bad = first_bad or lineno
                continue
            step = float(epoch) + 1.0
            train, evals = {"epoch": step}, {}
            for key, value in row.items():
                if key in _COUNTS or isinstance(value, bool) or to_float(value) is None:
                    continue
                for prefix, is_eval in _PREFIXES:
                    if key.startswith(prefix):
                        (evals if is_eval else train)[key[len(prefix):]] = value
                        break
            if "n_parameters" in row and "trainable_params" not in src.facts:
                src.facts["trainable_params"] = row["n_parameters"]
            for part, is_eval in ((train, False), (evals, True)):
                if len(part) > (0 if is_eval else 1):
                    cols.add_row(part, step, lineno, is_eval)
            steps.append(step)
            lines.append(lineno)
            src.records += 1
    if not src.records:
        raise SourceError(f"{path}: no per-epoch JSON line with an `epoch` ({bad} unreadable line(s))")
    if bad:
        src.warnings.append(f"{path.name}: skipped {bad} line(s) that are no per-epoch JSON record, first at line "
                            f"{first_bad}")
    cols.set_steps(np.asarray(steps, dtype=np.float64), np.asarray(lines, dtype=np.int64))
    cols.finish_segments(src, "the epoch")
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in its per-epoch lines")
    note_collisions(src, cols.names)
    src.warnings.append(f"{path.name}: one line per epoch (train_/val_/test_ averages): the step is the epoch, "
                        "counted from 1 at the end of the first")
    return src


# the first JSON object of the file: an `epoch` key and a `train_` average beside it, on one line
_LINE = re.compile(r'^\{[^\n{}]*"train_[A-Za-z]\w*"\s*:\s*-?[\d.]+[^\n{}]*\}\s*$', re.M)


def sniff(head: str) -> float:
    first = head.lstrip().split("\n", 1)[0]
    if '"epoch"' not in first or '"current_steps"' in first or '"step"' in first:
        return 0.0
    return 0.9 if _LINE.match(first.strip()) else 0.0


SOURCE = Source(
    name="epoch_jsonl",
    title="Per-epoch JSON lines of the DeiT / MAE loop lineage (`log.txt`: train_*, val_*/test_* averages and "
          "`epoch`; LLaMA-Adapter and research repos)",
    read=read,
    priority=32,
    sniff=sniff,  # by content only: `log.txt` is every trainer's console name too
    suffixes=(".txt", ".log", ".jsonl", ".json"),
    examples=("output_dir/log.txt of a DeiT/MAE-style main_finetune.py",),
)
