"""A CSV file as the CSV sources read it (Lightning's `metrics.csv`, `csv_table`): pandas' C reader, every column
by name, and the damage accounting they share.

Only the empty string is an NA marker, so an empty cell stays "not logged in this row" while a `nan` cell keeps its
column as text and that column alone is converted cell by cell (a logged NaN is a value). A row with more cells
than the header is skipped and counted with its line; a file that ends without a newline had its last row cut,
and that row's last present cell (a number possibly cut short, 1.9 of 1.95) is not read.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from . import lazyre
from .base import SourceData, SourceError, read_bytes, to_float

_SKIPPED = lazyre.compile(r"Skipping line (\d+)")


def delimiter(first_line: str | bytes) -> str:
    """A table's cell separator, from its header line: a tab where the line has tabs and no comma (a TSV, or a
    `step\tloss` log a loop writes with `print(..., sep="\t")`), else the comma."""
    tab, comma = ("\t", ",") if isinstance(first_line, str) else (b"\t", b",")
    return "\t" if tab in first_line and comma not in first_line else ","


def header_of(raw: bytes) -> list[str]:
    """The header cells of a CSV's (or TSV's) first line (BOM removed)."""
    import csv

    first = raw[:raw.find(b"\n")] if b"\n" in raw else raw
    text = first.decode("utf-8-sig", "replace").rstrip("\r")
    return next(csv.reader([text], delimiter=delimiter(text)), [])


def read_table(path: Path, src: SourceData, what: str, check=None, keep=None):
    """(DataFrame, header, line of each row) of the CSV at `path`. `check(header)` raises SourceError for a file
    that is not of the caller's format, before anything else is parsed; `keep(column name)` says which columns
    (the step) keep their cell of a cut last row."""
    import pandas as pd

    data = read_bytes(path)
    header = header_of(data)
    if check is not None:
        check(header)
    cut = not data.endswith(b"\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sep = delimiter(data.partition(b"\n")[0])
            df = pd.read_csv(io.BytesIO(data), sep=sep, keep_default_na=False, na_values=[""], on_bad_lines="warn",
                             dtype=None, low_memory=False, encoding_errors="replace", encoding="utf-8-sig")
        except (ValueError, pd.errors.ParserError) as exc:
            raise SourceError(f"{path}: not a readable {what} ({str(exc).splitlines()[0]})") from None
    del data
    skipped = sorted(int(n) for w in caught for n in _SKIPPED.findall(str(w.message)))
    if skipped:
        src.warnings.append(f"{path.name}: skipped {len(skipped)} malformed row(s), first at line {skipped[0]}")
    lines = np.arange(2, len(df) + 2, dtype=np.int64)
    for n in skipped:  # the line number of each row, past the rows pandas skipped
        lines[lines >= n] += 1
    if cut and len(df):
        _drop_cut_cell(df, src, int(lines[-1]), keep)
    return df, header, lines


def _drop_cut_cell(df, src: SourceData, line: int, keep) -> None:
    row = df.iloc[-1]
    present = [i for i, v in enumerate(row.tolist()) if not (v is None or (isinstance(v, float) and v != v))]
    if present and not (keep is not None and keep(str(df.columns[present[-1]]))):
        df.iat[len(df) - 1, present[-1]] = np.nan
    src.warnings.append(f"{src.path.name}: line {line} is cut short; kept its complete cells")


class Cells:
    """The numbers of a table's columns, with the cells that are no number counted as damage."""

    def __init__(self, src: SourceData, df, lines: np.ndarray) -> None:
        self.src, self.df, self.lines = src, df, lines
        self.bad_cells = 0
        self.first_bad_cell: int | None = None

    def numbers(self, name, count_bad: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(floats, mask of cells holding a number) of one column; text that is no number is damage unless
        `count_bad` is False (a column of time stamps is not a metric gone wrong)."""
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
                if count_bad:
                    self.bad_cells += 1
                    self.first_bad_cell = self.first_bad_cell or int(self.lines[j])
                continue
            values[j], ok[j] = v, True
        return values, ok

    def text_column(self, name) -> bool:
        """A column none of whose cells is a number (time stamps, names): not a metric."""
        col = self.df[name]
        if col.dtype.kind in "fiub":
            return False
        cells = col.dropna().to_numpy(dtype=object)[:200]  # the first filled cells: a sparse metric (val_loss
        return not any(to_float(c) is not None for c in cells)  # once an epoch) starts after many empty rows

    def note_bad(self) -> None:
        if self.bad_cells:
            self.src.warnings.append(f"{self.src.path.name}: ignored {self.bad_cells} cell(s) that are not numbers, "
                                     f"first at line {self.first_bad_cell}")
