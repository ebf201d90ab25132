#!/usr/bin/env python3
"""The whole `kto-doctor analyze` command against what anyone would type instead, side by side in one run.

Two cases, each timed as whole processes (interpreter start, imports, reading, rules, report), best of N
runs interleaved so that every command sees the same machine load:

- tiny: `kto-doctor analyze sample_logs/kto-healthy --format json` against `python -c "import numpy, pandas"`
  (the floor of any pandas tool). Goal: within 1.25x.
- state: `kto-doctor analyze` of a 100k-row trainer_state.json against
  `python -c "import json, pandas; pandas.DataFrame(json.load(open(f))['log_history'])"`. Goal: no slower.
- tb: `analyze` of a folder holding one event file of 1M `simple_value` scalars (bench_tensorboard.py writes
  it with TensorBoard's own writer, cached under /tmp/kto-doctor-bench) against tbparse's
  `SummaryReader(folder).scalars`. Goal: at least 30x faster. Needs the `bench` extra.
- console: `analyze` of a 1 GB console log (bench_console.py's generator, --console-mb) against reading its
  dict lines with `ast.literal_eval` (bench_console.py's baseline), MB/s and peak RSS of each process.
  Goals: at least 200 MB/s, at most 150 MB peak.

`--against REV` also times kto-doctor as it was at a git revision (its kto_doctor/ and rules/ exported to a
temporary folder), with `--against-python PY` to run it under another interpreter (a virtualenv with the
dependency versions of that time). The tree under test runs as an installed wheel would: byte code compiled
and the built-in rules in compiled form (generated as `pip install` does when missing or stale).

    python benchmarks/bench_analyze.py [--rows 100000] [--repeat 5] [--cases tiny state tb console]
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
# The console script's body: what `kto-doctor ...` runs (`console` since it exits without the interpreter's
# teardown; older trees have only `main`), with the script's argv[0] from the start, as the script has it.
CLI = ("import sys; sys.argv[0] = 'kto-doctor'; import kto_doctor.cli as c; "
       "sys.exit(getattr(c, 'console', c.main)())")


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


def time_all(commands: dict[str, tuple[list[str], dict]], repeat: int, cwd: str) -> tuple[dict, dict]:
    """Best wall time of each command over `repeat` rounds (each round runs every command once), and the
    largest peak RSS in MB of each command's process."""
    best = {name: math.inf for name in commands}
    peak = {name: 0.0 for name in commands}
    for _ in range(repeat):
        for name, (cmd, env) in commands.items():
            with tempfile.TemporaryFile() as err:
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
                _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS
                elapsed = time.perf_counter() - t0
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode not in (0, 1):
                    err.seek(0)
                    raise SystemExit(f"{name} failed ({proc.returncode}):\n{err.read().decode()[-2000:]}")
            best[name] = min(best[name], elapsed)
            peak[name] = max(peak[name], usage.ru_maxrss / 1024)
    return best, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best time of each command is kept")
    ap.add_argument("--cases", nargs="+", default=["tiny", "state"], choices=["tiny", "state", "tb", "console"])
    ap.add_argument("--events", type=int, default=1_000_000, help="scalars in the tb case's event file")
    ap.add_argument("--console-mb", type=int, default=1024, help="size of the console case's log")
    ap.add_argument("--slow-repeat", type=int, default=2,
                    help="rounds of the tb and console cases (tbparse alone takes tens of seconds)")
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
        if "tb" in args.cases:
            import bench_tensorboard as bt

            folder = Path(tempfile.gettempdir()) / "kto-doctor-bench" / f"tensorboard-{args.events}"
            if not sorted(folder.glob("events.out.tfevents.*")):
                print(f"writing {args.events:,} scalars with TensorBoard's writer ...", file=sys.stderr)
                bt.write_events(folder, args.events)
            size = sum(f.stat().st_size for f in folder.glob("events.out.tfevents.*")) / 1e6
            cases.append(("tb", f"`analyze` of a TensorBoard folder, {args.events:,} `simple_value` scalars "
                          f"({size:.0f} MB)", str(folder), "tbparse `SummaryReader(folder).scalars`",
                          [sys.executable, "-c", "import sys; from tbparse import SummaryReader; "
                           "SummaryReader(sys.argv[1]).scalars", str(folder)], 1 / 30))
        if "console" in args.cases:
            import bench_console as bc

            log = tmp / "console" / "train.log"
            log.parent.mkdir()
            print(f"writing a {args.console_mb} MB console log ...", file=sys.stderr)
            bc.generate(log, args.console_mb)
            # the kernel writes the new gigabyte back to disk over the next minute or two: let it finish now, not
            # inside the timings of the cases that run first (a run at load 0.8 measured the tb case 25% slower)
            os.sync()
            size = console_mb = log.stat().st_size / 1e6
            cases.append(("console", f"`analyze` of a {size:,.0f} MB console log", str(log.parent),
                          "line-by-line `ast.literal_eval` of its dict lines",
                          [sys.executable, str(Path(bc.__file__)), "--child", "literal_eval", str(log)], None))
        load0 = os.getloadavg()
        rows = []
        for key, what, path, base_name, base_cmd, goal in cases:
            commands = {"baseline": (base_cmd, base_env)}
            for name, (tree, py) in trees.items():
                commands[name] = ([py, "-c", CLI, "analyze", path, "--format", "json", "--fail-on", "never"],
                                  _env(tree))
            repeat = args.slow_repeat if key in ("tb", "console") else args.repeat
            best, peak = time_all(commands, repeat, str(tmp))
            mb = console_mb if key == "console" else None
            rows.append((what, base_name, best, peak, goal, mb, repeat))
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = list(trees)
    print(f"Whole processes, best of N interleaved rounds; load average {load0[0]:.1f} at the start, "
          f"{load1[0]:.1f} at the end, {os.cpu_count()} cores. Python {sys.version.split()[0]}.")
    for name in names:
        print(f"- {name}: {notes[name]}" + (f" (python: {trees[name][1]})" if trees[name][1] != sys.executable
                                            else ""))
    print()
    head = "| what | rounds | baseline | baseline s | " + " | ".join(f"{n} s | ratio" for n in names) + " | goal |"
    print(head)
    print("|" + " --- |" * (4 + 2 * len(names) + 1))
    for what, base_name, best, peak, goal, mb, repeat in rows:
        cells = [what, str(repeat), base_name, _cell(best["baseline"], peak["baseline"], mb)]
        for n in names:
            cells += [_cell(best[n], peak[n], mb), f"{best[n] / best['baseline']:.2f}x"]
        if goal is None:
            cells.append(">= 200 MB/s, <= 150 MB peak")
        elif goal < 1:
            cells.append(f">= {1 / goal:g}x faster (<= {goal:.3f}x)")
        else:
            cells.append(f"<= {goal:g}x")
        print("| " + " | ".join(cells) + " |")
    return 0


def _cell(seconds: float, peak_mb: float, mb: float | None) -> str:
    if mb is None:
        return f"{seconds:.2f}"
    return f"{seconds:.2f} ({mb / seconds:.0f} MB/s, {peak_mb:.0f} MB peak)"


if __name__ == "__main__":
    sys.exit(main())
