#!/usr/bin/env python3
"""`kto-doctor watch` on a 1M-row run that grows by 100 rows per poll: time per poll.

A LLaMA-Factory-shaped `trainer_log.jsonl` of `--rows` rows is written, the watch's follower and monitor
read it once (the start-up cost), then `--polls` times 100 rows are appended and one poll is timed: read
what was appended, evaluate the rules, hand out new findings. Full evaluations happen every 5% of growth
(so about one per 500 polls at 1M rows), window evaluations in between; the table gives both and the
amortised mean. The common alternative, in the same run: a full `analyze` of the files at each poll
(`--baseline-polls` of them timed).

    python benchmarks/bench_watch.py [--rows 1000000] [--polls 600] [--per-poll 100]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def rows(start: int, n: int, total: int, rng: random.Random):
    for s in range(start, start + n):
        lr = 2e-4 * min(1.0, s / 500) * (0.5 + 0.5 * math.cos(math.pi * s / total))
        yield json.dumps({"current_steps": s, "total_steps": total, "loss": round(2.0 * math.exp(-s / total) + 0.3
                                                                                + 0.05 * rng.random(), 4),
                          "lr": lr, "epoch": round(3 * s / total, 4), "percentage": round(100 * s / total, 2),
                          "elapsed_time": "0:00:00", "remaining_time": "0:00:00"}) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--polls", type=int, default=600)
    ap.add_argument("--per-poll", type=int, default=100)
    ap.add_argument("--baseline-polls", type=int, default=3)
    args = ap.parse_args()

    from kto_doctor.analysis import analyze, load_rules
    from kto_doctor.live.follow import Follower
    from kto_doctor.live.monitor import Monitor

    total = args.rows + args.polls * args.per_poll
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="kto-doctor-watch-") as tmp:
        log = os.path.join(tmp, "trainer_log.jsonl")
        with open(log, "w") as f:
            f.writelines(rows(1, args.rows, total, rng))
        size = os.path.getsize(log)
        follower, monitor = Follower(tmp), Monitor(tmp, load_rules())
        t0, c0 = time.perf_counter(), time.process_time()
        follower.poll()
        monitor.sources = follower.sources()
        monitor.poll()
        start, start_cpu = time.perf_counter() - t0, time.process_time() - c0
        times, full, window = [], [], []  # (wall, cpu) per poll
        next_step = args.rows + 1
        for _ in range(args.polls):
            with open(log, "a") as f:
                f.writelines(rows(next_step, args.per_poll, total, rng))
            next_step += args.per_poll
            t0, c0 = time.perf_counter(), time.process_time()
            follower.poll()
            monitor.sources = follower.sources()
            p = monitor.poll()
            dt = (time.perf_counter() - t0, time.process_time() - c0)
            times.append(dt)
            (full if p.full else window).append(dt)
        base = []
        for _ in range(args.baseline_polls):
            t0, c0 = time.perf_counter(), time.process_time()
            analyze(tmp)
            base.append((time.perf_counter() - t0, time.process_time() - c0))

    def ms(x):
        return f"{1000 * x:,.0f} ms"

    def row(name, xs):
        w = [x[0] for x in xs]
        c = [x[1] for x in xs]
        return (f"| {name} | {len(xs)} | {ms(statistics.median(c))} | {ms(statistics.fmean(c))} | {ms(max(c))} | "
                f"{ms(statistics.median(w))} | {ms(statistics.fmean(w))} |")

    load = os.getloadavg()
    print(f"run: {args.rows:,} rows ({size / 1e6:.0f} MB trainer_log.jsonl), +{args.per_poll} rows x {args.polls} polls;"
          f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"first poll (reads the existing {args.rows:,} rows, full evaluation): {start_cpu:.2f} s CPU, {start:.2f} s wall")
    print("| per poll | polls | CPU median | CPU mean | CPU max | wall median | wall mean |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, xs in (("window evaluation", window), ("full evaluation (every 5% of growth)", full),
                     ("all polls (amortised)", times)):
        if xs:
            print(row(name, xs))
    print(row("alternative: full `analyze` of the files at each poll", base))
    cpu_mean = statistics.fmean(x[1] for x in times)
    print(f"mean poll: {statistics.fmean(x[1] for x in base) / cpu_mean:.0f}x less CPU than a full analysis per poll")
    return 0


if __name__ == "__main__":
    sys.exit(main())
