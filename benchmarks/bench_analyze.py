#!/usr/bin/env python3
"""The whole `kto-doctor analyze` command against what anyone would type instead, side by side in one run.

Two cases, each timed as whole processes (interpreter start, imports, reading, rules, report), best of N
runs interleaved so that every command sees the same machine load:

- tiny: `kto-doctor analyze sample_logs/kto-healthy --format json` against `python -c "import numpy, pandas"`
  (the floor of any pandas tool). Goal: within 1.25x.
- state: `kto-doctor analyze` of a 100k-row trainer_state.json against
  `python -c "import json, pandas; pandas.DataFrame(json.load(open(f))['log_history'])"`. Goal: no slower.

`--against REV` also times kto-doctor as it was at a git revision (its kto_doctor/ and rules/ exported to a
temporary folder), with `--against-python PY` to run it under another interpreter (a virtualenv with the
dependency versions of that time). The tree under test runs as an installed wheel would: byte code compiled
and the built-in rules in compiled form (generated as `pip install` does when missing or stale).

    python benchmarks/bench_analyze.py [--rows 100000] [--repeat 5] [--cases tiny state]
    python benchmarks/bench_analyze.py --against c0224ec --against-python /tmp/venv-typer029/bin/python
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "sample_logs" / "kto-healthy"
# The console script's body: what `kto-doctor ...` runs.
CLI = "import sys; from kto_doctor.cli import main; sys.argv[0] = 'kto-doctor'; sys.exit(main())"


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


def prepare(tree: Path, python: str) -> str:
    """Byte-compile `tree`'s package and make sure its built-in rules are in compiled form (where the tree
    has that), as an installed wheel has them. Returns a note for the report."""
    env = _env(tree)
    subprocess.run([python, "-m", "compileall", "-q", str(tree / "kto_doctor")], env=env, check=True)
    if not (tree / "kto_doctor" / "engine" / "compiled.py").exists():
        return "compiles its rules at each start"
    code = ("from kto_doctor.engine import compiled as c\n"
            "if c.load() is None:\n"
            "    c.write(c.compiled_path()); print('written')\n")
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=tree)
    return "built-in rules in compiled form" + (" (generated)" if "written" in out.stdout else "")


def _env(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its byte code
    return env


def export(rev: str, into: Path) -> Path:
    """kto_doctor/ and rules/ as they were at git revision `rev`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "kto_doctor", "rules"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def time_all(commands: dict[str, tuple[list[str], dict]], repeat: int, cwd: str) -> dict[str, float]:
    """Best wall time of each command over `repeat` rounds; each round runs every command once."""
    best = {name: math.inf for name in commands}
    for _ in range(repeat):
        for name, (cmd, env) in commands.items():
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            elapsed = time.perf_counter() - t0
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
            best[name] = min(best[name], elapsed)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best time of each command is kept")
    ap.add_argument("--cases", nargs="+", default=["tiny", "state"], choices=["tiny", "state"])
    ap.add_argument("--against", metavar="REV", help="also time kto-doctor at this git revision")
    ap.add_argument("--against-python", metavar="PY", default=sys.executable,
                    help="the interpreter for --against (default: this one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kto-doctor-bench-"))
    try:
        trees = {"kto-doctor": (REPO, sys.executable)}
        if args.against:
            old = export(args.against, tmp / "against")
            trees[f"kto-doctor@{args.against}"] = (old, args.against_python)
        notes = {name: prepare(tree, py) for name, (tree, py) in trees.items()}
        base_env = dict(os.environ)
        base_env.pop("PYTHONPATH", None)
        cases = []
        if "tiny" in args.cases:
            cases.append(("tiny", "`analyze sample_logs/kto-healthy --format json`", str(TINY),
                          "`python -c \"import numpy, pandas\"`", [sys.executable, "-c", "import numpy, pandas"],
                          1.25))
        if "state" in args.cases:
            state = tmp / "state" / "trainer_state.json"
            state.parent.mkdir()
            make_state(str(state), args.rows)
            size = state.stat().st_size / 1e6
            cases.append(("state", f"`analyze` of a {args.rows:,}-row trainer_state.json ({size:.1f} MB)",
                          str(state.parent), "`json.load` + `pandas.DataFrame`",
                          [sys.executable, "-c", "import json, pandas; "
                           f"pandas.DataFrame(json.load(open({str(state)!r}))['log_history'])"], 1.0))
        load0 = os.getloadavg()
        rows = []
        for key, what, path, base_name, base_cmd, goal in cases:
            commands = {"baseline": (base_cmd, base_env)}
            for name, (tree, py) in trees.items():
                commands[name] = ([py, "-c", CLI, "analyze", path, "--format", "json", "--fail-on", "never"],
                                  _env(tree))
            best = time_all(commands, args.repeat, str(tmp))
            rows.append((what, base_name, best, goal))
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = list(trees)
    print(f"Whole processes, best of {args.repeat} interleaved rounds; load average {load0[0]:.1f} at the start, "
          f"{load1[0]:.1f} at the end, {os.cpu_count()} cores. Python {sys.version.split()[0]}.")
    for name in names:
        print(f"- {name}: {notes[name]}" + (f" (python: {trees[name][1]})" if trees[name][1] != sys.executable
                                            else ""))
    print()
    head = "| what | baseline | baseline s | " + " | ".join(f"{n} s | ratio" for n in names) + " | goal |"
    print(head)
    print("|" + " --- |" * (3 + 2 * len(names) + 1))
    for what, base_name, best, goal in rows:
        cells = [what, base_name, f"{best['baseline']:.2f}"]
        for n in names:
            cells += [f"{best[n]:.2f}", f"{best[n] / best['baseline']:.2f}x"]
        cells.append(f"<= {goal:g}x")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
