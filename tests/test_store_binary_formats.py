"""Binary logs and databases of trackers: W&B's `run-*.wandb`, SwanLab's `run-*.swanlab`, MLflow's SQLite store
and Trackio's project databases. Files written by the real libraries (scripts and versions next to them) are
compared with what those libraries' own readers return (the `*_reference.json` files beside the fixtures),
plus real published W&B folders, and damaged copies."""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import kto_doctor
from kto_doctor.discover import discover
from kto_doctor.ontology import canonical, is_bookkeeping
from kto_doctor.sources import leveldb_log, mlflow_sqlite, swanlab, trackio, wandb_run
from kto_doctor.sources.base import SourceData

from store_helpers import FORMATS, matches, values

WANDB = FORMATS / "wandb"
GEN = WANDB / "generated"



def history(path: Path) -> SourceData:
    data = SourceData(path=path, format="wandb")
    wandb_run._History(data).read(path)
    return data


# ------------------------------------------------------------------------------------------------- W&B

WANDB_REF = json.loads((GEN / "wandb_reference.json").read_text())["files"]  # wandb 0.17.9's own reader


@pytest.mark.parametrize("rel", sorted(k for k in WANDB_REF if not k.startswith("damaged")))
def test_wandb_history_matches_the_wandb_package(rel):
    rows = WANDB_REF[rel]
    data = history(GEN / rel)
    want: dict[str, dict[float, float]] = {}
    for row in rows:
        step = float(json.loads(row["train/global_step"]))  # HF-style define_metric: the step metric
        for key, text in row.items():
            if key.startswith("_") or is_bookkeeping(key):
                continue
            want.setdefault(canonical(key), {})[step] = float(json.loads(text))
    assert set(data.series) == set(want)
    for name, by_step in want.items():
        assert matches(data.series[name], by_step), name
    assert data.records == len(rows) and not data.warnings
    assert not rows or data.hints["wandb_step_metric"] == "train/global_step"


def test_wandb_versions_facts_and_run_state():
    healthy = wandb_run.read(GEN / "v0.31.0" / "wandb" / "offline-run-20261129_210426-i4pa830c")[0]
    assert healthy.facts["wandb_version"] == "0.31.0" and healthy.facts["run_state"] == "finished"
    assert healthy.facts["run_name"] == "healthy-run" and healthy.facts["exit_code"] == 0
    assert healthy.config == {"learning_rate": 5e-07, "beta": 0.1, "model": {"name": "Qwen/Qwen2.5-0.5B",
                                                                               "lora": {"r": 16}}}
    assert np.isnan(healthy.series["loss"].values[3]) and np.isinf(healthy.series["grad_norm"].values[4])
    failed = wandb_run.read(GEN / "v0.17.9" / "wandb" / "offline-run-20261129_210550-hs6lunnu")[0]
    assert failed.facts["exit_code"] == 1 and failed.facts["run_state"] == "failed"
    crashed = wandb_run.read(GEN / "v0.15.12" / "wandb" / "offline-run-20261129_210450-dzepl34m")[0]
    assert crashed.facts["run_state"] == "running"  # os._exit: no exit record
    assert crashed.series["loss"].steps.tolist() == [10.0, 20.0, 30.0, 40.0]  # 0.15 flushed every row


def test_wandb_0_31_crash_leaves_a_header_only_file():
    folder = GEN / "v0.31.0" / "wandb" / "offline-run-20261129_210430-wjam6n6k"
    assert (folder / "run-wjam6n6k.wandb").stat().st_size == 7
    data = wandb_run.read(folder)
    assert not any(d.series for d in data)
    assert "its run-*.wandb holds no history row; output.log holds no metrics" in data[0].warnings[0]


def test_wandb_multi_block_records_are_reassembled():
    folder = GEN / "big_v0.31.0" / "wandb" / "offline-run-20261130_002036-f8i48rrw"
    raw = (folder / "run-f8i48rrw.wandb").read_bytes()
    log = leveldb_log.read_log(raw)
    kinds = {raw[off + 6] for off in log.offsets}
    assert leveldb_log.FIRST in kinds and not log.bad
    # the chunks that open the second and third blocks continue that record
    assert raw[leveldb_log.BLOCK + 6] == leveldb_log.MIDDLE and raw[2 * leveldb_log.BLOCK + 6] == leveldb_log.LAST
    data = wandb_run.read(folder)[0]
    assert len(data.config["long_note"]) == 70_000  # one 70 KB config value over three blocks
    assert data.series["loss"].steps.tolist() == [float(s) for s in range(1, 41)]
    assert data.series["loss"].values[-1] == 2.0 / 40


def test_wandb_damaged_files_keep_what_checks():
    ref = WANDB_REF
    cut = history(GEN / "damaged" / "truncated.wandb")
    assert len(ref["damaged/truncated.wandb"]) - 1 == cut.records == 6  # wandb's reader: 6 rows, then asserts
    assert "cut at byte offset 3,906 of 3,950" in cut.warnings[0]
    flipped = history(GEN / "damaged" / "badcrc.wandb")
    kept_by_wandb = len(ref["damaged/badcrc.wandb"]) - 1
    assert kept_by_wandb == 3
    # wandb's reader stops at the bad checksum; the chunk after it checks, so every other row is kept
    assert flipped.series["loss"].steps.tolist() == [10.0, 20.0, 30.0, 50.0, 60.0]
    assert values(flipped.series["eval_loss"]) == {60.0: 0.61}
    assert "1 damaged chunk(s) or record(s) skipped, first at byte offset 2,486" in flipped.warnings[0]


def test_wandb_framing_survives_garbage_and_zero_fill(tmp_path):
    src = (GEN / "v0.17.9" / "wandb" / "offline-run-20261129_210434-4bvdbpxz" / "run-4bvdbpxz.wandb").read_bytes()
    padded = src + b"\x00" * (leveldb_log.BLOCK - len(src))  # a preallocated block
    assert len(leveldb_log.read_log(padded).records) == len(leveldb_log.read_log(src).records)
    garbage = src[:100] + os.urandom(300) + src[400:]
    log = leveldb_log.read_log(garbage)
    assert log.bad and log.records and all(isinstance(r, bytes) for r in log.records)
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b":W&B\xe1\xbe\x01" + src[7:])
    data = SourceData(path=path, format="wandb")
    wandb_run._History(data).read(path)
    assert data.warnings == ["run-x.wandb: unsupported .wandb version 1 (read: 0); skipped"]


def test_wandb_real_online_folders():
    tsebaka = WANDB / "tsebaka_T-Lab-2024-LLM-Alignment" / "wandb" / "run-20241216_132720-chk58nkd"
    data = wandb_run.read(tsebaka)
    main, console = data
    assert main.facts["wandb_version"] == "0.18.7" and main.facts["transformers_version"] == "4.47.0"
    assert main.config["activation"] == "gelu" and main.config["_name_or_path"] == "distilbert/distilbert-base-cased"
    assert console.format == "console" and console.series["loss"].values[0] == 0.6914  # output.log
    legacy = wandb_run.read(WANDB / "mdarshad1000_Fine-Tuning-GPTs" / "wandb" / "latest-run")[0]
    assert legacy.facts["wandb_version"] == "0.13.7" and "hyperparams" in legacy.config  # {desc, value} layout
    alpaca = wandb_run.read(WANDB / "0-KaiKai-0_stanford_alpaca" / "wandb" / "latest-run")[0]
    assert alpaca.facts["train_loss"] == pytest.approx(0.5294419806848214) and alpaca.facts["global_step"] == 1218


def test_wandb_git_lfs_pointer_is_named_as_one(tmp_path):
    run = tmp_path / "wandb" / "run-20241216_132720-chk58nkd"
    run.mkdir(parents=True)
    (run / "run-chk58nkd.wandb").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32
                                             + b"\nsize 2621440\n")
    data = history(run / "run-chk58nkd.wandb")
    assert data.warnings == ["run-chk58nkd.wandb: not a W&B transaction log (bad header) (a Git LFS pointer: the "
                             "file itself was never downloaded; fetch it with `git lfs pull`); skipped"]


def test_wandb_folder_of_several_runs(tmp_path):
    gen = GEN / "v0.17.9" / "wandb"
    assert wandb_run.runs(gen) == ["offline-run-20261129_210434-4bvdbpxz", "offline-run-20261129_210442-4bu4j8xr",
                                   "offline-run-20261129_210550-hs6lunnu"]  # not latest-run (a symlink), no debug log
    runs = discover(gen).runs
    assert [r.key for r in runs] == wandb_run.runs(gen)
    # a committed copy of latest-run is a run unless a run folder next to it is the same run; a copy that holds
    # only the summary the one run folder lacks (ananyakaligal: its output.log there) is that run's other half
    halves = WANDB / "ananyakaligal_Gemma2B-Finetuning" / "wandb"
    assert wandb_run.runs(halves) == ["run-20241104_054535-2vc9z1td"]
    data = wandb_run.read(halves / "run-20241104_054535-2vc9z1td")[0]
    assert data.facts["train_loss"] == pytest.approx(1.375, abs=5e-4)
    assert any("read from latest-run/" in w for w in data.warnings)
    other = tmp_path / "other" / "wandb"  # a copy with a console of its own is another run
    shutil.copytree(halves, other)
    (other / "latest-run" / "files" / "output.log").write_text("{'loss': 1.2, 'epoch': 0.5}\n")
    assert wandb_run.runs(other) == ["latest-run", "run-20241104_054535-2vc9z1td"]
    copy = tmp_path / "wandb"
    shutil.copytree(gen / "offline-run-20261129_210434-4bvdbpxz", copy / "offline-run-20261129_210434-4bvdbpxz")
    shutil.copytree(gen / "offline-run-20261129_210434-4bvdbpxz", copy / "latest-run")
    assert wandb_run.runs(copy) == ["offline-run-20261129_210434-4bvdbpxz"]


# ---------------------------------------------------------------------------------------------- SwanLab

SWAN = FORMATS / "swanlab"
SWAN_REF = json.loads((SWAN / "generated" / "swanlab_reference.json").read_text())["files"]


@pytest.mark.parametrize("rel", sorted(SWAN_REF))
def test_swanlab_binary_matches_swanlab_itself(rel):
    path = SWAN / "generated" / rel
    data = swanlab.read(path.parent)[0]
    want: dict[str, dict[float, float]] = {}
    for key, step, text in SWAN_REF[rel]:
        want.setdefault(canonical(key), {})[float(step)] = float(text)
    assert set(data.series) == set(want)
    for name, by_step in want.items():
        assert matches(data.series[name], by_step)
    assert data.facts["run_state"] == "finished" and data.facts["swanlab_version"] == "0.10.3"
    assert data.config["learning_rate"] == 5e-07


def test_swanlab_real_run_and_text_logs(tmp_path):
    real = SWAN / "lengbolengbo_QLoRA-Qwen3-medical-diagnosis-SFT" / "swanlog" / "run-20250606_205134-a3b1799d"
    assert swanlab.is_run_folder(real) and not wandb_run.is_run_folder(real)
    main, console = swanlab.read(real)
    assert not main.series and "named by column number only (10)" in main.warnings[0]
    assert console.series["loss"].values[0] == 1.9099  # console/2025-06-06.log
    # the early layout names each logs/ folder by its metric
    run = tmp_path / "swanlog" / "run-20240101_000000-abc123"
    (run / "logs" / "loss").mkdir(parents=True)
    (run / "logs" / "loss" / "1000.log").write_text(
        '{"index": 1, "data": 2.0, "create_time": "x"}\n{"index": 2, "data": NaN}\n{"index": 3, "da')
    data = swanlab.read(run)[0]
    assert data.series["loss"].steps.tolist() == [1.0, 2.0] and np.isnan(data.series["loss"].values[1])
    assert "skipped 1 malformed line(s), first at line 3" in data.warnings[0]


SWAN_EARLY = SWAN / "KashiwaByte_Pytorch-Swanlab" / "swanlog" / "run-20240303_215411-c386bbc4"


def test_swanlab_0_1_real_run_one_json_document_per_metric():
    """swanlab 0.1-0.2 (March 2024): `logs/<metric>/1000.json` is one JSON document holding the rows
    (KashiwaByte/Pytorch-Swanlab, PROVENANCE.md); its values as the file prints them."""
    assert swanlab.is_run_folder(SWAN_EARLY)
    (data,) = swanlab.read(SWAN_EARLY)
    want = {}
    for metric in ("Loss", "Accuracy"):
        doc = json.loads((SWAN_EARLY / "logs" / metric / "1000.json").read_text())
        want[canonical(metric)] = {float(r["index"]): float(r["data"]) for r in doc["data"]}
    assert set(data.series) == set(want) == {"loss", "accuracy"}  # the image column `result` is no metric
    for name, by_step in want.items():
        assert matches(data.series[name], by_step), name
    summary = json.loads((SWAN_EARLY / "logs" / "Loss" / "_summary.json").read_text())  # swanlab's own summary
    loss = values(data.series["loss"])
    assert (loss[0.0], loss[9.0], len(loss)) == (summary["max"], summary["min"], summary["num"]) == (
        0.9016622602939606, 2.168114406231325e-6, 10)
    assert data.warnings == []


def test_swanlab_0_1_cut_document_keeps_its_complete_rows(tmp_path):
    run = tmp_path / "swanlog" / SWAN_EARLY.name
    shutil.copytree(SWAN_EARLY, run)
    path = run / "logs" / "Loss" / "1000.json"
    raw = path.read_bytes()
    path.write_bytes(raw[: raw.index(b"0.00010497") + 5])  # killed while writing step 7's value
    (data,) = swanlab.read(run)
    assert data.series["loss"].steps.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert data.warnings == ["logs/Loss/1000.json: cut or damaged; kept the 7 complete row(s)"]
    path.write_bytes(b'{"create_time":"x","data":[{"index":0,"data":\x00\xff garbage')
    (data,) = swanlab.read(run)
    assert "loss" not in data.series and data.series["accuracy"].steps.tolist()[-1] == 9.0


def test_swanlab_0_1_real_run_verdict():
    report = kto_doctor.analyze(SWAN_EARLY)
    assert report.run.sources[0].format == "swanlab" and report.status == "healthy"  # loss 0.90 -> 2e-6, acc 1.0


# ----------------------------------------------------------------------------------------- MLflow SQLite

MLDB = FORMATS / "mlflow_sqlite" / "generated" / "mlflow.db"


def test_mlflow_sqlite_matches_mlflow_itself():
    ref = json.loads((MLDB.parent / "mlflow_reference.json").read_text())["runs"]  # MlflowClient, 3.17.2
    datas = {d.run_key: d for d in mlflow_sqlite.read(MLDB)}
    assert set(datas) == set(ref) and mlflow_sqlite.runs(MLDB) == list(datas)
    for run_id, run in ref.items():
        d = datas[run_id]
        assert d.facts["run_name"] == run["name"] and d.facts["run_state"] == run["status"].lower()
        assert d.config == run["params"] and d.facts["experiment"] == "kto-demo"
        for key, hist in run["metrics"].items():
            want: dict[float, float] = {}
            for step, ts, text in sorted(hist, key=lambda h: h[1]):
                v = float(text)
                want[float(step)] = math.copysign(math.inf, v) if abs(v) == sys.float_info.max else v
            assert matches(d.series[canonical(key)], want), key
    nan_run = next(d for d in datas.values() if d.facts["run_name"] == "nan-run")
    # SQL holds no NaN/inf: MLflow stores value=0,is_nan=1 and ±DBL_MAX; they are logged values again
    assert np.isnan(nan_run.series["loss"].values[2]) and nan_run.series["loss"].values[3:].tolist() == [
        math.inf, -math.inf]


def test_mlflow_sqlite_run_without_metrics_is_a_run_that_says_so(tmp_path):
    """A FAILED run that logged nothing (17-doha/GANS's mlruns.db holds one; checked, not committed): `runs`
    lists it, so `analyze --run` must say what it is, not "no training logs found"."""
    import sqlite3

    db = tmp_path / "mlflow.db"
    shutil.copy(MLDB, db)
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
    row = dict(zip(cols, con.execute("SELECT * FROM runs LIMIT 1").fetchone()))
    row.update(run_uuid="f" * 32, name="empty-run", status="FAILED", start_time=row["start_time"] + 1)
    con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols])
    con.commit()
    con.close()
    datas = {d.run_key: d for d in mlflow_sqlite.read(db)}
    assert list(datas) == mlflow_sqlite.runs(db) and len(datas) == 4
    empty = datas["f" * 32]
    assert not empty.series and empty.facts["run_state"] == "failed"
    assert empty.warnings == [f"mlflow.db#{'f' * 32}: this MLflow run logged no metric and no parameter "
                              "(status: failed)"]
    report = kto_doctor.analyze(db, run_key="f" * 32)
    assert report.status == "inconclusive"


def test_mlflow_sqlite_is_opened_read_only(tmp_path):
    db = tmp_path / "mlflow.db"
    shutil.copy(MLDB, db)
    os.chmod(db, 0o444)
    os.chmod(tmp_path, 0o555)  # nothing may be created next to it (journal, WAL, lock)
    try:
        before = db.stat().st_mtime_ns
        assert len(mlflow_sqlite.runs(db)) == 3 and len(mlflow_sqlite.read(db)) == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"] and db.stat().st_mtime_ns == before
    finally:
        os.chmod(tmp_path, 0o755)


# ---------------------------------------------------------------------------------------------- Trackio

TRACKIO = FORMATS / "trackio" / "generated"


@pytest.mark.parametrize("version", ["v0.43.0", "v0.23.0"])
def test_trackio_matches_trackio_itself(version):
    db = TRACKIO / version / "kto-demo.db"
    ref = json.loads((TRACKIO / version / "trackio_reference.json").read_text())["runs"]  # get_logs, 0.43.0
    datas = {d.facts["run_name"]: d for d in trackio.read(db)}
    assert set(datas) == set(ref)
    for run, rows in ref.items():
        want: dict[str, dict[float, float]] = {}
        for row in rows:
            for key, text in row.items():
                if key != "step":
                    want.setdefault(canonical(key), {})[float(row["step"])] = float(text)
        assert set(datas[run].series) == set(want)
        for name, by_step in want.items():
            assert matches(datas[run].series[name], by_step)
    nan_run = datas["nan-run"].series["loss"]
    assert np.isnan(nan_run.values[1]) and np.isinf(nan_run.values[2])  # stored as "NaN", "Infinity"
    assert datas["healthy-run"].config == {"learning_rate": 5e-07, "beta": 0.1, "model": {"name": "Qwen/Qwen2.5-0.5B"}}
    keys = trackio.runs(db)
    assert keys == (["healthy-run", "nan-run"] if version == "v0.23.0" else [d.run_key for d in datas.values()])


def test_the_framework_comes_from_what_the_tracker_configuration_shows(tmp_path):
    run = tmp_path / "wandb" / "run-20250101_000000-abcd1234"
    shutil.copytree(GEN / "v0.17.9" / "wandb" / "offline-run-20261129_210434-4bvdbpxz", run)
    (run / "files" / "config.yaml").write_text(
        "wandb_version: 1\nper_device_train_batch_size:\n  desc: null\n  value: 4\nlogging_steps:\n  desc: null\n"
        "  value: 10\n_wandb:\n  desc: null\n  value:\n    cli_version: 0.16.0\n    t:\n      '1': [1, 11, 84]\n"
        "      '6': 4.40.0\n")
    (run / "files" / "requirements.txt").write_text("torch==2.3.0\ntrl==0.9.6\ntransformers==4.40.0\n")
    data = wandb_run.read(run)[0]
    assert data.hints["framework"] == "transformers" and data.config["per_device_train_batch_size"] == 4
    assert data.facts["trl_version"] == "0.9.6" and data.facts["transformers_version"] == "4.40.0"
    assert data.facts["imports_trl"] is True
    (run / "files" / "config.yaml").write_text("actor_rollout_ref:\n  value: {actor: {}}\ntrainer:\n  value: {}\n")
    assert wandb_run.read(run)[0].hints["framework"] == "verl"


def test_a_run_the_tracker_records_as_failed_is_never_healthy():
    """W&B's exit record says code 1: the report says the run did not finish (RUN103) even where its logged
    numbers are fine; a finished run and one without an exit record (maybe still alive) are not flagged."""
    import kto_doctor

    runs = GEN / "v0.17.9" / "wandb" / "offline-run-20261129_210550-hs6lunnu"
    report = kto_doctor.analyze(runs)
    ended = [f for f in report.findings if f.rule == "RUN103"]
    assert ended and ended[0].evidence["run_state"] == "failed" and ended[0].evidence["exit_code"] == 1
    assert "exit code 1" in ended[0].title and report.status != "healthy"
    for folder in ("v0.31.0/wandb/offline-run-20261129_210426-i4pa830c",
                   "v0.15.12/wandb/offline-run-20261129_210450-dzepl34m"):
        assert not [f for f in kto_doctor.analyze(GEN / folder).findings if f.rule == "RUN103"], folder
