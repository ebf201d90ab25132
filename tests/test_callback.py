"""KtoDoctorCallback in a real transformers.Trainer on a tiny randomly initialised Qwen2, on the CPU.

Skipped where torch or transformers is not installed (`.ci/run` installs both before the test command).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_importing_kto_doctor_does_not_import_transformers_or_torch():
    code = ("import sys, kto_doctor, kto_doctor.analysis, kto_doctor.live.monitor, kto_doctor.integrations, "
            "kto_doctor.cli\n"
            "bad = [m for m in ('transformers', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from kto_doctor.analysis import analyze  # noqa: E402
from kto_doctor.integrations.transformers import KtoDoctorCallback  # noqa: E402


class _Data(torch.utils.data.Dataset):
    """64 shifted copies of a 32-token cycle: a tiny model learns it within a few dozen steps."""

    def __init__(self):
        base = torch.arange(32) % 16
        self.rows = [(base + i) % 256 for i in range(64)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return {"input_ids": self.rows[i], "labels": self.rows[i]}


def train(out, lr, *, max_steps, seed=0, **callback_kwargs):
    torch.manual_seed(seed)
    cfg = transformers.Qwen2Config(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = transformers.Qwen2ForCausalLM(cfg)
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=8, learning_rate=lr, logging_steps=1,
        warmup_steps=3, lr_scheduler_type="cosine", save_strategy="no", report_to=[], seed=seed, use_cpu=True,
        disable_tqdm=True)
    cb = KtoDoctorCallback(**callback_kwargs)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Data(), callbacks=[cb])
    trainer.train()
    trainer.state.save_to_json(str(out / "trainer_state.json"))
    losses = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    return trainer, cb, losses


def test_learning_rate_one_is_stopped_at_its_first_log_by_the_configuration_check(tmp_path):
    trainer, cb, _ = train(tmp_path, 1.0, max_steps=40)
    assert cb.stopped_by is not None and cb.stopped_by.rule == "SCHED104"
    assert trainer.state.global_step == 1
    report = json.loads((tmp_path / "kto-doctor-report.json").read_text())
    assert report["status"] == "failing" and "SCHED104" in {f["rule"] for f in report["findings"]}
    assert "SCHED104" in (tmp_path / "kto-doctor-report.txt").read_text()


def test_learning_rate_one_is_stopped_by_its_curves_within_a_few_logs_of_the_blow_up(tmp_path):
    # Judged by the logged curves alone (the configuration check ignored): the loss leaves its start.
    trainer, cb, losses = train(tmp_path, 1.0, max_steps=60, ignore=["SCHED104"])
    first = losses[min(losses)]
    blow_up = min(s for s, v in losses.items() if v > 1.5 * first)
    stop = trainer.state.global_step
    assert cb.stopped_by is not None and cb.stopped_by.severity == "error"
    assert cb.stopped_by.symptom in ("loss-divergence", "nan-inf", "grad-explosion", "loss-spike")
    assert blow_up < stop <= blow_up + 12 and stop < 60
    assert (tmp_path / "kto-doctor-report.json").is_file()


def test_a_healthy_run_is_not_stopped_and_a_seed_rerun_stays_inside_its_band(tmp_path):
    a, cb, losses = train(tmp_path / "a", 3e-3, max_steps=30, seed=0)
    assert cb.stopped_by is None and a.state.global_step == 30
    assert losses[30] < losses[1]  # it learned
    assert not [f for f in cb.findings if f.severity == "error"]
    b, cb_b, _ = train(tmp_path / "b", 3e-3, max_steps=30, seed=1)
    assert cb_b.stopped_by is None
    r = analyze(tmp_path / "b", against=tmp_path / "a")
    assert set(r.comparison.metrics) >= {"loss", "grad_norm", "learning_rate"}
    assert not [f for f in r.findings if f.symptom == "regression"], [f.title for f in r.findings]
