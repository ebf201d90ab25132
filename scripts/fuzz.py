#!/usr/bin/env python3
"""The long fuzz run of issue 14: 100,000+ hostile inputs, counts per family.

    python scripts/fuzz.py                       # 100,000 inputs, seed 1, 2 workers
    python scripts/fuzz.py --inputs 2000 --seed 7 --families ts_bitflip,names --json out.json

The families, the reference parsers and the checks are the CI suite's (tests/fuzz/). The CI suite sends
every input through the CLI; here a damage input whose only file is one log (trainer_state, trainer_log,
console, event file) goes through that file's reader (what `analyze` does first: hang guard, memory,
record count against the reference parser, exit-2 condition) and one in --full-every of them through the
whole CLI with every check; every other family always goes through the CLI. Slow families (scan,
48 MB lines) are capped at --slow-cap inputs. Prints one row per family and the first failures; exits 1
when any problem was found.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz.families import FAMILIES, OWNERS  # noqa: E402
from fuzz.harness import RSS_CEILING_MB, run_jobs  # noqa: E402

SLOW = {"scan_sigint", "scan_kill_worker", "scan_unreadable", "scan_names", "long_line", "special_files"}
READER_FAMILIES = {"ts_truncate", "ts_bitflip", "ts_nul", "ts_deep", "ts_bignum", "ts_empty", "tl_truncate",
                   "tl_bitflip", "tl_nul", "tl_crafted", "con_truncate", "con_bitflip", "con_nul", "tb_truncate",
                   "tb_bitflip"}
KINDS = ("hang", "internal", "crash", "rss", "exit", "lost", "extra", "injection", "leak", "silent", "fuzzer")


def plan(total: int, families: list[str], slow_cap: int) -> dict[str, int]:
    """Inputs per family: slow ones capped, CLI-only ones a tenth of a reader family's share."""
    weight = {f: (10 if f in READER_FAMILIES else 1) for f in families if f not in SLOW}
    fixed = {f: slow_cap for f in families if f in SLOW}
    left = max(total - sum(fixed.values()), 0)
    units = sum(weight.values()) or 1
    out = {f: left * w // units for f, w in weight.items()}
    out.update(fixed)
    spare = total - sum(out.values())
    for f in list(weight)[:max(spare, 0)]:
        out[f] += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full-every", type=int, default=20, help="every Nth reader-family input through the CLI")
    ap.add_argument("--slow-cap", type=int, default=12)
    ap.add_argument("--timeout", type=float, default=60.0, help="hang guard per input, seconds")
    ap.add_argument("--families", default="", help="comma-separated subset")
    ap.add_argument("--json", help="write the per-family counts and every failure here (also every 2,000 inputs)")
    ap.add_argument("--deadline", type=float, default=0, help="stop starting inputs after this many seconds")
    args = ap.parse_args(argv)
    families = [f for f in FAMILIES if not args.families or f in args.families.split(",")]
    counts = plan(args.inputs, families, args.slow_cap)
    jobs = [(f, args.seed, i, args.timeout, f not in READER_FAMILIES or i % args.full_every == 0)
            for f in families for i in range(counts[f])]
    jobs.sort(key=lambda j: (j[2], j[0]))  # interleave the families
    stats = {f: collections.Counter() for f in families}
    rss = collections.defaultdict(float)
    failures: list[dict] = []
    start = time.monotonic()
    done = [0]

    def seen(r):
        f = r["family"]
        st = stats[f]
        st["inputs"] += 1
        st["cli"] += r.get("mode") == "cli"
        st["failed"] += bool(r["problems"])
        for kind in {k for k, _ in r["problems"]}:
            st[kind] += 1
        rss[f] = max(rss[f], r.get("rss_mb") or 0)
        if r["problems"]:
            failures.append(r)
        done[0] += 1
        if done[0] % 1000 == 0:
            print(f"  {done[0]:,} inputs, {time.monotonic() - start:,.0f} s, {len(failures)} failed", file=sys.stderr)
        if args.json and done[0] % 2000 == 0:
            dump()

    def dump():
        Path(args.json).write_text(json.dumps({"seed": args.seed, "seconds": time.monotonic() - start,
                                               "stats": stats, "peak_rss_mb": rss, "failures": failures},
                                              indent=1, default=dict))

    stop = (lambda: time.monotonic() - start > args.deadline) if args.deadline else None
    run_jobs(jobs, workers=args.workers, on_result=seen, stop=stop)
    elapsed = time.monotonic() - start
    head = f"{'family':<18}{'owner':<8}{'inputs':>8}{'cli':>7}" + "".join(f"{k:>10}" for k in KINDS[:-1]) + f"{'peak MB':>9}"
    print(head)
    for f in families:
        st = stats[f]
        print(f"{f:<18}{OWNERS[f]:<8}{st['inputs']:>8,}{st['cli']:>7,}" + "".join(f"{st[k]:>10,}" for k in KINDS[:-1])
              + f"{rss[f]:>9.0f}")
    total = sum(st["inputs"] for st in stats.values())
    print(f"{total:,} inputs in {elapsed:,.0f} s with {args.workers} workers (seed {args.seed}); "
          f"RSS ceiling {RSS_CEILING_MB} MB; {len(failures)} input(s) with a problem")
    for r in failures[:30]:
        print(f"  {r['family']} #{r['index']} {r['name']}: " + "; ".join(f"{k}: {d}" for k, d in r["problems"])[:300])
    if args.json:
        dump()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
