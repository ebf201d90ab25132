"""HF Trainer `trainer_state.json` (also written by TRL, LLaMA-Factory and unsloth).

The file is one JSON object whose `log_history` holds every logged dict plus its `step`. It is loaded with
one `json.loads` and turned into columns in one pass, because real files reach 100k rows.

A damaged file (cut off mid-write, a flipped byte, NULs from a crashed filesystem, a value nested too deep
for the decoder) is salvaged record by record: each `log_history` record is decoded on its own, and after
damage reading resumes at the next `{`, so one bad record costs that record only. A value nested deeper
than the decoder's limit becomes null (its record is kept); integers too long for a float read as ±inf.
The warning says how many records were skipped and at which line.
"""
from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path

import numpy as np

from ..ontology import SUMMARY_KEYS, is_eval_record, is_summary_record
from . import fastjson, lazyre
from .base import (MAX_STEP, Columns, SourceData, SourceError, note_collisions, open_stream, read_bytes, sane_fact,
                   short_int, usable_step)
from .registry import Source

FACT_KEYS = ("max_steps", "logging_steps", "eval_steps", "save_steps", "train_batch_size", "num_train_epochs",
             "global_step", "best_metric", "best_model_checkpoint", "best_global_step")
_LOG_HISTORY = lazyre.compile(r'"log_history"\s*:\s*\[')
_HEADER_PAIR = lazyre.compile(r'"(\w+)"\s*:\s*(-?[\d.]+(?:[eE][-+]?\d+)?|null|true|false|"[^"\n]*")')
_SEPARATORS = lazyre.compile(r"[\s,]*")
_LIST_END = lazyre.compile(r"\s*(?:,\s*\"|\}|\Z)")  # what follows log_history's closing bracket
_RESYNC = lazyre.compile(r"\{|\](?=\s*(?:,\s*\"|\}|\Z))")  # after damage: the next record, or the list's end
# A run of 64 or more openers (with the keys between them): deeper than any real record, and deep enough
# that the decoder's recursion limit may be near.
_DEEP = lazyre.compile(r'(?:[\[{]\s*(?:"(?:[^"\\\n]|\\.)*"\s*:\s*)?){64,}')
_BRACKET = lazyre.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
DEEP_WINDOW = 1 << 20  # a record is decoded again within this many characters after its deep value
MAX_DEEP = 8  # deep values patched in one record before it counts as damaged
MAX_DEEP_RECORDS = 100  # records patched in one file; later ones are skipped as damaged


def read(path: Path) -> SourceData:
    data = read_bytes(path)
    src = SourceData(path=path, format="trainer_state")
    try:
        state = fastjson.loads(data)
        text = None
    except (ValueError, RecursionError):
        text = data.decode("utf-8", errors="replace")
        state = _salvage(text, path, src, len(data))
    if text is None and isinstance(state, dict) and "log_history" not in state and b'"step"' in data:
        # valid JSON, but a flipped byte renamed the log_history key: the records are still there
        text = data.decode("utf-8", errors="replace")
        state = _salvage(text, path, src, len(data))
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise SourceError(f"{path}: not a trainer_state.json (no log_history list)")
    for key in FACT_KEYS:
        value = sane_fact(state.get(key))
        if value is not None:
            src.facts[key] = value
    history = state["log_history"]
    if not history:
        raise SourceError(f"{path}: log_history is empty: nothing to analyse")
    lines = _record_lines(data if text is None else None, history)
    _collect(history, lines, src)
    return src


def _salvage(text: str, path: Path, src: SourceData, size: int) -> dict:
    """Every log_history record that decodes on its own, resynchronising at the next `{` after damage,
    plus the scalar fields around the list."""
    m = _LOG_HISTORY.search(text)
    state: dict = {}
    if m is not None:
        pos, head_end = m.end(), m.start()
    else:  # the key itself is damaged: records are the objects after the outer one's first `{`
        first = text.find("{")
        pos = text.find("{", first + 1) if first >= 0 else -1
        if pos < 0:
            raise SourceError(f"{path}: not valid JSON and no log_history found")
        head_end = pos
    _pairs(text[:head_end], state)
    decoder = json.JSONDecoder(parse_int=short_int)
    records: list = []
    damaged: list[int] = []  # where each damaged record starts
    junk: list[int] = []  # stretches between records that hold no record text (NULs, stray bytes)
    deep: list[int] = []
    end_of_list = None
    n = len(text)
    while True:
        pos = _SEPARATORS.match(text, pos).end()
        if pos >= n:
            break
        c = text[pos]
        if c == "]" and _LIST_END.match(text, pos + 1):
            end_of_list = pos
            break
        skip_to = pos + 1
        if c == "{":
            obj = None
            try:
                obj, end = decoder.raw_decode(text, pos)
            except RecursionError:
                if len(deep) < MAX_DEEP_RECORDS:
                    obj, end = _decode_deep(decoder, text, pos)
                    if obj is not None:
                        deep.append(pos)
                    else:
                        skip_to = end
                else:
                    skip_to = _deep_end(text, pos)
            except ValueError:
                pass
            if isinstance(obj, dict):
                records.append(obj)
                pos = end
                continue
        r = _RESYNC.search(text, skip_to)
        if r is None:  # the rest is one cut-off record: the truncation warning covers it
            break
        (damaged if c == "{" or '"' in text[pos:r.start()] else junk).append(pos)
        pos = r.start()
    if end_of_list is not None:
        _pairs(text[end_of_list:], state)
    name = path.name
    if m is None:
        src.warnings.append(f"{name}: the log_history key is damaged; read the records after the file's start")
    if damaged:
        src.warnings.append(f"{name}: skipped {len(damaged)} damaged log_history record(s) "
                            f"(first at line {_line(text, damaged[0])})")
    if junk:
        src.warnings.append(f"{name}: skipped {len(junk)} stretch(es) of stray bytes between records "
                            f"(first at line {_line(text, junk[0])})")
    if deep:
        src.warnings.append(f"{name}: {len(deep)} value(s) nested too deep to read ignored "
                            f"(first in the record at line {_line(text, deep[0])})")
    if end_of_list is None:
        src.warnings.append(f"{name}: truncated at byte {size} (line {_line(text, n)}); kept {len(records)} records")
    elif not (damaged or junk or deep):
        src.warnings.append(f"{name}: not valid JSON as a whole (damage after log_history, or a number too "
                            f"long to read); kept all {len(records)} records")
    if not records:
        where = "truncated" if end_of_list is None else "damaged"
        raise SourceError(f"{path}: {where} before the first complete log_history record")
    state["log_history"] = records
    return state


def _pairs(text: str, state: dict) -> None:
    for key, raw in _HEADER_PAIR.findall(text):
        if key not in state:
            try:
                state[key] = json.loads(raw, parse_int=short_int)
            except ValueError:
                pass


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _decode_deep(decoder, text: str, pos: int):
    """Decode the record at `pos` with each value nested too deep for the decoder replaced by null.

    (record, end position in `text`), or (None, where to resume) when the nesting does not close or the
    record is damaged besides."""
    m = _DEEP.search(text, pos + 1)  # (from inside the record: its own brace is not the deep value)
    if m is None:
        return None, pos + 1
    end = _balanced_end(text, m.start())
    if end is None:
        return None, m.end()
    window = text[pos:m.start()] + "null" + text[end:end + DEEP_WINDOW]
    shift = end - m.start() - 4  # text index = pos + window index + shift, past the patches
    for _ in range(MAX_DEEP):
        try:
            obj, used = decoder.raw_decode(window)
        except ValueError:
            return None, end
        except RecursionError:
            m = _DEEP.search(window, 1)
            inner = _balanced_end(window, m.start()) if m is not None else None
            if inner is None:
                return None, end
            window = window[:m.start()] + "null" + window[inner:]
            shift += inner - m.start() - 4
            continue
        return obj, pos + used + shift
    return None, end


def _deep_end(text: str, pos: int) -> int:
    """Where to resume after a record nested too deep that is not patched: past its deep run."""
    m = _DEEP.search(text, pos + 1)
    if m is None:
        return pos + 1
    return _balanced_end(text, m.start()) or m.end()


def _balanced_end(text: str, start: int) -> int | None:
    """The position just after the value that starts at `start` (strings skipped), or None."""
    depth = 0
    for m in _BRACKET.finditer(text, start):
        c = m.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


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
        line += (len(rec) if isinstance(rec, dict) else 0) + 2
    if line - first != data.count(b"\n", start, end):
        return None
    return lines


def _collect(history: list, lines: list[int] | None, src: SourceData) -> None:
    """Rows grouped by their key set (a run logs a handful of row shapes), then columns per group."""
    line_of = np.arange(1, len(history) + 1) if lines is None else np.asarray(lines, dtype=np.int64)
    groups = _groups(history)
    cols = Columns()
    no_step = 0
    summaries = 0
    kept: list[np.ndarray] = []
    step_at = np.zeros(len(history), dtype=np.float64)  # the step of every kept record, by position
    for keys, idx in groups.items():
        rows = [history[i] for i in idx] if len(idx) < 2 else list(itemgetter(*idx)(history))
        if is_summary_record(keys):
            for row in rows:
                src.facts.update({k: v for k, v in row.items()
                                  if (k in SUMMARY_KEYS or k == "epoch") and sane_fact(v) is not None})
            summaries += len(rows)
            continue
        eval_rows = is_eval_record(keys)
        table = _as_table(rows, keys)
        if table is not None:  # every value a number, every step usable: one conversion for the group
            pos = np.asarray(idx, dtype=np.int64)
            steps = table[:, keys.index("step")].copy()
            cols.add_table(keys, table, steps, line_of[pos], eval_rows)
        else:
            steps = [row.get("step") for row in rows]
            good = [j for j, s in enumerate(steps) if usable_step(s)]
            if len(good) < len(rows):
                no_step += len(rows) - len(good)
                rows, steps, idx = [rows[j] for j in good], [steps[j] for j in good], [idx[j] for j in good]
            if not rows:
                continue
            pos = np.asarray(idx, dtype=np.int64)
            cols.add_rows(rows, keys, steps, line_of[pos].tolist(), eval_rows)
            steps = np.array([float(s) for s in steps], dtype=np.float64)
        step_at[pos] = steps
        kept.append(pos)
    order = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    src.records = len(order)
    if not len(order):
        what = "only the end-of-training summary" if summaries else "no record with a step"
        raise SourceError(f"{src.path}: log_history holds {what}: nothing to analyse")
    cols.set_steps(step_at[order], line_of[order])
    cols.finish_segments(src, "the step counter")
    if no_step:
        src.warnings.append(f"{src.path.name}: {no_step} log_history record(s) without a usable step ignored")
    src.series = cols.build(src)
    note_collisions(src, cols.names)
    if not src.series:
        raise SourceError(f"{src.path}: log_history holds no metric values: nothing to analyse")


def _groups(history: list) -> dict[tuple, list[int]]:
    """Positions of the dict records by key set, in file order (the loop over rows is in C: map and numpy)."""
    if not history or set(map(type, history)) != {dict}:  # a list, a number... among the records: one by one
        groups: dict[tuple, list[int]] = {}
        for i, row in enumerate(history):
            if isinstance(row, dict):
                groups.setdefault(tuple(row), []).append(i)
        return groups
    shapes = list(map(tuple, history))
    code_of = {shape: k for k, shape in enumerate(dict.fromkeys(shapes))}
    if len(code_of) == 1:
        return {shapes[0]: list(range(len(history)))}
    codes = np.fromiter(map(code_of.__getitem__, shapes), dtype=np.int64, count=len(shapes))
    return {shape: np.flatnonzero(codes == k).tolist() for shape, k in code_of.items()}


def _as_table(rows: list[dict], keys: tuple) -> np.ndarray | None:
    """The group as one float array (row x key) when that reads exactly what the per-key path reads: no
    value missing (null), none that is not a number or numeric text, and every step an int or float well
    inside the range a float counts exactly. None sends the group down the per-key path."""
    if "step" not in keys or len(keys) < 2:
        return None
    get = itemgetter(*keys)
    at = keys.index("step")
    try:
        tuples = list(map(get, rows))
        table = np.array(tuples, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # text, lists, an integer past a float's range
        return None
    if table.ndim != 2 or table.shape[1] != len(keys):
        return None
    step_types = set(map(type, map(itemgetter(at), tuples)))
    if not step_types <= {int, float}:  # bools, numeric text: not steps
        return None
    steps = table[:, at]
    if not (np.isfinite(steps).all() and np.abs(steps).max() < MAX_STEP):
        return None
    if np.isnan(table).any():  # numpy reads null as NaN: a logged NaN is a value, a null is not
        r, c = np.nonzero(np.isnan(table))
        if any(tuples[i][j] is None for i, j in zip(r.tolist(), c.tolist())):
            return None
    return table


# ------------------------------------------------------------------------------------------ the plugin

_CHECKPOINT = lazyre.compile(r"checkpoint-\d+")


def run_root(path: Path) -> Path:
    """`<output_dir>/checkpoint-N/trainer_state.json` belongs to `<output_dir>`; a copy under another name
    (`run-3.json`, a folder of collected states) is a run by itself."""
    if path.name.lower() != "trainer_state.json":
        return path
    d = path.parent
    return d.parent if _CHECKPOINT.fullmatch(d.name) else d


def sniff(head: str) -> float:
    """A renamed copy (`run-3.json`): the HF layout puts `best_metric`, `epoch`, ... before `log_history`."""
    if '"log_history"' in head:
        return 1.0
    return 0.5 if '"global_step"' in head and '"max_steps"' in head else 0.0


_GLOBAL_STEP = lazyre.compile(rb'"global_step"\s*:\s*(\d+)')


def choose(paths: list[Path]) -> list[list[Path]]:
    """Copies of one run's state (the output dir's own and its checkpoint-N/ ones), newest first.

    Every checkpoint holds the whole log_history up to its step, so older copies add nothing: the newest
    readable one (largest global_step, peeked from the head of the file; the top level wins ties) is read.
    A file of another name (a renamed copy, a second run) is a group of its own.
    """
    groups: dict[Path, list[Path]] = {}
    for p in paths:
        groups.setdefault(run_root(p) if p.name == "trainer_state.json" else p, []).append(p)

    def rank(p: Path):
        gs = _peek_global_step(p)
        return (gs if gs is not None else -1, 0 if _CHECKPOINT.fullmatch(p.parent.name) else 1)

    return [sorted(group, key=rank, reverse=True) for group in groups.values()]


def _peek_global_step(p: Path) -> int | None:
    try:
        with open_stream(p) as f:
            head = f.read(4096)
    except (SourceError, OSError, EOFError, ValueError):
        return None
    m = _GLOBAL_STEP.search(head)
    return int(m.group(1)) if m else None


SOURCE = Source(
    name="trainer_state",
    title="Hugging Face Trainer trainer_state.json (TRL, LLaMA-Factory, unsloth, axolotl checkpoints)",
    read=read,
    priority=0,
    names=("trainer_state.json", "*trainer_state*.json"),
    sniff=sniff,
    suffixes=(".json",),
    anchor=True,
    run_root=run_root,
    choose=choose,
    examples=("<output_dir>/trainer_state.json", "<output_dir>/checkpoint-N/trainer_state.json",
              "Hub model repos: last-checkpoint/trainer_state.json"),
)
