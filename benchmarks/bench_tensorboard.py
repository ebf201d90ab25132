"""Benchmark: kto-doctor's TensorBoard reader against tbparse and TensorBoard's EventAccumulator.

Writes KTO-like event files with TensorBoard's own writer (`EventFileWriter` and the `Event`/`Summary`
protos, HF `train/...` tags) in both scalar encodings:
- `simple`: one `simple_value` per event, as torch.utils.tensorboard, tensorboardX and TF1 write;
- `v2`: one scalar tensor per event (DT_FLOAT, `float_val`, shape []), made by tensorboard's
  `scalar_pb` with the scalars plugin metadata kept on each tag's first value only, as TF2's
  `tf.summary.scalar` / `tensorboard.summary.v2` write.
Each file is loaded by each reader in a fresh Python process, side by side, and a Markdown table is printed
per encoding. Each time is the whole process (interpreter start, imports, reading, building a pandas frame
of step/tag/value).

    python benchmarks/bench_tensorboard.py                 # 1M events each (written once, then cached)
    python benchmarks/bench_tensorboard.py --events 100000 --repeat 3 --encodings v2
    python benchmarks/bench_tensorboard.py --against HEAD~2     # also the reader of a revision, same run

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
ENCODINGS = {"simple": "`simple_value` scalars", "v2": "v2 tensor scalars (DT_FLOAT)"}

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
reader = SummaryReader(sys.argv[1])
frame, tensors = reader.scalars, reader.tensors  # v2 tensor scalars are in .tensors
""" + _RSS + """
print(json.dumps({"events": len(frame) + len(tensors), "rss_kb": rss}))
""",
    "EventAccumulator": """
import sys, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
acc.Reload()
tags = acc.Tags()  # v2 tensor scalars are tensors
n = sum(len(acc.Scalars(tag)) for tag in tags["scalars"]) + sum(len(acc.Tensors(tag)) for tag in tags["tensors"])
""" + _RSS + """
print(json.dumps({"events": n, "rss_kb": rss}))
""",
}


def write_events(path_dir: Path, events: int, encoding: str = "simple") -> Path:
    """An HF/KTO-like event file with `events` scalar events in `encoding`, written by TensorBoard's writer."""
    import random

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    seen: set[str] = set()

    def v2_value(tag: str, x: float) -> Summary.Value:
        (value,) = scalar_pb(tag, x).value  # DT_FLOAT tensor, shape [], scalars plugin metadata
        if tag in seen:
            value.ClearField("metadata")  # TF2 writes a tag's metadata with its first value only
        seen.add(tag)
        return value

    path_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(path_dir), max_queue_size=1000)
    rng = random.Random(0)
    written, step, wall = 0, 0, 1.7e9
    while written < events:
        step += 1
        tags = TAGS + (EVAL_TAGS if step % EVAL_EVERY == 0 else [])
        for tag in tags[: events - written]:
            x = rng.gauss(0.0, 1.0)
            value = Summary.Value(tag=tag, simple_value=x) if encoding == "simple" else v2_value(tag, x)
            writer.add_event(Event(wall_time=wall + 0.7 * step, step=step, summary=Summary(value=[value])))
        written += min(len(tags), events - written)
    writer.close()
    return next(path_dir.glob("events.out.tfevents.*"))


def checkout(rev: str, into: Path) -> Path:
    """The kto_doctor package as it was at git revision `rev`, exported under `into`."""
    archive = subprocess.run(["git", "archive", rev, "kto_doctor"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def time_reader(code: str, path: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"reader failed:\n{done.stderr}")
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
    parser.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=list(ENCODINGS))
    parser.add_argument("--against", metavar="REV", help="also time kto-doctor's reader at this git revision")
    args = parser.parse_args()
    readers = {name: READERS[name] for name in args.readers}
    if args.against:
        old = checkout(args.against, Path(tempfile.mkdtemp(prefix="kto-doctor-")))
        readers = {"kto-doctor": readers.pop("kto-doctor", READERS["kto-doctor"]),
                   f"kto-doctor@{args.against}": f"import sys; sys.path.insert(0, {str(old)!r})\n"
                   + READERS["kto-doctor"],
                   **readers}

    for encoding in args.encodings:
        folder = args.cache / (f"tensorboard-{args.events}" if encoding == "simple"
                               else f"tensorboard-{encoding}-{args.events}")
        existing = sorted(folder.glob("events.out.tfevents.*"))
        if existing:
            path = existing[0]
        else:
            print(f"writing {args.events:,} {encoding} events with TensorBoard's EventFileWriter ...",
                  file=sys.stderr)
            path = write_events(folder, args.events, encoding)
        print(f"{path} ({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
        results = {}
        for name, code in readers.items():
            runs = [time_reader(code, path) for _ in range(args.repeat)]
            results[name] = min(runs, key=lambda r: r["seconds"])
            print(f"{encoding} {name}: {results[name]['seconds']:.2f} s", file=sys.stderr)
        print(f"\n{ENCODINGS[encoding]} ({path.stat().st_size / 1e6:.0f} MB):\n")
        print(table(results, args.events))


if __name__ == "__main__":
    main()
