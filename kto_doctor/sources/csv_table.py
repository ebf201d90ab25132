"""A CSV table of logged metrics, one row per logged step: a custom callback's `DataFrame.to_csv`, Keras'
`CSVLogger`, a W&B history pulled with `run.history().to_csv(...)`, and the CSV the W&B web page exports.

```
,epoch,time,loss,grad_norm,learning_rate,mean_token_accuracy      (pandas index in the first column)
0,0.07,2025-06-04 20:55:23,2.1057,16.1232,0.000296,0.5755
"Step","mild-sun-3 - train/loss","mild-sun-3 - train/loss__MIN","mild-sun-3 - train/loss__MAX"    (W&B export)
```

Cells are separated by commas, or by tabs where the header line has tabs and no comma (a TSV; a loop's
`step\tloss` log under any name). A file is claimed when its header names a step or epoch column and at least one metric the ontology knows (or
names nothing but known metrics: Keras' `loss,val_loss` history), and its second line holds a number.
Lightning's `metrics.csv` (its `step` column, sparse rows) is its own source. The file is parsed by pandas' C
reader (csvcells), column by column.

Rows: the step is the `step` / `global_step` / `_step` / `iteration` / `iter` / `Step` column; a table without one
is placed in row order (ordinal steps) and keeps its `epoch` column. Columns whose cells are no numbers (time
stamps, `-`) are not metrics; an empty cell is "not logged in this row". Names are read as each row's own values
(`train_loss` is that row's loss, `val_loss` the eval loss), as in Lightning's dialect.

The W&B export: every metric column is `<run> - <name>` (`Group: <group> - <name>` for grouped runs) beside
`__MIN`/`__MAX` columns of the same points (sampled ranges, not metrics) and the run's own `_step`; `Step` is
the shared x axis. One run name is one run; a file of several runs is a store of several runs (`scan` reads them
all, `--run NAME` picks one).

Damage: a row with more cells than the header is skipped with a warning; a file that ends without a newline
had its last row cut, and that row's last cell (a number possibly cut short) is not read.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from . import csvcells
from .base import Columns, MetricNames, SourceData, SourceError, to_float
from .registry import TEXT_SUFFIXES, Source

# Each row is one logged row, so `train_loss` is that row's loss and `val_loss` the eval loss: the spellings of
# Lightning's dialect (the Source states no dialect: that would name Lightning as the run's framework).
_NAMES = "lightning"

# (`update`: an RL loop's counter of policy updates, one row each: sherrywan717/ppo-vs-grpo-math-rlvr's TRL metrics CSV)
_STEP_COLUMNS = frozenset({"step", "global_step", "_step", "iteration", "iter", "steps", "train/global_step",
                           "trainer/global_step", "update", "updates"})
_INDEX = ("", "Unnamed: 0", "index")  # the index column `DataFrame.to_csv` writes first
_WANDB_SEP = " - "
_RANGE = ("__MIN", "__MAX")


def _split_wandb(name: str) -> tuple[str, str] | None:
    """`mild-sun-3 - train/loss` -> ("mild-sun-3", "train/loss"); None for a plain column name."""
    if _WANDB_SEP not in name:
        return None
    run, _, metric = name.rpartition(_WANDB_SEP)
    return (run, metric) if run and metric else None


def _runs_of(header: list[str]) -> dict[str, dict[str, str]] | None:
    """W&B export columns by run: {run: {column: metric name}}; None when the table is not one."""
    if not header or header[0].strip() not in ("Step", "step", "_step"):
        return None
    runs: dict[str, dict[str, str]] = {}
    for name in header[1:]:
        parts = _split_wandb(name)
        if parts is None:
            return None
        run, metric = parts
        if metric.endswith(_RANGE) or metric == "_step":
            runs.setdefault(run, {})
            continue
        runs.setdefault(run, {})[name] = metric
    return runs or None


def runs(path: Path) -> list[str]:
    """The run names of a W&B export (several runs in one file); none for any other table (one run)."""
    by_run = _runs_of(csvcells.header_of(_head(path)))
    return [run for run, columns in by_run.items() if columns] if by_run else []


def read(path: Path) -> SourceData | list[SourceData]:
    path = Path(path)
    probe = SourceData(path=path, format="csv_table")
    df, _, lines = csvcells.read_table(path, probe, "CSV table", keep=_is_step)
    if not len(df):
        raise SourceError(f"{path}: a CSV header and no rows")
    by_run = _runs_of([str(c) for c in df.columns])
    if by_run:
        return _wandb(path, df, lines, by_run, probe.warnings)
    cells = csvcells.Cells(probe, df, lines)
    step_col = next((c for c in df.columns if _is_step(str(c))), None)
    if step_col is not None:
        steps, ok = cells.numbers(step_col)
        if (~ok).any():
            probe.warnings.append(f"{path.name}: {int((~ok).sum())} row(s) without a step ignored, first at line "
                                  f"{int(lines[~ok][0])}")
        steps = _per_epoch_steps(path, cells, df, steps, ok, probe)
    else:
        steps, ok = np.arange(1, len(df) + 1, dtype=np.float64), np.ones(len(df), dtype=bool)
        probe.step_kind = "ordinal"
    columns = {c: str(c).strip() for c in df.columns if c is not step_col and str(c).strip() not in _INDEX
               and not str(c).startswith("Unnamed:")}
    _fill(probe, cells, steps, ok, columns)
    _known_or_refuse(probe)
    probe.warnings.append(f"{path.name}: a CSV table of logged rows ({probe.records} read"
                          + (", no step column" if step_col is None else "") + ")")
    return probe


def _per_epoch_steps(path: Path, cells: csvcells.Cells, df, steps: np.ndarray, ok: np.ndarray,
                     src: SourceData) -> np.ndarray:
    """A step column that restarts at every new epoch (a loop's `epoch,step,...` rows with `step` counted within the
    epoch) made global: each epoch's steps follow the largest of the epochs before it. Only where the step goes back
    exactly when the epoch column moves up, and nowhere else (a file that several runs wrote stays as it is)."""
    from .textlog import epoch_steps

    ep_col = next((c for c in df.columns if str(c).strip().lower() == "epoch"), None)
    if ep_col is None or ok.sum() < 4:
        return steps
    epoch, ep_ok = cells.numbers(ep_col)
    both = ok & ep_ok
    s, e = steps[both], epoch[both]
    back, de = np.diff(s) < 0, np.diff(e)
    if not back.any() or (de < 0).any() or (back != (de > 0)).any():
        return steps
    out = steps.copy()
    out[both] = epoch_steps(e, s)
    src.warnings.append(f"{path.name}: the step column restarts at every epoch ({int(back.sum())} times): each epoch's "
                        f"steps are counted on from the last of the epoch before")
    return out


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(1 << 16)


def _is_step(name: str) -> bool:
    """A step column: a cut last row keeps its step cell (the row's last value is what is dropped)."""
    return name.strip().lower() in _STEP_COLUMNS


def _fill(src: SourceData, cells: csvcells.Cells, steps: np.ndarray, step_ok: np.ndarray,
          columns: dict) -> None:
    """One series per metric column (the first column of a canonical name wins; the others are noted)."""
    names = MetricNames(_NAMES)
    cols = Columns()
    cols.set_steps(steps[step_ok], cells.lines[step_ok])
    cols.finish_segments(src, "the step column")
    taken: dict[str, str] = {}
    for col, raw in columns.items():
        name = names[raw, False]
        if name is None or cells.text_column(col):
            continue
        if name in taken:
            src.warnings.append(f"{src.path.name}: columns {taken[name]!r} and {raw!r} both mean {name}; "
                                f"kept {taken[name]!r}")
            continue
        values, ok = cells.numbers(col)
        ok &= step_ok
        if ok.any():
            src.series[name] = cols.finish(steps[ok], values[ok], cells.lines[ok])
            taken[name] = raw
    cells.note_bad()
    src.records = int(step_ok.sum())
    if not src.series:
        raise SourceError(f"{src.path}: the rows of this CSV table hold no numbers")


def _known_or_refuse(src: SourceData) -> None:
    """A table none of whose columns is a metric the ontology knows is some other CSV (prices, a CV summary)."""
    from ..ontology import is_known

    if not any(is_known(name) for name in src.series if name != "epoch"):
        raise SourceError(f"{src.path}: a CSV table, but none of its columns is a training metric "
                          f"({', '.join(sorted(src.series)[:6])})")


def _wandb(path: Path, df, lines: np.ndarray, by_run: dict[str, dict[str, str]],
           notes: list[str]) -> SourceData | list[SourceData]:
    out = []
    step_col = df.columns[0]
    for run, columns in by_run.items():
        if not columns:
            continue
        src = SourceData(path=path, format="csv_table", run_key=run, facts={"run_name": run}, warnings=list(notes))
        cells = csvcells.Cells(src, df, lines)
        steps, ok = cells.numbers(step_col)
        try:
            _fill(src, cells, steps, ok, columns)
            _known_or_refuse(src)
        except SourceError:
            continue  # a run whose columns hold nothing here (a metric this export did not sample for it)
        src.warnings.append(f"{path.name}: a W&B chart export; run {run!r}: {src.records} row(s)")
        out.append(src)
    if not out:
        raise SourceError(f"{path}: a W&B export whose runs hold no numbers")
    return out[0] if len(out) == 1 else out


def sniff(head: str) -> float:
    """A header naming a step or epoch column and a known metric, over a row that holds a number."""
    from ..ontology import canonical, is_known

    # (blank lines between the rows: a CSV pasted into an issue as Markdown paragraphs, timm#58)
    lines = [ln for ln in head.lstrip("\ufeff").split("\n", 8)[:8] if ln.strip()]
    if len(lines) < 2:
        return 0.0
    sep = csvcells.delimiter(lines[0])
    header = next(csv.reader([lines[0].rstrip("\r")], delimiter=sep), [])
    if len(header) < 2:
        return 0.0
    row = next(csv.reader([lines[1].rstrip("\r")], delimiter=sep), [])
    if not any(to_float(c) is not None for c in row):
        return 0.0
    if _runs_of(header):
        metrics = [m for name in header[1:] for _, m in [_split_wandb(name)] if not m.endswith(_RANGE)]
    else:
        names = [h.strip() for h in header]
        metrics = [n for n in names if n.lower() not in _STEP_COLUMNS and n not in _INDEX]
        counted = any(n.lower() in _STEP_COLUMNS or n.lower() == "epoch" for n in names)
        # without a step or epoch column only a table of nothing but metrics (Keras' `loss,val_loss` history)
        if not counted and not all(is_known(canonical(m, False, _NAMES)) for m in metrics):
            return 0.0
    known = [m for m in metrics if m.lower() != "epoch" and is_known(canonical(m, False, _NAMES))]
    return 0.6 if known else 0.0


SOURCE = Source(
    name="csv_table",
    title="CSV tables of logged rows: a callback's DataFrame.to_csv, Keras CSVLogger, W&B history and W&B chart exports",
    read=read,
    priority=46,
    sniff=sniff,
    suffixes=(".csv", ".tsv") + TEXT_SUFFIXES,  # a loop's `step<TAB>loss` log is often named train.log
    runs=runs,
    examples=("train_log.csv written by a notebook's callback", "wandb_export_<date>.csv from a W&B chart"),
)
