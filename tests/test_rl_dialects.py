"""RL runs that log non-standard keys are read as RL runs, and judged on their reward, truncation and length,
not as SFT runs whose loss and gradient are 0.

The key names are those prime-rl's orchestrator and trainer log (PrimeIntellect-ai/prime-rl,
src/prime_rl/orchestrator/metrics.py: `reward/all/mean`, `is_truncated/all/mean`, `solve_none/all`,
`solve_all/all`, `decode_len/all/mean`; trainer: `loss/mean`, `entropy/mean`, `optim/grad_norm`, `optim/lr`);
the values of the constructed log are the shape of a run whose every completion is cut (no real prime-rl log
was found to copy). The verl case is the real paste of rllm-org/rllm#54 (tests/fixtures/real).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.ontology import canonical

REAL = Path(__file__).parent / "fixtures" / "real"


@pytest.mark.parametrize("key,expected", [
    ("loss/mean", "loss"), ("entropy/mean", "entropy"), ("optim/grad_norm", "grad_norm"),
    ("optim/lr", "learning_rate"), ("reward/all/mean", "reward"), ("is_truncated/all/mean", "completions/clipped_ratio"),
    ("is_truncated/mean", "completions/clipped_ratio"), ("decode_len/all/mean", "completions/mean_length"),
    ("solve_none/all", "solve_none"), ("solve_all/all", "solve_all"), ("critic/advantages/mean", "advantages"),
])
def test_prime_rl_and_verl_names_reach_the_rules(key, expected):
    assert canonical(key) == expected


def analyse(path: Path) -> tuple[int, dict]:
    r = CliRunner().invoke(app, ["analyze", str(path), "-f", "json", "--isolated"])
    return r.exit_code, json.loads(r.stdout)


def prime_rl_log(tmp_path: Path, truncated: float, solve_none: float, reward: float, grad: float) -> Path:
    lines = []
    for step in range(1, 21):
        rec = {"loss/mean": 0.0 if grad == 0 else 0.01, "entropy/mean": 0.0 if grad == 0 else 0.6,
               "optim/grad_norm": grad, "optim/lr": 1e-6,
               "reward/all/mean": reward and reward + 0.02 * ((step * 7) % 5 - 2),  # batch sampling noise
               "is_truncated/all/mean": truncated, "decode_len/all/mean": 4096.0 if truncated > 0.9 else 900.0,
               "solve_none/all": solve_none, "solve_all/all": 0.0 if solve_none > 0.9 else 0.1, "step": step}
        lines.append(repr(rec))
    p = tmp_path / "orchestrator.log"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_every_completion_cut_with_zero_loss_and_gradient_is_truncation_not_sft_collapse(tmp_path):
    code, doc = analyse(prime_rl_log(tmp_path, truncated=1.0, solve_none=1.0, reward=0.0, grad=0.0))
    assert code == 1 and doc["run"]["method"] == "grpo"
    rules = [f["rule"] for f in doc["findings"]]
    assert doc["findings"][0]["symptom"] == "truncation"
    assert "LOSS104" not in rules and "LOSS103" not in rules  # SFT readings of a 0 loss stay out
    grad = [f for f in doc["findings"] if f["rule"] == "GRAD101"]
    assert grad and grad[0]["severity"] == "info"  # the zero gradient is the equal rewards' consequence


def test_a_prime_rl_run_with_a_signal_is_not_flagged(tmp_path):
    code, doc = analyse(prime_rl_log(tmp_path, truncated=0.02, solve_none=0.3, reward=0.4, grad=0.2))
    assert code == 0 and doc["run"]["method"] == "grpo"
    assert not [f for f in doc["findings"] if f["severity"] != "info"]


def test_verl_zero_reward_batch_is_a_reward_anomaly():
    code, doc = analyse(REAL / "rllm-org__rllm__issue54.log")
    assert code == 0 and doc["status"] == "warning"
    assert doc["findings"][0]["rule"] == "GRPO104" and doc["findings"][0]["symptom"] == "reward-anomaly"


def test_ppo_keys_decide_before_completion_lengths(tmp_path):
    """Old TRL PPO logs tokens/responses_len_mean (read as completions/mean_length) beside objective/kl; verl's
    GAE runs log response_length/* beside critic/vf_loss: both are PPO, not GRPO."""
    p = tmp_path / "ppo.log"
    p.write_text("".join(repr({"objective/kl": 0.1 * i, "ppo/mean_scores": 0.5, "tokens/responses_len_mean": 40.0,
                               "ppo/learning_rate": 1.41e-5, "step": i}) + "\n" for i in range(1, 6)))
    code, doc = analyse(p)
    assert code == 0 and doc["run"]["method"] == "ppo"
    assert {"reward", "completions/mean_length", "learning_rate", "objective/kl"} <= set(doc["run"]["metrics"])


def test_a_mean_and_std_string_is_read_as_its_mean(tmp_path):
    p = tmp_path / "pipe.log"
    p.write_text("{'loss': '0.5', 'ppo/response_length': '123.4|56.7', 'step': 1}\n"
                 "{'loss': '0.4', 'ppo/response_length': '130.0|50.2', 'step': 2}\n")
    from kto_doctor.sources import console

    src = console.read(p)
    assert list(src.series["completions/mean_length"].values) == [123.4, 130.0]
