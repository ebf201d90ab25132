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
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import lazyre
from .base import Columns, MAX_STEP, SourceData, SourceError, note_collisions, open_stream, to_float, usable_step
from .registry import Source
from .store_util import line_chunks

_PREFIXES = (("train_", False), ("val_", True), ("test_", True), ("eval_", True))
_COUNTS = ("n_parameters", "epoch")
# Two JSON objects side by side on one line (`{...}, {...}`): a chunk read as one JSON array is then not one
# element per line, so that chunk is read line by line (a string holding `}, {` costs the same, no more).
_TWO_ON_A_LINE = lazyre.compile(rb"\}[ \t\r]*,[ \t\r]*\{")


def read(path: Path) -> SourceData:
    """One chunk of whole lines at a time: the chunk's lines parsed as one JSON array where that is exactly the
    lines parsed one by one (every line one object: no two objects on a line, no NUL byte that would make
    `json.loads` read a line as UTF-16), else line by line; the rows of one key set become float columns at
    once (`Columns.add_table`), so memory follows the values kept, not the text. Any value that is no plain
    number (text, a bool, null, a list) sends its chunk through the row-by-row way, which is the definition."""
    src = SourceData(path=path, format="epoch_jsonl")
    cols = Columns(dialect="generic")
    state = {"bad": 0, "first_bad": None}
    steps: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    with open_stream(path) as f:
        for raw, base, _ in line_chunks(f):
            _chunk(raw, base, cols, src, state, steps, lines)
    bad, first_bad = state["bad"], state["first_bad"]
    src.records = sum(len(s) for s in steps)
    if not src.records:
        raise SourceError(f"{path}: no per-epoch JSON line with an `epoch` ({bad} unreadable line(s))")
    if bad:
        src.warnings.append(f"{path.name}: skipped {bad} line(s) that are no per-epoch JSON record, first at line "
                            f"{first_bad}")
    cols.set_steps(np.concatenate(steps), np.concatenate(lines))
    cols.finish_segments(src, "the epoch")
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in its per-epoch lines")
    note_collisions(src, cols.names)
    src.warnings.append(f"{path.name}: one line per epoch (train_/val_/test_ averages): the step is the epoch, "
                        "counted from 1 at the end of the first")
    return src


def _chunk(raw: list, base: int, cols: Columns, src: SourceData, state: dict, steps: list, lines: list) -> None:
    """The lines of one chunk (`base` lines before them): their records' steps and lines appended."""
    stripped = list(map(bytes.strip, raw))
    numbers = np.arange(base + 1, base + 1 + len(raw), dtype=np.int64)
    if stripped.count(b""):  # blank lines are no records and no damage
        keep = np.fromiter(map(bool, stripped), dtype=bool, count=len(stripped))
        stripped = [t for t in stripped if t]
        numbers = numbers[keep]
    if not stripped:
        return
    rows = _rows(stripped)
    got = _table_rows(rows, numbers, cols, src, state)
    if got is None:
        got = _one_by_one(rows, numbers, cols, src, state)
    steps.append(got[0])
    lines.append(got[1])


def _rows(stripped: list) -> list:
    """json.loads of every line (None where it is no JSON): at once where that is exactly the same."""
    n = len(stripped)
    if n > 1:
        joined = b",".join(stripped)
        if b"\x00" not in joined and _TWO_ON_A_LINE.search(b"\n".join(stripped)) is None:
            try:
                rows = json.loads(b"[" + joined + b"]")
            except (ValueError, RecursionError):
                rows = None
            # every element a dict and as many as lines: each line is one element (see _TWO_ON_A_LINE)
            if rows is not None and len(rows) == n and set(map(type, rows)) == {dict}:
                return rows
    out = []
    for raw in stripped:
        try:
            out.append(json.loads(raw))
        except (ValueError, RecursionError):
            out.append(None)
    return out


@lru_cache(maxsize=256)
def _plan(keys: tuple) -> tuple[dict, dict] | None:
    """Where each part's keys come from, for rows of these keys: (train, eval) dicts of name -> source key
    (None: the step), as the row-by-row way builds them when every value is a number; None without `epoch`."""
    if "epoch" not in keys:
        return None
    train: dict = {"epoch": None}
    evals: dict = {}
    for key in keys:
        if key in _COUNTS:
            continue
        for prefix, is_eval in _PREFIXES:
            if key.startswith(prefix):
                (evals if is_eval else train)[key[len(prefix):]] = key
                break
    return train, evals


def _numbers(rows: list, key: str) -> np.ndarray | None:
    """The float64 column of `key` where every row holds a plain number there (no bool), else None."""
    values = [r[key] for r in rows]
    if not set(map(type, values)) <= {float, int}:
        return None
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        return None


def _table_rows(rows: list, numbers: np.ndarray, cols: Columns, src: SourceData, state: dict):
    """A chunk's rows by key set, each set's columns at once: (steps, lines) of the records, or None where some
    row needs the row-by-row way (a value that is no plain number, a huge integer epoch, a summary loss key)."""
    if set(map(type, rows)) != {dict}:
        return None
    shapes = list(map(tuple, rows))
    if shapes.count(shapes[0]) == len(shapes):
        groups = {shapes[0]: None}
    else:
        groups = {}
        for i, shape in enumerate(shapes):
            groups.setdefault(shape, []).append(i)
    work = []
    usable_all = np.zeros(len(rows), dtype=bool)
    step_all = np.zeros(len(rows))
    for shape, idx in groups.items():  # in the order of each key set's first row (the names' order)
        grows = rows if idx is None else [rows[i] for i in idx]
        plan = _plan(shape)
        if plan is None:
            continue  # no epoch: every row is damage
        epoch = _numbers(grows, "epoch")
        if epoch is None or (np.abs(epoch) >= MAX_STEP).any():
            return None
        usable = np.isfinite(epoch)
        parts = []
        for part, is_eval in ((plan[0], False), (plan[1], True)):
            if len(part) <= (0 if is_eval else 1):
                continue
            table = []
            for name, key in part.items():
                if key is None:
                    table.append(epoch + 1.0)
                    continue
                if not is_eval and cols.names[name, False] is None and cols.names.summary_loss(name):
                    return None
                column = _numbers(grows, key)
                if column is None:
                    return None
                table.append(column)
            parts.append((list(part), table, is_eval))
        sel = slice(None) if idx is None else np.asarray(idx)
        usable_all[sel] = usable
        step_all[sel] = epoch + 1.0
        work.append((usable, sel, parts))
    for usable, sel, parts in work:
        ln = numbers[sel][usable]
        steps = (step_all[sel])[usable]
        for keys, table, is_eval in parts:
            cols.add_table(keys, np.column_stack(table)[usable], steps, ln, is_eval)
    if "trainable_params" not in src.facts:
        for i in np.flatnonzero(usable_all).tolist():
            if "n_parameters" in rows[i]:
                src.facts["trainable_params"] = rows[i]["n_parameters"]
                break
    _count_bad(numbers[~usable_all], state)
    return step_all[usable_all], numbers[usable_all]


def _one_by_one(rows: list, numbers: np.ndarray, cols: Columns, src: SourceData, state: dict):
    """The rows of a chunk one by one: what is kept is what the bulk way keeps where it applies."""
    steps, lines, bad = [], [], []
    for row, lineno in zip(rows, numbers.tolist()):
        epoch = row.get("epoch") if isinstance(row, dict) else None
        if not usable_step(epoch):
            bad.append(lineno)
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
                cols.add_rows([part], list(part), [step], [lineno], is_eval)
        steps.append(step)
        lines.append(lineno)
    _count_bad(np.asarray(bad, dtype=np.int64), state)
    return np.asarray(steps, dtype=np.float64), np.asarray(lines, dtype=np.int64)


def _count_bad(lines: np.ndarray, state: dict) -> None:
    if len(lines):
        state["bad"] += len(lines)
        state["first_bad"] = state["first_bad"] or int(lines[0])


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
