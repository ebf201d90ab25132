"""Rows of logged metrics that a custom loop wrote as a table: the shared reader of `json_metrics` (a JSON list of
row objects) and `csv_table` (a CSV file, one row per line).

A row is a flat mapping of names to values. Its step is its `step` / `global_step` / `iteration` / `iter` value;
a table whose rows state none is placed in row order (an ordinal step the merger maps on the global axis); one
where some rows state a step and others do not is refused. Values that are no number (a time stamp, `-`) are not
metrics. The preference spellings such dumps use for TRL's `rewards/*` are read as them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Columns, SourceData, SourceError, to_float, usable_step

STEP_KEYS = ("step", "global_step", "iteration", "iter", "train/global_step")
REWARD_NAMES = {"chosen_reward": "rewards/chosen", "rejected_reward": "rewards/rejected",
                "reward_gap": "rewards/margins", "reward_margin": "rewards/margins",
                "reward_accuracy": "rewards/accuracies"}
# bare names that are the implicit rewards only in a preference run (a `beta` in the settings)
PREFERENCE_NAMES = {"chosen": "rewards/chosen", "rejected": "rewards/rejected", "gap": "rewards/margins",
                    "margin": "rewards/margins", "accuracy": "rewards/accuracies"}


def fill(src: SourceData, rows: Sequence, where: str, *, preference: bool = False,
         lines: Sequence[int] | None = None, dialect: str | None = None) -> bool:
    """Read `rows` (mappings) into `src.series`; `lines[i]` is where row i is in the file (default: i + 1);
    `dialect` the spellings that apply (`ontology.canonical`). Returns whether the steps are ordinal (no row
    stated one). Raises SourceError when nothing is read."""
    path = src.path
    cols = Columns(dialect)
    steps, at, ordinal = [], [], False
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        line = lines[i] if lines is not None else i + 1
        step = next((float(row[k]) for k in STEP_KEYS if k in row and usable_step(row[k])), None)
        if step is None:
            ordinal = True
            step = float(i + 1)
        clean = {}
        for key, value in row.items():
            if key in STEP_KEYS or isinstance(value, (dict, list)):
                continue
            f = to_float(value)
            if f is None:
                continue
            if preference and key in PREFERENCE_NAMES and "loss" in row:
                key = PREFERENCE_NAMES[key]
            clean[REWARD_NAMES.get(key, key)] = f
        if not clean:
            continue
        eval_row = "loss" not in clean and any(k.startswith("eval_") for k in clean)
        cols.add_row(clean, step, line, eval_row)
        steps.append(step)
        at.append(line)
        src.records += 1
    if not src.records:
        raise SourceError(f"{path}: the rows under {where} hold no numbers")
    if ordinal:
        if any(k in r for r in rows if isinstance(r, dict) for k in STEP_KEYS):
            raise SourceError(f"{path}: some rows under {where} state a step and others do not")
        src.step_kind = "ordinal"
    cols.set_steps(np.asarray(steps, dtype=np.float64), np.asarray(at, dtype=np.int64))
    cols.finish_segments(src, "the step key")
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in the rows under {where}")
    return ordinal

