"""LLaMA-Factory `trainer_log.jsonl`: one JSON object per `on_log` event, step in `current_steps`.

It carries only loss, learning rate (`lr`, or `learning_rate` up to v0.9.0), epoch, `accuracy`, `reward`
and eval/predict loss; never kl, logits, rewards/* or grad_norm. A damaged line (a job killed mid-write,
two processes writing at once, a value nested too deep to decode) is skipped and counted; the rest of the
file is kept. NUL padding around a line (what a crash leaves in unwritten pages) is not damage; an integer
too long for a float reads as ±inf.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..ontology import is_eval_record
from .base import (Columns, SourceData, SourceError, note_collisions, open_stream, sane_fact, short_int,
                   usable_step)
from .registry import Source

_PAD = b" \t\r\n\x00"


def _record(raw: bytes):
    try:
        return json.loads(raw)
    except RecursionError:
        return None
    except ValueError:
        try:  # once more as text (a byte that is not UTF-8 spoils a character, not the line), with integers
            # too long for int() read as floats
            return json.loads(raw.decode("utf-8", errors="replace"), parse_int=short_int)
        except (ValueError, RecursionError):
            return None


def read(path: Path) -> SourceData:
    src = SourceData(path=path, format="trainer_log", hints={"framework": "llamafactory"})
    cols = Columns(dialect="llamafactory")
    bad = 0
    first_bad = None
    steps: list = []
    lines: list[int] = []
    with open_stream(path) as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.strip(_PAD)
            if not raw:
                continue
            row = _record(raw)
            step = row.get("current_steps") if isinstance(row, dict) else None
            if not usable_step(step):
                bad += 1
                first_bad = first_bad or lineno
                continue
            total = sane_fact(row.get("total_steps"))
            if total is not None:
                src.facts["total_steps"] = total
            steps.append(step)
            lines.append(lineno)
            row = {k: v for k, v in row.items() if v is not None}
            cols.add_row(row, step, lineno, is_eval_record(row))
            src.records += 1
    if src.records == 0:
        if bad:
            raise SourceError(f"{path}: no valid trainer_log record ({bad} unreadable line(s))")
        raise SourceError(f"{path}: empty file")
    if bad:
        src.warnings.append(f"{path.name}: skipped {bad} corrupt or truncated line(s), first at line {first_bad}")
    cols.set_steps(np.asarray(steps, dtype=np.float64), np.asarray(lines, dtype=np.int64))
    cols.finish_segments(src, "current_steps")
    src.series = cols.build(src)
    note_collisions(src, cols.names)
    return src


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    return 1.0 if '"current_steps"' in head and '"total_steps"' in head else 0.0


SOURCE = Source(
    name="trainer_log",
    title="LLaMA-Factory trainer_log.jsonl (LogCallback: loss, lr, accuracy, reward, eval loss)",
    read=read,
    priority=30,
    names=("trainer_log.jsonl", "*trainer_log*.jsonl"),
    sniff=sniff,
    suffixes=(".jsonl", ".json", ".log", ".txt"),
    anchor=True,
    dialect="llamafactory",
    examples=("saves/<model>/<method>/trainer_log.jsonl",),
)
