#!/usr/bin/env python3
"""`kto-doctor analyze` of a 100k-row trainer_state.json against the bare pandas baseline.

The baseline is what anyone would type to look at the same file:
    python -c "import json, pandas; pandas.DataFrame(json.load(open(f))['log_history'])"
Both are timed as whole processes (interpreter start-up included), side by side, best of N runs.
Goal (issue "kto-doctor analyze"): analyze <= 2x the baseline.

    python benchmarks/bench_analyze.py [--rows 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def make_state(path: str, rows: int) -> None:
    """A KTO-shaped log_history: every metric a real LLaMA-Factory KTO run logs, evals every 500 steps."""
    rng = random.Random(0)
    hist = []
    for s in range(1, rows + 1):
        lr = 5e-6 * min(1.0, s / (0.1 * rows)) * (0.5 + 0.5 * math.cos(math.pi * s / rows))
        hist.append({
            "epoch": s / rows, "grad_norm": 1.0 + rng.random(), "kl": 0.0, "learning_rate": lr,
            "logits/chosen": -1.5e8 * (1 + 0.02 * rng.random()), "logits/rejected": -1.6e8,
            "logps/chosen": -90 + rng.random(), "logps/rejected": -120 - rng.random(),
            "loss": round(0.5 - 0.2 * s / rows + 0.01 * rng.random(), 4),
            "rewards/chosen": 0.5 * s / rows, "rewards/margins": 1.2 * s / rows,
            "rewards/rejected": -0.7 * s / rows, "step": s,
        })
        if s % 500 == 0:
            hist.append({"epoch": s / rows, "eval_loss": 0.45, "eval_runtime": 3.1, "kl": 0.0, "step": s})
    with open(path, "w") as f:
        json.dump({"global_step": rows, "max_steps": rows, "logging_steps": 1, "log_history": hist}, f)


def best_time(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kto-doctor-bench-")
    try:
        path = os.path.join(tmp, "trainer_state.json")
        make_state(path, args.rows)
        size = os.path.getsize(path) / 1e6
        baseline = [sys.executable, "-c",
                    f"import json, pandas; pandas.DataFrame(json.load(open({path!r}))['log_history'])"]
        exe = shutil.which("kto-doctor")
        ours = [exe] if exe else [sys.executable, "-m", "kto_doctor"]
        ours += ["analyze", path, "--format", "json", "--fail-on", "never"]
        check = subprocess.run(ours, capture_output=True, text=True)
        if check.returncode != 0:
            print(check.stderr, file=sys.stderr)
            return 2
        t_base = best_time(baseline, args.repeat)
        t_ours = best_time(ours, args.repeat)
        print(f"trainer_state.json: {args.rows:,} log rows, {size:.1f} MB (best of {args.repeat}, whole process)")
        print(f"  json.load + pandas.DataFrame : {t_base:6.2f} s")
        print(f"  kto-doctor analyze --format json : {t_ours:6.2f} s")
        print(f"  ratio                        : {t_ours / t_base:6.2f}x  (goal <= 2x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
