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
counted with its first line; a last line cut mid-row keeps the cells that are complete. Parsing is pandas'
C reader (a 1M-row file in about the time `pandas.read_csv` takes); a column holding `nan` text is read
cell by cell, so that a logged NaN is told from an empty cell.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np

from . import lazyre
from .base import Columns, MetricNames, Series, SourceData, SourceError, read_bytes, to_float
from .registry import Source
from .store_util import side_file

STEP, EPOCH = "step", "epoch"
_SKIPPED = lazyre.compile(r"Skipping line (\d+)")


def read(path: Path) -> SourceData:
    """Parsed by pandas' C reader (every column by name; an empty cell stays "not logged" because only the
    empty string is an NA marker, so a `nan` cell keeps its column as text and that column alone is
    converted cell by cell, NaN being a logged value)."""
    import pandas as pd

    src = SourceData(path=path, format="lightning_csv", hints={"framework": "lightning"})
    data = read_bytes(path)
    header = _header(path, data[:data.find(b"\n") if b"\n" in data else len(data)])
    cut = not data.endswith(b"\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            df = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""], on_bad_lines="warn",
                             dtype=None, low_memory=False, encoding_errors="replace")
        except (ValueError, pd.errors.ParserError) as exc:
            raise SourceError(f"{path}: not a readable metrics.csv ({str(exc).splitlines()[0]})") from None
    del data
    skipped = sorted(int(n) for w in caught for n in _SKIPPED.findall(str(w.message)))
    if skipped:
        src.warnings.append(f"{path.name}: skipped {len(skipped)} malformed row(s), first at line {skipped[0]}")
    lines = np.arange(2, len(df) + 2, dtype=np.int64)
    for n in skipped:  # the line number of each row, past the rows pandas skipped
        lines[lines >= n] += 1
    if cut and len(df):
        _drop_cut_cell(df, header, src, int(lines[-1]))
    reader = _Columns(src, df, lines)
    src.series = reader.build(header)
    if reader.bad_cells:
        src.warnings.append(f"{path.name}: ignored {reader.bad_cells} cell(s) that are not numbers, first at line "
                            f"{reader.first_bad_cell}")
    if src.records == 0:
        raise SourceError(f"{path}: a header and no rows")
    _hparams(path, src)
    return src


def _header(path: Path, raw: bytes) -> list[str]:
    import csv

    cols = next(csv.reader([raw.decode("utf-8", "replace").rstrip("\r")]), [])
    if STEP not in cols or len(cols) < 2:
        raise SourceError(f"{path}: not a Lightning metrics.csv (no 'step' column in the header)")
    return cols


def _drop_cut_cell(df, header: list[str], src: SourceData, line: int) -> None:
    """A file that ends without a newline was cut mid-row: the row's last present cell may be a number cut
    short (1.9 of 1.95), so it is not read; the complete cells before it stand."""
    row = df.iloc[-1]
    present = [i for i, v in enumerate(row.tolist()) if not (v is None or (isinstance(v, float) and v != v))]
    if present and header[present[-1]] != STEP:
        df.iat[len(df) - 1, present[-1]] = np.nan
    src.warnings.append(f"{src.path.name}: line {line} is cut short; kept its complete cells")


class _Columns:
    def __init__(self, src: SourceData, df, lines: np.ndarray) -> None:
        self.src, self.df, self.lines = src, df, lines
        self.bad_cells = 0
        self.first_bad_cell: int | None = None

    def numbers(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(floats, mask of cells holding a number) of one column; text that is no number is damage."""
        col = self.df[name]
        if col.dtype.kind in "fiub":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            return values, ~np.isnan(values)
        cells = col.to_numpy(dtype=object)
        values = np.full(len(cells), np.nan)
        ok = np.zeros(len(cells), dtype=bool)
        for j, cell in enumerate(cells):
            if cell is None or (isinstance(cell, float) and cell != cell):
                continue  # empty: not logged in this row
            v = to_float(cell)
            if v is None:
                self.bad_cells += 1
                self.first_bad_cell = self.first_bad_cell or int(self.lines[j])
                continue
            values[j], ok[j] = v, True
        return values, ok

    def build(self, header: list[str]) -> dict[str, Series]:
        """One series per metric, one value per step (the later row winning: sparse rows share steps)."""
        names = MetricNames("lightning")
        steps, step_ok = self.numbers(STEP)
        if (~step_ok).any():
            bad = int((~step_ok).sum())
            self.src.warnings.append(f"{self.src.path.name}: {bad} row(s) without a step ignored, first at line "
                                     f"{int(self.lines[~step_ok][0])}")
        self.src.records = int(step_ok.sum())
        out: dict[str, Series] = {}
        for col in dict.fromkeys(self.df.columns):
            if col == STEP or str(col).startswith("Unnamed:"):
                continue
            name = names[str(col), False]
            if name is None:
                continue
            values, ok = self.numbers(col)
            ok &= step_ok
            if ok.any():
                out[name] = Columns().finish(steps[ok], values[ok], self.lines[ok])
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
