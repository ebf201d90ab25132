"""What every reader returns: one `SourceData` per file, in canonical metric names.

Readers know nothing of rules. Each reader turns one file into series of (step, value) pairs,
plus whatever configuration and run facts the file states, plus warnings about damage.
`kto_doctor.run.assemble` merges several `SourceData` into one `Run`.
"""
from __future__ import annotations

import io
import re
import math
import os
import stat
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from ..fastclass import dataclass


class SourceError(Exception):
    """A file could not be read at all (not damage: wrong kind, empty, unreadable)."""


@dataclass
class Series:
    """The logged values of one metric in one file: parallel arrays, in file order."""

    steps: np.ndarray  # int64 (or float64 of ordinals when `SourceData.step_kind` is "ordinal")
    values: np.ndarray  # float64; NaN/inf are logged values, never "missing"
    lines: np.ndarray | None = None  # 1-based line (or record) number per value, for locations
    wall_times: np.ndarray | None = None  # seconds since the epoch, where the format records it


@dataclass
class SourceData:
    path: Path
    format: str  # trainer_state | trainer_log | console | tensorboard | config | results
    series: dict[str, Series] = field(default_factory=dict)
    # Configuration keys as the file spells them (LLaMA-Factory YAML, TrainingArguments, model config...).
    # `kto_doctor.config.normalize` maps them to canonical keys.
    config: dict[str, Any] = field(default_factory=dict)
    # Facts about the run that are not hyperparameters: max_steps, logging_steps, train_batch_size,
    # num_train_epochs, total_steps, trainable_params, world_size, global_step, overflow_steps, ...
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    records: int = 0
    # "exact": steps are global steps; "ordinal": steps are 1, 2, 3... in log order (console logs
    # without a step counter), to be placed on the global step axis by the assembler.
    step_kind: str = "exact"
    # Restarted step counters (resumed runs): [(first_step, last_step, first_line), ...] in file order.
    segments: list[tuple[int, int, int]] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # e.g. {"framework": "llamafactory", "method": "kto"}
    # A store holding several runs (an MLflow database, a W&B project folder) names the run this data is of.
    run_key: str | None = None
    # "train" or "eval": every series of this file is of that role (Keras `validation/`, tensorboardX
    # `loss_val/` folders); set by discovery, applied by the merger.
    role: str | None = None

    @property
    def metric_names(self) -> list[str]:
        return list(self.series)


# Keys of a training script's settings, none of them a logged measurement (a dict or a block of them is the run's
# configuration, not a row): a script's own names and a Hub model card's `Training hyperparameters` list
SETTING_KEYS = frozenset({
    "batch_size", "per_device_train_batch_size", "train_batch_size", "micro_batch_size", "global_batch_size",
    "gradient_accumulation_steps", "gradient_accumulation_iters", "warmup_steps", "warmup_ratio", "warmup_iters",
    "max_steps", "max_iters", "num_train_epochs", "num_epochs", "epochs", "weight_decay", "seed", "max_seq_length",
    "max_length", "block_size", "lr_scheduler_type", "eval_steps", "eval_every", "eval_interval", "eval_iters",
    "save_steps", "save_interval", "logging_steps", "log_interval", "lora_r", "lora_alpha", "lr_decay_iters", "min_lr",
    "optimizer", "output_dir", "model_name_or_path", "dataset", "type",
    "eval_batch_size", "total_train_batch_size", "total_eval_batch_size", "lr_scheduler_warmup_ratio",
    "lr_scheduler_warmup_steps", "training_steps", "num_devices",
})
# A record holding one of these (in any spelling the ontology knows: prime-rl's `loss/mean`, `optim/lr`, verl's
# `actor/pg_loss`, `critic/score/mean`) is a training record ...
TRAINING_KEYS = frozenset({"loss", "grad_norm", "reward", "policy_loss"})  # not learning_rate: lr_scheduler_type
# ... and what a logged row measures (a record holding one of these is a row, whatever settings it repeats)
MEASURED_KEYS = TRAINING_KEYS | {"eval_loss", "kl", "entropy"}


class MetricNames(dict):
    """(logged key, eval_row) -> canonical metric name, or None for bookkeeping keys; computed once per key.

    `dialect` is the framework whose spellings apply (see `ontology.canonical`)."""

    def __init__(self, dialect: str | None = None) -> None:
        super().__init__()
        self.dialect = dialect
        self.clashes: dict[str, set[str]] = {}  # canonical name -> keys of one record that all mean it

    def __missing__(self, item: tuple[str, bool]) -> str | None:
        from ..ontology import canonical, is_bookkeeping

        key, eval_row = item
        name = self[item] = None if is_bookkeeping(key, self.dialect) else canonical(key, eval_row, self.dialect)
        return name

    @staticmethod
    def summary_loss(key: str) -> bool:
        """HF's end-of-run mean loss (`train_loss`, a tracker's `train/train_loss`): a summary where the
        Trainer logs it, but the only loss a custom loop that logs `train_loss` every epoch has (see
        `adopt_summary_loss`)."""
        return key in ("train_loss", "train/train_loss")

    def note_record(self, keys, eval_row: bool) -> None:
        """Remember where one record holds several keys that mean one metric (`loss` and `train/loss`):
        only one value per step survives, and the user should know. Called once per key set."""
        seen: dict[str, str] = {}
        for key in keys:
            name = self[key, eval_row]
            if name is None:
                continue
            if name in seen:
                self.clashes.setdefault(name, {seen[name]}).add(key)
            else:
                seen[name] = key


def adopt_summary_loss(src: "SourceData | None", key: str, series: "Series | None",
                       into: "dict[str, Series] | None" = None) -> None:
    """A key HF uses only for its end-of-run summary (`train_loss`), logged at 2 or more steps by a run that
    logs no `loss`: a custom loop's loss (per epoch, typically). It becomes `loss` in `into` (default
    `src.series`), noted on `src`; otherwise it stays a summary."""
    target = src.series if into is None else into
    if series is None or "loss" in target or len(series.steps) < 2:
        return
    target["loss"] = series
    if src is not None:
        src.warnings.append(f"{src.path.name}: `{key}` is logged at {len(series.steps)} steps and no `loss` is: "
                            "read as the training loss (a custom loop's, not HF's end-of-run summary)")


def note_collisions(src: "SourceData", *names: MetricNames) -> None:
    """A warning per canonical name that several keys of one record mean: their values were merged by step,
    the later key winning."""
    clashes: dict[str, set[str]] = {}
    for n in names:
        for name, keys in n.clashes.items():
            clashes.setdefault(name, set()).update(keys)
    for name, keys in sorted(clashes.items()):
        if name in src.series:
            src.warnings.append(f"{src.path.name}: keys {', '.join(repr(k) for k in sorted(keys))} of one record "
                                f"all mean '{name}'; one value per step was kept")


MAX_RESUMES = 5  # more step-counter restarts than this in one file means interleaved writers, not resumes


_SUMMARY_LOSS = "\x00summary:"  # a column kept aside until build() decides (see Columns.build)


class StepRuns:
    """What `Columns.set_steps` needs of a file's records, kept as they stream instead of every record's step and
    line (16 bytes a record): the first and the last record of every stretch of steps that do not fall. Within such
    a stretch the last step is the largest, and a fall is between two stretches, so set_steps finds the same
    segments and restarts in these as in all the records (no step may be NaN)."""

    def __init__(self) -> None:
        self.ends: list[tuple[float, int]] = []
        self.last: tuple[float, int] | None = None
        self.records = 0

    def add(self, steps: np.ndarray, lines: np.ndarray) -> None:
        """The next records (steps and lines in file order)."""
        n = len(steps)
        if not n:
            return
        self.records += n
        if self.last is None:
            self.ends.append((float(steps[0]), int(lines[0])))
        elif steps[0] < self.last[0]:
            self.ends += [self.last, (float(steps[0]), int(lines[0]))]
        for i in (np.flatnonzero(steps[1:] < steps[:-1]) + 1).tolist():
            self.ends += [(float(steps[i - 1]), int(lines[i - 1])), (float(steps[i]), int(lines[i]))]
        self.last = (float(steps[-1]), int(lines[-1]))

    def set_steps(self, cols: Columns) -> None:
        ends = self.ends + [self.last]
        cols.set_steps(np.array([s for s, _ in ends]), np.array([ln for _, ln in ends], dtype=np.int64))

    @property
    def rising(self) -> bool:
        """No step falls (one stretch)."""
        return len(self.ends) == 1


class Columns:
    """Per-metric parallel lists filled in one pass over a file's records, turned into `Series` once.

    Readers call `add_row` per record (canonical names are cached per raw key, so a 100k-row file costs
    one dict lookup per value), then `build`, which converts each column with a single numpy call and
    applies the segment rule of resumed runs: where a later segment restarts at step s, the earlier
    segments' values at steps >= s are dropped (the later segment wins); repeated steps keep the last value.
    """

    def __init__(self, dialect: str | None = None) -> None:
        self.cols: dict[str, tuple[list, list, list]] = {}  # add_row: one value at a time
        self._chunks: dict[str, list[tuple[np.ndarray, list, np.ndarray]]] = {}  # add_rows: whole groups
        self._names = MetricNames(dialect)
        self._shapes: set = set()  # key sets seen by add_row (collisions are checked once per key set)
        self._restarts: list[tuple[float, int]] = []  # (first step, first line) of every later segment
        self._segments: list[tuple[float, float, int]] = []
        self._reversed: tuple[float, float] | None = None  # (first, last step) of a log written newest first

    def set_steps(self, steps: np.ndarray, lines: np.ndarray) -> None:
        """The step and line of every record in file order; a step below the previous one starts a segment."""
        ok = ~np.isnan(steps)
        s, ln = (steps, lines) if ok.all() else (steps[ok], lines[ok])  # (no copies of a large file's arrays)
        if len(s) < 2:
            return
        cut = np.flatnonzero(s[1:] < s[:-1]) + 1
        if not len(cut):
            return
        if len(cut) >= 2 and bool((s[1:] <= s[:-1]).all()):
            # Every record's step below the one before it: newest first, as log viewers (cloud consoles, Kibana)
            # show and users copy them (modelscope/ms-swift#9499: steps 4, 3, 2, 1). Not resumes, each of one
            # record: read by step, as one run.
            self._reversed = (float(s[0]), float(s[-1]))
            return
        bounds = np.concatenate([[0], cut, [len(s)]])
        self._segments = [(float(s[a]), float(s[a:b].max()), int(ln[a])) for a, b in zip(bounds[:-1], bounds[1:])]
        self._restarts = [(float(s[i]), int(ln[i])) for i in cut]

    def forget_copies(self, src: "SourceData", metrics) -> None:
        """Restarts whose rows repeat, value for value, rows logged before them at the same steps: a copy of the log
        (a table pasted twice, the narrow and the wide view of one Trainer table), not a resumed run, whose later
        segment would drop the earlier rows it does not repeat. Such a restart is forgotten: the rows are one log,
        the last value of each step kept (the same value). `metrics()` gives each metric's (steps, values, lines)
        in file order; asked only when the counter restarted. At least 3 values must agree, and none differ."""
        if not self._restarts or len(self._restarts) > MAX_RESUMES:
            return
        arrays = list(metrics())
        starts = [line for _, line in self._restarts] + [np.iinfo(np.int64).max]
        copies = []
        for k in range(len(self._restarts)):
            same = differ = 0
            for st, va, ln in arrays:
                ln = np.asarray(ln)
                before = ln < starts[k]
                later = (ln >= starts[k]) & (ln < starts[k + 1])
                if not before.any() or not later.any():
                    continue
                seen = dict(zip(np.asarray(st)[before].tolist(), np.asarray(va)[before].tolist()))
                for step, value in zip(np.asarray(st)[later].tolist(), np.asarray(va)[later].tolist()):
                    if step not in seen:
                        continue
                    old = seen[step]
                    if old == value:
                        same += 1
                    elif not (old != old and value != value):  # (NaN and NaN: no evidence either way)
                        differ += 1
            if same >= 3 and not differ:
                copies.append(k)
        if not copies:
            return
        for k in reversed(copies):  # segment k + 1 joins the one before it
            a, b_, line = self._segments[k]
            c, d, _ = self._segments[k + 1]
            self._segments[k] = (min(a, c), max(b_, d), line)
            del self._segments[k + 1]
            src.warnings.append(f"{src.path.name}: the rows from line {self._restarts[k][1]} repeat the rows logged "
                                "before them at the same steps: read as one log (a copy, not a resumed run)")
            del self._restarts[k]
        if not self._restarts:
            self._segments = []

    def finish_segments(self, src: "SourceData", counter: str) -> None:
        """Record the segments on `src`, with a warning, when the step counter restarted."""
        if self._reversed is not None:
            first, last = self._reversed
            src.warnings.append(f"{src.path.name}: {counter} falls on every record ({first:g} down to {last:g}): "
                                "the records are newest first (a pasted log viewer); read in step order")
        if not self._restarts:
            return
        if len(self._restarts) > MAX_RESUMES:
            # Not resumes: several processes or runs appending to one file. Segments would be noise;
            # the last value logged for each step is kept instead.
            first = self._restarts[0][1]
            src.warnings.append(
                f"{src.path.name}: {counter} goes backwards {len(self._restarts)} times (first at line {first}): "
                "several runs or processes wrote this file; kept the last value logged for each step")
            self._restarts = []
            return
        src.segments = list(self._segments)
        src.warnings.append(
            f"{src.path.name}: {counter} restarts {len(self._restarts)} time(s) (resumed run: "
            + ", ".join(f"{a:g}..{b:g}" for a, b, _ in src.segments)
            + "); the later segment wins where steps overlap")

    def add_row(self, row: dict, step, line: int, eval_row: bool = False) -> None:
        names = self._names
        shape = (tuple(row), eval_row)
        if shape not in self._shapes:
            self._shapes.add(shape)
            names.note_record(shape[0], eval_row)
        cols = self.cols
        for key, value in row.items():
            if value is None:
                continue
            name = names[key, eval_row]
            if name is None:
                if eval_row or not names.summary_loss(key):
                    continue
                name = _SUMMARY_LOSS + key
            col = cols.get(name)
            if col is None:
                col = cols[name] = ([], [], [])
            col[0].append(step)
            col[1].append(value)
            col[2].append(line)

    def add_rows(self, rows: list[dict], keys, steps: list, lines: list, eval_rows: bool) -> None:
        """Rows that share one key set (`keys`): the group's steps and lines become arrays once, and each
        key costs one list comprehension (a 100k-row file is a handful of shapes x a dozen keys)."""
        names = self._names
        names.note_record(keys, eval_rows)
        st_all = np.asarray(steps, dtype=np.float64)
        ln_all = np.asarray(lines, dtype=np.int64)
        for key in keys:
            name = names[key, eval_rows]
            if name is None:
                if eval_rows or not names.summary_loss(key):
                    continue
                name = _SUMMARY_LOSS + key
            values = [row[key] for row in rows]
            if None in values:
                keep = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
                values = [v for v in values if v is not None]
                st, ln = st_all[keep], ln_all[keep]
            else:
                st, ln = st_all, ln_all
            self._chunks.setdefault(name, []).append((st, values, ln))

    def add_table(self, keys, table: np.ndarray, steps: np.ndarray, lines: np.ndarray, eval_rows: bool) -> None:
        """Rows that share one key set, already one float array (row x key, no missing value): each key's
        column is a view of it, so a group costs one numpy conversion instead of one per key."""
        names = self._names
        names.note_record(keys, eval_rows)
        by_key = np.ascontiguousarray(table.T)
        for j, key in enumerate(keys):
            name = names[key, eval_rows]
            if name is not None:
                self._chunks.setdefault(name, []).append((steps, by_key[j], lines))

    @property
    def names(self) -> MetricNames:
        return self._names

    def build(self, src: "SourceData | None" = None) -> dict[str, Series]:
        """The series by canonical name. A `train_loss` column (kept aside by add_row/add_rows) becomes the
        loss when no `loss` was logged and it has 2 or more steps (`adopt_summary_loss`, noted on `src`)."""
        out = self._build()
        aside = [n for n in out if n.startswith(_SUMMARY_LOSS)]
        held = {n[len(_SUMMARY_LOSS):]: out.pop(n) for n in aside}
        for key, series in held.items():
            adopt_summary_loss(src, key, series, out)
        return out

    def _build(self) -> dict[str, Series]:
        out: dict[str, Series] = {}
        for name in list(self.cols) + [n for n in self._chunks if n not in self.cols]:
            parts = list(self._chunks.get(name, ()))
            if name in self.cols:
                steps, values, lines = self.cols[name]
                parts.append((np.asarray(steps, dtype=np.float64), values, np.asarray(lines, dtype=np.int64)))
            if len(parts) == 1:
                s, values, ln = parts[0]
            else:
                s = np.concatenate([p[0] for p in parts])
                ln = np.concatenate([p[2] for p in parts])
                if all(isinstance(p[1], np.ndarray) for p in parts):  # add_table's float columns
                    values = np.concatenate([p[1] for p in parts])
                else:
                    values = [v for p in parts for v in (p[1].tolist() if isinstance(p[1], np.ndarray) else p[1])]
                if not np.all(np.diff(ln) >= 0):  # chunks come per row shape: back to file order
                    order = np.argsort(ln, kind="stable")
                    s, ln = s[order], ln[order]
                    values = values[order] if isinstance(values, np.ndarray) else [values[i] for i in order]
            v, ok = _to_floats(values)
            if ok is not None:
                s, v, ln = s[ok], v[ok], ln[ok]
            series = self.finish(s, v, ln)
            if series is not None:
                out[name] = series
        return out

    def finish(self, s: np.ndarray, v: np.ndarray, ln: np.ndarray) -> Series | None:
        """One metric's arrays in file order → Series sorted by step, one value per step (None if empty)."""
        if len(s) == 0:
            return None
        if self._restarts:
            s, v, ln = _drop_superseded(s, v, ln, self._restarts)
        if len(s) > 1 and not (s[1:] > s[:-1]).all():  # (comparisons of neighbours: 1 byte a value, a diff 8)
            # keep the last value per step (lines follow file order), sorted by step; where steps and lines
            # already rise (redraws of a step, two records of one step in a row) that order is the given one,
            # so no sort and no sorted copies of the arrays (the peak of a long log is this metric's copies)
            if not ((s[1:] >= s[:-1]).all() and (ln[1:] >= ln[:-1]).all()):
                order = np.lexsort((ln, s))
                s, v, ln = s[order], v[order], ln[order]
            last = np.append(s[1:] != s[:-1], True)
            s, v, ln = s[last], v[last], ln[last]
        return Series(steps=s, values=v, lines=ln)


# ------------------------------------------------------------------------------------ opening files safely

# The most any reader takes from one file (decompressed bytes for .gz). Real logs reach a few GB of tqdm
# redraws; beyond this a file is read up to the ceiling, with a warning. KTO_DOCTOR_MAX_FILE_BYTES changes it.
MAX_FILE_BYTES = int(os.environ.get("KTO_DOCTOR_MAX_FILE_BYTES", 16 << 30))
HEAD_BYTES = 1 << 16
_GZIP = b"\x1f\x8b"


_TRIM: list = []  # [glibc's malloc_trim, or None where there is none], looked up once


def release_freed() -> None:
    """Hand the pages of freed memory back to the system (glibc's `malloc_trim(0)`; nothing elsewhere).

    A reader's finish frees each metric's store as its Series is built, but glibc keeps freed chunks below its mmap
    threshold (which rises to the size of the largest array freed: 8 MB chunk temporaries lift it past every
    per-metric array of a 1 GB log) in the heap, where they stay resident: the peak then grew with the file by the
    whole store (blocks at 256 MB: 133 MB above its output, 108 MB with this after each metric, as at 64 MB)."""
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError, ImportError):  # not glibc (macOS, musl): nothing to do
            _TRIM.append(None)
    if _TRIM[0] is not None:
        _TRIM[0](0)


def regular_file(path: Path) -> os.stat_result:
    """stat of `path` (symlinks followed), or SourceError when it is not a regular file.

    FIFOs, sockets and devices are refused before anything opens them: opening a FIFO blocks until a writer
    comes, and /dev/zero never ends.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{path}: not a regular file ({_kind_of(st.st_mode)})")
    return st


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def open_stream(path: Path, keep_colours: bool = False) -> io.BufferedIOBase:
    """A binary stream of a log file's text as UTF-8 with `\n` line ends, whatever was on disk.

    Undone on the way: gzip compression (`train.log.gz`), a UTF-8 byte-order mark, UTF-16 (with a BOM, or
    without one when every other byte of the start is NUL), old Mac CR-only line ends (a file whose start has CRs
    and no LF; tqdm's CR redraws inside LF lines are left alone), and terminal colour codes where the start holds
    one (`keep_colours`: a reader that skips them itself, the console's, is spared the pass). Reading stops at the
    file's size when it was opened (a file that grows while read, or a /proc file that claims 0 bytes, cannot run
    away) and at MAX_FILE_BYTES of decompressed text. Readers call `stream.truncated` afterwards to warn.
    """
    st = regular_file(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        start = f.read(4)
        f.seek(0)
        if start[:2] == _GZIP:
            import gzip

            inner = gzip.GzipFile(fileobj=f, mode="rb")
            return _wrap(_Limited(inner, MAX_FILE_BYTES, closes=(inner, f)), inner, path, keep_colours)
        limit = min(st.st_size, MAX_FILE_BYTES)
        return _wrap(_Limited(f, limit, closes=(f,), over=st.st_size > MAX_FILE_BYTES), f, path, keep_colours)
    except OSError as exc:
        f.close()
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _wrap(raw: "_Limited", inner, path: Path, keep_colours: bool = False) -> io.BufferedIOBase:
    """Look at the decoded start once, then add the transcoding layers it calls for."""
    head = raw.peek_head(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _nul_every_other(head):
        raw = _Transcode(raw, _utf16_codec(head))
    elif head.startswith(b"\xef\xbb\xbf"):
        raw.skip(3)
    elif b"\r" in head and b"\n" not in head and len(head) >= 2:
        raw = _Translate(raw, bytes.maketrans(b"\r", b"\n"))
    if not keep_colours and (b"\x1b[" in head or b"\x00\x1b\x00[" in head or b"\x1b\x00[\x00" in head):
        raw = _StripAnsi(raw)
    return _Stream(raw, buffer_size=1 << 20)


def _nul_every_other(head: bytes) -> bool:
    """UTF-16 without a BOM: one half of the bytes NUL, the other not (a start that is all NUL is the
    padding a crash leaves in unwritten pages, not UTF-16)."""
    h = head[:64]
    if len(h) < 8:
        return False
    odd, even = h[1::2].count(0) >= len(h) // 2 - 1, h[0::2].count(0) >= len(h) // 2 - 1
    return odd != even


def _utf16_codec(head: bytes) -> str:
    if head.startswith(b"\xff\xfe"):
        return "utf-16"
    if head.startswith(b"\xfe\xff"):
        return "utf-16"
    return "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"


class _Stream(io.BufferedReader):
    @property
    def truncated(self) -> bool:
        """True when the file was cut at MAX_FILE_BYTES."""
        raw = self.raw
        while not isinstance(raw, _Limited):
            raw = raw.inner
        return raw.over or raw.hit_limit


class _Limited(io.RawIOBase):
    """Reads at most `limit` bytes from `inner`."""

    def __init__(self, inner, limit: int, closes=(), over: bool = False) -> None:
        self.inner = inner
        self.left = limit
        self.limit = limit
        self.closes = closes
        self.over = over
        self.hit_limit = False
        self._head = b""

    def peek_head(self, n: int) -> bytes:
        if not self._head:
            self._head = self._read(min(n, self.left))
        return self._head

    def skip(self, n: int) -> None:
        self._head = self._head[n:]

    def _read(self, n: int) -> bytes:
        data = self.inner.read(n)
        self.left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self.left <= 0:
            if self.limit >= MAX_FILE_BYTES and self.inner.read(1):
                self.hit_limit = True
            return 0
        want = min(len(b), self.left)
        if isinstance(self.inner, io.RawIOBase) or hasattr(self.inner, "readinto"):
            with memoryview(b) as view:
                n = self.inner.readinto(view[:want]) or 0
        else:  # pragma: no cover - every inner stream here has readinto
            data = self.inner.read(want)
            n = len(data)
            b[:n] = data
        self.left -= n
        return n

    def close(self) -> None:
        for c in self.closes:
            try:
                c.close()
            except Exception:
                pass
        super().close()


class _Transcode(io.RawIOBase):
    """UTF-16 in, UTF-8 out (undecodable bytes become U+FFFD)."""

    def __init__(self, inner: _Limited, codec: str) -> None:
        import codecs

        self.inner = inner
        self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self.pending = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.pending and not self.done:
            raw = bytearray(1 << 20)
            n = self.inner.readinto(raw)
            text = self.decoder.decode(bytes(raw[:n]), final=not n)
            if not n:
                self.done = True
            self.pending = text.lstrip("\ufeff").encode("utf-8") if text else b""
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


class _StripAnsi(io.RawIOBase):
    """Terminal colour and cursor codes (`\x1b[31m`, `\x1b[2K`) removed: loggers that colour their fields
    (torchtitan's `step:`/`loss:`, rich, loguru) would otherwise put an escape between every name and value. Only
    a file whose start holds one is filtered; an escape cut by a read is completed by the next."""

    _CSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")

    def __init__(self, inner) -> None:
        self.inner = inner
        self.pending = b""  # cleaned bytes not yet handed out
        self.carry = b""  # the start of an escape sequence cut by the last read
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.pending and not self.done:
            raw = bytearray(max(len(b), 1 << 16))
            n = self.inner.readinto(raw)
            data = self.carry + bytes(raw[:n])
            self.carry = b""
            if not n:
                self.done = True
            else:
                esc = data.rfind(b"\x1b", max(len(data) - 32, 0))
                if esc >= 0 and not self._CSI.match(data, esc):  # maybe cut: keep it for the next read
                    data, self.carry = data[:esc], data[esc:]
            self.pending = self._CSI.sub(b"", data)
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def byte_shift(a: np.ndarray, old: int, new: int) -> np.ndarray:
    """What turns every byte `old` of the uint8 array `a` into `new` when added to it (uint8 wrap-around): the mask
    times the difference, a compare and a multiply, cheaper by numpy than a masked store or `bytes.translate`."""
    step = (a == old).view(np.uint8)
    step *= (new - old) & 0xFF
    return step


class _Translate(io.RawIOBase):
    def __init__(self, inner: _Limited, table: bytes) -> None:
        self.inner = inner
        self.table = table
        changed = [i for i in range(256) if table[i] != i]
        # one byte replaced (CR -> LF): in place by numpy (`byte_shift`: ~1.6 ms an 8 MB read here, a masked store
        # 3.4, a copy out, `translate` and a copy back 17: a tenth of reading a CR-only tqdm log)
        self.one = (changed[0], table[changed[0]]) if len(changed) == 1 else None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.inner.readinto(b)
        if n:
            with memoryview(b) as view:
                if self.one is not None and not view.readonly:
                    with view.cast("B") as flat:
                        a = np.frombuffer(flat, dtype=np.uint8, count=n)
                        a += byte_shift(a, *self.one)
                        del a
                else:
                    view[:n] = bytes(view[:n]).translate(self.table)
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def read_head(path: Path, n: int = HEAD_BYTES) -> str | None:
    """The decoded start of a file for sniffing, or None when it cannot be opened as a regular file."""
    try:
        with open_stream(path) as f:
            data = f.read(n)
    except (SourceError, OSError, EOFError, ValueError):
        return None
    except Exception:  # a damaged gzip stream and the like: not a file to sniff
        return None
    return data.decode("utf-8", errors="replace")


SAMPLE_SCAN_BYTES = 32 << 20  # how much of a large file the second sniff looks through
_DIGITS = b"0123456789"


def read_samples(path: Path, lines: int = 400) -> str | None:
    """The first `lines` lines that look like metric records (3 or more `:`/`=` and 8 or more digits) in the first
    32 MB of a large plain-text file, decoded, for a second sniff where its start alone was not recognised: a W&B
    `output.log` whose first 15,000 lines are printed rollouts before its first `step:1 - actor/...` line. None for
    a file that fits in one head, is compressed or UTF-16 (the stream decoders cannot seek), holds no such line, or
    cannot be read."""
    try:
        if regular_file(path).st_size <= HEAD_BYTES * 2:
            return None
        with open(path, "rb") as f:
            start = f.read(4)
            if start[:2] == _GZIP or start[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in start:
                return None
            f.seek(0)
            data = f.read(SAMPLE_SCAN_BYTES)
    except (SourceError, OSError, ValueError):
        return None
    picked = []
    for line in data[:data.rfind(b"\n") + 1].splitlines(keepends=True):
        if line.count(b":") + line.count(b"=") >= 3 and len(line) - len(line.translate(None, _DIGITS)) >= 8:
            picked.append(line)
            if len(picked) >= lines:
                break
    return b"".join(picked).decode("utf-8", errors="replace") if picked else None


def read_bytes(path: Path) -> bytes:
    """The whole (decoded) file, or SourceError (one line) when it cannot be read or holds nothing."""
    try:
        with open_stream(path) as f:
            data = f.read()
            cut = f.truncated
    except SourceError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not data.strip():
        raise SourceError(f"{path}: empty file")
    if cut:
        raise SourceError(f"{path}: larger than the {MAX_FILE_BYTES:,}-byte ceiling for one file "
                          "(KTO_DOCTOR_MAX_FILE_BYTES)")
    return data


# A Hub model card as the Trainer writes it: "The following hyperparameters were used during training:" then
# `- learning_rate: 5e-07` lines; and the front matter's tags (`- lora`)
_CARD_SETTINGS = re.compile(rb"hyperparameters were used during training:[ \t]*\r?\n((?:[ \t]*[-*][ \t]+[\w.]+:[^\n]*\n?)+)")
_CARD_LINE = re.compile(rb"[ \t]*[-*][ \t]+([\w.]+):[ \t]*([^\r\n]*)")
_FRONT_MATTER = re.compile(rb"\A(?:\xef\xbb\xbf)?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


def card_settings(text: bytes) -> dict:
    """The configuration a Hub model card states: its `Training hyperparameters` list (numbers as floats, the rest
    as text) and, from the front matter's tags, a LoRA adapter (`- lora`: finetuning_type lora). Empty for any other
    text."""
    out: dict = {}
    m = _CARD_SETTINGS.search(text)
    if m:
        for k, v in _CARD_LINE.findall(m.group(1)):
            value = v.decode("utf-8", "replace").strip()
            num = to_float(value)
            out[k.decode()] = num if num is not None else value[:200]
    fm = _FRONT_MATTER.match(text)
    if fm and re.search(rb"(?m)^tags:[ \t]*\r?\n(?:[ \t]*-[ \t]+[^\n]*\n)*?[ \t]*-[ \t]+lora[ \t]*\r?$", fm.group(1)):
        out.setdefault("finetuning_type", "lora")
    return out


def to_float(value) -> float | None:
    """A logged value as a float: numbers, numeric strings ('nan', '-8.1e+06'), bools; None otherwise.
    An integer beyond a float's range reads as ±inf, as JSON's 1e400 does."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        if len(value) > 400:  # no float is that long; int() of 5000 digits would be refused anyway
            return None
        text = value.strip().rstrip("%")
        try:
            return float(text)
        except ValueError:  # `nan.0`, `inf.0`: a NaN tensor printed through a float format (NeMo's bar postfix)
            head, dot, zeros = text.partition(".")
            if dot and zeros.strip("0") == "" and head.lstrip("+-").lower() in ("nan", "inf", "infinity"):
                return float(head)
            return None
    return None


MAX_STEP = 2 ** 53  # past this a float no longer counts steps one by one: no real run gets there


def usable_step(step) -> bool:
    """A logged step a float counts exactly: a number, not a bool, finite and within ±2**53 (a 2**400
    integer, or its 2.6e120 float reading, is damage, not a step; taken as one, it made a "resumed run")."""
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        return False
    try:
        return math.isfinite(step) and abs(step) <= MAX_STEP
    except OverflowError:
        return False


def short_int(text: str):
    """`parse_int` for JSON read after damage: exact up to 18 digits, else a float (±inf past its range),
    so that a 5000-digit number spoils one value instead of refusing the record."""
    return int(text) if len(text) < 19 else float(text)


def sane_fact(value):
    """A fact as the file states it, or None for a number past 64 bits (a 2**400 `max_steps` would
    overflow every float computation made with it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value
    return value if -(1 << 63) <= value < (1 << 63) else None


def _to_floats(values: list) -> tuple[np.ndarray, np.ndarray | None]:
    """(floats, mask of convertible values or None when all are).

    One numpy conversion for the common case (numbers and numeric strings, where every NaN is a logged
    NaN); per element otherwise, so that text such as "0:01:03" is dropped rather than read as NaN.
    """
    try:
        return np.asarray(values, dtype=np.float64), None
    except (ValueError, TypeError, OverflowError):  # text, None, an integer past a float's range
        conv = [to_float(x) for x in values]
        ok = np.array([x is not None for x in conv], dtype=bool)
        return np.array([x if x is not None else 0.0 for x in conv], dtype=np.float64), ok


def _drop_superseded(s, v, ln, segment_starts):
    """Drop values of earlier segments at or after the step where a later segment starts."""
    starts = np.array([line for _, line in segment_starts], dtype=np.int64)
    firsts = np.array([step for step, _ in segment_starts], dtype=np.float64)
    # limit[k] = smallest first step among segments after segment k (segment 0 is before starts[0])
    limit = np.append(np.minimum.accumulate(firsts[::-1])[::-1], np.inf)
    seg = np.searchsorted(starts, ln, side="right")
    keep = s < limit[seg]
    return s[keep], v[keep], ln[keep]
