"""HF Trainer `trainer_state.json` (also written by TRL, LLaMA-Factory and unsloth).

The file is one JSON object whose `log_history` holds every logged dict plus its `step`. It is loaded with
one `json.loads` and turned into columns in one pass, because real files reach 100k rows. A file cut off
mid-write (a killed job, a partial copy) is salvaged record by record up to the damage.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..names import SUMMARY_KEYS, is_eval_record
from .base import Columns, SourceData, SourceError, read_bytes

FACT_KEYS = ("max_steps", "logging_steps", "eval_steps", "save_steps", "train_batch_size", "num_train_epochs",
             "global_step", "best_metric", "best_model_checkpoint", "best_global_step")
_LOG_HISTORY = re.compile(r'"log_history"\s*:\s*\[')
_HEADER_PAIR = re.compile(r'"(\w+)"\s*:\s*(-?[\d.]+(?:[eE][-+]?\d+)?|null|true|false|"[^"\n]*")')


def read(path: Path) -> SourceData:
    data = read_bytes(path)
    src = SourceData(path=path, format="trainer_state")
    try:
        state = json.loads(data)
        text = None
    except ValueError:
        text = data.decode("utf-8", errors="replace")
        state = _salvage(text, path, src)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise SourceError(f"{path}: not a trainer_state.json (no log_history list)")
    for key in FACT_KEYS:
        if state.get(key) is not None:
            src.facts[key] = state[key]
    history = state["log_history"]
    lines = _record_lines(data if text is None else None, history)
    _collect(history, lines, src)
    return src


def _salvage(text: str, path: Path, src: SourceData) -> dict:
    """Every complete log_history record before the damage, plus the scalar fields seen before it."""
    m = _LOG_HISTORY.search(text)
    if m is None:
        raise SourceError(f"{path}: not valid JSON and no log_history found")
    state: dict = {}
    for key, raw in _HEADER_PAIR.findall(text[: m.start()]):
        try:
            state[key] = json.loads(raw)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    records = []
    pos = m.end()
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(obj, dict):
            records.append(obj)
        pos = end
    if pos < n and text[pos] == "]":
        src.warnings.append(f"{path.name}: invalid JSON after log_history; kept all {len(records)} records")
    else:
        byte = len(text[:pos].encode("utf-8", errors="replace"))
        src.warnings.append(f"{path.name}: truncated at byte {byte}; kept {len(records)} records")
    state["log_history"] = records
    return state


def _record_lines(data: bytes | None, history: list) -> list[int] | None:
    """1-based line of each log_history record when the file is HF's indent=2 layout (one key a line).

    HF writes flat records, so record i spans len(keys)+2 lines; the layout is accepted only when that
    sum matches the newlines actually between `"log_history": [` and its closing bracket.
    """
    if data is None or not history:
        return None
    start = data.find(b'"log_history"')
    end = data.find(b"\n  ]", start)
    if start < 0 or end < 0:
        return None
    first = data.count(b"\n", 0, start) + 2  # the record's "{" is on the line after "log_history": [
    lines = []
    line = first
    for rec in history:
        lines.append(line)
        line += len(rec) + 2
    if line - first != data.count(b"\n", start, end):
        return None
    return lines


def _collect(history: list, lines: list[int] | None, src: SourceData) -> None:
    """Rows grouped by their key set (a run logs a handful of row shapes), then columns per group."""
    if lines is None:
        lines = list(range(1, len(history) + 1))
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(history):
        if isinstance(row, dict):
            groups.setdefault(tuple(row), []).append(i)
    cols = Columns()
    no_step = 0
    kept: list[int] = []
    for keys, idx in groups.items():
        rows = [history[i] for i in idx]
        if "train_runtime" in keys or ("train_loss" in keys and "loss" not in keys):
            for row in rows:
                src.facts.update({k: v for k, v in row.items() if k in SUMMARY_KEYS or k == "epoch"})
            continue
        steps = [row.get("step") for row in rows]
        good = [j for j, s in enumerate(steps) if isinstance(s, (int, float)) and not isinstance(s, bool)]
        if len(good) < len(rows):
            no_step += len(rows) - len(good)
            rows, steps, idx = [rows[j] for j in good], [steps[j] for j in good], [idx[j] for j in good]
        cols.add_rows(rows, keys, steps, [lines[i] for i in idx], is_eval_record(keys))
        kept.extend(idx)
    kept.sort()
    src.records = len(kept)
    cols.set_steps(np.array([float(history[i]["step"]) for i in kept]), np.array([lines[i] for i in kept]))
    cols.finish_segments(src, "the step counter")
    if no_step:
        src.warnings.append(f"{src.path.name}: {no_step} log_history record(s) without a step ignored")
    src.series = cols.build()
    if not src.series and not src.facts.get("train_runtime"):
        src.warnings.append(f"{src.path.name}: log_history holds no metrics")
