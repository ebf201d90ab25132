"""A CSV table of logged metrics, one row per logged step: a custom callback's `DataFrame.to_csv`, Keras'
`CSVLogger`, a W&B history pulled with `run.history().to_csv(...)`, and the CSV the W&B web page exports.

```
,epoch,time,loss,grad_norm,learning_rate,mean_token_accuracy      (pandas index in the first column)
0,0.07,2025-06-04 20:55:23,2.1057,16.1232,0.000296,0.5755
"Step","mild-sun-3 - train/loss","mild-sun-3 - train/loss__MIN","mild-sun-3 - train/loss__MAX"    (W&B export)
```

A file is claimed when its header names a step or epoch column and at least one metric the ontology knows (or
names nothing but known metrics: Keras' `loss,val_loss` history), and its second line holds a number. Lightning's `metrics.csv` (its `step` column, sparse rows) is its own source.

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
import io
from pathlib import Path

from . import rowtable
from .base import SourceData, SourceError, read_bytes, to_float
from .registry import Source

# Each row is one logged row, so `train_loss` is that row's loss and `val_loss` the eval loss: the spellings of
# Lightning's dialect (the Source states no dialect: that would name Lightning as the run's framework).
_NAMES = "lightning"

_STEP_COLUMNS = {"step": "step", "global_step": "step", "_step": "step", "iteration": "step", "iter": "step",
                 "steps": "step", "train/global_step": "step", "trainer/global_step": "step"}
_INDEX = ("", "Unnamed: 0", "index")  # the index column `DataFrame.to_csv` writes first
_WANDB_SEP = " - "
_RANGE = ("__MIN", "__MAX")


def _text(path: Path) -> str:
    data = read_bytes(path)
    return data.decode("utf-8-sig", "replace")


def _split_wandb(name: str) -> tuple[str, str] | None:
    """`mild-sun-3 - train/loss` -> ("mild-sun-3", "train/loss"); None for a plain column name."""
    if _WANDB_SEP not in name:
        return None
    run, _, metric = name.rpartition(_WANDB_SEP)
    return (run, metric) if run and metric else None


def _table(path: Path) -> tuple[list[str], list[list[str]], list[int], bool, int]:
    """(header, rows, line of each row, whether the last row was cut, rows skipped as too long)."""
    text = _text(path)
    cut = bool(text) and not text.endswith(("\n", "\r"))
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise SourceError(f"{path}: not a CSV table ({exc or 'empty'})") from None
    rows, lines, skipped, first_skipped = [], [], 0, None
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                skipped += 1
                first_skipped = first_skipped or line
                continue
            rows.append(cells)
            lines.append(line)
    except csv.Error as exc:  # a quote never closed: keep the rows before it
        if not rows:
            raise SourceError(f"{path}: not a readable CSV table ({exc})") from None
        cut = True
    return header, rows, lines, cut, (skipped, first_skipped)


def _runs_of(header: list[str]) -> dict[str, dict[int, str]] | None:
    """W&B export columns by run: {run: {column index: metric name}}; None when the table is not one."""
    if not header or header[0].strip() not in ("Step", "step", "_step"):
        return None
    runs: dict[str, dict[int, str]] = {}
    for i, name in enumerate(header[1:], start=1):
        parts = _split_wandb(name)
        if parts is None:
            return None
        run, metric = parts
        if metric.endswith(_RANGE) or metric == "_step":
            runs.setdefault(run, {})
            continue
        runs.setdefault(run, {})[i] = metric
    return runs or None


def runs(path: Path) -> list[str]:
    """The run names of a W&B export (several runs in one file); none for any other table (one run)."""
    by_run = _runs_of(_header(path))
    return [run for run, columns in by_run.items() if columns] if by_run else []


def _header(path: Path) -> list[str]:
    text = _text(path)
    first = text.split("\n", 1)[0].rstrip("\r")
    return next(csv.reader([first]), [])


def read(path: Path) -> SourceData | list[SourceData]:
    header, rows, lines, cut, (skipped, first_skipped) = _table(Path(path))
    if not rows:
        raise SourceError(f"{path}: a CSV header and no rows")
    notes = []
    if skipped:
        notes.append(f"{Path(path).name}: skipped {skipped} row(s) with more cells than the header, first at line "
                     f"{first_skipped}")
    if cut:
        last = rows[-1]
        filled = [i for i, c in enumerate(last) if c.strip()]
        if filled:
            last[filled[-1]] = ""
        notes.append(f"{Path(path).name}: line {lines[-1]} is cut short; kept its complete cells")
    by_run = _runs_of(header)
    if by_run:
        return _wandb(Path(path), header, rows, lines, by_run, notes)
    src = SourceData(path=Path(path), format="csv_table", warnings=notes)
    keys = []
    for name in header:
        name = name.strip()
        keys.append(None if name in _INDEX else _STEP_COLUMNS.get(name.lower(), name))
    dicts = [{k: c for k, c in zip(keys, cells) if k is not None and c.strip()} for cells in rows]
    for d in dicts:
        if "step" in d:
            d["step"] = _step(d["step"])
    ordinal = rowtable.fill(src, dicts, "the table", lines=lines, dialect=_NAMES)
    _known_or_refuse(src)
    src.warnings.append(f"{src.path.name}: a CSV table of logged rows ({src.records} read"
                        + (", no step column" if ordinal else "") + ")")
    return src


def _known_or_refuse(src: SourceData) -> None:
    """A table none of whose columns is a metric the ontology knows is some other CSV (prices, a CV summary)."""
    from ..ontology import is_known

    if not any(is_known(name) for name in src.series if name != "epoch"):
        raise SourceError(f"{src.path}: a CSV table, but none of its columns is a training metric "
                          f"({', '.join(sorted(src.series)[:6])})")


def _step(cell: str):
    f = to_float(cell)
    return f if f is not None else cell


def _wandb(path: Path, header: list[str], rows: list[list[str]], lines: list[int], by_run: dict[str, dict[int, str]],
           notes: list[str]) -> SourceData | list[SourceData]:
    out = []
    for run, columns in by_run.items():
        if not columns:
            continue
        dicts = []
        for cells in rows:
            d = {metric: cells[i] for i, metric in columns.items() if i < len(cells) and cells[i].strip()}
            d["step"] = _step(cells[0]) if cells else None
            dicts.append(d)
        src = SourceData(path=path, format="csv_table", run_key=run, facts={"run_name": run}, warnings=list(notes))
        try:
            rowtable.fill(src, dicts, f"run {run!r}", lines=lines, dialect=_NAMES)
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

    lines = head.lstrip("\ufeff").split("\n", 2)
    if len(lines) < 2:
        return 0.0
    header = next(csv.reader([lines[0].rstrip("\r")]), [])
    if len(header) < 2:
        return 0.0
    row = next(csv.reader([lines[1].rstrip("\r")]), [])
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
    suffixes=(".csv",),
    runs=runs,
    examples=("train_log.csv written by a notebook's callback", "wandb_export_<date>.csv from a W&B chart"),
)
