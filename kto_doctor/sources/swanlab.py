"""SwanLab local run folders: `swanlog/run-<date>_<time>-<id>/` (offline and local modes, and the logs of a
cloud run kept on disk).

A folder source. What is read:
- `run-<id>.swanlab` (swanlab >= 0.8): the same block framing as W&B's `.wandb` (`leveldb_log`) under the
  header `:SWL`, 0xE1D6, version 2, holding `swanlab.record.v1.Record`s; decoded with `protowire`:
  `ScalarRecord` (13: key 1, step 2, value 5 = `ScalarValue{double number = 1}`, NaN and ±inf as real
  doubles), `StartRecord` (10: project 1, experiment name 4, id 10), `FinishRecord` (11: state 1 = RUNNING
  0, FINISHED 1, CRASHED 2, ABORTED 3). SwanLab says its versions do not promise to read each other's
  files, so another header version is skipped with a warning.
- `logs/<column>/<n>.log` (local mode and swanlab < 0.8): JSON lines `{"index": step, "data": value}`;
  swanlab 0.1-0.2 (early 2024) wrote `logs/<metric>/<n>.json` instead, one JSON document per file,
  `{"create_time": ..., "update_time": ..., "data": [{"index": step, "data": value, ...}, ...]}`; a column of
  media (`"data": "<file>.png"`) is no metric and is left out without a warning.
  Read only where the folder is the metric's name (early 2024); swanlab 0.4-0.10 name the folder by a
  column number whose name is only in the binary log or the dashboard database, so numbered columns are
  read from the binary log when there is one and otherwise left out, with a note.
- `console/*.log`, the console copy, through the console-format sources (HF dicts by default).
- `files/config.yaml` (`{key: {desc, sort, value}}`), `files/requirements.txt` (library versions).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

from . import leveldb_log, protowire
from .base import Columns, MetricNames, SourceData, SourceError, adopt_summary_loss, read_bytes
from .registry import Source
from .store_util import console_data, read_binary, requirements_facts, set_fact, side_file

IDENT, MAGIC, VERSION = b":SWL", 0xE1D6, 2
_FOLDER = re.compile(r"^run-\d{8}_\d{6}-([A-Za-z0-9]+)$")
STATES = {0: "running", 1: "finished", 2: "crashed", 3: "aborted"}
R_START, R_FINISH, R_SCALAR = 10, 11, 13


def is_run_folder(d: Path) -> bool:
    m = _FOLDER.match(d.name)
    if m is None:
        return False
    if (d / f"run-{m.group(1)}.swanlab").is_file() or (d / "files" / "swanlab-metadata.json").is_file():
        return True
    return d.parent.name == "swanlog" and ((d / "logs").is_dir() or (d / "console").is_dir())


def read(folder: Path) -> list[SourceData]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a SwanLab run folder")
    src = SourceData(path=folder, format="swanlab")
    m = _FOLDER.match(folder.name)
    if m:
        src.facts["swanlab_run_id"] = m.group(1)
    binary = sorted(folder.glob("run-*.swanlab"))
    scalars: dict[str, tuple[list, list, list]] = {}
    if binary:
        _binary(binary[0], src, scalars)
    if not scalars:
        _text_logs(folder / "logs", src, scalars)
    names = MetricNames()
    summary = None
    for key, (steps, values, order) in scalars.items():
        name = names[key, False]
        if name is None and not names.summary_loss(key):
            continue
        series = Columns().finish(np.asarray(steps, np.float64), np.asarray(values, np.float64),
                                  np.asarray(order, np.int64))
        if name is None:
            summary = (key, series, len(steps))
        elif series is not None:
            src.series[name] = series
            src.records += len(steps)
    if summary is not None:
        adopt_summary_loss(src, summary[0], summary[1])
        src.records += summary[2] if src.series.get("loss") is summary[1] else 0
    cfg, _ = side_file(folder / "files" / "config.yaml")
    if isinstance(cfg, dict):
        for key, entry in cfg.items():
            if isinstance(key, str):
                src.config[key] = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
    requirements_facts(folder / "files" / "requirements.txt", src)
    meta, _ = side_file(folder / "files" / "swanlab-metadata.json")
    if isinstance(meta, dict):
        set_fact(src.facts, "python_version", (meta.get("runtime") or {}).get("python_version"))
        set_fact(src.facts, "swanlab_version", (meta.get("swanlab") or {}).get("version"))
    out = [src]
    consoles = sorted((folder / "console").glob("*.log")) if (folder / "console").is_dir() else []
    for path in consoles:
        if path.name == "error.log":
            continue
        console = console_data(path, exclude="swanlab")
        if console is not None:
            if src.series:  # the scalars are the record; console steps would have to be guessed
                console.series = {}
            out.append(console)
    if not any(d.series for d in out) and not binary and not consoles:
        raise SourceError(f"{folder}: SwanLab run folder without metrics, binary log or console")
    return out


def _binary(path: Path, src: SourceData, scalars: dict) -> None:
    data = read_binary(path)
    size = len(data)
    version = leveldb_log.header_ok(data, IDENT, MAGIC)
    if version != VERSION:
        what = "not a SwanLab record log" if version is None else f"SwanLab record log version {version}"
        src.warnings.append(f"{path.name}: {what} (read: version {VERSION}); skipped")
        return
    log = leveldb_log.read_log(data)
    del data
    src.warnings += leveldb_log.describe_damage(path.name, log, size)
    state = None
    bad = 0
    for n, rec in enumerate(log.records, 1):
        try:
            for num, wire, a, b in protowire.fields(rec, 0, len(rec)):
                if wire != 2:
                    continue
                if num == R_SCALAR:
                    _scalar(rec, a, b, n, scalars)
                elif num == R_START:
                    for fn, fw, x, y in protowire.fields(rec, a, b):
                        if fw == 2 and fn in (1, 4, 10):
                            set_fact(src.facts, {1: "swanlab_project", 4: "run_name", 10: "swanlab_run_id"}[fn],
                                     protowire.text(rec, x, y))
                elif num == R_FINISH:
                    state = 0
                    for fn, fw, x, _ in protowire.fields(rec, a, b):
                        if fn == 1 and fw == 0:
                            state = x
        except (protowire.Malformed, IndexError, struct.error):
            bad += 1
    if bad:
        src.warnings.append(f"{path.name}: {bad} record(s) that check but do not decode were skipped")
    src.facts["run_state"] = STATES.get(state, "running") if state is not None else "running"


def _scalar(rec: bytes, a: int, b: int, n: int, scalars: dict) -> None:
    key, step, value = None, 0, None
    for fn, fw, x, y in protowire.fields(rec, a, b):
        if fn == 1 and fw == 2:
            key = protowire.text(rec, x, y)
        elif fn == 2 and fw == 0:
            step = protowire.signed(x)
        elif fn == 5 and fw == 2:
            value = 0.0  # proto3: a number of 0.0 is not written
            for vn, vw, p, _ in protowire.fields(rec, x, y):
                if vn == 1 and vw == 1:
                    value = protowire.double(rec, p)
    if key is not None and value is not None:
        col = scalars.setdefault(key, ([], [], []))
        col[0].append(step)
        col[1].append(value)
        col[2].append(n)


def _text_logs(base: Path, src: SourceData, scalars: dict) -> None:
    """`logs/<metric>/<n>.log|json` JSON lines of the versions that named the folder by the metric."""
    if not base.is_dir():
        return
    numbered = []
    for col in sorted(p for p in base.iterdir() if p.is_dir()):
        if col.name.isdigit():
            numbered.append(col.name)
            continue
        for part in sorted(col.glob("*.log")) + sorted(col.glob("*.json")):
            if part.name.startswith("_"):
                continue
            _json_lines(part, col.name.replace("%2F", "/"), src, scalars)
    if numbered:
        src.warnings.append(f"logs/: {len(numbered)} metric folder(s) named by column number only "
                            f"({', '.join(numbered[:5])}); their metric names are not on disk without the binary "
                            "log, so they were left out")


def _json_lines(path: Path, key: str, src: SourceData, scalars: dict) -> None:
    try:
        lines = read_bytes(path).split(b"\n")
    except SourceError:
        return
    bad = first = media = 0
    col = scalars.setdefault(key, ([], [], []))
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            rows = _complete_items(line)  # a cut 0.1-0.2 document: the rows written whole before the cut
            if rows is None:
                bad += 1
                first = first or n
                continue
            src.warnings.append(f"logs/{key}/{path.name}: cut or damaged; kept the {len(rows)} complete row(s)")
            row = {"data": rows}
        # swanlab 0.1-0.2: the whole file is one document whose "data" is the list of rows
        rows = row["data"] if isinstance(row, dict) and isinstance(row.get("data"), list) else [row]
        for item in rows:
            try:
                step, value = item["index"], item["data"]
                if isinstance(value, (str, list, dict)):  # an image, audio or text column: no metric
                    media += 1
                    continue
                value = float(value)
            except (ValueError, KeyError, TypeError):
                bad += 1
                first = first or n
                continue
            col[0].append(step)
            col[1].append(value)
            col[2].append(n)
    if media and not col[0]:
        del scalars[key]
    if bad:
        src.warnings.append(f"logs/{key}/{path.name}: skipped {bad} malformed line(s), first at line {first}")


# one whole row of a swanlab 0.1-0.2 document: its closing brace proves the value before it is complete
_ITEM = re.compile(rb'\{"index":\s*(-?\d+)\s*,\s*"data":\s*(-?[0-9.eE+-]+|NaN|-?Infinity)\s*,[^{}]*\}')


def _complete_items(line: bytes) -> list[dict] | None:
    """The complete rows of a damaged `{"create_time": ..., "data": [{...}, ...` document, or None if it is
    not one."""
    if not line.lstrip().startswith(b'{"create_time"') or b'"data":[' not in line.replace(b" ", b""):
        return None
    return [{"index": int(m.group(1)), "data": float(m.group(2))} for m in _ITEM.finditer(line)]


SOURCE = Source(
    name="swanlab",
    title="SwanLab run folders (swanlog/run-*/: the binary run-*.swanlab, logs/, console/, files/config.yaml)",
    read=read,
    priority=11,
    folder=is_run_folder,
    anchor=True,
    examples=("swanlog/run-20250606_205134-a3b1799d/",),
)
