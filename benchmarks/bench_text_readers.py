"""Throughput and memory of the text-log readers (issue 15 section 2) on generated logs, against a naive parser.

For each format a log of `--size-mb` (default 1024) is generated under /tmp in that format's exact grammar, with
the noise real logs carry (Megatron timer lines, mmengine logger prefixes and hook lines, verl rollout prints
and Ray prefixes, DeepSpeed-Chat latency lines, tqdm redraws, Markdown prose around tables), then read

- by kto-doctor's reader for it (`kto_doctor.sources.<module>.read`), and
- by a naive parser: the obvious line-by-line loop, one regex per line and `float()` per value into
  per-metric lists, which is what one would write without the shared engine,

each in a fresh process (its peak RSS is its own: `ru_maxrss`), timing the read after the imports. MB/s is
reported on CPU time (user + system of the process; the 2-core machine is shared, so wall time depends on
the other sessions' load) and on wall time. The file is deleted after its format's runs. `--against REV` also
times the readers as they were at a git revision, interleaved with this tree's (`--repeat N`: best of N each), so
that both see the same load. "output" is what the reader hands back: the bytes of the Series' arrays (steps, values,
lines), each array once where metrics share their steps and lines (the naive parser's: 16 bytes a value, its step
and value lists' items). Memory is flat when the peak less the output stays the same from one file size to another.

    python benchmarks/bench_text_readers.py                    # every format at 1 GB
    python benchmarks/bench_text_readers.py --size-mb 64 --only megatron verl_console
    python benchmarks/bench_text_readers.py --no-naive --against ed1cc35 --repeat 2
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ generators


class Pool:
    """Cheap random numbers for the generators: a ring of pre-drawn floats."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.v = [rng.random() for _ in range(9973)]
        self.i = 0

    def __call__(self) -> float:
        self.i = (self.i + 1) % len(self.v)
        return self.v[self.i]


def gen_megatron(r: Pool, i: int) -> str:
    out = (f" iteration {i:8d}/ 5000000 | consumed samples: {i * 1024:12d} | consumed tokens: {i * 2097152:14d} | "
           f"elapsed time per iteration (ms): {100 + r() * 50:.1f} | learning rate: {3e-4 * r():.6E} | "
           f"global batch size:  1024 | lm loss: {1 + r() * 2:.6E} | loss scale: 1.0 | grad norm: {r():.3f} | "
           f"num zeros: 0.0 | number of skipped iterations:   0 | number of nan iterations:   0 | "
           f"samples per second: {10 + r():.3f} | TFLOPs: {150 + r() * 10:.2f} |\n")
    if i % 10 == 0:
        out += ("time (ms) | forward-compute: 193.77 | backward-compute: 73.02 | backward-params-all-reduce: 20.10 | "
                "optimizer: 63.01 | batch-generator: 25.27\n")
    if i % 1000 == 0:
        out += (f"-" * 100 + f"\n validation loss at iteration {i} | lm loss value: {1 + r():.6E} | "
                f"lm loss PPL: {5 + r():.6E} | \n" + "-" * 100 + "\n")
    return out


def gen_mmengine(r: Pool, i: int) -> str:
    it = i * 10
    out = (f"05/04 08:52:{i % 60:02d} - mmengine - INFO - Iter(train) [{it:7d}/9999990]  lr: {2e-4 * r():.4e}  "
           f"eta: 3 days, 3:30:35  time: {0.3 + r():.4f}  data_time: {r() / 50:.4f}  memory: 10197  "
           f"loss: {r() * 3:.4f}  grad_norm: {r() * 4:.4f}\n")
    if i % 50 == 0:
        out += (f"05/04 08:52:23 - mmengine - INFO - Exp name: llama3_8b_instruct_qlora_{i}\n05/04 08:52:23 - "
                "mmengine - WARNING - Reach the end of the dataloader, it will be restarted and continue to "
                "iterate. It is recommended to use `mmengine.dataset.InfiniteSampler`.\n")
    return out


_VERL_KEYS = ("actor/entropy", "actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower", "actor/pg_loss",
              "actor/kl_loss", "actor/kl_coef", "actor/grad_norm", "actor/lr", "critic/score/mean",
              "critic/score/max", "critic/score/min", "critic/rewards/mean", "critic/rewards/max",
              "critic/rewards/min", "critic/advantages/mean", "critic/advantages/max", "critic/advantages/min",
              "critic/returns/mean", "critic/returns/max", "critic/returns/min", "response_length/mean",
              "response_length/max", "response_length/min", "response_length/clip_ratio", "prompt_length/mean",
              "prompt_length/max", "prompt_length/min", "timing_s/gen", "timing_s/old_log_prob", "timing_s/ref",
              "timing_s/adv", "timing_s/update_actor", "timing_s/step", "perf/mfu/actor", "perf/throughput")


def gen_verl(r: Pool, i: int) -> str:
    body = " - ".join(f"{k}:{r() * 3 - 1}" for k in _VERL_KEYS)
    out = f"(TaskRunner pid=222265) step:{i} - global_seqlen/min:419336 - {body} - training/global_step:{i}\n"
    if i % 5 == 0:
        out += ("(TaskRunner pid=222265) [prompt] Let me solve this step by step. What is 12 + 30?\n"
                "(TaskRunner pid=222265) [response] <think>12 + 30 = 42</think> <answer>42</answer>\n"
                "(TaskRunner pid=222265) [score] 1.0\n")
    return out


def gen_deepspeed_chat(r: Pool, i: int) -> str:
    return (f"|E2E latency=2.12s |Gather latency=0.00s (0.00%) |Generate time=1.59s (75.13%) |Training time=0.42s "
            f"(19.78%) |Others=0.11 (5.09%)|CurSamplesPerSec=1.89 |AvgSamplesPerSec=1.95\n"
            f"epoch: 0|step: {i}|ppo_ep: 1|act_loss: {r() - 0.5}|cri_loss: {r()}|unsuper_loss: 0.0\n"
            f"average reward score: {r() * 2 - 1}\n" + "-" * 85 + "\n")


def gen_torchtune(r: Pool, i: int) -> str:
    return (f"Step {i} | loss:{r() * 2} lr:2e-05 tokens_per_second_per_gpu:{400 + r() * 100} "
            f"peak_memory_active:{20 + r()} peak_memory_alloc:{20 + r()} peak_memory_reserved:{25 + r()} \n")


def gen_progress_bar(r: Pool, i: int) -> str:
    bar = "\u2588" * 3
    draw = (f"Epoch 0:  {i * 100 // 5000000:2d}%|{bar}       | {{n}}/5000000 [59:12<1573:03:24, 18.79s/it, "
            f"loss={7 + r():.3g}, v_num=3-16, reduced_train_loss={7 + r():.3f}, global_step={i - 1}.0, "
            f"consumed_samples={i * 128}.0]")
    return "\r" + draw.format(n=i) + "\r" + draw.format(n=i) + "\n"


def gen_progress_bar_cr(r: Pool, i: int) -> str:
    # a Lightning bar on a console as most tqdm logs hold it: redrawn by `\r` alone, the line fed only where an
    # epoch's bar closes (2000 steps: one line of ~240 KB), after a few start-up lines
    per = 2000
    e, n = (i - 1) // per, (i - 1) % per + 1
    out = ("GPU available: True (cuda), used: True\nLOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]\n" if i == 1 else "")
    bar = "\u2588" * (n * 10 // per)
    out += (f"\rEpoch {e}:  {n * 100 // per:3d}%|{bar:10}| {n}/{per} [01:{n % 60:02d}<03:20, "
            f"{8 + r():.2f}it/s, loss={r() * 3:.3g}, v_num=7, train_loss_step={r() * 3:.4f}]")
    return out + ("\n" if n == per else "")


def gen_progress_table(r: Pool, i: int) -> str:
    out = ""
    if i % 5000 == 1:
        out += ("\n## Training results\n\nThe run below was logged by the notebook.\n\n"
                "| Step | Training Loss | Validation Loss | Rewards/chosen | Rewards/rejected | Rewards/margins |\n"
                "|------|---------------|-----------------|----------------|------------------|-----------------|\n")
    return out + (f"| {i * 10} | {r():.6f} | {r():.6f} | {r() - 0.5:.6f} | {-r():.6f} | {r():.6f} |\n")


def gen_generic_kv(r: Pool, i: int) -> str:
    out = f"iter {i}: loss {3 + r():.4f}, time {1000 + r() * 100:.2f}ms, mfu {15 + r():.2f}%\n"
    if i % 2000 == 0:
        out += f"step {i}: train loss {3 + r():.4f}, val loss {3 + r():.4f}\nsaving checkpoint to out\n"
    return out


def gen_dpo_reference(r: Pool, i: int) -> str:
    return (f"train stats after {i * 32} examples: {{'rewards_train/chosen': '{r() - 0.5:.5g}', "
            f"'rewards_train/rejected': '{-r():.5g}', 'rewards_train/accuracies': '{r():.5g}', "
            f"'rewards_train/margins': '{r():.5g}', 'logps_train/rejected': '{-300 * r():.5g}', "
            f"'logps_train/chosen': '{-300 * r():.5g}', 'loss/train': '{r():.5g}', 'examples_per_second': "
            f"'{50 + r():.5g}', 'grad_norm': '{r() * 10:.5g}', 'counters/examples': {i * 32}, "
            f"'counters/updates': {i}}}\n")


def gen_epoch_jsonl(r: Pool, i: int) -> str:
    # the DeiT / MAE loop's `log.txt`: json.dumps of the epoch's averages (Python reprs), one line per epoch
    return (f'{{"train_lr": {3e-4 * r()}, "train_loss": {2 * r()}, "train_closs": {r()}, "epoch": {i}, '
            f'"test_loss": {2 * r()}, "test_acc1": {100 * r()}, "test_acc5": {100 * r()}, '
            f'"n_parameters": 86567656}}\n')


_BLOCK_KEYS = ("train/loss", "train/grad_norm", "train/learning_rate", "train/epoch") + tuple(
    f"train/per_length_loss/loss@{2 ** k}" for k in range(1, 17))


def gen_blocks(r: Pool, i: int) -> str:
    # a custom loop's `print(k, v)` summary per step (FranxYao/Long-Context-Data-Engineering#13): a step line, one
    # metric per line with a trailing blank, a blank line between blocks
    return (f"step {i} token {i * 5}m \n" + "".join(f"{k} {r() * 6:.4f} \n" for k in _BLOCK_KEYS) + "\n")


def gen_build_nanogpt(r: Pool, i: int) -> str:
    # build-nanogpt's log.txt: `step train loss` per step, val and HellaSwag every 250 steps
    out = f"{i} val {3 + r():.4f}\n{i} hella {r() / 2:.4f}\n" if i % 250 == 0 else ""
    return out + f"{i} train {3 + r():.6f}\n"


def gen_llama_recipes(r: Pool, i: int) -> str:
    # llama-recipes' tqdm description, redrawn twice per batch (set_description, then update), 5000 batches an
    # epoch; the eval and epoch prints after each epoch
    per = 5000
    e, s = (i - 1) // per + 1, (i - 1) % per
    out = "".join(f"\rTraining Epoch: {e}/999, step {s}/{per} completed (loss: {r() * 2}): "
                  f"{100 * (s + 1) // per:3d}%|\u2588\u2588\u258c       | {s + 1}/{per} [00:31<08:20,  2.62s/it]"
                  for _ in range(2))
    if s == per - 1:
        out += (f"\nevaluating Epoch: 100%|\u2588\u2588\u2588\u2588| 25/25 [00:06<00:00,  3.69it/s]\n"
                f" eval_ppl=tensor({2 + r():.4f}, device='cuda:0') eval_epoch_loss=tensor({r():.4f}, "
                f"device='cuda:0')\nEpoch {e}: train_perplexity={2 + r():.4f}, train_epoch_loss={r():.4f}, "
                f"epoch time 512.3s\n")
    return out


def gen_llmc(r: Pool, i: int) -> str:
    # llm.c's main.log (`llmc/logger.h`: `s:%d trl:%.4f lr:%.6f norm:%.2f`, `s:%d tel:%.4f`, `s:%d eval:%.4f`):
    # the validation loss and HellaSwag every 250 steps, before that step's training line
    s = i - 1
    out = f"s:{s} tel:{3 + r():.4f}\ns:{s} eval:{r() / 2:.4f}\n" if s % 250 == 0 else ""
    return out + f"s:{s} trl:{3 + r():.4f} lr:{6e-4 * r():.6f} norm:{r() * 2:.2f}\n"


# format -> (generator, module of the reader)
FORMATS = {
    "megatron": (gen_megatron, "megatron"),
    "mmengine": (gen_mmengine, "mmengine"),
    "verl_console": (gen_verl, "verl_console"),
    "deepspeed_chat": (gen_deepspeed_chat, "deepspeed_chat"),
    "torchtune": (gen_torchtune, "torchtune"),
    "progress_bar": (gen_progress_bar, "progress_bar"),
    "progress_bar_cr": (gen_progress_bar_cr, "progress_bar"),
    # the fallback reader forced onto that bar (a file the sniff leaves to it): its per-line guards must stop at a
    # redraw, or each of an epoch's 2000 redraws scans the rest of the 240 KB line
    "generic_on_cr": (gen_progress_bar_cr, "generic_kv"),
    "progress_table": (gen_progress_table, "progress_table"),
    "generic_kv": (gen_generic_kv, "generic_kv"),
    "dpo_reference": (gen_dpo_reference, "console"),
    "epoch_jsonl": (gen_epoch_jsonl, "epoch_jsonl"),
    "blocks": (gen_blocks, "blocks"),
    "build_nanogpt": (gen_build_nanogpt, "build_nanogpt"),
    "llama_recipes": (gen_llama_recipes, "llama_recipes"),
    "llmc": (gen_llmc, "llmc"),
}


def generate(fmt: str, path: Path, size_mb: int) -> int:
    gen = FORMATS[fmt][0]
    r = Pool(1)
    target = size_mb << 20
    written, i = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            parts = []
            for _ in range(2000):
                i += 1
                parts.append(gen(r, i))
            block = "".join(parts)
            f.write(block)
            written += len(block.encode())
    return i


# ------------------------------------------------------------------------------------------ naive parsers

_NAIVE = {
    "megatron": (r" iteration +(\d+)/", r"\| ([^|:]+): +([-+\w.]+) (?=\|)"),
    "mmengine": (r"Iter\(train\) \[ *(\d+)/", r"  (\w+): ([-+\w.]+)(?=  |$)"),
    "verl_console": (r"(?:^|\) )step:(\d+) - ", r"([\w/.@()-]+):([-+\w.]+)(?= - |$)"),
    "deepspeed_chat": (r"step: (\d+)\|", r"(\w+): ([-+\w.]+)(?=\||$)"),
    "torchtune": (r"^Step (\d+) \| ", r"(\w+):([-+\w.]+)"),
    "progress_bar": (r"\| (\d+)/\d+ \[", r", (\w+)=([-+\w.]+)"),
    "progress_bar_cr": (r"\| (\d+)/\d+ \[", r", (\w+)=([-+\w.]+)"),
    "generic_on_cr": (r"\| (\d+)/\d+ \[", r", (\w+)=([-+\w.]+)"),
    "progress_table": (r"^\| (\d+) \|", r"\| ([-+\w.]+) (?=\|)"),
    "generic_kv": (r"^(?:iter|step) (\d+):", r"(?:: |, )([a-z][\w ]*?) ([-+\d.e]+)"),
    "dpo_reference": (r"'counters/updates': (\d+)", r"'([\w/]+)': '?([-+\w.]+)'?"),
    "epoch_jsonl": (r'"epoch": (\d+)', r'"(\w+)": ([-+\w.]+)'),
    "blocks": (r"^step (\d+) ", r"^([A-Za-z][\w/@.-]*) ([-+\w.]+) *$"),  # (the step line's step holds)
    "build_nanogpt": (r"^(\d+) (?:train|val|hella) ", r" (\w+) ([-+\w.]+)$"),
    "llama_recipes": (r"step (\d+)/\d+ completed", r"\((loss): ([-+\w.]+)\)"),
    "llmc": (r"^s:(\d+) ", r" ([a-z]+):([-+\w.]+)"),
}


def naive_read(fmt: str, path: Path) -> int:
    """The obvious parser: every line, one regex for the step, one for the pairs, float() per value."""
    head, pair = (re.compile(p) for p in _NAIVE[fmt])
    series: dict[str, tuple[list, list]] = {}
    n, step = 0, 0
    sticky = fmt == "blocks"  # a block's lines take the step of the step line above them
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for piece in line.split("\r"):
                m = head.search(piece)
                if not m:
                    if not sticky:
                        continue
                else:
                    step = int(m.group(1))
                for j, kv in enumerate(pair.findall(piece)):
                    key, value = kv if isinstance(kv, tuple) else (str(j), kv)
                    try:
                        v = float(value)
                    except ValueError:
                        continue
                    col = series.setdefault(key, ([], []))
                    col[0].append(step)
                    col[1].append(v)
                    n += 1
    return n


# ------------------------------------------------------------------------------------------ runs


def _child(kind: str, fmt: str, path: str) -> None:
    """Runs in a fresh process: read once, print JSON (time, values, peak RSS)."""
    p = Path(path)
    if kind == "kto-doctor":
        import importlib

        mod = importlib.import_module(f"kto_doctor.sources.{FORMATS[fmt][1]}")
        t0, c0 = time.process_time(), time.perf_counter()
        data = mod.read(p)
        cpu, wall = time.process_time() - t0, time.perf_counter() - c0
        values = sum(len(s.values) for s in data.series.values())
        arrays = {id(a): a for s in data.series.values() for a in (s.steps, s.values, s.lines) if a is not None}
        output = sum(a.nbytes for a in arrays.values())
    else:
        t0, c0 = time.process_time(), time.perf_counter()
        values = naive_read(fmt, p)
        cpu, wall = time.process_time() - t0, time.perf_counter() - c0
        output = 16 * values
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"cpu": cpu, "wall": wall, "values": values, "rss": rss, "output": output}))


def run(kind: str, fmt: str, path: Path, tree: Path = REPO) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--child", kind, fmt, str(path)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(kind: str, fmt: str, path: Path, trees: list, repeat: int) -> list:
    """The best (least CPU) of `repeat` runs of each tree's reader, the trees interleaved round by round."""
    runs: list = [None] * len(trees)
    for _ in range(repeat):
        for i, tree in enumerate(trees):
            got = run(kind, fmt, path, tree)
            runs[i] = got if runs[i] is None or got["cpu"] < runs[i]["cpu"] else runs[i]
    return runs


def checkout(rev: str, into: Path) -> Path:
    """The `kto_doctor` package of a git revision, unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "kto_doctor"], check=True,
                             capture_output=True).stdout
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _row(fmt: str, who: str, mb: float, records: int, got: dict) -> str:
    out = got["output"] / 1e6
    return (f"| {fmt} | {who} | {mb:,.0f} MB | {records:,} | {got['values']:,} | {mb / got['cpu']:.0f} / "
            f"{mb / got['wall']:.0f} | {got['rss'] / 1e6:.0f} MB | {out:.0f} MB | {got['rss'] / 1e6 - out:.0f} MB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--no-naive", action="store_true", help="skip the naive parser (it is slow)")
    ap.add_argument("--against", metavar="REV", help="also time the readers of this git revision, interleaved")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per reader (default 1)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    print("| format | reader | file | records | values read | MB/s (cpu / wall) | peak RSS | output | peak less "
          "output |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tmp = Path(tempfile.mkdtemp(prefix="kto-bench-text-"))
    trees = [REPO]
    if args.against:
        trees.append(checkout(args.against, tmp / "against"))
    names = ["kto-doctor"] + ([f"kto-doctor@{args.against}"] if args.against else [])
    for fmt in args.only or FORMATS:
        path = tmp / f"{fmt}.log"
        records = generate(fmt, path, args.size_mb)
        mb = path.stat().st_size / 1e6
        try:
            ours = best("kto-doctor", fmt, path, trees, args.repeat)
            naive = None if args.no_naive else run("naive", fmt, path)
        finally:
            path.unlink()
        for who, got in zip(names, ours):
            print(_row(fmt, who, mb, records, got), flush=True)
        if naive:
            print(_row(fmt, "naive parser", mb, records, naive) + f" ({naive['cpu'] / ours[0]['cpu']:.1f}x the CPU)",
                  flush=True)
    if args.against:
        subprocess.run(["rm", "-rf", str(tmp / "against")], check=True)
    tmp.rmdir()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
