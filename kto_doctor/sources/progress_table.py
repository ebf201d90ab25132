"""Trainer progress tables copied from a notebook, a web page or a model card.

```
| Step | Training Loss | Validation Loss |        Step  Training Loss  Rewards/Margins  Rewards/Chosen
|------|---------------|-----------------|          5       0.6821          0.0312          -0.0156
| 700  | 2.095300      | 6.817593        |         10       0.6543          0.1247           0.0891
Step	Training Loss	Validation Loss                1 | 0.000000 | -17.250000 | 1.500000
500	No log	2.750914                               (unsloth: ` | ` between cells, `-- | --` under the header)
```
The notebook (`transformers.utils.notebook.NotebookProgressCallback`) shows an HTML table: floats with 6
decimals, `No log` until a training loss exists, the first column `Step` (or `Epoch`), then `Training Loss`,
`Validation Loss` and one column per metric (title-cased, `_` as a blank). Copied out of the browser it becomes
TAB-separated; in docs it is a Markdown table, or re-aligned with blanks. The model card's "Training results"
table has the same cells rounded to 4 decimals and its own column order (`Training Loss | Epoch | Step |
Validation Loss | ...`); a rendered table copied as text may keep single blanks between cells (`Training Loss
Epoch Step Validation Loss`: the Trainer's two-word names are known, and a row must have as many cells).

The header decides: a `Step`/`Epoch` column anywhere is the x axis (with both, `Step`); `Training Loss` is the
loss, `Validation Loss` the eval loss; where the table has a validation column, its other metric columns are
what the evaluation logged (`Rewards/chosen` -> `eval_rewards/chosen`), otherwise what training logged.
Cells: `No log`, `None`, `-` and empty are missing; `**bold**`, `~`, a leading `+` and U+2212 minus are
undone; a table whose every number is written `1,858179` uses decimal commas. A header repeated later starts a
new table (the steps of a second table restarting are a resumed or separate run). The Training Loss of a
Trainer table is the mean since the previous row.

The notebook's progress line above the table (`[699/699 13:20, Epoch 2/3]`, `[ 51/699 00:54 < 12:10, 0.89 it/s,
Epoch 0.21/3]`) states the run's optimizer steps and epochs: facts `total_steps` and `num_train_epochs` (the last
such line), from which the merger places a table without an Epoch column on the epoch axis.
"""
from __future__ import annotations

import re
from functools import cached_property
from itertools import compress

import numpy as np

from . import bytematrix, textlog
from ..heap import Grow
from .base import Columns, SourceData, SourceError, StepRuns, card_settings
from .spannumbers import PAD, span_numbers
from .registry import TEXT_SUFFIXES, Source, score

# A header: a step/epoch column and a loss column, in any order (the model card's `Training Loss | Epoch | Step |
# Validation Loss`), cells separated by `|`, a TAB, two or more blanks, or single blanks where a rendered table was
# copied as text (`Training Loss Epoch Step Validation Loss`: the Trainer's two-word names are known).
_AXIS_WORD = re.compile(rb"(?<![\w/])(?:Steps?|Epoch|Epoca|\xc3\x89poca|Iteration|Iter|Global Step)(?![\w/])")
# lower case (`| epoch | loss | rewards/chosen |`, a report's own Markdown table): in `|` tables only (a TSV
# with a `step` column is csv_table's)
_AXIS_LOWER = re.compile(rb"(?<![\w/])(?:steps?|epoch|iteration|iter|global step|global_step)(?![\w/])")
_LOSS_WORD = re.compile(rb"[Ll]oss")
# `Training Loss`, `Rewards / chosen`, `Approx. Perplexity (`exp(loss)`)`: a word first, no quotes, braces or colons
_COLUMN_NAME = re.compile(rb"^[*_]*[A-Za-z][^{}\[\]'\":=,]*$")
_TWO_WORDS = re.compile(r"(?i)^(?:training|train|validation|eval|learning|global|gen|no) (?:loss|rate|step|len|log)$")
_RULE = re.compile(rb"^[ \t>]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_CR = bytes.maketrans(b"\r", b" ")  # a CRLF file's CR: a blank at the end of the row
_SKIP_COLUMN = re.compile(r"(?i)approx\.|exp\(|^loss type$|runtime|samples per second|steps per second")
# trailing columns of remarks a hand-made table adds (`Notes` with `<<< SPIKE` on some rows, `Source` with `log line
# 42`, a `Δ Train` change): optional cells, and free text after them, in a blank-separated table
# the notebook callback's bar text: `[step/max_steps elapsed( < remaining, rate it/s), Epoch e/num_train_epochs]`
_PROGRESS = re.compile(rb"\[ *(\d{1,9})/(\d{1,9}) [\d:]+(?: < [\d:]+)?(?:, [\d.]+ (?:it/s|s/it))?, "
                       rb"Epoch (\d+(?:\.\d+)?)/(\d{1,5})\]")
_NOTE_COLUMN = re.compile(r"(?i)^(?:notes?|remarks?|comments?|source|\u0394.*|\u03b4.*|delta.*|change|diff)$")


def _cells(header: bytes) -> tuple[str, list[bytes]]:
    """(separator kind, cells) of a header line."""
    text = header.strip().lstrip(b">").strip()
    if text[:1] in (b"-", b"+") and text[1:].lstrip(b" \t")[:1] == b"|":  # a diff's mark before a pipe header
        text = text[1:].strip()
    if b"|" in text:
        return "pipe", [c.strip() for c in text.strip(b"|").split(b"|")]
    if b"\t" in text:
        return "tab", [c.strip() for c in text.split(b"\t")]
    if re.search(rb"\S {2,}\S", text):
        return "blanks", [c.strip() for c in re.split(rb" {2,}", text)]
    words = text.split()  # single blanks: the Trainer's two-word names stay together
    cells: list[bytes] = []
    for w in words:
        if cells and _TWO_WORDS.match((cells[-1] + b" " + w).decode("utf-8", "replace")):
            cells[-1] += b" " + w
        else:
            cells.append(w)
    return "space", cells


def _is_header(line: bytes) -> bool:
    """A table header: two or more cells, one of them a step/epoch column, one naming a loss."""
    if _LOSS_WORD.search(line) is None:
        return False
    sep, cells = _cells(line)
    if _AXIS_WORD.search(line) is None and (sep != "pipe" or _AXIS_LOWER.search(line) is None):
        return False
    names = [c.decode("utf-8", "replace") for c in cells]
    if len(cells) < 2 or _axis(names)[0] is None or not any("loss" in n.lower() for n in names):
        return False
    # every cell a column name, not a value or a fragment of code: a metric line (`step 10 loss 2.3`) or a dict
    # (`{'loss': 2.3, ...`) is no header
    # (a model card's table may end in a column without a name, `| Validation Loss | |`: its cells are not read)
    named = cells[:len(cells) - _unnamed_tail(sep, cells)]
    return all(_COLUMN_NAME.match(c) or _NOTE_COLUMN.match(c.decode("utf-8", "replace")) for c in named) \
        and not any(textlog.is_number(c) for c in cells)


def _unnamed_tail(sep: str, cells: list[bytes]) -> int:
    """How many cells at the end of a pipe header are empty (a column the card's generator left unnamed)."""
    if sep != "pipe":
        return 0
    k = 0
    while k < len(cells) - 2 and not cells[len(cells) - 1 - k]:
        k += 1
    return k


class _Table:
    """One header and the row regex it implies."""

    @cached_property
    def columns(self) -> list[tuple[int, str]]:
        """(column, canonical name) of the metric columns (not the axis, not the skipped ones), in order (a later
        column of the same name wins, as in a dict)."""
        ax, kind = _axis(self.names)
        has_val = any(_canon(nm, False) == "eval_loss" for nm in self.names)
        low = [nm.strip().lower() for nm in self.names]
        got = []
        for j, nm in enumerate(self.names):
            if j == ax or _SKIP_COLUMN.search(nm) or not nm.strip():  # (an unnamed column: not read)
                continue
            name = "epoch" if kind == "step" and low[j] in ("epoch", "epoca", "\xe9poca") else _canon(nm, has_val)
            if name is not None:
                got.append((j, name))
        return got

    def __init__(self, header: bytes) -> None:
        self.sep, cells = _cells(header)
        self.names = [re.sub(r"\s*/\s*", "/", c.decode("utf-8", "replace")) for c in cells]
        n = len(cells)
        cell = {"pipe": rb"([^|\n]*)", "tab": rb"([^\t\n]*)",
                "blanks": rb"[ \t]*(\S+(?: \S+)*)", "space": rb"(No log|\S+)"}[self.sep]
        sep = {"pipe": rb"\|", "tab": rb"\t", "blanks": rb" {2,}|\t", "space": rb"[ \t]+"}[self.sep]
        # a pipe row may carry a diff's mark before it (`- | 0.187 | 0.1047 | 100 |`: a model card's table in a
        # commit's diff, its line numbers on the lines between the rows)
        lead = rb"^[ \t>]*(?:[-+][ \t]+)?\|?" if self.sep == "pipe" else rb"^[ \t>]*"
        trail = rb"\|?[ \t]*$" if self.sep == "pipe" else rb"[ \t]*$"
        first = {"pipe": rb"([ \t*]*[-+]?\d[^|\n]*)", "tab": rb"([ \t]*[-+]?\d[^\t\n]*)",
                 "blanks": rb"[ \t]*([-+]?\d\S*)", "space": rb"([-+]?\d\S*)"}[self.sep]
        parts = [lead, first if _axis(self.names)[0] == 0 else cell]
        # the trailing remark columns of a blank-separated table: each cell optional, and text after them
        notes = n
        if self.sep in ("blanks", "space"):
            while notes > 1 and _NOTE_COLUMN.match(self.names[notes - 1].strip()):
                notes -= 1
        self.optional = notes < n
        for j in range(1, n):
            if j < notes:
                parts += [rb"(?:" + sep + rb")", cell]
            else:
                parts += [rb"(?:(?:" + sep + rb")" + cell + rb")?"]
        if self.optional:
            parts.append(rb"(?:[ \t]+[^\n]*?)?")
        elif self.sep == "space":
            # a rendered card's table copied as text loses an unnamed last column's header, not its values: numbers
            # after the named cells are that column's (not read)
            parts.append(rb"(?:[ \t]+[-+]?\d[\d.eE+-]*)*")
        parts.append(trail)
        # the row of this header: its first cell a number (a step or epoch), the right number of cells
        self.row = re.compile(b"".join(parts), re.M)
        # the same row with the line feed before it instead of `^`: a search for a pattern that starts with a
        # literal byte skips to its next occurrence, where `^` is tried at every byte (`_rows` splits with it)
        self.after_feed = re.compile(b"\n" + b"".join(parts)[1:], re.M)


def _table_of(header: bytes, tables: dict) -> _Table:
    """The _Table of a header text, one per text in a read: a log that repeats its header every few thousand rows
    built one each time (its regexes and its columns' canonical names: 6% of the reading). A _Table depends on its
    header's text alone and is not changed once built."""
    tab = tables.get(header)
    if tab is None:
        tab = tables[header] = _Table(header)
    return tab


def _headers(text: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, text) of the header lines: a header names a loss, so only the lines holding `oss` are
    tried (a regex anchored at every line start would cost a scan of the whole chunk)."""
    out = []
    rare = textlog.rarest(text, b"oss")
    p = textlog.find_rare(text, b"oss", rare)
    while p >= 0:
        a = text.rfind(b"\n", 0, p) + 1
        b = text.find(b"\n", p)
        b = len(text) if b < 0 else b
        if _is_header(text[a:b]):
            out.append((a, b, text[a:b]))
        p = textlog.find_rare(text, b"oss", rare, b)
    return out


def _axis(names: list[str]) -> tuple[int | None, str]:
    low = [n.strip().lower() for n in names]
    for want in ("step", "global step", "iteration", "iter", "steps"):
        if want in low:
            return low.index(want), "step"
    for want in ("epoch", "epoca", "\xe9poca"):
        if want in low:
            return low.index(want), "epoch"
    return None, ""


_MARKS = (b"*", b"\xe2\x88\x92", b"~", b"+")  # what `_clean` undoes


def _clean(cells: list[bytes]) -> list[bytes]:
    joined = b"\n".join(cells)
    if b"*" in joined:
        joined = joined.replace(b"**", b"")
    if b"\xe2\x88\x92" in joined:
        joined = joined.replace(b"\xe2\x88\x92", b"-")
    if b"~" in joined:
        joined = joined.replace(b"~", b"")
    if b"+" in joined:
        joined = _PLUS.sub(b"", joined)
    return joined.split(b"\n")


def _values(cells: list[bytes], comma: bool, marked: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(floats, present) of one column's cells: `No log`, `-`, empty and other text are not present. `marked`:
    the table's text holds one of the marks `_clean` undoes (where it holds none, cleaning changes nothing)."""
    if marked:
        cells = _clean(cells)
    if comma:
        cells = [c.replace(b",", b".") for c in cells]
    vals, ok = textlog.floats(cells)
    return vals, (np.ones(len(vals), dtype=bool) if ok is None else ok)


def read(path) -> SourceData:
    src = SourceData(path=path, format="progress_table")
    cols = Columns()
    # Per metric its values, and its steps and lines, in growable arrays, which become its Series without a copy
    # (nothing a row: the restart rule's segments are kept as they stream, `StepRuns`). Kept as many small numpy
    # arrays (a table's rows between two headers), freed ones left holes in the heap that the large arrays built at
    # the end could not reuse: the process held both (4.4 GB at 1 GB of text). (`heap.Grow`: past 1 MB each store
    # is a mapping of its own that grows in place, where an array.array's realloc copied it at every growth.)
    # Every row's step and line are stored once: a metric logged on every row from its first on takes its steps and
    # lines from there (views: its Series' own, shared with the others'), 8 bytes a value of its own where each
    # metric's copies were 24; a metric that misses a row (`No log`, a table without its column) gets its own.
    shared = (Grow("d"), Grow("q"))
    data: dict[str, list] = {}  # canonical name -> [values, first row (None: its own steps and lines), steps, lines]
    runs = StepRuns()
    ordinal = False  # rows of a fractional-epoch table (NaN steps): numbered in file order, step k = k-th row
    table: _Table | None = None
    tables: dict[bytes, _Table] = {}  # (`_table_of`)
    stream = textlog.Chunks(path)
    card_read = False
    notes: set = set()  # (`_rows`)
    for raw, line_base, _ in stream:
        # (tokens absent from a chunk are searched by memchr on a rare byte, `textlog.holds`: a plain `in` looks at
        # every byte, 0.5-2 ns each, which was a third of this reader's time on a 16 MB chunk of table rows)
        if not card_read and (line_base == 0 or textlog.holds(raw, b"hyperparameters were used during training")):
            settings = card_settings(raw)  # a model card's hyper-parameters and adapter: the run's configuration
            card_read = "learning_rate" in settings
            for key, value in settings.items():
                src.config.setdefault(key, value)
        if textlog.holds(raw, b", Epoch "):
            bars = _PROGRESS.findall(raw)
            if bars:
                _, total, _, epochs = bars[-1]
                if int(total) > 0 and int(epochs) > 0:
                    src.facts["total_steps"], src.facts["num_train_epochs"] = int(total), int(epochs)
        text = _unbox(raw.translate(_CR) if b"\r" in raw else raw)
        heads = _headers(text)
        segments = [(table, 0, heads[0][0] if heads else len(text))] if table is not None else []
        for i, h in enumerate(heads):
            segments.append((_table_of(h[2], tables), h[1], heads[i + 1][0] if i + 1 < len(heads) else len(text)))
        line, pos = line_base + 1, 0
        for tab, a, b in segments:  # in text order: line feeds counted once
            line += text.count(b"\n", pos, a)
            pos = a
            table = tab
            got, feeds = _pipe_rows(tab, text, a, b, line) if tab.sep == "pipe" else (None, None)
            if feeds is None:
                got = _rows(tab, text, a, b, line, notes=notes)
            else:  # (the stretch's line feeds, counted by the numpy way: line is now that of b)
                line += feeds
                pos = b
            if got is None:
                continue
            steps, lines, named = got
            steps = np.array(steps, dtype=np.float64)
            lines = np.ascontiguousarray(lines, dtype=np.int64)
            nan = np.isnan(steps)
            if nan.any():
                steps[nan] = np.flatnonzero(nan) + (runs.records + 1)
                ordinal = True
            runs.add(steps, lines)
            before = len(shared[0])
            shared[0].frombytes(steps)
            shared[1].frombytes(lines)
            for name, (vals, present) in named.items():
                got = data.get(name)
                if got is None:
                    got = data[name] = [Grow("d"), before, None, None]
                vals = np.ascontiguousarray(vals, dtype=np.float64)
                full = present.all()
                if got[1] is not None and not full:
                    _own(got, shared, before)
                if got[1] is not None:
                    got[0].frombytes(vals)
                elif not full:
                    got[2].frombytes(steps[present])
                    got[0].frombytes(vals[present])
                    got[3].frombytes(lines[present])
                else:
                    got[2].frombytes(steps)
                    got[0].frombytes(vals)
                    got[3].frombytes(lines)
            for name, got in data.items():  # (a metric this stretch's table has no column for misses its rows)
                if got[1] is not None and name not in named:
                    _own(got, shared, before)
        # the chunk's line feeds for the stream's line count: those counted above (a pipe stretch's by numpy) and the
        # rest's, where the stream would count them all again
        stream.feeds = line - (line_base + 1) + text.count(b"\n", pos)
    if not runs.records:
        raise SourceError(f"{path}: no progress-table rows found")
    if ordinal:
        src.step_kind = "ordinal"
        src.warnings.append(f"{path.name}: a table by fractional epoch: rows numbered in order (step k = k-th row), "
                            "the epoch kept as a series")
    if "ranges" in notes:
        src.warnings.append(f"{path.name}: the step column holds ranges of steps (a table of averages over "
                            "windows): each row read at its range's last step")
    runs.set_steps(cols)
    all_steps, all_lines = shared[0].view(np.float64), shared[1].view(np.int64)

    def metrics():
        for va, first, st, ln in data.values():
            if first is not None:
                yield all_steps[first:], va.view(np.float64), all_lines[first:]
            else:
                yield st.view(np.float64), va.view(np.float64), ln.view(np.int64)

    cols.forget_copies(src, metrics)
    cols.finish_segments(src, "the Step column")
    for name in list(data):
        va, first, st, ln = data.pop(name)  # handed over: a metric's store goes as its Series comes (peak memory)
        if first is not None:
            series = cols.finish(all_steps[first:], va.view(np.float64), all_lines[first:])
        else:
            series = cols.finish(st.view(np.float64), va.view(np.float64), ln.view(np.int64))
        del va, st, ln
        if series is not None:
            src.series[name] = series
    src.records = runs.records
    if stream.truncated:
        src.warnings.append(f"{path.name}: read up to the size ceiling (KTO_DOCTOR_MAX_FILE_BYTES)")
    if not src.series:
        raise SourceError(f"{path}: no metric columns in the progress table")
    src.hints.setdefault("framework", "transformers")
    return src


def _own(got: list, shared: tuple, end: int) -> None:
    """A metric that took its steps and lines from the shared rows (`got[1]` on) up to row `end` gets its own."""
    st, ln = Grow("d"), Grow("q")
    a = shared[0].view(np.float64)
    st.frombytes(a[got[1]:end])
    del a  # (a view of a store's mapping holds it: no growth while one lives)
    a = shared[1].view(np.int64)
    ln.frombytes(a[got[1]:end])
    del a
    got[1], got[2], got[3] = None, st, ln


_PLUS = re.compile(rb"^[ \t]*\+", re.M)
_COMMA = re.compile(rb"^[ \t*~+]*-?\d+,\d+[ \t*]*$", re.M)
_POINT = re.compile(rb"^[ \t*~+]*(?:-|\xe2\x88\x92)?\d*\.\d+", re.M)


def _rows(tab: _Table, text: bytes, a: int, b: int, first_line: int, fractional: bool = True, notes=None):
    """The rows of `tab` in text[a:b] (which starts on `first_line`): (steps, lines, {canonical name: (values,
    present)}), or None. `fractional`: a table by fractional epoch has its epochs made a series (`_fractional`);
    not for a line read alone, whose stretch decides. `notes`: a set that gets "ranges" where the step column
    holds ranges of steps (`1–80`, `**321–400**`: a table of averages over windows of steps), each row placed at
    its range's last step, as a logging window is.

    One `split` of the stretch with the table's row regex: its gaps give the line of every row, its captures
    one column each (the alignment rule and an elision row ` ...` have no number in the first cell: dropped)."""
    ax, kind = _axis(tab.names)
    if ax is None:
        return None
    # each row matched with the line feed before it (a line feed put before the stretch, for its first line):
    # the line feeds before a row are those of the gaps before it and one per row before it
    stretch = b"\n" + text[a:b]
    parts = tab.after_feed.split(stretch)
    if tab.optional:  # (a remark cell a row leaves out is None: an empty cell)
        parts = [b"" if p is None else p for p in parts]
    n = len(tab.names)
    w = n + 1
    rows = (len(parts) - 1) // w
    if not rows:
        return None
    columns = [parts[1 + j::w] for j in range(n)]
    if b"," in stretch:  # else no cell holds a comma
        numeric = b"\n".join(b"\n".join(col) for j, col in enumerate(columns) if j != ax)
        comma = b"," in numeric and _COMMA.search(numeric) is not None and _POINT.search(numeric) is None
    else:
        comma = False
    marked = any(textlog.holds(stretch, mark) for mark in _MARKS)  # (U+2212 by memchr on a byte of it)
    axis = columns[ax]
    if not comma and any(b"," in c for c in axis):  # `10,000`: thousands separators of a step, not decimals
        axis = [c.replace(b",", b"") if _THOUSANDS.match(c) else c for c in axis]
    if kind == "step" and any(_RANGE.match(c) for c in axis):
        axis = [_RANGE.sub(rb"\1", c) for c in axis]
        if notes is not None:
            notes.add("ranges")
    xs, xok = _values(axis, comma, marked)
    keep = xok  # rows whose first cell is a number
    if not keep.any():
        return None
    gaps = parts[0:-1:w]  # (between two rows of consecutive lines a gap is empty: only the others are counted)
    feeds = np.zeros(rows, dtype=np.int64)
    full = list(compress(range(rows), gaps))
    if full:
        feeds[full] = [gaps[i].count(b"\n") for i in full]
    lines = first_line + np.cumsum(feeds) + np.arange(rows)
    named = {}
    for j, name in tab.columns:
        vals, present = _values(columns[j], comma, marked)
        named[name] = (vals[keep], present[keep])
    xs = xs[keep]
    if fractional:
        xs = _fractional(tab, xs, named)
    return xs, lines[keep], named


def _fractional(tab: _Table, xs: np.ndarray, named: dict) -> np.ndarray:
    """The steps of a stretch's rows: for a table by epoch the epoch becomes a series; by fractional epoch
    (`| epoch | loss |` of a report, 0.02 ... 2.99) the rows are then placed in order (NaN steps: the caller numbers
    them)."""
    if _axis(tab.names)[1] == "epoch":
        # the epoch is a series too: a table by whole epochs (`Epoch | Training Loss | Validation Loss`, evaluation
        # each epoch) keeps its rows at steps 1, 2, 3..., and nothing should derive another epoch from those
        named.setdefault("epoch", (xs.copy(), np.ones(len(xs), dtype=bool)))
        if (xs % 1 != 0).any():
            xs = np.full(len(xs), np.nan)
    return xs


_STRAY = 16  # a stretch whose lines the fast way does not read are more than 1 in this many: `_rows` reads it all


def _pipe_rows(tab: _Table, text: bytes, a: int, b: int, first_line: int):
    """`_rows` of a pipe table's stretch, read by numpy where its rows are plain: a line `| c | c | ... |` with
    as many cells as the header, each cell a number (`span_numbers`) between single blanks (the first one a
    digit after an optional `-`), as the Trainer's Markdown tables are written. A line of the stretch that has
    enough pipes to be a row but is not plain (`No log`, padded cells, a lead) is read by `_rows` alone, at its
    own line; a stretch with a comma or a mark `_clean` undoes, or with many such lines, is `_rows`'s (None, None;
    else the rows or None, and the stretch's line feeds). The stretch is read in pieces of whole lines (`_PIECE` bytes: numpy's temporaries stay in the cache)."""
    ax, _ = _axis(tab.names)
    if ax is None:
        return None, None
    seg = text[a:b]
    if b"," in seg or any(textlog.holds(seg, mark) for mark in _MARKS):
        return None, None
    n = len(tab.names)
    got = []
    stray = []  # (line, text) of the lines that may be rows but are not plain
    plain = 0
    pos, line = 0, first_line
    while pos < len(seg):
        end = len(seg) if pos + 2 * _PIECE >= len(seg) else seg.rfind(b"\n", pos + 1, pos + _PIECE)
        if end <= pos:  # (a line longer than a piece)
            end = seg.find(b"\n", pos + _PIECE)
            end = len(seg) if end < 0 else end
        piece = seg[pos:end]  # (from the line feed before its first line on, after the first piece)
        rows = _pipe_piece(piece, n, ax, line, stray)
        plain += len(rows[0])
        if len(stray) * _STRAY > plain + 64:
            return None, None
        got.append(rows[:2])
        line += rows[2]
        pos = end
    lines = np.concatenate([g[0] for g in got]) if got else np.zeros(0, dtype=np.int64)
    vals = np.concatenate([g[1] for g in got]) if got else np.zeros((0, n))
    named = {name: (vals[:, j], np.ones(len(lines), dtype=bool)) for j, name in tab.columns}
    xs = vals[:, ax]
    more = [m for m in (_rows(tab, t, 0, len(t), ln, fractional=False) for ln, t in stray) if m is not None]
    if more:  # each alone, at its line; then every row in line order
        xs = np.concatenate([xs] + [m[0] for m in more])
        lines = np.concatenate([lines] + [m[1] for m in more])
        order = np.argsort(lines, kind="stable")
        xs, lines = xs[order], lines[order]
        for name in named:
            v = np.concatenate([named[name][0]] + [m[2][name][0] for m in more])[order]
            present = np.concatenate([named[name][1]] + [m[2][name][1] for m in more])[order]
            named[name] = (v, present)
    feeds = line - first_line
    if not len(xs):
        return None, feeds
    return (_fractional(tab, xs, named), lines, named), feeds


_PIECE = 1 << 19


def _pipe_piece(seg: bytes, n: int, ax: int, first_line: int, stray: list):
    """`_pipe_slow` of a piece, the lines of its most common layouts by byte matrix (`bytematrix`): lines of one
    width whose bytes other than digits are a plain row's, `| 10 | 0.693100 | -0.012500 |`, are read at fixed
    offsets with no byte test (the layout's compare tested every byte); the other lines are `_pipe_slow`'s,
    each at its own line (what it finds on a line does not depend on the lines around it)."""
    if len(seg) < 2048:
        return _pipe_slow(seg, n, ax, first_line, stray)
    buf = b"\n" * PAD + seg + b"\n" * PAD
    arr = np.frombuffer(buf, dtype=np.uint8)
    lf = np.flatnonzero(arr[PAD - 1:PAD + len(seg) + 1] == 10) + (PAD - 1)  # (with the pads' two around)
    starts = lf[:-1] + 1
    widths = lf[1:] - starts
    groups = []
    for model, rows in bytematrix.layouts(arr, starts, widths):
        fields = _plain_layout(model, n, ax)
        if fields is not None:
            groups.append((rows, fields))
    lines = len(starts)
    taken = sum(len(r) for r, _ in groups)
    if taken * 2 < lines:
        return _pipe_slow(seg, n, ax, first_line, stray)
    w8 = bytematrix.words(buf)
    idx, vals = [], []
    for rows, fields in groups:
        idx.append(rows)
        vals.append(bytematrix.fields_values(w8, starts[rows], fields))
    if taken < lines:  # the other lines, joined: `_pipe_slow`'s line i is rest[i]
        fast = np.zeros(lines, dtype=bool)
        for rows in idx:
            fast[rows] = True
        rest = np.flatnonzero(~fast)
        ends = starts + widths
        texts = [buf[a:b] for a, b in zip(starts[rest].tolist(), ends[rest].tolist())]
        # (only a line with n - 1 pipes or more may be a row or a stray line of `_pipe_slow`)
        keep = [i for i, t in enumerate(texts) if t.count(b"|") >= max(n - 1, 1)]
        # (one with no digit, a table's rule line, is no plain row: a stray line, as `_pipe_slow` would say)
        stray += [(first_line + int(rest[i]), texts[i]) for i in keep if _DIGIT.search(texts[i]) is None]
        keep = [i for i in keep if _DIGIT.search(texts[i]) is not None]
        if keep:
            rest = rest[keep]
            mine: list = []
            got, v, _ = _pipe_slow(b"\n".join([texts[i] for i in keep]), n, ax, 0, mine)
            stray += [(first_line + int(rest[i]), t) for i, t in mine]
            idx.append(rest[got])
            vals.append(v)
    if len(idx) == 1:
        return first_line + idx[0], vals[0], lines - 1
    # in line order: each line's place among the rows (the groups hold distinct lines)
    row = np.zeros(lines, dtype=bool)
    for rows in idx:
        row[rows] = True
    place = np.cumsum(row) - 1
    out = np.empty((int(place[-1]) + 1, n))
    for rows, v in zip(idx, vals):
        out[place[rows]] = v
    return first_line + np.flatnonzero(row), out, lines - 1


_DIGIT = re.compile(rb"\d")


def _plain_layout(model: bytes, n: int, ax: int):
    """[(offset, `number_layout`) of each cell's number] of a row layout (`bytematrix.layouts`) that `_pipe_slow`
    reads as a plain row: `|`, then n cells ` number |` (the axis cell's number a digit first, after an optional
    `-`); None for any other layout."""
    if model[:1] != b"|" or model[-1:] != b"|" or model.count(b"|") != n + 1:
        return None
    out = []
    pos = 1
    for j, cell in enumerate(model[1:-1].split(b"|")):
        if len(cell) < 3 or cell[:1] != b" " or cell[-1:] != b" ":
            return None
        lay = bytematrix.number_layout(cell[1:-1])
        if lay is None or (j == ax and (lay[0] == b"+" or lay[1] == 0)):
            return None
        out.append((pos + 1, lay))
        pos += len(cell) + 1
    return out


def _pipe_slow(seg: bytes, n: int, ax: int, first_line: int, stray: list):
    """(lines, values (rows x n), line feeds) of the plain rows of a piece of a stretch (which starts on
    `first_line`); the (line, text) of the lines that have pipes enough to be rows but are not plain are added to `stray`.

    One pass finds the pipes and line feeds: a plain row is its line feed, then n + 1 pipes, the first right
    after that line feed and the last right before the next; the cells are the spans between them."""
    buf = b"\n" * PAD + seg + b"\n" * PAD  # (a line feed before the first line and after the last)
    arr = np.frombuffer(buf, dtype=np.uint8)
    spec = np.flatnonzero((arr == 124) | (arr == 10))
    fi = np.flatnonzero(arr[spec] == 10)  # in spec: the line feeds
    fi = fi[(spec[fi] >= PAD - 1) & (spec[fi] <= PAD + len(seg))]  # (the pads' own lines are no lines)
    pipes = np.diff(fi) - 1  # per line (the text after each of these line feeds but the last): its pipes
    after = spec[fi[:-1]]  # the line feed before each line
    cand = np.flatnonzero(pipes == n + 1)
    if len(cand):
        ok = (spec[fi[cand] + 1] == after[cand] + 1) & (spec[fi[cand] + n + 1] == spec[fi[cand + 1]] - 1)
        cand = cand[ok]
    vals = np.zeros((0, n))
    if len(cand):
        p = spec[fi[cand][:, None] + np.arange(1, n + 2)]  # (rows, n + 1) pipe offsets
        left, right = p[:, :-1] + 1, p[:, 1:]
        cells = ((right - left) >= 3) & (arr[left] == 32) & (arr[right - 1] == 32)
        got = np.empty((len(cand), n))
        good = np.empty((len(cand), n), dtype=bool)
        for j in range(n):  # (column by column: a column's cells are mostly of one layout)
            got[:, j], good[:, j], _ = span_numbers(buf, left[:, j] + 1, right[:, j] - 1)
        good &= cells
        axis_first = arr[left[:, ax] + 1]
        lead = np.where(axis_first == 45, arr[left[:, ax] + 2], axis_first)
        good[:, ax] &= (lead >= 48) & (lead <= 57)  # (the row regex: the axis cell's first byte a digit)
        whole = good.all(axis=1)
        cand, vals = cand[whole], got[whole]
    maybe = np.flatnonzero(pipes >= max(n - 1, 1))  # lines that may be rows (a row has n - 1 pipes at least)
    if len(maybe) > len(cand):
        fast = np.zeros(len(pipes), dtype=bool)
        fast[cand] = True
        for i in maybe[~fast[maybe]].tolist():
            s0, s1 = int(after[i]) + 1, int(spec[fi[i + 1]])
            stray.append((first_line + i, buf[s0:s1]))
    return first_line + cand, vals, len(fi) - 2  # (and the piece's line feeds: all but the pads' two)


def _canon(header: str, eval_table: bool) -> str | None:
    from ..ontology import canonical, is_bookkeeping

    h = header.strip()
    # a table's `Train Loss` column is each row's loss (the summary's `train_loss` is bookkeeping elsewhere)
    if h.lower() in ("training loss", "train loss"):
        return "loss"
    if not h or is_bookkeeping(h) or _NOTE_COLUMN.match(h):  # (remarks: `Notes`, `Δ Train`: no metric)
        return None
    name = canonical(h)
    if name in ("loss", "eval_loss") or name.startswith("eval_") or name == "epoch":
        return name
    return "eval_" + name if eval_table else name


# box-drawing verticals (`│ 10,000 │ 0.9349 │`: a table drawn by a report generator or an assistant) are cell pipes
_BOX = (b"\xe2\x94\x82", b"\xe2\x94\x83", b"\xe2\x95\x91")


def _unbox(text: bytes) -> bytes:
    if textlog.holds(text, b"\xe2\x94") or textlog.holds(text, b"\xe2\x95"):
        for v in _BOX:
            text = text.replace(v, b"|")
    return text


# a range of steps (`1–80`, `**321–400**`, `1-80`, `1 to 80`): its last step kept
_RANGE = re.compile(rb"^[ \t*]*\d+[ \t]*(?:-|\xe2\x80\x93|\xe2\x80\x94|to|\.\.)[ \t]*(\d+)[ \t*]*$")


# a step written with thousands separators (`10,000`, `1,234,567`)
_THOUSANDS = re.compile(rb"^[ \t*]*\d{1,3}(?:,\d{3})+[ \t*]*$")


def _sniff(head: str) -> float:
    data = _unbox(head.encode("utf-8", "replace"))
    hits = 0
    for _, end, header in _headers(data):
        tab = _Table(header)
        hits += 1 + sum(1 for r in tab.row.finditer(data, end, end + 4096) if _RULE.match(r.group()) is None)
    return score(hits)


SOURCE = Source(
    name="progress_table",
    title="Trainer progress tables copied from a notebook, a web page or a model card (`Step | Training Loss | "
          "Validation Loss`, Markdown, tab-separated or aligned with blanks)",
    read=read,
    priority=26,
    sniff=_sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("a notebook's training table pasted into an issue, README.md / model card 'Training results'",),
)
