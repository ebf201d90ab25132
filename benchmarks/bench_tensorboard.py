"""Benchmark: kto-doctor's TensorBoard reader against tbparse and TensorBoard's EventAccumulator.

Writes a KTO-like event file with TensorBoard's own writer (`EventFileWriter` and the `Event`/`Summary`
protos, as torch.utils.tensorboard does: one `simple_value` per event, HF `train/...` tags), then loads it
with each reader in a fresh Python process, side by side, and prints a Markdown table. Each time is the
whole process (interpreter start, imports, reading, building a pandas frame of step/tag/value).

    python benchmarks/bench_tensorboard.py                 # 1M events (written once, then cached)
    python benchmarks/bench_tensorboard.py --events 100000 --repeat 3

Needs the `bench` extra (tbparse).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TAGS = [
    "train/loss", "train/grad_norm", "train/learning_rate", "train/epoch", "train/kl",
    "train/rewards/chosen", "train/rewards/rejected", "train/rewards/margins", "train/rewards/accuracies",
    "train/logps/chosen", "train/logps/rejected", "train/logits/chosen", "train/logits/rejected",
    "train/num_input_tokens_seen",
]
EVAL_TAGS = ["eval/loss", "eval/kl", "eval/rewards/chosen", "eval/rewards/rejected", "eval/runtime",
             "eval/samples_per_second"]
EVAL_EVERY = 50  # steps

# Each reader runs as `python -c <code> <event file>` and prints {"events": values loaded, "rss_kb": peak
# RSS}. kto-doctor loads fewer values: it keeps bookkeeping tags (eval/runtime, num_input_tokens_seen) out
# of the metric series. The table's events/s is over the events in the file, for every reader.
_RSS = "import resource; rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss"
_OURS = """
import sys, json
import numpy as np, pandas as pd
from kto_doctor.sources.tensorboard import read
data = read(sys.argv[1]{kwargs})
parts = data.series.items()
codes = np.repeat(np.arange(len(parts)), [len(s.steps) for _, s in parts])
frame = pd.DataFrame({{
    "step": np.concatenate([s.steps for _, s in parts]),
    "tag": pd.Categorical.from_codes(codes, categories=[n for n, _ in parts]),
    "value": np.concatenate([s.values for _, s in parts]),
    "wall_time": np.concatenate([s.wall_times for _, s in parts]),
}})
""" + _RSS + """
print(json.dumps({{"events": len(frame), "rss_kb": rss}}))
"""
READERS = {
    "kto-doctor": _OURS.format(kwargs=""),
    "kto-doctor, check_crc=False": _OURS.format(kwargs=", check_crc=False"),
    "tbparse": """
import sys, json
from tbparse import SummaryReader
frame = SummaryReader(sys.argv[1]).scalars
""" + _RSS + """
print(json.dumps({"events": len(frame), "rss_kb": rss}))
""",
    "EventAccumulator": """
import sys, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
n = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
""" + _RSS + """
print(json.dumps({"events": n, "rss_kb": rss}))
""",
}


def write_events(path_dir: Path, events: int) -> Path:
    """An HF/KTO-like event file with `events` scalar events, written by TensorBoard's writer."""
    import random

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    path_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(path_dir), max_queue_size=1000)
    rng = random.Random(0)
    written, step, wall = 0, 0, 1.7e9
    while written < events:
        step += 1
        tags = TAGS + (EVAL_TAGS if step % EVAL_EVERY == 0 else [])
        for tag in tags[: events - written]:
            value = Summary.Value(tag=tag, simple_value=rng.gauss(0.0, 1.0))
            writer.add_event(Event(wall_time=wall + 0.7 * step, step=step, summary=Summary(value=[value])))
        written += min(len(tags), events - written)
    writer.close()
    return next(path_dir.glob("events.out.tfevents.*"))


def time_reader(name: str, path: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", READERS[name], str(path)], cwd=ROOT, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return {"seconds": seconds, **json.loads(done.stdout.strip().splitlines()[-1])}


def table(results: dict[str, dict], events: int) -> str:
    base = results.get("tbparse", {}).get("seconds")
    acc = results.get("EventAccumulator", {}).get("seconds")
    lines = ["| reader | events in file | values loaded | seconds | events/s | vs tbparse | vs EventAccumulator "
             "| peak RSS |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        ratio = f"{base / r['seconds']:.1f}x" if base else "-"
        ratio_acc = f"{acc / r['seconds']:.1f}x" if acc else "-"
        lines.append(f"| {name} | {events:,} | {r['events']:,} | {r['seconds']:.2f} | {events / r['seconds']:,.0f} | "
                     f"{ratio} | {ratio_acc} | {r['rss_kb'] / 1024:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per reader; the best time is kept")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "kto-doctor-bench",
                        help="where the generated event file is kept between runs")
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=list(READERS))
    args = parser.parse_args()

    folder = args.cache / f"tensorboard-{args.events}"
    existing = sorted(folder.glob("events.out.tfevents.*"))
    if existing:
        path = existing[0]
    else:
        print(f"writing {args.events:,} events with TensorBoard's EventFileWriter ...", file=sys.stderr)
        path = write_events(folder, args.events)
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    results = {}
    for name in args.readers:
        runs = [time_reader(name, path) for _ in range(args.repeat)]
        results[name] = min(runs, key=lambda r: r["seconds"])
        print(f"{name}: {results[name]['seconds']:.2f} s", file=sys.stderr)
    print(table(results, args.events))


if __name__ == "__main__":
    main()
