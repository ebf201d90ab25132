"""Console reader throughput and memory on a generated training log.

Generates a realistic console log (startup lines, tqdm `\\r` redraws, ANSI colours, `[default0]:` rank
prefixes, numeric and string-valued HF dict lines, eval dicts, DeepSpeed overflow lines; about 5-10% of the
bytes are metric lines) under /tmp, reads it with `kto_doctor.sources.console`, and prints MB/s and peak
memory for two sizes, so that one can see memory does not grow with the file. A baseline reads the same
file line by line with `ast.literal_eval` on the dict lines, the obvious implementation, for the ratio.
`--against REV` also times the reader as it was at a git revision, in the same run (the machine's load
changes from minute to minute, so only numbers from one run compare).

Every reader runs in a fresh process (peak RSS is its own); the time is that of reading the file, after
the imports. `--repeat N` keeps the best time of N runs.

    python benchmarks/bench_console.py                          # 1 GB and 1/8 of it
    python benchmarks/bench_console.py --size-mb 200 --against HEAD~3 --repeat 3
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HEADER = """[INFO|2025-03-19 10:00:00] llamafactory.hparams.parser:355 >> Process rank: 0, world size: 8, device: cuda:0
[INFO|2025-03-19 10:00:01] llamafactory.model.loader:143 >> trainable params: 4,399,104 || all params: 498,431,872
[INFO|trainer.py:1686] 2025-03-19 10:00:05,795 >> ***** Running training *****
[INFO|trainer.py:1694] 2025-03-19 10:00:05,795 >>   Total optimization steps = {total:,}
"""


def generate(path: Path, size_mb: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    target = size_mb << 20
    total = 10_000_000
    bar = "\u2588" * 12
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER.format(total=total))
        written = 0
        step = 0
        while written < target:
            parts = []
            for _ in range(14):  # progress bar redraws between two logs
                step += 1
                parts.append(f"\r  {step * 100 // total:2d}%|{bar}{' ' * 30}| {step}/{total} "
                             f"[{step // 60:02d}:{step % 60:02d}<10:00:00,  1.31it/s]")
            if rng.random() < 0.3:
                parts.append("\n[default0]:[WARNING] torch.utils.checkpoint: use_reentrant parameter should be "
                             "passed explicitly; the default will change in a future release of PyTorch.\n")
            if rng.random() < 0.02:
                parts.append("[default0]:[2025-03-19 11:36:25,378] [INFO] [loss_scaler.py:183:update_scale] "
                             "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, "
                             "reducing to 32768\n")
            loss = rng.random()
            if rng.random() < 0.5:
                parts.append(f"\n[default0]:{{'loss': {loss:.4f}, 'grad_norm': {rng.random() * 3}, "
                             f"'learning_rate': {1e-6 * min(1.0, step / 4739)}, 'rewards/chosen': {rng.random()}, "
                             f"'kl': {'nan' if rng.random() < 0.01 else rng.random() * 12}, "
                             f"'logits/chosen': -{rng.random() * 2e8}, 'epoch': {step / 1e6:.2f}}}\n")
            else:
                parts.append(f"\n\x1b[32m{{'loss': '{loss:.4f}', 'grad_norm': '{rng.random() * 3:.6g}', "
                             f"'learning_rate': '{1e-6:.4g}', 'logits/chosen': '-8.167e+06', "
                             f"'epoch': '{step / 1e6:.2f}'}}\x1b[0m\n")
            if rng.random() < 0.01:
                parts.append("\r100%|" + bar + "| 13/13 [00:03<00:00,  4.1it/s]\n"
                             f"{{'eval_loss': {loss}, 'eval_runtime': 3.2, 'epoch': {step / 1e6:.2f}}}\n")
            chunk = "".join(parts)
            f.write(chunk)
            written += len(chunk.encode())


def _child(kind: str, path: Path) -> None:
    """Run in a fresh process so that peak RSS belongs to this reader alone; prints one JSON line."""
    target = {"kto_doctor": read_with_kto_doctor, "literal_eval": read_with_literal_eval}[kind]
    if kind == "kto_doctor":
        from kto_doctor.sources import console  # noqa: F401  (imports are not part of the reading time)
    t0 = time.perf_counter()
    detail = target(path)
    elapsed = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "rss_mb": rss_mb, "detail": detail}))


def read_with_kto_doctor(path: Path) -> str:
    from kto_doctor.sources import console

    src = console.read(path)
    return f"{src.records} records, {len(src.series)} metrics"


def read_with_literal_eval(path: Path) -> str:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            start = line.find("{'")
            if start < 0:
                continue
            end = line.rfind("}")
            text = line[start:end + 1].replace(": nan", ": None").replace(": inf", ": None")
            try:
                ast.literal_eval(text)
                n += 1
            except (ValueError, SyntaxError):
                pass
    return f"{n} dicts"


def measure(kind: str, path: Path, root: Path = REPO, repeat: int = 1):
    """(best seconds, largest peak RSS in MB, detail) of `repeat` fresh processes; `root`: the tree to import."""
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], env=env, check=True,
                             capture_output=True, text=True, cwd=root).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return min(r["elapsed"] for r in runs), max(r["rss_mb"] for r in runs), runs[0]["detail"]


def checkout(rev: str, into: Path) -> Path:
    """The `kto_doctor` package as it was at git revision `rev`, extracted under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "kto_doctor"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="size of the larger log (default 1024)")
    ap.add_argument("--dir", default="/tmp/kto_doctor_bench", help="where the generated logs go")
    ap.add_argument("--no-baseline", action="store_true", help="skip the ast.literal_eval baseline")
    ap.add_argument("--against", metavar="REV", help="also time the reader of this git revision")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per reader (default 1)")
    ap.add_argument("--child", nargs=2, metavar=("READER", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        readers = [("console reader", "kto_doctor", REPO)]
        if args.against:
            readers.append((f"reader@{args.against}", "kto_doctor", checkout(args.against, Path(tmp))))
        if not args.no_baseline:
            readers.append(("literal_eval", "literal_eval", REPO))
        print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        for size in (max(args.size_mb // 8, 1), args.size_mb):
            path = out / f"console_{size}mb.log"
            if not path.exists() or path.stat().st_size < (size << 20):
                print(f"generating {path} ...", flush=True)
                generate(path, size)
            mb = path.stat().st_size / (1 << 20)
            results = [(label, *measure(kind, path, root, args.repeat)) for label, kind, root in readers]
            baseline = results[-1][1] if not args.no_baseline else None
            for label, elapsed, rss, detail in results:
                ratio = f"  {baseline / elapsed:5.1f}x literal_eval" if baseline else ""
                print(f"{label:<22} {mb:8.1f} MB {mb / elapsed:8.1f} MB/s  peak RSS {rss:7.1f} MB{ratio}  ({detail})",
                      flush=True)
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"(generated files are left in {out}; remove them with: rm -r {out})")


if __name__ == "__main__":
    main()
