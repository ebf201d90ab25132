"""The shipped sample runs are the regression suite (issue "Real sample runs").

Real `lf-*` runs were written by LLaMA-Factory 0.9.5 on CPU (see sample_logs/GENERATING.md); `kto-*` are
hand-made. Each injected fault must be the top of the diagnosis with the right symptom, healthy runs
must be healthy with no warning, and the same run read from one log source at a time (trainer_state,
TensorBoard events, console) must reach the same verdict.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kto_doctor
from kto_doctor.model import SEVERITY_RANK

from conftest import SAMPLES

# scenario -> (accepted symptoms of the first warning-or-error finding, top cause); None = healthy
EXPECTED = {
    "kto-flagship": ({"flat-loss", "lr-schedule"}, "warmup-too-long"),
    "kto-healthy": None,
    "lf-kto-healthy": None,
    "lf-dpo-healthy": None,
    "lf-sft-healthy": None,
    "lf-kto-warmup-too-long": ({"flat-loss", "lr-schedule"}, "warmup-too-long"),
    "lf-kto-lr-too-high": ({"lr-out-of-range"}, "lr-too-high"),
    "lf-kto-ref-mismatch": ({"kl-high-at-start"}, "reference-mismatch"),
    "lf-dpo-no-learning": ({"flat-loss", "lr-schedule"}, "lr-zero"),
    "lf-sft-overfit": ({"overfitting"}, "overfitting"),
    "lf-kto-lr-zero": ({"flat-loss", "lr-schedule"}, "lr-zero"),
    "lf-kto-lora-healthy": None,
    "lf-sft-lr-too-high": ({"lr-out-of-range", "loss-divergence", "loss-spike"}, "lr-too-high"),
}
CONFIG_FILES = ("train.yaml", "train_kto.yaml", "config.json", "adapter_config.json")


def present(name):
    return pytest.param(name, marks=pytest.mark.skipif(not (SAMPLES / name).is_dir(), reason=f"{name} absent"))


def verdict(report):
    strong = [f for f in report.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["warning"]]
    top = report.diagnosis[0].cause if report.diagnosis and strong else None
    return report.status, (strong[0].symptom if strong else None), top


@pytest.mark.parametrize("name", [present(n) for n in EXPECTED])
def test_sample_diagnosis(name):
    report = kto_doctor.analyze(SAMPLES / name)
    status, symptom, top = verdict(report)
    expected = EXPECTED[name]
    if expected is None:
        assert status == "healthy", [(f.rule, f.severity, f.title) for f in report.findings]
        assert not [f for f in report.findings if f.severity != "info"]
        return
    symptoms, cause = expected
    assert symptom in symptoms, [(f.rule, f.symptom, f.severity) for f in report.findings]
    assert top == cause, [(d.cause, round(d.score, 2)) for d in report.diagnosis]


@pytest.mark.parametrize("name", [present(n) for n in EXPECTED])
def test_every_rule_evaluates_on_the_samples(name):
    """A rule that fails on real data is reported as skipped; on our own samples that is a bug."""
    report = kto_doctor.analyze(SAMPLES / name)
    broken = [s for s in report.skipped if "could not be evaluated" in s.reason]
    assert not broken, broken


def _single_sources(run_dir: Path):
    """(kind, file) for each metric-carrying log of a run folder."""
    out = []
    for kind, pattern in (("trainer_state", "trainer_state.json"), ("tensorboard", "runs/*/events.out.tfevents.*"),
                          ("console", "console.log")):
        files = sorted(run_dir.glob(pattern))
        if files:
            out.append((kind, files))
    return out


LF_RUNS = [n for n in EXPECTED if n.startswith("lf-")]


@pytest.mark.parametrize("name", [present(n) for n in LF_RUNS])
def test_same_verdict_from_each_source_alone(name, tmp_path):
    run_dir = SAMPLES / name
    full_run = kto_doctor.load_run(run_dir)
    full = verdict(kto_doctor.analyze(run_dir))
    # A LoRA output folder has no config.json: the model's width is only in TensorBoard's model_config
    # summary. Read from another source alone, a user supplies it the way the README says (--set).
    width = {"hidden_size": full_run.config["hidden_size"]} if "hidden_size" in full_run.config else None
    for kind, files in _single_sources(run_dir):
        d = tmp_path / kind
        d.mkdir()
        for f in files:
            shutil.copy(f, d / f.name)
        for c in CONFIG_FILES:  # the configuration is not a log: it goes with every source
            if (run_dir / c).is_file():
                shutil.copy(run_dir / c, d / c)
        has_width = (d / "config.json").is_file() or kind == "tensorboard"
        alone = verdict(kto_doctor.analyze(d, overrides=None if has_width else width))
        assert alone == full, f"{name} from {kind} alone: {alone} != {full}"
