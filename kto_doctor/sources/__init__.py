"""Readers: one module per log format, each exposing `read(path: Path) -> SourceData`.

`detect(path)` names the format of a file from its name (and, for ambiguous names, its first bytes);
`reader(fmt)` imports the reader module lazily, so `kto-doctor --help` never imports numpy or pandas.
A new format is one new module plus one entry in `_READERS` and a clause in `detect`.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .base import SourceData, SourceError  # noqa: F401  (re-exported)

# format -> module (relative to this package) exposing read(path) -> SourceData
_READERS = {
    "trainer_state": "trainer_state",
    "trainer_log": "trainer_log",
    "console": "console",
    "tensorboard": "tensorboard",
    "config": "config_file",
    "results": "results",
}

CONSOLE_SUFFIXES = (".log", ".txt", ".out", ".err", ".stdout", ".stderr")
CONFIG_SUFFIXES = (".yaml", ".yml")
# JSON files that hold configuration rather than metrics.
CONFIG_JSON_NAMES = ("training_args.json", "config.json", "adapter_config.json", "generation_config.json")
RESULT_JSON_NAMES = ("all_results.json", "train_results.json", "eval_results.json")
# Files and folders never worth reading.
SKIP_DIRS = {".git", "__pycache__", "node_modules", ".ipynb_checkpoints", "wandb"}
SKIP_NAMES = {"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "vocab.json",
              "dataset_info.json", "llamaboard_config.yaml", "preprocessor_config.json"}


def detect(path: Path) -> str | None:
    """The format of one file, or None when kto-doctor has no reader for it."""
    name = path.name
    low = name.lower()
    if name in SKIP_NAMES:
        return None
    if "tfevents" in low:
        return "tensorboard"
    if low == "trainer_log.jsonl" or (low.endswith(".jsonl") and "trainer_log" in low):
        return "trainer_log"
    if low.endswith(".json"):
        if low == "trainer_state.json" or "trainer_state" in low:
            return "trainer_state"
        if low in RESULT_JSON_NAMES or low.endswith("_results.json"):
            return "results"
        if low in CONFIG_JSON_NAMES or "training_args" in low or low.endswith("_config.json"):
            return "config"
        return _sniff_json(path)
    if low.endswith(CONFIG_SUFFIXES):
        return "config"
    if low.endswith(CONSOLE_SUFFIXES):
        return "console"
    return None


def _sniff_json(path: Path) -> str | None:
    """A .json of another name: a trainer_state if it has log_history (corpus files are renamed copies)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if b'"log_history"' in head or b'"global_step"' in head:
        return "trainer_state"
    if b'"learning_rate"' in head or b'"per_device_train_batch_size"' in head:
        return "config"
    return None


def reader(fmt: str):
    """The `read` function for a format, imported on first use."""
    mod = importlib.import_module(f".{_READERS[fmt]}", __name__)
    return mod.read


def read(path: Path, fmt: str | None = None) -> SourceData:
    fmt = fmt or detect(path)
    if fmt is None:
        raise SourceError(f"{path}: not a log format kto-doctor reads")
    return reader(fmt)(path)
