"""Warnings a trainer prints to the console, stated as facts of the run (what they mean is the rules' business).

TRL's PPOTrainer (`trl/trainer/ppo_trainer.py`, TRL 0.4 to 0.11) warns, through Python's `warnings` module:

```
UserWarning: KL divergence is starting to become negative: -5.27 - this might be a precursor for failed training. ...
UserWarning: The average ratio of batch (13.70) exceeds threshold 10.00. Skipping batch.
```

The first is printed when the step's mean `objective/kl` is below 0 (huggingface/trl#239), the second when a
PPO mini-batch's mean probability ratio exceeds `ratio_threshold` and the batch is skipped (trl#488). Python
prints a warning once per distinct message, so each distinct value appears once: the counts below are of
distinct values printed, a lower bound on the steps concerned. Pastes in issues often hold only these lines
(LlamaFactory#664, trl#1857): the console reader then returns these facts and no series.

Facts: `kl_negative_warnings` (how many), `kl_negative_min` (most negative), `kl_negative_first`;
`ratio_skipped_batches`, `ratio_skip_max`, `ratio_threshold`. Both warnings come from TRL's PPO trainer only,
so they also hint method `ppo` and framework `trl`.
"""
from __future__ import annotations

import re

from . import lazyre
from .textlog import find_rare

_NUM = rb"(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|-?inf|nan)"
_KL_NEGATIVE = lazyre.compile(rb"KL divergence is starting to become negative: " + _NUM)
_RATIO = lazyre.compile(rb"The average ratio of batch \(" + _NUM + rb"\) exceeds threshold " + _NUM)
_KL_NEEDLE = b"KL divergence is starting to become negative"
_RATIO_NEEDLE = b"The average ratio of batch"


class TrainerWarnings:
    """Collects the warnings of a console log chunk by chunk; `state(src)` writes them as facts."""

    __slots__ = ("kl", "ratios", "threshold")

    def __init__(self) -> None:
        self.kl: list[float] = []
        self.ratios: list[float] = []
        self.threshold: float | None = None

    def __bool__(self) -> bool:
        return bool(self.kl or self.ratios)

    def scan(self, chunk: bytes) -> None:
        # by memchr on a byte seldom seen in logs (the `K`, the `v`): a plain `in` of a 16 MB chunk looks at
        # every byte, 5-7 ms a chunk here, about 1 s a GB for the two
        if find_rare(chunk, _KL_NEEDLE, 0) >= 0:
            self.kl.extend(float(m.group(1)) for m in _KL_NEGATIVE.finditer(chunk))
        if find_rare(chunk, _RATIO_NEEDLE, 5) >= 0:
            for m in _RATIO.finditer(chunk):
                self.ratios.append(float(m.group(1)))
                self.threshold = float(m.group(2))

    def describe(self) -> str:
        parts = []
        if self.kl:
            parts.append(f"{len(self.kl)} TRL negative-KL warning(s)")
        if self.ratios:
            parts.append(f"{len(self.ratios)} TRL skipped-batch (ratio above threshold) warning(s)")
        return " and ".join(parts)

    def state(self, src) -> None:
        facts = src.facts
        if self.kl:
            facts["kl_negative_warnings"] = len(self.kl)
            facts["kl_negative_min"] = min(self.kl)
            facts["kl_negative_first"] = self.kl[0]
        if self.ratios:
            facts["ratio_skipped_batches"] = len(self.ratios)
            facts["ratio_skip_max"] = max(self.ratios)
            if self.threshold is not None:
                facts["ratio_threshold"] = self.threshold
        if self:
            src.hints.setdefault("method", "ppo")
            src.hints.setdefault("framework", "trl")
