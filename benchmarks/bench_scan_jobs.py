#!/usr/bin/env python3
"""`kto-doctor scan` worker counts side by side: `-j 1`, `-j 2` and the default (cores the load average says
are free), whole processes, interleaved rounds, median of N. With `--busy K`, K busy-loop processes take
K cores first (and the script waits for the 1-minute load average to see them, as a real neighbour would
have been seen). Prints the load average at each round: the default's choice depends on it.

    python benchmarks/bench_scan_jobs.py [--runs 24] [--rows 3000] [--repeat 5] [--busy 1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ci_runs import rows, write_state  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--busy", type=int, default=0, help="busy-loop processes to start first")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds to let the load average see them")
    a = ap.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        if hogs:
            time.sleep(a.settle)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(a.runs):
                write_state(Path(tmp) / f"run{i:03d}", rows(a.rows, nan_at=(a.rows // 2,) if i % 3 == 0 else ()))
            variants = {"-j 1": ["-j", "1"], "-j 2": ["-j", "2"], "default": []}
            times: dict[str, list[float]] = {k: [] for k in variants}
            for r in range(a.repeat):
                load = os.getloadavg()[0]
                for name, extra in variants.items():
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "kto_doctor", "scan", tmp, "-q", *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                    times[name].append(time.perf_counter() - t0)
                print(f"round {r + 1}: load {load:.2f}  " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    finally:
        for h in hogs:
            h.kill()
    base = statistics.median(times["-j 1"])
    print(f"\n{a.runs} runs x {a.rows} rows, {os.cpu_count()} cores, {a.busy} busy-loop process(es); median of "
          f"{a.repeat}:")
    for name, v in times.items():
        m = statistics.median(v)
        print(f"  {name:<8} {m:6.2f} s   {m / base:.2f}x of -j 1")


if __name__ == "__main__":
    main()
