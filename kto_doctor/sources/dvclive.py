"""DVCLive run folders (`Live(dir="dvclive")`, HF `DVCLiveCallback`, Lightning/Keras/Fabric loggers).

A folder source: the folder holding `plots/metrics/` (dvclive 2-3: `metrics.json`, `params.yaml`,
`plots/metrics/<name>.tsv`) or the legacy `scalars/` (dvclive 1.x, in a folder named `dvclive`) is one run.
Each metric is one TSV, `[timestamp]\\tstep\\t<last part of the name>`: the value column holds only the last
part of the metric's name, so the full name comes from the file's path under `plots/metrics/`
(`plots/metrics/eval/loss.tsv` is `eval/loss`). Values are `str(float)` (`nan`, `inf`); lines end in
`os.linesep`. `params.yaml` is the configuration; `metrics.json` (the last value of each metric) is not
needed when the TSVs are there.

Steps: `step` is DVCLive's own counter (`Live.next_step()`), not the trainer's global step. The HF callback
logs every `on_log` call and then steps, so training logs and evaluation logs interleave (steps 0, 1, 3, 4,
6... of `loss.tsv`, 2, 5... of `eval/loss.tsv`) and spells HF's `eval_loss` as `eval/loss` and the
end-of-run `train_loss` as `train/loss`. That layout (recognised by HF's `epoch`, `*/runtime` or
`*/samples_per_second` series, or TrainingArguments in params.yaml) is read back into HF's names
(`train/loss` → `train_loss`, the summary; `eval/loss` → `eval_loss`), and its steps are read as the k-th
training log (an evaluation belongs to the training log before it), which the merger places at
k x logging_steps as it does for console logs. Other layouts keep DVCLive's steps, with a note.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ontology import SUMMARY_KEYS
from .base import Columns, MetricNames, SourceData, SourceError, read_bytes, to_float
from .registry import Source
from .store_util import numeric_lines, numeric_table, side_file

MAX_TSV = 5000  # metric files read from one folder
_HF_SUMMARY_PARTS = ("runtime", "samples_per_second", "steps_per_second", "total_flos")
_HF_ARGS = ("per_device_train_batch_size", "logging_steps", "output_dir", "logging_dir")


def is_run_folder(d: Path) -> bool:
    if (d / "plots" / "metrics").is_dir():
        return (d / "metrics.json").is_file() or (d / "params.yaml").is_file() or \
            any((d / "plots" / "metrics").glob("*.tsv")) or any((d / "plots" / "metrics").glob("*/*.tsv"))
    return d.name.lower() == "dvclive" and (d / "scalars").is_dir()


def read(folder: Path) -> SourceData:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a DVCLive folder")
    base = folder / "plots" / "metrics"
    if not base.is_dir():
        base = folder / "scalars"
    files = sorted(p for p in base.rglob("*.tsv") if p.is_file())[:MAX_TSV]
    src = SourceData(path=folder, format="dvclive")
    params, why = side_file(folder / "params.yaml")
    if isinstance(params, dict):
        src.config.update({k: v for k, v in params.items() if isinstance(k, str)})
    elif why and (folder / "params.yaml").exists():
        src.warnings.append(f"params.yaml: not read ({why})")
    raw: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for p in files:
        name = p.relative_to(base).with_suffix("").as_posix()
        got = _tsv(p, src)
        if got is not None:
            raw[name] = got
    if not raw:
        raise SourceError(f"{folder}: DVCLive folder without metric files (plots/metrics/*.tsv)")
    summary, _ = side_file(folder / "metrics.json")
    hf = _is_hf(set(raw) | _flat_keys(summary), src.config)
    names = MetricNames()
    train = raw.get("loss") if hf else None
    for key, (steps, values, lines) in raw.items():
        logged = _hf_name(key) if hf else key
        if logged in SUMMARY_KEYS:  # HF's end-of-run numbers (train_loss, train_runtime...)
            src.facts[logged] = float(values[-1])
        name = names[logged, False]
        if name is None:
            continue
        if train is not None:  # the k-th training log: evaluations belong to the training log before them
            steps = np.searchsorted(train[0], steps, side="right").astype(np.float64)
        src.series[name] = Columns().finish(steps, values, lines)  # one value per step, the last
        src.records += len(values)
    if hf:
        src.hints["framework"] = "transformers"
    if train is not None:
        src.step_kind = "ordinal"
    else:
        src.warnings.append(f"{folder.name}: steps are DVCLive's own counter (one per next_step()), "
                            "not the trainer's global step")
    return src


def _tsv(path: Path, src: SourceData):
    """(steps, values, line numbers) of one metric file; damage is counted on `src`."""
    try:
        data = read_bytes(path)
    except SourceError as exc:
        src.warnings.append(f"{path.name}: skipped ({str(exc).split(': ', 1)[-1]})")
        return None
    end = data.find(b"\n")
    header = (data[:end] if end >= 0 else data).rstrip(b"\r").split(b"\t")
    if b"step" not in header or len(header) < 2:
        src.warnings.append(f"{path.name}: skipped (no step column)")
        return None
    si, vi = header.index(b"step"), len(header) - 1
    if vi == si:
        vi = si - 1
    width = len(header)
    body = data[end + 1:] if end >= 0 else b""
    del data
    if b"\r" in body:
        body = body.replace(b"\r", b"")
    table = numeric_table(body, width, "\t")
    if table is not None:
        return table[:, si].copy(), table[:, vi].copy(), np.arange(2, len(table) + 2, dtype=np.int64)

    def parse(ln: bytes):
        cells = ln.rstrip(b"\r").split(b"\t")
        if len(cells) != width:
            return None
        s, v = to_float(cells[si].decode("ascii", "replace")), to_float(cells[vi].decode("ascii", "replace"))
        return None if s is None or v is None else (s, v)

    steps, values, nums, bad, first_bad = numeric_lines(body, parse, first_line=2)
    if bad:
        src.warnings.append(f"{path.parent.name}/{path.name}: skipped {bad} malformed line(s), first at line {first_bad}")
    return (steps, values, nums) if len(steps) else None


def _is_hf(names: set, params: dict) -> bool:
    """The HF Trainer callback's layout: its summary parts or its epoch series, or TrainingArguments."""
    if any(k.split("/", 1)[-1] in _HF_SUMMARY_PARTS for k in names if k.startswith(("train/", "eval/"))):
        return True
    if "epoch" in names and "loss" in names:
        return True
    return sum(k in params for k in _HF_ARGS) >= 2


def _flat_keys(summary, prefix: str = "") -> set[str]:
    """metrics.json's nested keys as the metric names they were (`{"eval": {"loss": ..}}` → `eval/loss`)."""
    if not isinstance(summary, dict):
        return set()
    out: set[str] = set()
    for k, v in summary.items():
        out |= _flat_keys(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def _hf_name(key: str) -> str:
    """Back to HF's spelling: DVCLive turned `eval_loss` into `eval/loss` and `train_loss` into `train/loss`."""
    for prefix in ("train/", "eval/", "test/"):
        if key.startswith(prefix):
            return prefix[:-1] + "_" + key[len(prefix):]
    return key


SOURCE = Source(
    name="dvclive",
    title="DVCLive folders (dvclive/: plots/metrics/**/*.tsv, params.yaml; HF DVCLiveCallback, Lightning, Keras)",
    read=read,
    priority=14,
    folder=is_run_folder,
    anchor=True,
    examples=("dvclive/plots/metrics/loss.tsv", "dvclive/plots/metrics/eval/loss.tsv"),
)
