"""PyTorch Lightning `CSVLogger`: `<save_dir>/<name>/version_<N>/metrics.csv` (+ `hparams.yaml`).

What the writer does (lightning `loggers/csv_logs.py`, `_ExperimentWriter`): one row per `log_metrics`
call, columns = every key logged so far plus `step` (and `epoch`, added by the trainer), written by
`csv.DictWriter`, so lines end in `\\r\\n` on every platform (committed copies often have `\\n`). Rows are
sparse: a training-step row, a validation row and an epoch-aggregate row can share one step, each filling
only its own columns, the others empty; they are merged by step (an empty cell is "not logged here", a
`nan` cell is a logged NaN). The header order differs between versions (first-seen, set order, sorted), so
columns are found by name. `step` is the optimizer steps taken so far (`_batches_that_stepped`).

Names are the user's `self.log` names, read in the "lightning" dialect (`train_loss` is a per-step series
here, not HF's end-of-run summary; `val_loss` → `eval_loss`; `lr-AdamW` from LearningRateMonitor →
`learning_rate`). `hparams.yaml` next to the file becomes the run's configuration (raw keys).

Damage: a row with more cells than the header, or a cell that is not a number, is skipped/ignored and
counted with its first line; a last line cut mid-row keeps the cells that are complete.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .base import Columns, MetricNames, Series, SourceData, SourceError, open_stream, to_float
from .registry import Source
from .store_util import line_chunks, side_file

STEP, EPOCH = "step", "epoch"


def read(path: Path) -> SourceData:
    src = SourceData(path=path, format="lightning_csv", hints={"framework": "lightning"})
    with open_stream(path) as f:
        header_line = f.readline()
        header = _header(path, header_line)
        reader = _Reader(src, header)
        for lines, line_base, cut in line_chunks(f):
            reader.rows(lines, line_base + 1, last=cut)
    if src.records == 0:
        raise SourceError(f"{path}: a header and no rows")
    src.series = reader.build()
    if reader.bad_rows:
        src.warnings.append(f"{path.name}: skipped {reader.bad_rows} malformed row(s), first at line "
                            f"{reader.first_bad}")
    if reader.bad_cells:
        src.warnings.append(f"{path.name}: ignored {reader.bad_cells} cell(s) that are not numbers, first at line "
                            f"{reader.first_bad_cell}")
    _hparams(path, src)
    return src


def _header(path: Path, raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    cols = next(csv.reader([text]), [])
    if STEP not in cols or len(cols) < 2:
        raise SourceError(f"{path}: not a Lightning metrics.csv (no 'step' column in the header)")
    return cols


class _Reader:
    def __init__(self, src: SourceData, header: list[str]) -> None:
        self.src = src
        self.header = header
        self.width = len(header)
        self.step_col = header.index(STEP)
        names = MetricNames("lightning")
        # column index -> canonical name (None: bookkeeping); duplicate header names keep the first column
        self.names = {}
        for i, key in enumerate(header):
            if i != self.step_col and key not in (header[j] for j in range(i)):
                self.names[i] = names[key, False]
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.bad_rows = self.bad_cells = 0
        self.first_bad: int | None = None
        self.first_bad_cell: int | None = None

    def rows(self, lines: list[bytes], base: int, last: bool) -> None:
        text = [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines]
        numbered = [(i, t) for i, t in enumerate(text, base + 1) if t.strip()]
        good: list[list[str]] = []
        line_nos: list[int] = []
        for (lineno, _), row in zip(numbered, csv.reader(t for _, t in numbered)):
            if len(row) == self.width:
                good.append(row)
                line_nos.append(lineno)
            elif last and len(row) < self.width and len(row) > self.step_col:
                # a last line cut mid-row: its complete cells stand (the cut one may be short: dropped)
                good.append(row[:-1] + [""] * (self.width - len(row) + 1))
                line_nos.append(lineno)
                self.src.warnings.append(f"{self.src.path.name}: line {lineno} is cut short; kept its complete cells")
            else:
                self.bad_rows += 1
                self.first_bad = self.first_bad or lineno
        if not good:
            return
        columns = list(zip(*good))
        lines_arr = np.asarray(line_nos, dtype=np.int64)
        steps, step_ok = self._numbers(columns[self.step_col], lines_arr)
        steps[~step_ok] = np.nan
        n_ok = int(step_ok.sum())
        if n_ok < len(good):
            self.bad_rows += len(good) - n_ok
            self.first_bad = self.first_bad or int(lines_arr[~step_ok][0])
        self.src.records += n_ok
        for i, name in self.names.items():
            if name is None:
                continue
            values, ok = self._numbers(columns[i], lines_arr)
            ok &= step_ok
            if ok.any():
                self.parts.setdefault(name, []).append((steps[ok], values[ok], lines_arr[ok]))

    def _numbers(self, column: tuple, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(floats, mask of cells holding a number); an empty cell is not logged, text is damage (counted)."""
        arr = np.asarray(column)
        present = arr != ""
        out = np.full(len(arr), np.nan)
        if not present.any():
            return out, present
        try:
            out[present] = arr[present].astype(np.float64)
            return out, present
        except ValueError:
            pass
        for j in np.flatnonzero(present):
            v = to_float(str(arr[j]))
            if v is None:
                present[j] = False
                self.bad_cells += 1
                self.first_bad_cell = self.first_bad_cell or int(lines[j])
            else:
                out[j] = v
        return out, present

    def build(self) -> dict[str, Series]:
        """One series per metric, one value per step (the later row winning: sparse rows share steps)."""
        out: dict[str, Series] = {}
        for name, parts in self.parts.items():
            s, v, ln = (np.concatenate([p[i] for p in parts]) for i in range(3))
            out[name] = Columns().finish(s, v, ln)
        return out


def _hparams(path: Path, src: SourceData) -> None:
    """`hparams.yaml` next to metrics.csv: the run's hyperparameters, raw (what `save_hyperparameters` saw)."""
    hp = path.parent / "hparams.yaml"
    if not hp.exists():
        return
    raw, why = side_file(hp)
    if why:
        src.warnings.append(f"hparams.yaml: not read ({why})")
    elif isinstance(raw, dict):
        src.config.update({k: v for k, v in raw.items() if isinstance(k, str)})


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    """A CSV under another name whose header has Lightning's `step` (and `epoch`) columns."""
    first = head.split("\n", 1)[0].rstrip("\r")
    cols = first.split(",")
    if STEP in cols and (EPOCH in cols or any(c.startswith(("train", "val")) for c in cols)):
        return 0.8
    return 0.0


SOURCE = Source(
    name="lightning_csv",
    title="PyTorch Lightning CSVLogger metrics.csv (+ hparams.yaml): sparse train/val/epoch rows merged by step",
    read=read,
    priority=12,
    names=("metrics.csv",),
    sniff=sniff,
    suffixes=(".csv",),
    anchor=True,
    dialect="lightning",
    examples=("lightning_logs/version_0/metrics.csv",),
)
