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

from pathlib import Path

from . import csvcells
from .base import Columns, MetricNames, Series, SourceData, SourceError
from .registry import Source
from .store_util import side_file

STEP, EPOCH = "step", "epoch"


def read(path: Path) -> SourceData:
    """Parsed by pandas' C reader (csvcells: every column by name; an empty cell stays "not logged")."""
    src = SourceData(path=path, format="lightning_csv", hints={"framework": "lightning"})
    df, _, lines = csvcells.read_table(path, src, "metrics.csv", check=lambda h: _check(path, h), keep=STEP.__eq__)
    cells = csvcells.Cells(src, df, lines)
    src.series = _build(src, cells)
    cells.note_bad()
    if src.records == 0:
        raise SourceError(f"{path}: a header and no rows")
    _hparams(path, src)
    return src


def _check(path: Path, cols: list[str]) -> None:
    if STEP not in cols or len(cols) < 2:
        raise SourceError(f"{path}: not a Lightning metrics.csv (no 'step' column in the header)")


def _build(src: SourceData, cells: csvcells.Cells) -> dict[str, Series]:
    """One series per metric, one value per step (the later row winning: sparse rows share steps)."""
    names = MetricNames("lightning")
    steps, step_ok = cells.numbers(STEP)
    if (~step_ok).any():
        bad = int((~step_ok).sum())
        src.warnings.append(f"{src.path.name}: {bad} row(s) without a step ignored, first at line "
                            f"{int(cells.lines[~step_ok][0])}")
    src.records = int(step_ok.sum())
    out: dict[str, Series] = {}
    for col in dict.fromkeys(cells.df.columns):
        if col == STEP or str(col).startswith("Unnamed:"):
            continue
        name = names[str(col), False]
        if name is None:
            continue
        values, ok = cells.numbers(col)
        ok &= step_ok
        if ok.any():
            out[name] = Columns().finish(steps[ok], values[ok], cells.lines[ok])
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
