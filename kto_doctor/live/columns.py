"""One growing source: per-metric arrays that grow by appending, sliced into `SourceData` on demand."""
from __future__ import annotations

from pathlib import Path

import numpy as np

try:  # the metric ontology replaces names.py (source registry rewrite); either provides it
    from ..ontology import is_eval_record
except ImportError:  # pragma: no cover - before the rewrite lands
    from ..names import is_eval_record
from ..sources.base import Columns, MetricNames, SourceData, to_float, usable_step


class _Growing:
    """A float64 array with amortised O(1) append (capacity doubles)."""

    __slots__ = ("buf", "n")

    def __init__(self):
        self.buf = np.empty(64, dtype=np.float64)
        self.n = 0

    def append(self, x: float) -> None:
        if self.n == len(self.buf):
            self.buf = np.concatenate([self.buf, np.empty(len(self.buf), dtype=np.float64)])
        self.buf[self.n] = x
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self.buf[: self.n]


class LiveSource:
    """The records of one source so far, as growable columns: `add` is O(keys of the record)."""

    def __init__(self, path, fmt: str, *, hints: dict | None = None):
        self.path = Path(path)
        self.format = fmt
        self.hints = dict(hints or {})
        self.config: dict = {}
        self.facts: dict = {}
        self.warnings: list[str] = []
        self.records = _Growing()  # the step of every record, in arrival order
        self.rec_ids = _Growing()  # its id: the line number in a file (increasing), else its ordinal
        self.cols: dict[str, tuple[_Growing, _Growing, _Growing]] = {}  # name -> steps, values, record id
        self._names = MetricNames()
        self.monotone = True  # steps never went backwards (else slices fall back to everything)

    def __len__(self) -> int:
        return self.records.n

    def add(self, row: dict, step, rec_id: int | None = None) -> bool:
        """One logged record (raw keys, as the framework spells them); False when its step is unusable.
        `rec_id`: its line number in the file (increasing); default: the next ordinal."""
        if not usable_step(step):
            return False
        step = float(step)
        if self.records.n and step < self.records.buf[self.records.n - 1]:
            self.monotone = False
        if rec_id is None:
            rec_id = int(self.rec_ids.buf[self.rec_ids.n - 1]) + 1 if self.rec_ids.n else 1
        rec = rec_id - 1
        self.records.append(step)
        self.rec_ids.append(rec_id)
        eval_row = is_eval_record(row)
        for key, value in row.items():
            name = self._names[key, eval_row]
            if name is None:
                continue
            v = to_float(value)
            if v is None:
                continue
            col = self.cols.get(name)
            if col is None:
                col = self.cols[name] = (_Growing(), _Growing(), _Growing())
            col[0].append(step)
            col[1].append(v)
            col[2].append(rec + 1)
        return True

    def data(self, head: int | None = None, tail: int | None = None) -> SourceData:
        """The source as a reader would return it; with head/tail only the first `head` and last `tail`
        records (the middle left out), for the evaluation of local rules between full ones."""
        n = self.records.n
        rec_lo = rec_hi = None
        if head is not None and tail is not None and self.monotone and n > head + tail:
            ids = self.rec_ids.view  # records with ids in [rec_lo + 1, rec_hi + 1) are left out
            rec_lo, rec_hi = int(ids[head]) - 1, int(ids[n - tail]) - 1
        src = SourceData(path=self.path, format=self.format, config=dict(self.config), facts=dict(self.facts),
                         warnings=list(self.warnings), records=n, hints=dict(self.hints))
        helper = Columns()
        for name, (st, va, rc) in self.cols.items():
            s, v, r = st.view, va.view, rc.view
            if rec_lo is not None:
                # record numbers are 1-based and increasing: two binary searches per metric
                a = np.searchsorted(r, rec_lo + 1, side="left")
                b = np.searchsorted(r, rec_hi + 1, side="left")
                s = np.concatenate([s[:a], s[b:]])
                v = np.concatenate([v[:a], v[b:]])
                r = np.concatenate([r[:a], r[b:]])
            series = helper.finish(s.copy(), v.copy(), r.astype(np.int64))
            if series is not None:
                src.series[name] = series
        return src

    def extend(self, data: SourceData, last_id: int | None = None) -> None:
        """Take a reader's whole result at once (a big file's existing part, read in one pass): its values
        keep their line numbers as record ids; only records with a line <= `last_id` are taken."""
        parts = []
        for name, ser in data.series.items():
            lines = np.asarray(ser.lines if ser.lines is not None else np.arange(1, len(ser.steps) + 1))
            keep = lines <= last_id if last_id is not None else np.ones(len(lines), dtype=bool)
            st, va, ln = np.asarray(ser.steps, dtype=float)[keep], np.asarray(ser.values, dtype=float)[keep], lines[keep]
            col = self.cols.get(name)
            if col is None:
                col = self.cols[name] = (_Growing(), _Growing(), _Growing())
            for g, arr in zip(col, (st, va, ln.astype(float))):
                _extend(g, arr)
            parts.append((ln, st))
        if parts:
            ln = np.concatenate([p[0] for p in parts])
            st = np.concatenate([p[1] for p in parts])
            ids, first = np.unique(ln, return_index=True)
            steps = st[first]
            if len(steps) > 1 and (np.diff(steps) < 0).any() or (
                    self.records.n and len(steps) and steps[0] < self.records.buf[self.records.n - 1]):
                self.monotone = False
            _extend(self.records, steps)
            _extend(self.rec_ids, ids.astype(float))
        self.facts.update(data.facts)
        self.config.update(data.config)


def _extend(g: _Growing, arr: np.ndarray) -> None:
    need = g.n + len(arr)
    if need > len(g.buf):
        cap = max(need, 2 * len(g.buf))
        buf = np.empty(cap, dtype=np.float64)
        buf[: g.n] = g.buf[: g.n]
        g.buf = buf
    g.buf[g.n: need] = arr
    g.n = need
