"""Small runs on disk for the CI-gate tests (formats, baseline, scan)."""
from __future__ import annotations

import json
from pathlib import Path


def rows(n=40, nan_at=(), lr=1e-5, zero_grad_from=None):
    """log_history rows of a plain SFT run; `nan_at` steps log a NaN loss and grad_norm (two steps in a row make a
    failed run: one isolated NaN that the run recovers from is only a warning, NUM101)."""
    out = []
    for s in range(1, n + 1):
        bad = s in nan_at
        gn = 0.0 if zero_grad_from is not None and s >= zero_grad_from else 1.0
        out.append({"step": s, "epoch": s / n, "loss": float("nan") if bad else 2.0 - s / (2 * n),
                    "grad_norm": float("nan") if bad else gn, "learning_rate": lr})
    return out


def write_state(path: Path, log_rows, **extra) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {"global_step": log_rows[-1]["step"] if log_rows else 0, "max_steps": len(log_rows),
             "log_history": log_rows, **extra}
    (path / "trainer_state.json").write_text(json.dumps(state, indent=2))  # NaN as HF writes it
    return path
