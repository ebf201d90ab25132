"""verl's file logger (`trainer.logger=[..., 'file']`): one JSON object per `Tracking.log` call,
`{"step": N, "data": {"actor/pg_loss": ..., "critic/score/mean": ..., ...}}`.

Where it is: `$VERL_FILE_LOGGER_PATH`, else `$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl` (every
experiment of a project in one folder, so such a file is a run of its own; a file named like
`metrics.jsonl` makes its folder the run). verl 0.6-0.7 write with `json.dumps` (NaN/inf as the tokens
`NaN`/`Infinity`); verl >= 0.8 with orjson, which writes NaN and ±inf as `null`: a `null` metric here is a
non-finite value, never a missing one (verl's reducers never log None), and is read as NaN. Validation rows
share the step of a training row with other keys (merged by step); step 0 holds only the validation
before training. Both versions open the file with mode `w`: a restarted run erases the earlier attempt, so
the file holds one attempt.

Speed: the file is read in 16 MB chunks; each chunk's lines are parsed by one `json.loads` of the lines
joined as an array (a damaged line sends that chunk through line-by-line parsing, which skips and counts
it), and rows of one key set become columns with one list comprehension per key (`Columns.add_rows`).
Names go through the ontology (`actor/entropy` → `entropy`, `critic/score/mean` → `reward`).

EasyR1 (hiyouga/EasyR1, a verl fork) writes the same records with the metric groups nested at the top level
(`{"step": 4, "actor": {"kl_loss": ...}, "critic": {"score": {"mean": ...}}}`): read the same way, the names
joined with `/`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from . import lazyre
from .base import Columns, SourceData, SourceError, open_stream, usable_step
from .registry import Source, score
from .store_util import line_chunks

_NULL = lazyre.compile(rb'(":\s*)null(?=\s*[,}])')  # orjson's NaN/inf: a value, never a missing one
_LINE = lazyre.compile(r'^\{"step":\s*-?\d+,\s*"data":\s*\{', re.M)
# EasyR1's nested form: a metric group named as verl names them, an object, right after the step
_NESTED = lazyre.compile(r'^\{"step":\s*-?\d+,\s*"(?:actor|critic|reward|val|response_length|global_seqlen|'
                         r'timing_s|perf|prompt_length|val_response_length)":\s*\{', re.M)


def read(path: Path) -> SourceData:
    src = SourceData(path=path, format="verl", hints={"framework": "verl"})
    reader = _Reader(src)
    with open_stream(path) as f:
        for lines, line_base, _ in line_chunks(f):
            reader.lines(lines, line_base)
    if src.records == 0:
        if reader.bad:
            raise SourceError(f"{path}: no verl log record ({reader.bad} unreadable line(s))")
        raise SourceError(f"{path}: empty file")
    if reader.bad:
        src.warnings.append(f"{path.name}: skipped {reader.bad} corrupt or truncated line(s), first at line "
                            f"{reader.first_bad}")
    reader.cols.set_steps(np.concatenate(reader.steps), np.concatenate(reader.line_nos))
    reader.cols.finish_segments(src, "step")
    src.series = reader.cols.build(src)
    if reader.nested:
        src.warnings.append(f"{path.name}: EasyR1's nested JSON lines (metric groups as objects): read as verl's, "
                            "the names joined with '/'")
    if reader.nulls:
        src.warnings.append(f"{path.name}: {reader.nulls} value(s) logged as null (verl >= 0.8 writes NaN and "
                            "±inf so) read as NaN")
    return src


class _Reader:
    def __init__(self, src: SourceData) -> None:
        self.src = src
        self.cols = Columns(dialect="verl")
        self.bad = 0
        self.first_bad: int | None = None
        self.nulls = 0
        self.steps: list[np.ndarray] = []
        self.line_nos: list[np.ndarray] = []
        self.nested = False

    def lines(self, lines: list[bytes], base: int) -> None:
        keep = [ln for ln in lines if ln]
        if len(keep) == len(lines):
            numbers = np.arange(base + 1, base + 1 + len(lines), dtype=np.int64)
        else:
            numbers = np.array([i for i, ln in enumerate(lines, base + 1) if ln], dtype=np.int64)
        if not keep:
            return
        joined = b",".join(keep)
        if b"null" in joined:
            joined, n = _NULL.subn(rb"\1NaN", joined)
            self.nulls += n
        try:
            records = json.loads(b"[" + joined + b"]")
        except (ValueError, RecursionError):
            records = None
        if records is None or len(records) != len(keep):
            records = [self._one(ln) for ln in keep]  # whitespace, NUL padding, a damaged line: one by one
        first = next((r for r in records if isinstance(r, dict)), None)
        if first is not None and "data" not in first and "step" in first:
            # EasyR1's form: the metric groups at the top level (a damaged line or a verl record left as it is)
            records = [r if isinstance(r, dict) and "data" in r else _nested(r) for r in records]
            self.nested = True
        try:  # the common case: every record well formed, steps read as one array
            datas = [r["data"] for r in records]
            steps = np.array([r["step"] for r in records], dtype=np.float64)
            ok = all(type(d) is dict for d in datas) and bool(np.isfinite(steps).all()) \
                and not any(type(r["step"]) is bool for r in records)
        except (TypeError, KeyError, ValueError, OverflowError):
            ok = False
        if not ok:
            good = [i for i, r in enumerate(records) if isinstance(r, dict) and isinstance(r.get("data"), dict)
                    and usable_step(r.get("step"))]
            if len(good) < len(records):
                bad = sorted(set(range(len(records))) - set(good))
                self.bad += len(bad)
                self.first_bad = self.first_bad or int(numbers[bad[0]])
            datas = [records[i]["data"] for i in good]
            steps = np.array([records[i]["step"] for i in good], dtype=np.float64)
            numbers = numbers[good]
        shapes: dict[tuple, list[int]] = {}
        for i, data in enumerate(datas):
            shape = tuple(data)
            group = shapes.get(shape)
            if group is None:
                shapes[shape] = [i]
            else:
                group.append(i)
        for keys, idx in shapes.items():
            if len(idx) == len(datas):
                self.cols.add_rows(datas, keys, steps, numbers, False)
            else:
                self.cols.add_rows([datas[i] for i in idx], keys, steps[idx], numbers[idx], False)
        self.src.records += len(datas)
        self.steps.append(steps)
        self.line_nos.append(numbers)

    @staticmethod
    def _one(raw: bytes):
        """One line, after its chunk failed as a whole (its nulls were counted with the chunk)."""
        if b"null" in raw:
            raw = _NULL.sub(rb"\1NaN", raw)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return None


def _nested(record):
    """EasyR1 (a verl fork) writes its metrics' groups as nested objects at the top level, `{"step": 4, "reward":
    {"overall": 0.05}, "actor": {"kl_loss": 0.001}, "critic": {"score": {"mean": 0.05}}}`: the same record as
    verl's `{"step": 4, "data": {"reward/overall": 0.05, ...}}`, its names joined with `/`. Anything else is
    returned as it is (and counted as damage)."""
    if not isinstance(record, dict) or "step" not in record:
        return record
    data: dict = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            data[prefix] = value

    for key, value in record.items():
        if key != "step":
            walk(key, value)
    return {"step": record["step"], "data": data}


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    return score(len(_LINE.findall(head)) + len(_NESTED.findall(head)))


def run_root(path: Path) -> Path:
    """A file named for what it holds (`metrics.jsonl`, `verl_metrics.jsonl`) makes its folder the run; one
    named for its experiment (`<project>/<experiment>.jsonl`, verl's default) is a run of its own."""
    return path.parent if "metric" in path.name.lower() else path


SOURCE = Source(
    name="verl",
    title="verl file logger JSON lines ({\"step\": N, \"data\": {...}}; trainer.logger=[..., 'file']) and EasyR1's nested form",
    read=read,
    priority=8,
    sniff=sniff,
    suffixes=(".jsonl", ".json", ".log", ".txt", ""),
    anchor=True,
    run_root=run_root,
    dialect="verl",
    examples=("$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl", "outputs/<project>/<exp>/metrics.jsonl"),
)
