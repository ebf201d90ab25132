"""How tracker folders and stores become runs: a tracker copy inside an HF output dir joins that run, several
stay runs of their own, a store of several runs is several runs for `analyze --run` and `scan`, and every
format is listed by `kto-doctor formats`."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

import kto_doctor
from kto_doctor.cli import app
from kto_doctor.discover import discover

from ci_runs import rows, write_state

FORMATS = Path(__file__).parent / "fixtures" / "formats"
WANDB_RUNS = FORMATS / "wandb" / "generated" / "v0.17.9" / "wandb"
HEALTHY = "offline-run-20261129_210434-4bvdbpxz"
MLDB = FORMATS / "mlflow_sqlite" / "generated" / "mlflow.db"
TRACKIO_DB = FORMATS / "trackio" / "generated" / "v0.43.0" / "kto-demo.db"
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_lone_tracker_folder_inside_an_output_dir_joins_its_run(tmp_path):
    out = write_state(tmp_path / "out", rows(60))
    shutil.copytree(WANDB_RUNS / HEALTHY, out / "wandb" / HEALTHY)
    shutil.copytree(FORMATS / "dvclive" / "generated" / "dvclive", out / "dvclive")
    runs = discover(tmp_path).runs
    assert len(runs) == 1 and runs[0].root == out
    assert {f.source.name for f in runs[0].files} == {"trainer_state", "wandb", "dvclive"}
    report = kto_doctor.analyze(out)
    assert {s.format for s in report.run.sources} >= {"trainer_state", "wandb", "dvclive"}
    assert report.run.config.get("wandb_version") == "0.17.9"  # a fact the tracker states


def test_several_tracker_runs_in_an_output_dir_stay_runs_of_their_own(tmp_path):
    out = write_state(tmp_path / "out", rows(60))
    for name in ("offline-run-20261129_210434-4bvdbpxz", "offline-run-20261129_210442-4bu4j8xr"):
        shutil.copytree(WANDB_RUNS / name, out / "wandb" / name)
    runs = discover(tmp_path).runs
    assert sorted(r.label for r in runs) == ["out", "out/wandb#offline-run-20261129_210434-4bvdbpxz",
                                            "out/wandb#offline-run-20261129_210442-4bu4j8xr"]
    own = next(r for r in runs if r.label == "out")
    assert [f.source.name for f in own.files] == ["trainer_state"]


def test_two_mlflow_runs_beside_an_output_dir_are_two_runs(tmp_path):
    out = write_state(tmp_path / "out", rows(60))
    exp = FORMATS / "mlflow" / "generated" / "mlruns" / "799171004386617384"
    for run in ("3f6a258ac6be44b49e45c7cc9c31f708", "d3c1bc4e7c2f418c91cc9dc502a78f57"):
        shutil.copytree(exp / run, out / "mlruns" / "1" / run)
    assert len(discover(tmp_path).runs) == 3
    shutil.rmtree(out / "mlruns" / "1" / "3f6a258ac6be44b49e45c7cc9c31f708")
    runs = discover(tmp_path).runs
    assert len(runs) == 1 and {f.source.name for f in runs[0].files} == {"trainer_state", "mlflow"}


def test_a_store_of_several_runs_is_listed_and_analysed_one_run_at_a_time(tmp_path):
    db = tmp_path / "mlflow.db"
    shutil.copy(MLDB, db)
    r = cli("analyze", db)
    assert r.exit_code == 2 and "holds 3 runs" in r.output and "--run" in r.output
    ref = json.loads((MLDB.parent / "mlflow_reference.json").read_text())["runs"]
    nan_run = next(k for k, v in ref.items() if v["name"] == "nan-run")
    r = cli("analyze", db, "--run", nan_run, "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and any(f["symptom"] == "nan-inf" for f in doc["findings"])
    r = cli("scan", db, "--format", "json", "-j", "1")
    assert {Path(d["run"]["path"]).name for d in json.loads(r.stdout)} == {f"mlflow.db#{k}" for k in ref}


def test_scan_lists_the_runs_of_every_store_kind(tmp_path):
    shutil.copy(TRACKIO_DB, tmp_path / "kto-demo.db")
    shutil.copytree(WANDB_RUNS, tmp_path / "wandb", symlinks=True)
    (tmp_path / "train.log").write_text("{'loss': 1.0, 'learning_rate': 1e-05, 'epoch': 0.1}\n" * 3)
    r = cli("scan", tmp_path, "--format", "json", "-j", "1")
    paths = sorted(Path(d["run"]["path"]).name for d in json.loads(r.stdout))
    assert len([p for p in paths if p.startswith("kto-demo.db#")]) == 2
    assert len([p for p in paths if p.startswith("wandb#")]) == 3
    assert "train.log" in paths or tmp_path.name in paths  # the folder's own console log stays a run


def test_a_database_that_is_no_store_is_not_a_run(tmp_path):
    con = sqlite3.connect(tmp_path / "app.db")
    con.execute("CREATE TABLE notes (id INTEGER, text TEXT)")
    con.commit()
    con.close()
    (tmp_path / "train.log").write_text("{'loss': 1.0, 'learning_rate': 1e-05, 'epoch': 0.1}\n" * 3)
    runs = discover(tmp_path).runs
    assert len(runs) == 1 and [f.rel for f in runs[0].files] == ["train.log"]


def test_formats_lists_every_store_format():
    r = cli("formats", "--json")
    names = {f["name"] for f in json.loads(r.output)["formats"]}
    assert {"verl", "lightning_csv", "dvclive", "mlflow", "mlflow_sqlite", "wandb", "trackio", "swanlab"} <= names
    folders = {f["name"] for f in json.loads(r.output)["formats"] if "folder layout" in f["recognised_by"]}
    assert folders == {"dvclive", "mlflow", "wandb", "swanlab"}


def test_analyze_a_project_folder_whose_only_logs_are_a_wandb_dir(tmp_path):
    """The README's first command on what an offline W&B user has: `wandb/` as W&B leaves it (one run folder,
    the `latest-run` and `debug.log` symlinks) next to the training script."""
    run = "offline-run-20261129_210426-i4pa830c"
    wandb = tmp_path / "proj" / "wandb"
    shutil.copytree(FORMATS / "wandb" / "generated" / "v0.31.0" / "wandb" / run, wandb / run)
    (wandb / run / "logs").mkdir()
    (wandb / run / "logs" / "debug.log").write_text("2026-11-29 10:00:00 INFO wandb.init\n")
    (wandb / "latest-run").symlink_to(run)
    (wandb / "debug.log").symlink_to(f"{run}/logs/debug.log")
    (tmp_path / "proj" / "train.py").write_text("import wandb\n")
    r = cli("analyze", tmp_path / "proj", "--format", "json", "--fail-on", "warning")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1, r.output  # the NaN the run logged (one step, recovered: a warning) fails the gate
    assert {s["format"] for s in doc["run"]["sources"]} == {"wandb", "console"}  # history + its output.log
    assert any(f["symptom"] == "nan-inf" for f in doc["findings"])
    assert doc["run"]["path"].endswith(f"proj#{run}")  # which run of the folder was read
