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

from . import bulkfloat, bytematrix, lazyre
from ..heap import Grow
from .base import (Columns, MAX_STEP, SourceData, SourceError, StepRuns, note_collisions, open_stream, to_float,
                   usable_step)
from .registry import Source
from . import store_util

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
    runs = StepRuns()  # (the records' steps and lines: their stretches' ends only)
    kept = _Kept(cols)
    with open_stream(path) as f:
        # (reads of a piece's size: a 16 MB chunk was a fresh 16 MB text each time, its pages faulted in: 40% more
        # page faults and 50-70 MB more peak RSS, and the pieces copied out of it)
        for text, base, cut in store_util.text_chunks(f, min(store_util.CHUNK, PIECE)):
            for piece, at in _pieces(text):  # (a chunk's lines read in pieces read what it reads, see _pieces)
                if cut or not _fast_chunk(piece, base + at, kept, src, runs):
                    _chunk(piece.split(b"\n"), base + at, cols, src, state, runs)
    kept.hand_over()
    bad, first_bad = state["bad"], state["first_bad"]
    src.records = runs.records
    if not src.records:
        raise SourceError(f"{path}: no per-epoch JSON line with an `epoch` ({bad} unreadable line(s))")
    if bad:
        src.warnings.append(f"{path.name}: skipped {bad} line(s) that are no per-epoch JSON record, first at line "
                            f"{first_bad}")
    runs.set_steps(cols)
    cols.finish_segments(src, "the epoch")
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in its per-epoch lines")
    note_collisions(src, cols.names)
    src.warnings.append(f"{path.name}: one line per epoch (train_/val_/test_ averages): the step is the epoch, "
                        "counted from 1 at the end of the first")
    return src


PIECE = 1 << 21


def _pieces(text: bytes):
    """(piece, lines before it) of a chunk's lines (joined by line feeds, no line feed at the end), in pieces of
    whole lines of about PIECE bytes, so that the fast way's numpy passes stay in the cache. Reading a chunk's lines
    in pieces adds the same values at the same lines (`Columns` puts every metric back in line order; a line's
    record does not depend on the others), the bad lines counted in order."""
    if len(text) <= 2 * PIECE:
        yield text, 0
        return
    a, at = 0, 0
    while a < len(text):
        b = text.find(b"\n", a + PIECE) if a + 2 * PIECE < len(text) else -1
        piece = text[a:] if b < 0 else text[a:b]
        yield piece, at
        if b < 0:
            return
        at += store_util.count_feeds(piece) + 1
        a = b + 1


# The first line of a chunk read the fast way: one object of `"key": number` pairs (json.dumps's separators, or
# none), keys of plain characters (no escape, no quote, colon, comma or brace)
_PLAIN_KEY = rb'"[A-Za-z0-9_./@ -]+"'
_JNUM = rb"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PLAIN_LINE = re.compile(rb"\{" + _PLAIN_KEY + rb": ?" + _JNUM + rb"(?:, ?" + _PLAIN_KEY + rb": ?" + _JNUM
                         + rb")*\}")
_KEY = re.compile(rb'"([^"]*)": ?')
_VALUE_BYTES = b"0123456789.+-eE\n"
_MAX_TEXT = 30  # bytes of a number read the fast way (json.loads and pandas agree on these; see _numbers_of)


def _fast_chunk(text: bytes, base: int, kept: "_Kept", src: SourceData, records: StepRuns) -> bool:
    """The lines of a chunk (`text`, `base` lines before it) where every line is the first one with other numbers:
    one JSON object of number values, the keys and their order, spacing and all, the same on every line (the
    DeiT / MAE loop writes `json.dumps` of one dict of averages per epoch). Then no line is parsed: every gap
    between two values (the spans after each `:` up to the `,` or `}` after it) must be the first line's gap there
    (`_same_gaps`), and the values are read by one C parser call (pandas, as `bulkfloat`) where all are JSON
    numbers. What is added is what `_table_rows` adds for those rows; False (and nothing added) for any other
    chunk, which `_chunk` reads as before."""
    nl = text.find(b"\n")
    first = text if nl < 0 else text[:nl]
    if _PLAIN_LINE.fullmatch(first) is None:
        return False
    keys = tuple(k.decode("ascii") for k in _KEY.findall(first))
    if len(set(keys)) != len(keys) or "epoch" not in keys:
        return False
    plan = _plan(keys)
    if plan is None:
        return False
    k = len(keys)
    spaced = first.count(b'": ')  # (`": 1` or `":1`: a value starts 2 or 1 bytes after its key's colon)
    if spaced not in (0, k):  # (both in one line: the first value after `":` was read from its second byte on)
        return False
    gap = 2 if spaced else 1
    buf = text + bytes(8)  # (8-byte words are read at any offset of the text: `bytematrix.words`)
    a = np.frombuffer(buf, dtype=np.uint8)[:len(text)]
    colon = np.flatnonzero(a == 58)  # every `:` of the chunk: one a key, where every line is the first one's
    m = len(colon) // k
    if len(colon) != k * m or not m:
        return False
    got = _values_at(buf, first, colon + gap, k, m)
    if got is None:
        return False
    values = _numbers_of(a, *got)
    if values is None:
        return False
    table = values.reshape(m, k)
    epoch = table[:, keys.index("epoch")]
    if not np.isfinite(epoch).all() or (np.abs(epoch) >= MAX_STEP).any():
        return False
    step = epoch + 1.0
    parts = _parts(plan, kept.cols, step, lambda key: table[:, keys.index(key)])
    if parts is None:
        return False
    numbers = np.arange(base + 1, base + 1 + m, dtype=np.int64)
    for names, columns, is_eval in parts:
        kept.add(names, columns, step, numbers, is_eval)
    if "trainable_params" not in src.facts and "n_parameters" in keys:
        src.facts["trainable_params"] = json.loads(first)["n_parameters"]
    records.add(step, numbers)
    return True


def _values_at(buf: bytes, first: bytes, starts: np.ndarray, k: int, m: int):
    """(starts, widths) of the value texts of a chunk (`buf` less its 8 bytes of padding) of m lines, its values
    starting after each `:` (`starts`, k a line), where the chunk less its values is the first line less its
    values, repeated; else None. Each gap between two values (the first one of a line: the first line's end, its
    line feed and its start) must be the first line's gap there, so a value ends where the gap before the next
    one starts; every gap's bytes are compared with the first line's, 8 at a time (`bytematrix.words`, one
    gather), and the values hold no byte of a gap (the caller's JSON number check: no `:`, `,`, `}`, line feed)."""
    n = len(buf) - 8
    s0 = starts[:k].tolist()  # (the first line's: its k colons are the chunk's first)
    ends0 = [first.find(b",", s) for s in s0[:-1]] + [len(first) - 1]  # (`_PLAIN_LINE`: a number holds no `,`)
    tail = first[ends0[-1]:]
    gaps = [tail + b"\n" + first[:s0[0]]] + [first[ends0[j - 1]:s0[j]] for j in range(1, k)]
    end = np.empty(k * m, dtype=np.int64)  # each value's end: the next one's start less the gap before it
    end[:-1] = starts[1:] - np.tile(np.array([len(g) for g in gaps]), m)[1:]
    end[-1] = n - len(tail)
    width = end - starts
    if width.min() < 1 or width.max() > _MAX_TEXT or buf[n - len(tail):n] != tail:
        return None
    if m > 1:
        # every gap of lines 1 to m - 1 as 8-byte words (the first line's are its own), each word's place in
        # the line (the end of the value before the gap, plus 0, 8, ...) and the first line's bytes there
        e = end.reshape(m, k)
        before = np.empty((m - 1, k), dtype=np.int64)
        before[:, 0], before[:, 1:] = e[:-1, k - 1], e[1:, :-1]
        col, off, want, keep = [], [], [], []
        for j, g in enumerate(gaps):
            for t in range(0, len(g), 8):
                piece = g[t:t + 8]
                col.append(j)
                off.append(t)
                want.append(int.from_bytes(piece, "little"))
                keep.append((1 << 8 * len(piece)) - 1)
        words = bytematrix.words(buf)[before[:, col] + np.array(off, dtype=np.int64)]
        words &= np.array(keep, dtype=np.uint64)
        if (words != np.array(want, dtype=np.uint64)).any():
            return None
    return starts, width


class _Kept:
    """The fast way's values of each metric as the file streams: (steps, values, lines) in growable stores, 24
    bytes a value (what its Series holds), handed to `Columns` as one part a metric at the end. `add` is
    `Columns.add_table` (the same names, clashes noted, the same order of the names), which kept every chunk's
    columns, steps and line numbers until `build` concatenated them: memory grew with the file (the values held
    twice at the end). Where two keys of a key set mean one metric (`train_loss`, `train_closs`), add_table
    held the values of each as a part, and `build` put them back in line order: every record's values of the
    metric in key order, of which `finish` keeps the last of each step, i.e. the last key's. A store keeps only
    that key's column (every row of a table holds every key)."""

    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self.stores: dict = {}

    def add(self, keys: list, columns: list, steps: np.ndarray, lines: np.ndarray, is_eval: bool) -> None:
        names = self.cols.names
        names.note_record(keys, is_eval)
        by_name: dict = {}  # (a name's place is its first key's, its column the last key's)
        for key, column in zip(keys, columns):
            name = names[key, is_eval]
            if name is not None:
                by_name[name] = column
        for name, column in by_name.items():
            store = self.stores.get(name)
            if store is None:
                store = self.stores[name] = (Grow("d"), Grow("d"), Grow("q"))
                self.cols._chunks.setdefault(name, [])  # (its place among the names: add_table's)
            store[0].frombytes(steps)
            store[1].frombytes(np.ascontiguousarray(column, dtype=np.float64))
            store[2].frombytes(lines)

    def hand_over(self) -> None:
        for name, (st, va, ln) in self.stores.items():
            self.cols._chunks[name].append((st.view(np.float64), va.view(np.float64), ln.view(np.int64)))
        self.stores = {}


def _numbers_of(a: np.ndarray, starts: np.ndarray, width: np.ndarray) -> np.ndarray | None:
    """The floats of the value texts a[starts[i]:starts[i] + width[i]] where every one is a JSON number that
    json.loads and float64 read as pandas' C parser does (`bulkfloat.decimal_syntax` with its JSON rules:
    correctly rounded, as float() and int -> float are), else None. The texts are gathered a width at a time (a
    byte matrix each, the byte after a text made its line feed), so they reach the parser in that order and their
    values are put back in text order."""
    parts, order = [b"\n"], []
    for w in np.flatnonzero(np.bincount(width)).tolist():
        idx = np.flatnonzero(width == w)
        rows = np.lib.stride_tricks.sliding_window_view(a, w + 1)[starts[idx]]  # (a copy: the texts of width w)
        rows[:, w] = 10
        parts.append(rows.tobytes())
        order.append(idx)
    joined = b"".join(parts)
    if joined.translate(None, _VALUE_BYTES) or not bulkfloat.decimal_syntax(joined, json=True):
        return None
    got = bulkfloat.parse(joined)
    if len(got) != len(starts):
        return None
    values = np.empty(len(starts))
    values[np.concatenate(order)] = got
    return values


def _chunk(raw: list, base: int, cols: Columns, src: SourceData, state: dict, runs: StepRuns) -> None:
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
    runs.add(got[0], got[1])


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


def _parts(plan: tuple, cols: Columns, step: np.ndarray, column) -> list | None:
    """(names, columns, is_eval) of the train and eval parts of rows of one key set (`_plan`), `column(key)` the
    float column of a key (None: not all numbers); None where a column is not all numbers or a train key is a
    summary loss (both for the row-by-row way)."""
    parts = []
    for part, is_eval in ((plan[0], False), (plan[1], True)):
        if len(part) <= (0 if is_eval else 1):
            continue
        table = []
        for name, key in part.items():
            if key is None:
                table.append(step)
                continue
            if not is_eval and cols.names[name, False] is None and cols.names.summary_loss(name):
                return None
            got = column(key)
            if got is None:
                return None
            table.append(got)
        parts.append((list(part), table, is_eval))
    return parts


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
        parts = _parts(plan, cols, epoch + 1.0, lambda key: _numbers(grows, key))
        if parts is None:
            return None
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
_LINE = re.compile(r'^\{[^\n{}]*"train_[A-Za-z]\w*"\s*:\s*"?-?[\d.]+[^\n{}]*\}\s*$', re.M)  # values may be quoted


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
