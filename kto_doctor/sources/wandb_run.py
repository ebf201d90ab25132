"""Weights & Biases local run folders: `wandb/run-<date>_<time>-<id>/` and `wandb/offline-run-.../`.

A folder source. A run folder is a run; the `wandb/` folder that holds run folders is claimed whole as a
store of runs (`runs` lists its run folders: several are several runs, each analysable with `--run`, and
W&B's debug logs beside them are not mistaken for consoles). A resumed run, which W&B starts in a new
folder with the same id, shows up as one run per attempt. What is read:

- `run-<id>.wandb`, the binary transaction log (framing in `leveldb_log`), decoded here with our own
  protobuf wire walker (`protowire`): history rows (`HistoryRecord`: items keyed by `key`, or by
  `nested_key` as wandb 0.31 writes them, valued by `value_json`, or the typed values of the 0.31 schema),
  `define_metric` records (the step metric: HF declares `train/global_step` for every `train/*`, so that is
  the step, not W&B's row counter `_step`), config, summary, run name and id, the exit code, and the
  telemetry's versions. Offline runs have their metrics ONLY here. A crashed wandb 0.31 process can leave
  just the 7-byte header: the run is then read from its console.
- `files/output.log`, the console, read by whichever console-format source recognises it (the HF reader
  by default; `kto_doctor.sources.console`): its series stand in when the binary log holds no history;
  its facts (trainable parameters, overflows, banners) always count.
- `files/config.yaml` (wandb <= 0.17: `wandb_version: 1` and `{desc, value}` per key; 0.18+: `{value}`),
  `files/wandb-summary.json` (last values: HF's end-of-run `train/train_loss`, `train/train_runtime`
  become facts), `files/wandb-metadata.json` (python version, GPUs), `files/requirements.txt` (the
  installed versions of transformers, trl, peft, ...: facts such as `trl_version`, which rules read).

Why not the `wandb` package: it is 62 MB with a 36-package environment, `import wandb` alone takes about
1.6 s, and it has no stable public API to read a `.wandb` file offline (its Python reader `datastore.py`
is internal and is gone from 0.31). The framing has not changed from 0.15 to 0.31, and protobuf field
numbers are stable by design; reading both `key` and `nested_key` covers the one change seen. An unknown
header version is refused with a one-line error rather than guessed at.
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from ..ontology import SUMMARY_KEYS
from . import lazyre, leveldb_log, protowire
from .base import Columns, SourceData, SourceError
from .registry import Source
from .store_util import (Memo, console_data, framework_hint, json_many, json_or_none, lfs_pointer, read_binary,
                         requirements_facts, set_fact, side_file)

IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
_FOLDER = lazyre.compile(r"^(?:offline-)?run-\d{8}_\d{6}-([A-Za-z0-9_\-]+)$")
# Record oneof fields read (wandb/proto/wandb_internal.proto)
R_HISTORY, R_SUMMARY, R_CONFIG, R_TELEMETRY, R_METRIC, R_RUN, R_EXIT = 2, 3, 5, 11, 12, 17, 18
HF_STEP = "train/global_step"
_TRL_IMPORT, _LIGHTNING_IMPORTS = 84, (9, 106)  # Imports fields of the telemetry: trl, pytorch_lightning/lightning


# ---------------------------------------------------------------------------------------- the folder


_FILES = ("output.log", "wandb-summary.json", "config.yaml", "wandb-metadata.json")
_MEMO = Memo()


def is_run_folder(d: Path) -> bool:
    """A W&B run folder, or a `wandb/` folder holding some (a store of runs: see `runs`)."""
    return _is_run(d) or (d.name == "wandb" and bool(_runs_in(d)))


def _is_run(d: Path) -> bool:
    """`run-<date>_<time>-<id>` (SwanLab names its run folders the same way: W&B's own files decide)."""
    m = _FOLDER.match(d.name)
    if m is None:
        return d.name == "latest-run" and _lone_latest(d)
    if (d / f"run-{m.group(1)}.wandb").is_file():
        return True
    files = d / "files"
    return files.is_dir() and any((files / n).is_file() for n in _FILES) \
        and not (files / "swanlab-metadata.json").is_file()


def _runs_in(d: Path) -> list[str]:
    try:
        names = sorted(e.name for e in os.scandir(d) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [n for n in names if (_FOLDER.match(n) or n == "latest-run") and _is_run(d / n)]


def runs(path: Path) -> list[str]:
    """The run folders of a `wandb/` folder, each a run of its own (`analyze wandb/ --run <folder>`); W&B's
    debug logs next to them are not runs. A run folder itself is one run (no keys)."""
    path = Path(path)
    return [] if _is_run(path) else _runs_in(path)


def _lone_latest(d: Path) -> bool:
    """`latest-run` is a symlink W&B keeps to the newest run; committed repositories often hold a copy of
    that folder instead. The copy is read unless a run folder next to it is the same run: the same run id
    (`run-<id>.wandb`) or, without one, the same files of the same sizes."""
    if d.is_symlink() or not (d / "files").is_dir():
        return False
    ids = {p.name[len("run-"):-len(".wandb")] for p in d.glob("run-*.wandb")}
    mine = _file_sizes(d)
    sibs = [(sib, m.group(1)) for sib in d.parent.iterdir() if (m := _FOLDER.match(sib.name))]
    for sib, run_id in sibs:
        if run_id in ids if ids else _file_sizes(sib) == mine:
            return False
    if not ids and len(sibs) == 1:
        # a copy that holds part of the one run folder's files (a repository with `files/wandb-summary.json`
        # in latest-run and `files/output.log` in the run folder): one run committed in two halves, not two
        # runs; the run folder is read when the copy holds no step series of its own (no output.log) and no
        # file of both differs
        theirs = _file_sizes(sibs[0][0])
        if "output.log" not in mine and all(theirs.get(n, s) == s for n, s in mine.items()):
            return False
    return True


def _file_sizes(d: Path) -> dict[str, int]:
    try:
        return {e.name: e.stat().st_size for e in os.scandir(d / "files") if e.is_file()}
    except OSError:
        return {}


def read(folder: Path) -> list[SourceData]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a W&B run folder")
    if not _is_run(folder):
        return _MEMO.get(folder, _read_all)
    return _read_run(folder)


def _read_all(folder: Path) -> list[SourceData]:
    out = []
    for name in _runs_in(folder):
        try:
            got = _read_run(folder / name)
        except SourceError:
            continue
        for d in got:
            d.run_key = name
        out += got
    if not out:
        raise SourceError(f"{folder}: no readable W&B run folder in it")
    return out


def _read_run(folder: Path) -> list[SourceData]:
    files = folder / "files"
    src = SourceData(path=folder, format="wandb")
    m = _FOLDER.match(folder.name)
    if m:
        src.facts["wandb_run_id"] = m.group(1)
    binary = sorted(folder.glob("run-*.wandb"))
    if binary:
        _History(src).read(binary[0])
    side = _side_files(folder, src)
    _config_yaml(side("config.yaml"), src)
    _summary_json(side("wandb-summary.json"), src)
    _metadata(side("wandb-metadata.json"), src)
    requirements_facts(side("requirements.txt"), src)
    framework_hint(src)
    out = [src]
    console = console_data(files / "output.log", exclude="wandb")
    if console is not None:
        if src.series:  # the history is the record; console steps would have to be guessed
            console.series = {}
        out.append(console)
    if not src.series and not (console is not None and console.series):
        if not binary and console is None and not src.facts:
            raise SourceError(f"{folder}: W&B run folder without a history, console or summary")
        why = "its run-*.wandb holds no history row" if binary else "no run-*.wandb (an online run's folder)"
        console_note = "; output.log holds no metrics" if (files / "output.log").is_file() else ""
        src.warnings.append(f"{folder.name}: no metric history in this W&B run folder: {why}{console_note}")
    return out


# ------------------------------------------------------------------------------------ side files


def _side_files(folder: Path, src: SourceData):
    """path(name) of a side file of this run: its own, or, where a committed copy of `latest-run` next to it
    holds the rest of this run's files (see `_lone_latest`), the copy's."""
    files = folder / "files"
    latest = folder.parent / "latest-run"
    folded = _FOLDER.match(folder.name) is not None and latest.is_dir() and not latest.is_symlink() \
        and (latest / "files").is_dir() and not _lone_latest(latest)

    def path(name: str) -> Path:
        own = files / name
        if folded and not own.is_file() and (latest / "files" / name).is_file():
            src.warnings.append(f"{folder.name}: files/{name} read from latest-run/, a copy of this run's "
                                "folder that holds the files this one lacks")
            return latest / "files" / name
        return own
    return path


def _config_yaml(path: Path, src: SourceData) -> None:
    raw, why = side_file(path)
    if why:
        if path.exists():
            src.warnings.append(f"files/config.yaml: not read ({why})")
        return
    if not isinstance(raw, dict):
        return
    for key, entry in raw.items():
        if key == "wandb_version" or not isinstance(key, str):
            continue
        value = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
        if key == "_wandb":
            _wandb_meta(value, src)
        else:
            src.config.setdefault(key, value)


def _wandb_meta(meta, src: SourceData) -> None:
    """`_wandb` in config.yaml: client version and the telemetry (`t`: 4 python, 5 wandb, 6 transformers;
    1 the imports at init, by Imports field number)."""
    if not isinstance(meta, dict):
        return
    tele = meta.get("t") if isinstance(meta.get("t"), dict) else {}
    tele = {str(k): v for k, v in tele.items()}
    set_fact(src.facts, "wandb_version", meta.get("cli_version") or tele.get("5"))
    set_fact(src.facts, "python_version", meta.get("python_version") or tele.get("4"))
    set_fact(src.facts, "transformers_version", tele.get("6"))
    imports = tele.get("1") or []
    if isinstance(imports, list):
        _imports(set(x for x in imports if isinstance(x, int)), src)


def _imports(fields: set, src: SourceData) -> None:
    if _TRL_IMPORT in fields:
        src.facts["imports_trl"] = True
    if fields & set(_LIGHTNING_IMPORTS):
        src.hints.setdefault("framework", "lightning")


def _summary_json(path: Path, src: SourceData) -> None:
    raw, why = side_file(path)
    if why:
        if path.exists():
            src.warnings.append(f"files/wandb-summary.json: not read ({why})")
        return
    if isinstance(raw, dict):
        _summary_facts(raw, src)


def _summary_facts(summary: dict, src: SourceData) -> None:
    """HF's end-of-run numbers in a summary (`train/train_loss`, `train_runtime`...) become facts."""
    for key, value in summary.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        base = key[len("train/"):] if key.startswith("train/") else key
        if base in SUMMARY_KEYS:
            src.facts.setdefault(base, float(value))
        elif key == "train/global_step":
            src.facts.setdefault("global_step", int(value))


def _metadata(path: Path, src: SourceData) -> None:
    raw, _ = side_file(path)
    if not isinstance(raw, dict):
        return
    set_fact(src.facts, "python_version", raw.get("python"))
    set_fact(src.facts, "gpu", raw.get("gpu"))
    if isinstance(raw.get("gpu_count"), int):
        src.facts.setdefault("gpu_count", raw["gpu_count"])


# ------------------------------------------------------------------------------------ the binary log


class _History:
    """Decode one `run-<id>.wandb` into `src`: series, config, summary facts, run facts, damage warnings."""

    def __init__(self, src: SourceData) -> None:
        self.src = src
        self.keys: dict[bytes, str] = {}
        self.row_keys: list[tuple] = []  # per history row: its keys
        self.row_vals: list[bytes] = []  # every item's value as JSON text, rows after each other
        self.row_steps: list[int] = []  # per row: HistoryStep.num (`_step`)
        self.row_recs: list[int] = []  # per row: its record number
        self.step_metrics: dict[str, str] = {}  # metric name or glob -> its step metric
        self.summary: dict = {}
        self.exit_code: int | None = None

    def read(self, path: Path) -> None:
        src = self.src
        data = read_binary(path)
        size = len(data)
        version = leveldb_log.header_ok(data, IDENT, MAGIC)
        if version is None:
            src.warnings.append(f"{path.name}: not a W&B transaction log (bad header){lfs_pointer(data[:64])}; skipped")
            return
        if version != VERSION:
            src.warnings.append(f"{path.name}: unsupported .wandb version {version} (read: {VERSION}); skipped")
            return
        log = leveldb_log.read_log(data)
        del data
        src.warnings += leveldb_log.describe_damage(path.name, log, size)
        bad = 0
        for n, rec in enumerate(log.records, 1):
            try:
                self._record(rec, n)
            except (protowire.Malformed, IndexError, struct.error):
                bad += 1  # checks, yet not a Record: a writer bug; the other records stand
        if bad:
            src.warnings.append(f"{path.name}: {bad} record(s) that check but do not decode were skipped")
        log.records = []
        src.records = len(self.row_keys)
        self._build()
        if self.exit_code is not None:
            src.facts["exit_code"] = self.exit_code
            src.facts.setdefault("run_state", "finished" if self.exit_code == 0 else "failed")
        else:
            src.facts.setdefault("run_state", "running")  # no exit record: killed, crashed or still running
        _summary_facts(self.summary, src)

    # -- one record --------------------------------------------------------------------------------
    def _record(self, rec: bytes, n: int) -> None:
        end = len(rec)
        pos = 0
        if end and rec[0] == 0x08:  # num = 1: skip it
            _, pos = protowire.varint(rec, 1, end)
        if pos < end and rec[pos] == 0x12:  # history = 2, the common case, without the generic walk
            size, a = protowire.varint(rec, pos + 1, end)
            if a + size > end:
                raise protowire.Malformed
            self._history(rec, a, a + size, n)
            return
        for num, wire, a, b in protowire.fields(rec, pos, end):
            if wire != 2:
                continue
            if num == R_HISTORY:
                self._history(rec, a, b, n)
            elif num == R_CONFIG:
                self._config(rec, a, b)
            elif num == R_SUMMARY:
                for fn, fw, x, y in protowire.fields(rec, a, b):
                    if fn == 1 and fw == 2:
                        key, value = self._item(rec, x, y)
                        if key is not None:
                            self.summary[key] = json_or_none(value)
            elif num == R_METRIC:
                self._metric(rec, a, b)
            elif num == R_RUN:
                self._run(rec, a, b)
            elif num == R_EXIT:
                self.exit_code = 0
                for fn, fw, x, _ in protowire.fields(rec, a, b):
                    if fn == 1 and fw == 0:
                        self.exit_code = protowire.signed(x, 32)
            elif num == R_TELEMETRY:
                self._telemetry(rec, a, b)

    def _history(self, rec: bytes, a: int, b: int, n: int) -> None:
        keys, vals, step = [], self.row_vals, 0
        pos = a
        while pos < b:
            tag = rec[pos]
            if tag == 0x0A:  # item
                size = rec[pos + 1]
                if size < 0x80:
                    s = pos + 2
                else:
                    size, s = protowire.varint(rec, pos + 1, b)
                e = s + size
                if e > b:
                    raise protowire.Malformed
                key, value = self._item(rec, s, e)
                if key is not None and value is not None:
                    keys.append(key)
                    vals.append(value)
                pos = e
            elif tag == 0x12:  # step
                size, s = protowire.varint(rec, pos + 1, b)
                for fn, fw, x, _ in protowire.fields(rec, s, s + size):
                    if fn == 1 and fw == 0:
                        step = protowire.signed(x)
                pos = s + size
            else:
                pos = _skip(rec, pos, b)
        self.row_keys.append(tuple(keys))
        self.row_steps.append(step)
        self.row_recs.append(n)

    def _item(self, rec: bytes, s: int, e: int) -> tuple[str | None, bytes | None]:
        """(key, value as JSON text) of a HistoryItem / SummaryItem / ConfigItem."""
        key = value = None
        parts = None
        p = s
        while p < e:
            t = rec[p]
            if t in (0x0A, 0x12, 0x3A, 0x42) or (t == 0x82 and rec[p + 1] == 0x01):
                q = p + (2 if t == 0x82 else 1)
                size = rec[q]
                if size < 0x80:
                    q += 1
                else:
                    size, q = protowire.varint(rec, q, e)
                v = rec[q:q + size]
                p = q + size
                if t == 0x0A:
                    key = v
                elif t == 0x12:
                    parts = [v] if parts is None else parts + [v]
                elif t == 0x3A:  # text (typed value of the 0.31 schema)
                    value = json.dumps(v.decode("utf-8", "replace")).encode()
                else:  # value_json, or json (typed)
                    value = v
            else:
                value, p = _typed(rec, p, e, value)
        if key is None and parts:
            key = b".".join(parts)  # W&B shows a nested key with dots
        if key is None:
            return None, None
        name = self.keys.get(key)
        if name is None:
            name = self.keys[key] = key.decode("utf-8", "replace")
        return name, value

    def _config(self, rec: bytes, a: int, b: int) -> None:
        for fn, fw, x, y in protowire.fields(rec, a, b):
            if fn == 1 and fw == 2:
                key, value = self._item(rec, x, y)
                if key is None:
                    continue
                value = json_or_none(value)
                if key == "_wandb":
                    _wandb_meta(value, self.src)
                else:
                    self.src.config[key] = value

    def _metric(self, rec: bytes, a: int, b: int) -> None:
        name = glob = step = None
        for fn, fw, x, y in protowire.fields(rec, a, b):
            if fw == 2 and fn in (1, 2, 4):
                text = protowire.text(rec, x, y)
                name, glob, step = (text, glob, step) if fn == 1 else (name, text, step) if fn == 2 else \
                    (name, glob, text)
        if step and (name or glob):
            self.step_metrics[name or glob] = step

    def _run(self, rec: bytes, a: int, b: int) -> None:
        for fn, fw, x, y in protowire.fields(rec, a, b):
            if fw != 2:
                if fn == 18 and fw == 0 and x:
                    self.src.facts["resumed"] = True
                continue
            if fn == 1:
                set_fact(self.src.facts, "wandb_run_id", protowire.text(rec, x, y))
            elif fn == 3:
                set_fact(self.src.facts, "wandb_project", protowire.text(rec, x, y))
            elif fn == 8:
                set_fact(self.src.facts, "run_name", protowire.text(rec, x, y))
            elif fn == 4:
                self._config(rec, x, y)

    def _telemetry(self, rec: bytes, a: int, b: int) -> None:
        names = {4: "python_version", 5: "wandb_version", 6: "transformers_version"}
        for fn, fw, x, y in protowire.fields(rec, a, b):
            if fw == 2 and fn in names:
                set_fact(self.src.facts, names[fn], protowire.text(rec, x, y))
            elif fw == 2 and fn == 1:  # imports_init: one bool field per library
                _imports({f for f, w, v, _ in protowire.fields(rec, x, y) if w == 0 and v}, self.src)

    # -- the rows become series --------------------------------------------------------------------
    def _build(self) -> None:
        if not self.row_keys:
            return
        values = json_many(self.row_vals)
        self.row_vals = []
        step_key = self._step_key()
        cols = Columns()
        shapes: dict[tuple, tuple[list, list, list]] = {}
        steps_all, recs_all = [], []
        at = 0
        last_step = None
        for keys, wstep, rec in zip(self.row_keys, self.row_steps, self.row_recs):
            row = dict(zip(keys, values[at:at + len(keys)]))
            at += len(keys)
            step = wstep
            if step_key is not None:
                s = row.get(step_key)
                if isinstance(s, (int, float)) and not isinstance(s, bool):
                    last_step = s
                step = last_step
                if step is None:
                    continue  # before the step metric was first logged: no place on its axis
            group = shapes.get(keys)
            if group is None:
                group = shapes[keys] = ([], [], [])
            group[0].append(row)
            group[1].append(step)
            group[2].append(rec)
            steps_all.append(step)
            recs_all.append(rec)
        for keys, (rows, steps, recs) in shapes.items():
            cols.add_rows(rows, keys, steps, recs, False)
        cols.set_steps(np.asarray(steps_all, dtype=np.float64), np.asarray(recs_all, dtype=np.int64))
        cols.finish_segments(self.src, step_key or "_step")
        self.src.series = cols.build(self.src)
        if step_key is not None:
            self.src.hints["wandb_step_metric"] = step_key

    def _step_key(self) -> str | None:
        """The step metric `define_metric` declared (HF: `train/global_step` for `*`; else the one most
        names use), else HF's `train/global_step` where rows carry it, else None: W&B's row counter `_step`."""
        if "*" in self.step_metrics:
            return self.step_metrics["*"]
        steps = list(self.step_metrics.values())
        if steps:
            return max(steps, key=steps.count)
        # HF's callback before define_metric (transformers < 4.12) logged the trainer's step as a value
        return HF_STEP if HF_STEP in self.keys.values() else None


def _skip(rec: bytes, pos: int, end: int) -> int:
    """The position after the field at `pos` (any wire type)."""
    for _, _, _, b in protowire.fields(rec, pos, end):
        return b if b is not None else end
    return end


def _typed(rec: bytes, p: int, e: int, value):
    """The 0.31 schema's typed values (3 none, 4 boolean, 5 sint64, 6 double) as JSON text; others skipped."""
    key, q = protowire.varint(rec, p, e)
    num, wire = key >> 3, key & 7
    if wire == 0:
        v, q = protowire.varint(rec, q, e)
        if num == 3:
            return b"null", q
        if num == 4:
            return (b"true" if v else b"false"), q
        if num == 5:
            return str(protowire.zigzag(v)).encode(), q
        return value, q
    if wire == 1 and num == 6:
        x = struct.unpack_from("<d", rec, q)[0]
        return json.dumps(x).encode(), q + 8
    for _, _, _, b in protowire.fields(rec, p, e):
        return value, b
    return value, e


# ------------------------------------------------------------------------------------------ the plugin

SOURCE = Source(
    name="wandb",
    title="Weights & Biases run folders (wandb/run-*/, offline-run-*/: the binary run-*.wandb history, "
          "output.log, config.yaml, wandb-summary.json)",
    read=read,
    priority=9,
    folder=is_run_folder,
    runs=runs,
    anchor=True,
    examples=("wandb/run-20241216_132720-chk58nkd/", "wandb/offline-run-20261129_210434-4bvdbpxz/"),
)
