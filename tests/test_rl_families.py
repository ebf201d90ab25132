"""The RL rules read verl/OpenRLHF logs through the ontology: the rules name canonical metrics only, and a run
logged with verl's names (actor/entropy, critic/score/mean, response_length/clip_ratio ...) gets the same
verdicts as one logged with TRL's."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kto_doctor.cli import app


def state(path, rows):
    path.mkdir()
    (path / "trainer_state.json").write_text(json.dumps({"global_step": rows[-1]["step"], "log_history": rows}))
    return path


def verdict(path, method):
    res = CliRunner().invoke(app, ["analyze", str(path), "--format", "json", "--method", method])
    assert res.exit_code in (0, 1), res.output
    return {f["rule"]: f for f in json.loads(res.stdout)["findings"]}


# A verl GRPO run going wrong, with the field names of verl's console (verl#7412: step:34 - actor/entropy:0.2227
# - actor/pg_clipfrac:0.0008 - critic/score/mean:-0.018 - response_length/mean:1267 ...): entropy climbs to 2,
# the score falls from its best, more and more responses hit the 3,072-token cap.
ENTROPY = [0.22, 0.21, 0.2, 0.21, 0.24, 0.3, 0.4, 0.55, 0.75, 1.0, 1.25, 1.5, 1.75, 1.9, 2.0, 2.05]
SCORE = [-0.02, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.52, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.0]
CLIP = [0.02, 0.02, 0.03, 0.03, 0.04, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def verl_rows():
    return [{"step": 10 * (i + 1), "actor/entropy": e, "critic/score/mean": s, "response_length/clip_ratio": c,
             "response_length/mean": 1267 + 100 * i, "actor/pg_loss": 0.04, "actor/kl_loss": 0.0013 * (i + 1),
             "actor/grad_norm": 0.13, "actor/lr": 2e-6}
            for i, (e, s, c) in enumerate(zip(ENTROPY, SCORE, CLIP))]


def trl_rows():
    return [{"step": 10 * (i + 1), "entropy": e, "reward": s, "completions/clipped_ratio": c,
             "completions/mean_length": 1267 + 100 * i, "loss": 0.04, "kl": 0.0013 * (i + 1),
             "grad_norm": 0.13, "learning_rate": 2e-6}
            for i, (e, s, c) in enumerate(zip(ENTROPY, SCORE, CLIP))]


def test_verl_names_reach_the_rl_rules(tmp_path):
    found = verdict(state(tmp_path / "verl", verl_rows()), "grpo")
    assert found["GRPO106"]["symptom"] == "entropy-collapse" and found["GRPO106"]["severity"] == "error"
    assert "2.02" in found["GRPO106"]["title"]  # actor/entropy read as entropy: 0.21 -> 2.02 over the run
    assert found["GRPO107"]["symptom"] == "reward-hacking"  # the reward collapsed mid-run
    assert found["GRPO105"]["symptom"] == "truncation"
    assert "RUN102" not in found  # critic/score/mean is the reward: the run was understood


def test_verl_and_trl_spellings_get_the_same_verdict(tmp_path):
    a = verdict(state(tmp_path / "verl", verl_rows()), "grpo")
    b = verdict(state(tmp_path / "trl", trl_rows()), "grpo")
    assert {r: (f["severity"], f["title"]) for r, f in a.items()} == {r: (f["severity"], f["title"]) for r, f in b.items()}
