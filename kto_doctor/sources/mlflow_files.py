"""MLflow's file store (`./mlruns`, `file:` tracking URIs): each `mlruns/<experiment>/<run id>/` is a run.

A folder source. What a run folder holds (mlflow `store/tracking/file_store.py`):
- `metrics/<key>`: one line per logged value, appended, `<timestamp ms> <value> <step>` (very old files:
  two fields, step 0; newer: five, with a dataset name and digest). Values are Python's `str(float)`, so
  `nan`, `inf`, `-inf` are logged values. A `/` in a key is a subfolder (`metrics/rewards/chosen`). A step
  logged twice (a resumed run logging again) keeps every line; the later line wins, and a key whose steps
  go back (a resume from an earlier checkpoint) drops the abandoned values from that step on.
- `params/<key>` and `tags/<key>`: the value as text. Params are the configuration (the HF callback logs
  TrainingArguments and the model config; values are text, typed by `config.normalize`).
- `meta.yaml`: `status` as an int (1 RUNNING, 2 SCHEDULED, 3 FINISHED, 4 FAILED, 5 KILLED; a run that
  crashed never left RUNNING), `run_name` (older files: only `tags/mlflow.runName`), `lifecycle_stage`.
The run's state, name and the versions the tags state become facts; metric names go through the ontology
(the HF MLflowCallback logs HF's names: `loss`, `eval_loss`, `grad_norm`, ...).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import Columns, MetricNames, Series, SourceData, SourceError, adopt_summary_loss, read_bytes, to_float
from .registry import Source
from .store_util import framework_hint, numeric_lines, numeric_table, side_file

STATUS = {1: "running", 2: "scheduled", 3: "finished", 4: "failed", 5: "killed"}
MAX_KEYS = 5000  # metric and param files read from one run
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def is_run_folder(d: Path) -> bool:
    return bool(_RUN_ID.match(d.name)) and (d / "meta.yaml").is_file() and \
        ((d / "metrics").is_dir() or (d / "params").is_dir())


def read(folder: Path) -> SourceData:
    folder = Path(folder)
    if not (folder / "meta.yaml").is_file():
        raise SourceError(f"{folder}: not an MLflow run folder (no meta.yaml)")
    src = SourceData(path=folder, format="mlflow")
    meta, why = side_file(folder / "meta.yaml")
    if why:
        src.warnings.append(f"meta.yaml: not read ({why})")
    src.facts.update(run_facts(meta if isinstance(meta, dict) else {}, _texts(folder / "tags", src)))
    src.config.update(_texts(folder / "params", src))
    framework_hint(src)
    names = MetricNames()
    restarts = []
    summary = None
    for key, path in _files(folder / "metrics", src):
        name = names[key, False]
        if name is None:
            if names.summary_loss(key):
                summary = (key, path)
            continue
        got = _metric(path, key, src)
        if got is None:
            continue
        series, went_back = metric_series(*got)
        if went_back:
            restarts.append(key)
        if series is not None:
            src.series[name] = series
            src.records += len(got[0])
    if summary is not None and "loss" not in src.series:
        got = _metric(summary[1], summary[0], src)
        if got is not None:
            adopt_summary_loss(src, summary[0], metric_series(*got)[0])
            src.records += len(got[0]) if "loss" in src.series else 0
    if restarts:
        src.warnings.append(f"{folder.name}: the steps of {', '.join(restarts[:5])} go back (a resumed run "
                            "logging again); the later values win from the step where they restart")
    if not src.series:
        raise SourceError(f"{folder}: MLflow run without metric values")
    return src


def run_facts(meta: dict, tags: dict) -> dict:
    """Facts of one run from its meta.yaml (or runs row) and tags: state, name, versions."""
    facts = {}
    status = meta.get("status")
    if isinstance(status, int):
        status = STATUS.get(status, str(status))
    if isinstance(status, str) and status:
        facts["run_state"] = status.lower()
    name = meta.get("run_name") or meta.get("name") or tags.get("mlflow.runName")
    if name:
        facts["run_name"] = str(name)
    if meta.get("lifecycle_stage") == "deleted":
        facts["run_deleted"] = True
    return facts


def metric_series(steps: np.ndarray, values: np.ndarray, order: np.ndarray) -> tuple[Series | None, bool]:
    """One MLflow metric's values in logging order → (one value per step, whether its steps went back).

    The later value wins at a step logged twice; where the steps restart lower (a resumed run logging
    again), the values logged before the restart are dropped from the restart's step on."""
    cols = Columns()
    cols.set_steps(steps, order)
    return cols.finish(steps, values, order), bool(len(steps) > 1 and (np.diff(steps) < 0).any())


def _files(base: Path, src: SourceData) -> list[tuple[str, Path]]:
    """(key, file) of every file under metrics/ or params/ (a `/` in a key is a subfolder)."""
    if not base.is_dir():
        return []
    out = []
    for p in sorted(base.rglob("*")):
        if len(out) >= MAX_KEYS:
            src.warnings.append(f"{base.name}/: more than {MAX_KEYS} files; read the first {MAX_KEYS}")
            break
        if p.is_file() and not p.is_symlink():
            out.append((p.relative_to(base).as_posix(), p))
    return out


def _texts(base: Path, src: SourceData) -> dict[str, str]:
    out = {}
    for key, p in _files(base, src):
        try:
            out[key] = read_bytes(p).decode("utf-8", "replace").strip()
        except SourceError:
            out[key] = ""
    return out


def _metric(path: Path, key: str, src: SourceData):
    """(steps, values, line numbers) of one metric file; malformed lines are skipped and counted."""
    try:
        data = read_bytes(path)
    except SourceError as exc:
        src.warnings.append(f"metrics/{key}: skipped ({str(exc).split(': ', 1)[-1]})")
        return None
    table = numeric_table(data, 3, " ")  # every line `ts value step`: converted at once
    if table is not None:
        return table[:, 2].copy(), table[:, 1].copy(), np.arange(1, len(table) + 1, dtype=np.int64)
    # Two fields (`ts value`, step 0) is the oldest MLflow's line; in a file of 3- or 5-field lines it is a
    # line cut short, not a value at step 0.
    widths = (2, 3, 5) if all(len(ln.split()) <= 2 for ln in data.split(b"\n", 50)[:50]) else (3, 5)

    def parse(line: bytes):
        parts = line.split()
        if len(parts) not in widths:
            return None
        value = to_float(parts[1].decode("ascii", "replace"))
        step = to_float(parts[2].decode("ascii", "replace")) if len(parts) >= 3 else 0.0
        return None if value is None or step is None else (step, value)

    steps, values, nums, bad, first_bad = numeric_lines(data, parse)
    if bad:
        src.warnings.append(f"metrics/{key}: skipped {bad} malformed line(s), first at line {first_bad}")
    return (steps, values, nums) if len(steps) else None


SOURCE = Source(
    name="mlflow",
    title="MLflow file store run folders (mlruns/<experiment>/<run id>/: metrics/, params/, meta.yaml)",
    read=read,
    priority=13,
    folder=is_run_folder,
    anchor=True,
    examples=("mlruns/0/<run id>/metrics/loss",),
)
