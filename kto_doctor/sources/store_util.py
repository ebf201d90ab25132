"""Helpers the tracker readers share: the small side files of a run folder, and SQLite stores opened safely.

- `side_file(path)`: a YAML or JSON file of a run (hparams.yaml, params.yaml, config.yaml, meta.yaml,
  wandb-summary.json...) as data, or None with the reason (a side file never stops a run being read).
- `connect(path)`: a SQLite database opened read-only and, where the file system allows it, immutable
  (`file:...?mode=ro&immutable=1`): no journal, WAL or lock file is created or touched, so reading the
  database of a live run (MLflow, Trackio) cannot disturb its writer. A database whose `-wal` file still
  holds committed pages, or with a journal of an unfinished transaction, is opened without `immutable`, so
  SQLite sees those pages (or reports the database busy) instead of reading half-written ones.
- `numeric_lines`, `line_chunks`, `json_many`, `read_binary`, `with_database`: the loops several readers share
  (a file of `step value` lines with damage counted; a text file in 16 MB slices of whole lines; many JSON
  texts parsed by one `json.loads`; a binary log read whole; a database opened, checked and closed).
- `lfs_pointer(head)`: the note for a Git LFS pointer left where a binary log should be (a repository cloned
  without `git lfs pull`: the 130-byte text stands in for the event file, `.wandb` or database).
- `Memo`: the last store read, kept per (path, size, mtime) so that `analyze --run KEY` and `scan` of a
  store of several runs parse it once per process, not once per run.
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import numpy as np

from . import lazyre
from .base import MAX_FILE_BYTES, SourceData, SourceError, read_bytes, read_head, regular_file


_LFS = b"version https://git-lfs.github.com/spec/"


def lfs_pointer(head: bytes) -> str:
    """' (a Git LFS pointer ...)' when `head` (a file's first bytes) is one, else ''."""
    if bytes(head[:len(_LFS)]) == _LFS:
        return " (a Git LFS pointer: the file itself was never downloaded; fetch it with `git lfs pull`)"
    return ""


def side_file(path: Path):
    """(data, None) of a YAML/JSON file, or (None, reason) when it is absent or unreadable."""
    try:
        regular_file(path)
    except SourceError as exc:
        return None, str(exc).split(": ", 1)[-1]
    try:
        text = read_bytes(path).decode("utf-8", "replace")
    except SourceError as exc:
        return None, str(exc).split(": ", 1)[-1]
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), None
        except RecursionError:
            return None, "JSON nested too deep"
        except ValueError as exc:
            return None, f"invalid JSON at line {getattr(exc, 'lineno', '?')}"
    import yaml

    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, "invalid YAML" + (f" at line {mark.line + 1}" if mark is not None else "")
    except (RecursionError, ValueError):
        return None, "YAML nested too deep or with a number too long"


def set_fact(facts: dict, key: str, value) -> None:
    """A version or name as text, unless empty or already stated."""
    if value not in (None, "") and key not in facts:
        facts[key] = str(value)


# Packages whose installed version a run folder's `requirements.txt` (pip freeze) states, as facts
# `<name>_version`: rules read `config.trl_version` and the like.
PACKAGES = {"transformers": "transformers", "trl": "trl", "peft": "peft", "deepspeed": "deepspeed",
            "torch": "torch", "accelerate": "accelerate", "llamafactory": "llamafactory", "verl": "verl",
            "openrlhf": "openrlhf", "axolotl": "axolotl", "unsloth": "unsloth", "lightning": "lightning",
            "pytorch-lightning": "pytorch_lightning", "vllm": "vllm"}
_REQ = lazyre.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", re.M)


_HF_ARGS = ("per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps", "lr_scheduler_type")


def framework_hint(src: SourceData) -> None:
    """The framework a tracker's configuration shows (never guessed from metric values): verl's OmegaConf
    tree (`actor_rollout_ref`, `trainer`), HF TrainingArguments (which TRL and LLaMA-Factory also log)."""
    cfg = src.config
    if "framework" in src.hints:
        return
    if "actor_rollout_ref" in cfg and "trainer" in cfg:
        src.hints["framework"] = "verl"
    elif sum(k in cfg for k in _HF_ARGS) >= 2:
        src.hints["framework"] = "transformers"


def requirements_facts(path: Path, src: SourceData) -> None:
    """The versions of the training libraries in a run's `pip freeze` (W&B, SwanLab `files/requirements.txt`)."""
    if not path.is_file():
        return
    try:
        text = read_bytes(path).decode("utf-8", "replace")
    except SourceError:
        return
    for name, version in _REQ.findall(text):
        fact = PACKAGES.get(name.lower().replace("_", "-"))
        if fact:
            src.facts.setdefault(f"{fact}_version", version)


def console_data(path: Path, exclude: str) -> SourceData | None:
    """A tracker's copy of the console (W&B `files/output.log`, SwanLab `console/*.log`), read by the first
    console-format source that recognises it (the HF reader, `kto_doctor.sources.console`, by default)."""
    from .registry import candidates

    if not path.is_file():
        return None
    for src in candidates(path, lambda: read_head(path)):
        if src.kind != "metrics" or src.name == exclude or src.folder is not None or src.runs is not None:
            continue
        try:
            got = src.read(path)
        except SourceError:
            continue
        got = got[0] if isinstance(got, list) else got
        got.format = got.format or src.name
        return got
    return None


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    try:
        regular_file(path)
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except (SourceError, OSError):
        return False


def connect(path: Path):
    """A read-only connection (see the module doc), or SourceError (one line) when it is not a database."""
    import sqlite3

    regular_file(path)
    if not is_sqlite(path):
        raise SourceError(f"{path}: not an SQLite database")
    uri = "file:" + quote(str(Path(path).resolve())) + "?mode=ro"
    live = any(_nonempty(Path(str(path) + suffix)) for suffix in ("-wal", "-journal"))
    try:
        con = sqlite3.connect(uri if live else uri + "&immutable=1", uri=True, check_same_thread=False)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: cannot open the database ({exc})") from None
    return con


def _nonempty(p: Path) -> bool:
    try:
        return p.stat().st_size > 0
    except OSError:
        return False


def columns(con, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info('{table}')")}


def tables(con) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


class Memo:
    """One cached result per reader: the last path read, valid while its size and mtime are unchanged.

    `get` hands out fresh containers around the cached arrays (the merger reassigns a series' arrays, it
    never writes into them), so one caller's changes never reach the next."""

    def __init__(self) -> None:
        self.key = None
        self.value = None

    def raw(self, path: Path, compute):
        """`compute(path)`, kept for the next call on the same unchanged file (the cached object itself)."""
        st = os.stat(path)
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        if key != self.key:
            self.value = None  # free the old store before reading the next
            self.value = compute(path)
            self.key = key
        return self.value

    def get(self, path: Path, compute):
        return [_fresh(d) for d in self.raw(path, compute)]


def _fresh(d):
    from dataclasses import replace

    return replace(d, series={k: replace(s) for k, s in d.series.items()}, config=dict(d.config),
                   facts=dict(d.facts), warnings=list(d.warnings), hints=dict(d.hints), segments=list(d.segments))


def numeric_lines(data: bytes, parse: Callable[[bytes], tuple | None], first_line: int = 1):
    """(steps, values, line numbers, bad lines, first bad line) of a text file of one value per line;
    `parse(line)` returns (step, value) or None for a line that is damage. Blank lines are skipped."""
    steps, values, nums = [], [], []
    bad, first_bad = 0, None
    for n, line in enumerate(data.split(b"\n"), first_line):
        if not line.strip():
            continue
        got = parse(line)
        if got is None:
            bad += 1
            first_bad = first_bad or n
            continue
        steps.append(got[0])
        values.append(got[1])
        nums.append(n)
    return (np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64),
            np.asarray(nums, dtype=np.int64), bad, first_bad)


def numeric_table(data: bytes, width: int, sep: str) -> np.ndarray | None:
    """The common case of a numeric table without header: every line `width` numbers separated by `sep`,
    parsed at once by pandas' C reader into an (n, width) float array (`nan`, `inf` are values: these files
    have no empty cells); None for anything else, which the per-line way then reads and counts."""
    import pandas as pd

    if not data.strip() or b"\n\n" in data or data.startswith(b"\n"):
        return None
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, header=None, dtype=np.float64, on_bad_lines="error",
                         skip_blank_lines=False, engine="c")
    except (ValueError, pd.errors.ParserError, OverflowError):
        return None
    if df.shape[1] != width:
        return None
    missing = df.isna().any(axis=1).to_numpy()
    if missing.any() and (missing & ~_nan_text(data, len(df))).any():
        return None
    return df.to_numpy(dtype=np.float64)


def _nan_text(data: bytes, rows: int) -> np.ndarray:
    """Which rows say nan in so many letters (pandas reads a missing cell and `nan` alike)."""
    lines = data.rstrip(b"\n").split(b"\n")
    return np.array([b"nan" in ln.lower() for ln in lines[:rows]] + [False] * max(0, rows - len(lines)))


CHUNK = 16 << 20


def line_chunks(stream):
    """(lines, number of the line before them, cut) from a binary stream, 16 MB of whole lines at a time; a
    last line without its newline (a file cut mid-write, or just no final newline) comes last, alone, with
    cut=True."""
    for text, base, cut in text_chunks(stream):
        yield ([text] if cut else text.split(b"\n")), base, cut


def text_chunks(stream, size: int | None = None):
    """`line_chunks` as text: (the lines joined by their line feeds, number of the line before them, cut), for a
    reader whose numpy passes want the chunk whole (`text.split(b"\n")` is what line_chunks yields); `size`: bytes
    a read (CHUNK)."""
    pending = b""
    base = 0
    while True:
        chunk = stream.read(size or CHUNK)
        if not chunk:
            break
        cut = chunk.rfind(b"\n")
        if cut < 0:  # (no line end in the whole read: the text goes on)
            pending += chunk
            continue
        text = b"".join((pending, memoryview(chunk)[:cut]))  # (one copy of the chunk's lines)
        pending = chunk[cut + 1:]
        del chunk
        yield text, base, False
        base += count_feeds(text) + 1
    if pending.strip():
        yield pending, base, True


_FEEDS_BLOCK = 1 << 20


def count_feeds(text: bytes) -> int:
    """`text.count(b"\n")` by numpy a MB at a time (its temporaries stay in the cache): ~7x faster here."""
    a = np.frombuffer(text, dtype=np.uint8)
    return sum(int(np.count_nonzero(a[i:i + _FEEDS_BLOCK] == 10)) for i in range(0, len(a), _FEEDS_BLOCK))


def json_many(texts: list[bytes]) -> list:
    """Every text parsed, by one `json.loads` per million of them (per text only around a bad one: None)."""
    out: list = []
    step = 1 << 20
    for i in range(0, len(texts), step):
        part = texts[i:i + step]
        try:
            got = json.loads(b"[" + b",".join(part) + b"]")
        except (ValueError, RecursionError):
            got = None
        if got is None or len(got) != len(part):
            got = [json_or_none(t) for t in part]
        out += got
    return out


def json_or_none(text: bytes | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def read_binary(path: Path) -> bytes:
    """A binary log read whole (no text decoding), or SourceError when it is no regular file or too large."""
    st = regular_file(path)
    if st.st_size > MAX_FILE_BYTES:
        raise SourceError(f"{path}: larger than the {MAX_FILE_BYTES:,}-byte ceiling for one file "
                          "(KTO_DOCTOR_MAX_FILE_BYTES)")
    try:
        with open(path, "rb") as f:
            return f.read(st.st_size)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def with_database(path: Path, check: Callable, fn: Callable):
    """`fn(connection)` on a database opened read-only (`connect`) after `check(connection, path)` accepted
    it; an unreadable database is a SourceError naming the file."""
    import sqlite3

    con = connect(Path(path))
    try:
        check(con, path)
        return fn(con)
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: the database cannot be read ({exc})") from None
    finally:
        con.close()
