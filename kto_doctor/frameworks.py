"""What a framework's logged numbers mean, stated as configuration facts that rules read.

Rules know nothing of frameworks: they read `config.kl_window`, `config.kl_reduction` and
`config.logits_reduction`. This module is where "LLaMA-Factory sums the KTO `kl` over the micro-batches of a
logging window" and "TRL's KTO `logits/*` became a per-token mean in 1.9" live, keyed by the framework and
versions the sources stated (never by guessing from metric values). Sources: `../shared/knowledge/
metrics-and-losses.md` §1.1–1.2 (LLaMA-Factory `train/kto/trainer.py`, TRL `kto_trainer.py`, PR #6424).

Facts set here are never stronger than what a user states: a `--set` value or a config file's value wins.
"""
from __future__ import annotations

import math
import re
from typing import Any

TRL_KTO_LOGITS_MEAN_FROM = (1, 9)  # TRL PR #6424: per-token mean from v1.9.0 (sum over L x V before)
TRL_KTO_LOGITS_SUM_FROM = (0, 10)  # TRL PR #1840: the per-sequence sum starts in v0.10
LLAMAFACTORY_KL_SUM_FROM = (0, 9, 1)  # LLaMA-Factory's own KTO `log`: sums kl over stored micro-batches


def version_tuple(text) -> tuple[int, ...] | None:
    """'0.9.1.dev0' → (0, 9, 1); None when no version number is in the text."""
    if text is None:
        return None
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split(".")[:4])


def facts(framework: str, method: str, config: dict[str, Any]) -> dict[str, Any]:
    """Configuration facts implied by the framework, its version and the run's configuration."""
    out: dict[str, Any] = {}
    if method == "kto":
        out.update(_kto(framework, config))
    return out


def _kto(framework: str, config: dict) -> dict:
    out: dict[str, Any] = {}
    trl = version_tuple(config.get("trl_version"))
    lf = version_tuple(config.get("llamafactory_version"))
    if framework == "llamafactory":
        if lf is None or lf >= LLAMAFACTORY_KL_SUM_FROM:
            out["kl_reduction"] = "window_sum"
            ga, ls = config.get("gradient_accumulation_steps"), config.get("logging_steps")
            if _positive(ga) and _positive(ls):
                out["kl_window"] = int(ga * ls)
            out["logits_reduction"] = "sum"
        else:
            out["kl_reduction"] = "mean"
    elif framework == "trl":
        out["kl_reduction"] = "mean"
        if trl is not None:
            if trl >= TRL_KTO_LOGITS_MEAN_FROM:
                out["logits_reduction"] = "mean"
            elif trl >= TRL_KTO_LOGITS_SUM_FROM:
                out["logits_reduction"] = "sum"
            else:
                out["logits_reduction"] = "mean"
    return out


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0
