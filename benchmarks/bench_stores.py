"""Benchmark: the file-logger and tracker readers against the obvious way to read the same file.

One large generated file per format (written once, then cached in the temp folder), each reader timed in a
fresh Python process side by side with a naive alternative in the same run:

| format | file | kto-doctor reader | alternative |
|---|---|---|---|
| verl | JSON lines, 1M rows x 12 keys | `verl_jsonl.read` | `json.loads` per line into per-key lists |
| lightning | metrics.csv, 1M rows (train, val and epoch rows) | `lightning_csv.read` | `pandas.read_csv` |
| dvclive | 4 TSVs x 250k rows | `dvclive.read` | `pandas.read_csv(sep="\\t")` per file |
| mlflow | 10 metric files x 100k lines | `mlflow_files.read` | `pandas.read_csv(sep=" ")` per file |
| mlflow_sqlite | 1M metric rows, 2 runs | `mlflow_sqlite.read` | `pandas.read_sql` of the metrics table |
| trackio | 100k rows x 10 metrics (1M values), 2 runs | `trackio.read` | `pandas.read_sql` + `json.loads` per row |
| wandb | run-*.wandb, 100k history rows x 10 items (1M items) | `wandb_run.read` | wandb 0.17.9's own reader (`--wandb-python`), `datastore` + protobuf + `json.loads` per item |

Times are the read alone (after imports: pandas is loaded before the clock starts for every reader, as it
is whenever kto-doctor reads a run) in a fresh process, best of `--repeat`; peak RSS is the whole process. The generated SQLite files have the tables MLflow / Trackio create (the columns the readers use),
not every table of the real schema; the .wandb file is framed and encoded here (W&B's header, blocks,
CRC-32 and Record/HistoryRecord field numbers) and the wandb package's reader is the check that it is a
valid file: both must read the same number of items.

    python benchmarks/bench_stores.py                       # every format
    python benchmarks/bench_stores.py --formats verl,wandb --repeat 3 \\
        --wandb-python /path/to/venv-with-wandb-0.17/bin/python
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "kto-doctor-bench-stores"

# ------------------------------------------------------------------------------------------ generators


def gen_verl(path: Path, rows: int) -> None:
    rnd = random.Random(1)
    with open(path, "w") as f:
        for s in range(1, rows + 1):
            data = {"training/global_step": s, "actor/entropy": rnd.random(), "actor/pg_loss": rnd.random() - 0.5,
                    "actor/pg_clipfrac": rnd.random() * 0.01, "actor/ppo_kl": rnd.random() * 1e-3,
                    "actor/grad_norm": rnd.random(), "actor/lr": 1e-6, "critic/score/mean": rnd.random(),
                    "critic/rewards/mean": rnd.random(), "response_length/mean": rnd.random() * 500,
                    "timing_s/step": 30.0 + rnd.random(), "perf/throughput": 1500.0 + rnd.random()}
            if s % 1000 == 0:
                data["actor/pg_loss"] = None  # orjson's NaN
            f.write(json.dumps({"step": s, "data": data}, separators=(",", ":")) + "\n")


def gen_lightning(path: Path, rows: int) -> None:
    rnd = random.Random(2)
    with open(path, "w", newline="") as f:
        f.write("epoch,lr-AdamW,step,train_acc,train_loss,val_acc,val_loss\r\n")
        step = 0
        n = 0
        while n < rows:
            step += 50
            f.write(f"{step // 5000},{1e-4},{step},{rnd.random():.6f},{rnd.random():.6f},,\r\n")
            n += 1
            if step % 1000 == 0 and n < rows:
                f.write(f"{step // 5000},,{step},,,{rnd.random():.6f},{rnd.random():.6f}\r\n")
                n += 1


def gen_dvclive(folder: Path, rows: int) -> None:
    rnd = random.Random(3)
    per = rows // 4
    for name in ("loss", "learning_rate", "grad_norm", "eval/loss"):
        p = folder / "plots" / "metrics" / f"{name}.tsv"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w") as f:
            f.write(f"step\t{name.rsplit('/', 1)[-1]}\n")
            f.writelines(f"{i}\t{rnd.random()}\n" for i in range(per))
    (folder / "metrics.json").write_text("{}\n")


def gen_mlflow(folder: Path, rows: int) -> None:
    rnd = random.Random(4)
    per = rows // 10
    (folder / "metrics").mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text("run_id: " + "a" * 32 + "\nstatus: 3\n")
    for k in range(10):
        with open(folder / "metrics" / f"metric_{k}", "w") as f:
            f.writelines(f"{1700000000000 + i} {rnd.random()} {i}\n" for i in range(per))


def gen_mlflow_sqlite(path: Path, rows: int) -> None:
    rnd = random.Random(5)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256));
        CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250), status VARCHAR(9),
            start_time BIGINT, lifecycle_stage VARCHAR(20), experiment_id INTEGER);
        CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
            run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL);
        CREATE TABLE params ("key" VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
        CREATE TABLE tags ("key" VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
        CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, "key", step);
        INSERT INTO experiments VALUES (1, 'bench');
    """)
    runs = ["b" * 32, "c" * 32]
    con.executemany("INSERT INTO runs VALUES (?, ?, 'FINISHED', ?, 'active', 1)",
                    [(r, f"run{i}", i) for i, r in enumerate(runs)])
    keys = ["loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected"]
    per = rows // (len(runs) * len(keys))
    con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, 0)",
                    ((k, rnd.random(), 1700000000000 + s, r, s) for r in runs for k in keys for s in range(per)))
    con.commit()
    con.close()


def gen_trackio(path: Path, rows: int) -> None:
    rnd = random.Random(6)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, timestamp TEXT NOT NULL,
            run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL, log_id TEXT, space_id TEXT);
        CREATE TABLE configs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, run_name TEXT NOT NULL,
            config TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE(run_id));
        CREATE INDEX idx_metrics_run_step ON metrics(run_id, step);
    """)
    names = [f"train/m{k}" for k in range(9)] + ["train/loss"]
    per = rows // 2
    for r in ("d" * 32, "e" * 32):
        con.execute("INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?, ?, ?, 'x')",
                    (r, "run-" + r[0], b'{"learning_rate":1e-5}'))
        con.executemany("INSERT INTO metrics (run_id, timestamp, run_name, step, metrics) VALUES (?, 't', ?, ?, ?)",
                        ((r, "run-" + r[0], s, json.dumps({n: rnd.random() for n in names}).encode())
                         for s in range(per)))
    con.commit()
    con.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def gen_wandb(path: Path, rows: int) -> None:
    """A .wandb of `rows` history records of 10 items each: W&B's framing, Record{num=1, history=2}."""
    rnd = random.Random(7)
    keys = [f"train/m{k}".encode() for k in range(8)] + [b"train/loss", b"train/global_step"]
    block, out = 32768, bytearray(b":W&B" + struct.pack("<H", 0xBEE1) + b"\x00")
    for s in range(rows):
        items = b"".join(_ld(1, _ld(1, k) + _ld(16, (str(s + 1) if k == b"train/global_step"
                                                       else repr(rnd.random())).encode())) for k in keys)
        rec = b"\x08" + _varint(s + 1) + _ld(2, items + _ld(2, b"\x08" + _varint(s)))
        first = True
        while True:
            left = block - len(out) % block
            if left < 7:
                out += b"\x00" * left
                continue
            piece, rec = rec[:left - 7], rec[left - 7:]
            kind = (1 if not rec else 2) if first else (4 if not rec else 3)
            out += struct.pack("<IHB", zlib.crc32(piece, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF, len(piece), kind)
            out += piece
            first = False
            if not rec:
                break
    path.write_bytes(bytes(out))


# ------------------------------------------------------------------------------------------ the readers

# kto-doctor has pandas loaded whenever it reads a run (run.py builds a DataFrame), so it is imported before
# the clock starts, as it is for the pandas alternatives.
OURS = {k: "import pandas\n" + v for k, v in {
    "verl": "from kto_doctor.sources.verl_jsonl import read",
    "lightning": "from kto_doctor.sources.lightning_csv import read",
    "dvclive": "from kto_doctor.sources.dvclive import read",
    "mlflow": "from kto_doctor.sources.mlflow_files import read",
    "mlflow_sqlite": "from kto_doctor.sources.mlflow_sqlite import read",
    "trackio": "from kto_doctor.sources.trackio import read",
    "wandb": "from kto_doctor.sources.wandb_run import read",
}.items()}
COUNT_OURS = """
got = read(P)
got = got if isinstance(got, list) else [got]
N = sum(len(s.values) for d in got for s in d.series.values())
"""
NAIVE = {
    "verl": ("import json", """
cols = {}
with open(P) as f:
    for line in f:
        rec = json.loads(line)
        for k, v in rec["data"].items():
            cols.setdefault(k, []).append((rec["step"], v))
N = sum(len(v) for v in cols.values())
""", "json.loads per line"),
    "lightning": ("import pandas as pd", "df = pd.read_csv(P)\nN = int(df.drop(columns=['step']).notna().sum().sum())",
                  "pandas.read_csv"),
    "dvclive": ("import pandas as pd", """
N = 0
for t in sorted((P / 'plots' / 'metrics').rglob('*.tsv')):
    N += len(pd.read_csv(t, sep='\\t'))
""", "pandas.read_csv per TSV"),
    "mlflow": ("import pandas as pd", """
N = 0
for t in sorted((P / 'metrics').iterdir()):
    N += len(pd.read_csv(t, sep=' ', header=None, names=['ts', 'value', 'step']))
""", "pandas.read_csv per metric file"),
    "mlflow_sqlite": ("import pandas as pd, sqlite3", """
con = sqlite3.connect(f'file:{P}?mode=ro', uri=True)
df = pd.read_sql('SELECT run_uuid, key, value, step, is_nan, timestamp FROM metrics', con)
N = len(df)
""", "pandas.read_sql"),
    "trackio": ("import pandas as pd, sqlite3, json", """
con = sqlite3.connect(f'file:{P}?mode=ro', uri=True)
df = pd.read_sql('SELECT run_id, step, metrics FROM metrics', con)
rows = [json.loads(m) for m in df['metrics']]
N = sum(len(r) for r in rows)
""", "pandas.read_sql + json.loads per row"),
}
WANDB_PACKAGE = ("""
import json
from wandb.sdk.internal import datastore
from wandb.proto import wandb_internal_pb2 as pb
""", """
ds = datastore.DataStore()
ds.open_for_scan(str(P))
N = 0
while True:
    data = ds.scan_data()
    if data is None:
        break
    rec = pb.Record()
    rec.ParseFromString(data)
    if rec.WhichOneof('record_type') == 'history':
        for item in rec.history.item:
            json.loads(item.value_json)
            N += 1
""", "wandb 0.17 datastore + protobuf")

CHILD = """
import resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
{imports}
P = Path({path!r})
t0 = time.perf_counter()
{body}
t = time.perf_counter() - t0
print(t, N, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(python: str, imports: str, body: str, path: Path, repeat: int) -> tuple[float, int, int]:
    best = None
    for _ in range(repeat):
        code = CHILD.format(root=str(ROOT), imports=imports, path=str(path), body=body)
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=3600)
        if out.returncode:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        t, n, rss = out.stdout.split()
        got = (float(t), int(n), int(rss))
        best = got if best is None or got[0] < best[0] else best
    return best


# ------------------------------------------------------------------------------------------ main

FILES = {
    "verl": ("verl.jsonl", gen_verl, 1_000_000),
    "lightning": ("metrics.csv", gen_lightning, 1_000_000),
    "dvclive": ("dvclive", gen_dvclive, 1_000_000),
    "mlflow": ("mlruns-run", gen_mlflow, 1_000_000),
    "mlflow_sqlite": ("mlflow.db", gen_mlflow_sqlite, 1_000_000),
    "trackio": ("bench.db", gen_trackio, 100_000),
    "wandb": ("run-20240101_000000-bench/run-bench.wandb", gen_wandb, 100_000),
}


def size_of(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--formats", default=",".join(FILES))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every file's size (0.1 for a quick run)")
    ap.add_argument("--wandb-python", default=None, help="a Python with wandb 0.15-0.17 installed (its reader)")
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    print("| format | file | reader | values | seconds | MB/s | vs alternative | peak RSS |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for fmt in args.formats.split(","):
        name, gen, rows = FILES[fmt]
        rows = int(rows * args.scale)
        path = CACHE / f"{rows}" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt in ("dvclive", "mlflow"):
                path.mkdir(parents=True)
            gen(path, rows)
        target = path.parent if fmt == "wandb" else path
        mb = size_of(path) / 1e6
        t_ours, n_ours, rss_ours = measure(sys.executable, OURS[fmt], COUNT_OURS, target, args.repeat)
        rows_out = [("kto-doctor", t_ours, n_ours, rss_ours)]
        alt = NAIVE.get(fmt)
        python = sys.executable
        if fmt == "wandb":
            alt = WANDB_PACKAGE if args.wandb_python else None
            python = args.wandb_python
        if alt is not None:
            t, n, rss = measure(python, alt[0], alt[1], path, args.repeat)
            rows_out.append((alt[2], t, n, rss))
        base = rows_out[-1][1]
        for label, t, n, rss in rows_out:
            print(f"| {fmt} | {mb:,.0f} MB | {label} | {n:,} | {t:.2f} | {mb / t:,.0f} | {base / t:.1f}x | "
                  f"{rss // 1024} MB |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
