"""HF `save_metrics` files: `all_results.json`, `train_results.json`, `eval_results.json`.

They hold end-of-run numbers only, so everything goes to facts: `train_loss`, `epoch`, the final eval
metrics as `final_eval_*`, and the eval metrics together as the `eval_results` dict.
"""
from __future__ import annotations

import json
from pathlib import Path

from .base import SourceData, SourceError, read_bytes, sane_fact, to_float
from .registry import Source


def read(path: Path) -> SourceData:
    text = read_bytes(path).decode("utf-8", errors="replace")
    try:
        raw = json.loads(text)
    except RecursionError:
        raise SourceError(f"{path}: JSON nested too deep to read") from None
    except ValueError as exc:
        raise SourceError(f"{path}: invalid JSON at line {getattr(exc, 'lineno', '?')}") from None
    if not isinstance(raw, dict) or not raw:
        raise SourceError(f"{path}: not a results file (expected a JSON object of metrics)")
    src = SourceData(path=path, format="results", records=len(raw))
    evals = {}
    for key, value in raw.items():
        num = to_float(value)
        if num is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            num = sane_fact(value)
            if num is None:
                continue
        if key.startswith("eval_"):
            evals[key] = num
            src.facts["final_" + key] = num
        elif key.startswith(("train_", "predict_", "test_")) or key in ("epoch", "total_flos", "num_input_tokens_seen"):
            src.facts[key] = num
    if evals:
        src.facts["eval_results"] = evals
    if not src.facts:
        raise SourceError(f"{path}: no numeric results")
    return src


# ------------------------------------------------------------------------------------------ the plugin

SOURCE = Source(
    name="results",
    title="Hugging Face save_metrics summaries: all_results.json, train_results.json, eval_results.json",
    read=read,
    priority=80,
    names=("all_results.json", "train_results.json", "eval_results.json", "*_results.json"),
    kind="summary",
    examples=("<output_dir>/all_results.json",),
)
