"""Discovery: which files are logs, which folders are runs, and how a folder of several runs is refused."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter

import kto_doctor
from kto_doctor import InputError
from kto_doctor.discover import discover

HF_LINES = [f"{{'loss': {2.0 - i * 0.05:.4f}, 'grad_norm': 1.2, 'learning_rate': 1e-05, 'epoch': {i / 20:.2f}}}"
            for i in range(1, 21)]


def state(path: Path, losses, steps=None, extra=None) -> Path:
    steps = steps or list(range(1, len(losses) + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    history = [{"step": s, "loss": v, "learning_rate": 1e-5, **(extra or {})} for s, v in zip(steps, losses)]
    path.write_text(json.dumps({"global_step": steps[-1], "log_history": history}))
    return path


def events(path: Path, scalars) -> Path:
    """An event file of (tag, step, value, wall_time) scalars."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        w = RecordWriter(f)
        w.write(Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for tag, step, value, wall in scalars:
            ev = Event(wall_time=wall, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]))
            w.write(ev.SerializeToString())
    return path


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kto_doctor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


# ---------------------------------------------------------------------------------------- runs in a folder

def test_checkpoints_are_one_run(tmp_path):
    state(tmp_path / "checkpoint-10" / "trainer_state.json", [1.0] * 10)
    state(tmp_path / "checkpoint-20" / "trainer_state.json", [1.0] * 20)
    (tmp_path / "train.log").write_text("\n".join(HF_LINES))
    runs = discover(tmp_path).runs
    assert len(runs) == 1 and runs[0].root == tmp_path
    assert {f.rel for f in runs[0].files} == {"checkpoint-10/trainer_state.json", "checkpoint-20/trainer_state.json",
                                             "train.log"}


def test_a_folder_of_several_runs_is_refused_with_the_way_out(tmp_path):
    state(tmp_path / "lr1e-5" / "trainer_state.json", [1.0] * 5)
    state(tmp_path / "lr1e-6" / "trainer_state.json", [1.0] * 5)
    with pytest.raises(InputError, match=r"holds 2 runs \(lr1e-5, lr1e-6\).*kto-doctor scan"):
        kto_doctor.load_run(tmp_path)
    r = cli("analyze", tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "kto-doctor scan" in r.stderr


def test_the_run_at_path_wins_over_runs_below_it(tmp_path):
    state(tmp_path / "trainer_state.json", [1.0] * 5)
    state(tmp_path / "ablation" / "trainer_state.json", [2.0] * 7)
    run = kto_doctor.load_run(tmp_path)
    assert run.series("loss").tolist() == [1.0] * 5
    assert any("1 other run(s) below" in w and "ablation" in w for w in run.warnings)


def test_loose_console_logs_are_each_a_run(tmp_path):
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text("\n".join(HF_LINES))
    assert [r.label for r in discover(tmp_path).runs] == ["a.log", "b.log"]
    (tmp_path / "b.log").unlink()
    (tmp_path / "train.yaml").write_text("stage: kto\nlearning_rate: 5.0e-7\n")
    (run,) = discover(tmp_path).runs
    assert run.root == tmp_path and [f.rel for f in run.files] == ["a.log", "train.yaml"]


def test_renamed_trainer_state_copies_are_runs_of_their_own(tmp_path):
    state(tmp_path / "run-a.json", [1.0] * 3)
    state(tmp_path / "run-b.json", [2.0] * 3)
    assert [r.label for r in discover(tmp_path).runs] == ["run-a.json", "run-b.json"]


# A Trainer-written model card: the only log a downloaded model repository holds
CARD = """---
tags:
- trl
- kto
---
# mistral-kto

### Training hyperparameters
- learning_rate: 5e-07
- num_epochs: 1

### Training results

| Training Loss | Epoch | Step | Validation Loss | Rewards/chosen | Rewards/rejected | Rewards/margins | Kl |
|:-------------:|:-----:|:----:|:---------------:|:--------------:|:----------------:|:---------------:|:--:|
| 0.4951        | 0.2   | 100  | 0.4898          | 0.21           | -0.15            | 0.36            | 0.31 |
| 0.4612        | 0.4   | 200  | 0.4560          | 0.55           | -0.71            | 1.26            | 0.42 |
| 0.4380        | 0.6   | 300  | 0.4301          | 0.93           | -1.45            | 2.38            | 0.49 |
"""


def test_a_model_repository_is_read_from_its_card_when_nothing_else_is_a_log(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 16}')
    run = kto_doctor.load_run(tmp_path)
    assert run.series("loss").tolist() == [0.4951, 0.4612, 0.438]
    assert run.series("eval_loss").tolist() == [0.4898, 0.456, 0.4301]
    assert any("README.md" in w and "model card" in w for w in run.warnings)


def test_a_card_beside_real_logs_is_not_read(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    state(tmp_path / "trainer_state.json", [1.0] * 5)
    (run,) = discover(tmp_path).runs
    assert [f.rel for f in run.files] == ["trainer_state.json"]


def test_a_readme_of_prose_is_still_no_log(tmp_path):
    (tmp_path / "README.md").write_text("# Fine-tuning\n\nStep 1: install 2 things\nStep 2: run train.py\n")
    r = cli("analyze", tmp_path)
    assert r.returncode == 2 and "no training logs found" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ recognised by content

def test_a_paste_with_any_name_is_recognised_by_its_content(tmp_path):
    paste = tmp_path / "issue-7380-paste"  # no suffix at all
    paste.write_text("Some prose from the issue\n" + "\n".join(HF_LINES) + "\nmore prose\n")
    run = kto_doctor.load_run(tmp_path)
    assert len(run.series("loss")) == 20 and run.sources[0].format == "console"


@pytest.mark.parametrize("encode", ["gzip", "utf-16", "utf-8-sig", "cr"])
def test_logs_in_other_encodings_are_read(tmp_path, encode):
    text = "\n".join(HF_LINES) + "\n"
    name = "train.log.gz" if encode == "gzip" else "train.log"
    data = {"gzip": lambda: gzip.compress(text.encode()), "utf-16": lambda: text.encode("utf-16"),
            "utf-8-sig": lambda: text.encode("utf-8-sig"), "cr": lambda: text.replace("\n", "\r").encode()}[encode]()
    (tmp_path / name).write_bytes(data)
    run = kto_doctor.load_run(tmp_path)
    assert run.series("loss").round(4).tolist() == [round(2.0 - i * 0.05, 4) for i in range(1, 21)]


# --------------------------------------------------------------------------------------- hostile trees

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_skipped_never_opened(tmp_path):
    state(tmp_path / "trainer_state.json", [1.0] * 5)
    os.mkfifo(tmp_path / "trainer_log.jsonl")  # opening it would block forever
    os.symlink("/dev/zero", tmp_path / "console.log")
    run = kto_doctor.load_run(tmp_path)
    assert len(run.series("loss")) == 5
    assert any("trainer_log.jsonl: skipped: not a regular file (a FIFO)" in w for w in run.warnings)
    r = cli("analyze", tmp_path / "trainer_log.jsonl")
    assert r.returncode == 2 and "not a regular file" in r.stderr and "Traceback" not in r.stderr


def test_symlinks_never_lead_out_of_the_walk_or_round_in_circles(tmp_path):
    outside = state(tmp_path / "elsewhere" / "trainer_state.json", [9.0] * 3)
    run_dir = tmp_path / "run"
    state(run_dir / "trainer_state.json", [1.0] * 5)
    os.symlink(run_dir, run_dir / "loop")  # a folder that contains itself
    os.symlink(outside, run_dir / "stolen_trainer_state.json")
    run = kto_doctor.load_run(run_dir)
    assert run.series("loss").tolist() == [1.0] * 5
    assert any("stolen_trainer_state.json: skipped: a symlink that leads outside" in w for w in run.warnings)


# ------------------------------------------------------------------------------ TensorBoard folders

def test_keras_train_and_validation_folders_keep_their_roles(tmp_path):
    events(tmp_path / "logs" / "train" / "events.out.tfevents.1.h.1.v2", [("epoch_loss", s, 2.0 - s / 10, 10.0 + s)
                                                                          for s in range(5)])
    events(tmp_path / "logs" / "validation" / "events.out.tfevents.1.h.1.v2",
           [("epoch_loss", s, 2.5 - s / 20, 10.5 + s) for s in range(5)])
    run = kto_doctor.load_run(tmp_path / "logs")
    assert run.series("loss").round(3).tolist() == [2.0, 1.9, 1.8, 1.7, 1.6]
    assert run.series("eval_loss").round(3).tolist() == [2.5, 2.45, 2.4, 2.35, 2.3]


def test_tensorboardx_add_scalars_children_keep_their_roles(tmp_path):
    root = tmp_path / "runs" / "exp1"
    events(root / "events.out.tfevents.1.h", [("lr", s, 1e-4, 10.0 + s) for s in range(3)])
    events(root / "loss_train" / "events.out.tfevents.1.h", [("loss", s, 1.0, 10.0 + s) for s in range(3)])
    events(root / "loss_val" / "events.out.tfevents.1.h", [("loss", s, 3.0, 10.0 + s) for s in range(3)])
    (run,) = discover(tmp_path / "runs").runs
    assert run.root == root
    loaded = kto_doctor.load_run(root)
    assert loaded.series("loss").tolist() == [1.0] * 3 and loaded.series("eval_loss").tolist() == [3.0] * 3


def test_sibling_runs_stay_distinct(tmp_path):
    events(tmp_path / "exp_a" / "events.out.tfevents.1.h", [("train/loss", s, 1.0, 10.0 + s) for s in range(5)])
    events(tmp_path / "exp_b" / "events.out.tfevents.2.h", [("train/loss", s, 2.0, 20.0 + s) for s in range(9)])
    assert [r.label for r in discover(tmp_path).runs] == ["exp_a", "exp_b"]
    with pytest.raises(InputError, match="holds 2 runs"):
        kto_doctor.load_run(tmp_path)


def test_a_resume_into_a_new_runs_folder_supersedes_the_abandoned_steps(tmp_path):
    out = tmp_path / "output"
    events(out / "runs" / "Jan01_10-00-00_h" / "events.out.tfevents.100.h.11.0",
           [("train/loss", s, 1.0, 100.0 + s) for s in range(10, 110, 10)])  # died after step 100
    events(out / "runs" / "Jan01_12-00-00_h" / "events.out.tfevents.900.h.22.0",
           [("train/loss", s, 2.0, 900.0 + s) for s in range(60, 210, 10)])  # resumed from checkpoint-50
    state(out / "checkpoint-50" / "trainer_state.json", [1.0] * 5, steps=[10, 20, 30, 40, 50])
    run = kto_doctor.load_run(out)
    loss = run.series("loss")
    # trainer_state (checkpoint-50) is the record up to 50, the resumed writer from 60 on; 60-100 of the
    # abandoned writer are gone
    assert loss.loc[60:].tolist() == [2.0] * 15 and loss.loc[:50].tolist() == [1.0] * 5
    assert any("resumed at step 60" in w for s in run.sources for w in s.warnings)
    assert any(n.startswith("loss:") for n in run.merge_notes)


def test_two_keys_meaning_one_metric_are_reported(tmp_path):
    rows = [{"step": s, "loss": 1.0, "train/loss": 1.1, "learning_rate": 1e-5} for s in range(1, 6)]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": rows}))
    run = kto_doctor.load_run(tmp_path)
    (warning,) = [w for s in run.sources for w in s.warnings if "all mean" in w]
    assert "'loss', 'train/loss'" in warning and "of one record" in warning


def test_the_shipped_sample_folder_is_many_runs_not_one(tmp_path):
    samples = Path(__file__).resolve().parents[1] / "sample_logs"
    r = cli("analyze", samples)
    assert r.returncode == 2 and "holds 13 runs" in r.stderr and "kto-doctor scan" in r.stderr


def test_a_log_read_but_empty_is_named(tmp_path):
    # an event file cut after HF's config text summary: read, but it holds no scalar
    from tensorboard.compat.proto.summary_pb2 import SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto

    path = tmp_path / "runs" / "x" / "events.out.tfevents.1.h"
    path.parent.mkdir(parents=True)
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    value = Summary.Value(tag="args/text_summary", metadata=meta,
                          tensor=TensorProto(dtype=7, string_val=[b'{"learning_rate": 1e-05}']))
    with open(path, "wb") as f:
        w = RecordWriter(f)
        w.write(Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        w.write(Event(wall_time=2.0, step=0, summary=Summary(value=[value])).SerializeToString())
    r = cli("analyze", tmp_path)
    assert r.returncode == 2 and "events.out.tfevents.1.h (tensorboard) holds none" in r.stderr


def test_content_beats_a_wildcard_name_claim(tmp_path):
    # a trainer_state.json saved as `*_results.json` (the summary files' pattern) is still a trainer_state
    state(tmp_path / "exp3_results.json", [1.0, 0.9, 0.8])
    run = kto_doctor.load_run(tmp_path / "exp3_results.json")
    assert run.sources[0].format == "trainer_state" and run.series("loss").tolist() == [1.0, 0.9, 0.8]
    # the exact names keep deciding alone
    (tmp_path / "all_results.json").write_text(json.dumps({"train_loss": 0.9, "epoch": 3.0}))
    from kto_doctor.sources import detect
    assert detect(tmp_path / "all_results.json") == "results"


def test_a_logging_dir_beside_the_output_dir_is_one_run(tmp_path):
    # the Trainer given logging_dir="./logs" and output_dir="./output" (49a's three TensorBoard runs, e.g.
    # vedovati-matteo/SmalltalkCodeGen): both log the same steps; read apart, analyze refused the folder as 2 runs
    events(tmp_path / "logs" / "events.out.tfevents.1691224929.h.1.0",
           [("train/loss", s, 2.0 - s / 100, 10.0 + s) for s in (10, 20, 30)] + [("eval/loss", 30, 2.5, 50.0)])
    state(tmp_path / "output" / "checkpoint-30" / "trainer_state.json", [1.9, 1.8, 1.7], steps=[10, 20, 30])
    found = discover(tmp_path)
    assert len(found.runs) == 1 and found.runs[0].root == tmp_path
    assert any("logging_dir beside its output_dir" in w for w in found.warnings)
    run = kto_doctor.load_run(tmp_path)
    assert run.series("loss").index.tolist() == [10, 20, 30]
    assert run.series("eval_loss").tolist() == [2.5]


def test_events_and_checkpoints_in_folders_of_other_names_stay_two_runs(tmp_path):
    events(tmp_path / "exp_a" / "events.out.tfevents.1.h", [("train/loss", s, 1.0, 10.0 + s) for s in range(5)])
    state(tmp_path / "exp_b" / "checkpoint-5" / "trainer_state.json", [2.0] * 5)
    assert [r.label for r in discover(tmp_path).runs] == ["exp_a", "exp_b"]


def test_a_logging_dir_beside_two_output_dirs_pairs_with_neither(tmp_path):
    events(tmp_path / "logs" / "events.out.tfevents.1.h", [("train/loss", s, 1.0, 10.0 + s) for s in range(5)])
    state(tmp_path / "out_a" / "checkpoint-5" / "trainer_state.json", [2.0] * 5)
    state(tmp_path / "out_b" / "checkpoint-5" / "trainer_state.json", [3.0] * 5)
    assert len(discover(tmp_path).runs) == 3
