"""What every reader returns: one `SourceData` per file, in canonical metric names.

Readers know nothing of rules. Each reader turns one file into series of (step, value) pairs,
plus whatever configuration and run facts the file states, plus warnings about damage.
`kto_doctor.run.assemble` merges several `SourceData` into one `Run`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


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

    @property
    def metric_names(self) -> list[str]:
        return list(self.series)


def build_series(rows: dict[str, list[tuple[float, float, int]]]) -> dict[str, Series]:
    """Turn {metric: [(step, value, line), ...]} into {metric: Series} with numpy arrays."""
    out: dict[str, Series] = {}
    for name, triples in rows.items():
        if not triples:
            continue
        arr = np.asarray(triples, dtype=np.float64)
        out[name] = Series(steps=arr[:, 0], values=arr[:, 1], lines=arr[:, 2].astype(np.int64))
    return out
