"""Training arguments stated inside a console log (launch flags, the Trainer's argument dump) reach the
configuration, below any config file, and let the schedule rules judge a pasted log."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.sources.launch_args import stated_arguments

FLAT_LR = "".join(f"{{'loss': {0.9 - i / 100:.4f}, 'learning_rate': 1e-05, 'epoch': {2.9 + i / 100:.2f}}}\n"
                  for i in range(8))


def test_launch_flags_in_both_spellings():
    got = stated_arguments(b"deepspeed fine-tune.py --lr_scheduler_type cosine \\\n  --learning_rate=2e-5 "
                           b"--num_train_epochs 4 --per_device_train_batch_size 16 --bf16 True --seed 42\n")
    assert got == {"lr_scheduler_type": "cosine", "learning_rate": 2e-5, "num_train_epochs": 4.0,
                   "per_device_train_batch_size": 16, "bf16": True, "seed": 42}


def test_the_trainers_argument_dump():
    dump = (b"INFO - Training/evaluation parameters TrainingArguments(\n_n_gpu=1,\nbf16=False,\n"
            b"gradient_accumulation_steps=8,\nlearning_rate=5e-07,\nlr_scheduler_type=SchedulerType.COSINE,\n"
            b"output_dir=/tmp/out,\nwarmup_ratio=0.1,\n)\n")
    got = stated_arguments(dump)
    assert got["lr_scheduler_type"] == "cosine" and got["learning_rate"] == 5e-7
    assert got["gradient_accumulation_steps"] == 8 and got["warmup_ratio"] == 0.1 and got["bf16"] is False


def test_what_is_not_a_plain_value_or_is_said_twice_is_left_out():
    got = stated_arguments(b"python train.py --learning_rate $LR --lr_scheduler_type linear\n"
                           b"python train.py --lr_scheduler_type cosine --warmup_steps 100\n"
                           b"--not_a_training_key 3 --max_steps -x\n")
    assert got == {"warmup_steps": 100}  # $LR is a shell variable; two scheduler types: unknown which ran


def test_a_pasted_log_with_its_launch_command_is_judged_on_it(tmp_path):
    log = tmp_path / "paste.log"
    log.write_text("torchrun fine-tune.py --lr_scheduler_type cosine --learning_rate 1e-5\n" + FLAT_LR)
    r = CliRunner().invoke(app, ["analyze", str(log), "-f", "json", "--isolated"])
    doc = json.loads(r.stdout)
    assert "SCHED105" in [f["rule"] for f in doc["findings"]]
    silent = tmp_path / "no_flags.log"
    silent.write_text(FLAT_LR)  # the same numbers without the command: a constant schedule is legitimate
    doc = json.loads(CliRunner().invoke(app, ["analyze", str(silent), "-f", "json", "--isolated"]).stdout)
    assert "SCHED105" not in [f["rule"] for f in doc["findings"]]


def test_a_config_file_outranks_what_the_console_says(tmp_path):
    (tmp_path / "train.log").write_text("python train.py --lr_scheduler_type cosine\n" + FLAT_LR)
    (tmp_path / "training_args.yaml").write_text("lr_scheduler_type: constant\nlearning_rate: 1.0e-5\n")
    doc = json.loads(CliRunner().invoke(app, ["analyze", str(tmp_path), "-f", "json", "--isolated"]).stdout)
    assert "SCHED105" not in [f["rule"] for f in doc["findings"]]
