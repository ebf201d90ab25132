"""Pastes that hold a trainer's warnings and no metric line: the console source states the warnings as facts,
the PPO rules judge them, and the report is never "healthy".

The pastes are excerpts of real threads: hiyouga/LlamaFactory#664 (tests/fixtures/real), huggingface/trl#1031
(gpt2-sentiment, skipped-batch warnings), huggingface/trl#1857 (both warnings in one sentence) and
huggingface/trl#351 (three negative-KL warnings among progress bars).
"""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.sources import console

REAL = Path(__file__).parent / "fixtures" / "real"

TRL_1031 = """\
/usr/local/lib/python3.10/dist-packages/trl/trainer/ppo_trainer.py:1200: UserWarning: The average ratio of batch (13.70) exceeds threshold 10.00. Skipping batch.
  warnings.warn(
/usr/local/lib/python3.10/dist-packages/trl/trainer/ppo_trainer.py:1200: UserWarning: The average ratio of batch (46.90) exceeds threshold 10.00. Skipping batch.
  warnings.warn(
/usr/local/lib/python3.10/dist-packages/trl/trainer/ppo_trainer.py:1200: UserWarning: The average ratio of batch (167.85) exceeds threshold 10.00. Skipping batch.
  warnings.warn(
5it [11:15, 133.92s/it]/usr/local/lib/python3.10/dist-packages/trl/trainer/ppo_trainer.py:1200: UserWarning: The average ratio of batch (11.15) exceeds threshold 10.00. Skipping batch.
  warnings.warn(
"""

TRL_1857 = ("I used the PPO trainer will have warnings, such as The average ratio of batch (12.26) exceeds threshold "
            "10.00. Skipping batch. and UserWarning: KL divergence is starting to become negative: -2.44 - this might "
            "be a precursor for failed training. sometimes this happens because the generation kwargs are not "
            "correctly set.\n")

TRL_351 = """\
  0%|          | 1/2615 [01:23<60:49:43, 83.77s/it]/data/public/aic/lwz/lwz_code/trl/trl/trainer/ppo_trainer.py:1088: UserWarning: KL divergence is starting to become negative: -0.18 - this might be a precursor for failed training.
  warnings.warn(
/data/public/aic/lwz/lwz_code/trl/trl/trainer/ppo_trainer.py:1088: UserWarning: KL divergence is starting to become negative: -0.07 - this might be a precursor for failed training.
  warnings.warn(
  0%|          | 2/2615 [02:49<61:32:03, 84.78s/it]/data/public/aic/lwz/lwz_code/trl/trl/trainer/ppo_trainer.py:1088: UserWarning: KL divergence is starting to become negative: -0.51 - this might be a precursor for failed training.
"""


def analyse(path: Path) -> tuple[int, dict]:
    r = CliRunner().invoke(app, ["analyze", str(path), "-f", "json", "--isolated"])
    return r.exit_code, json.loads(r.stdout)


def paste(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "paste.log"
    p.write_text(text)
    return p


def test_the_reader_states_the_warnings_as_facts(tmp_path):
    src = console.read(paste(tmp_path, TRL_1031))
    assert src.facts["ratio_skipped_batches"] == 4
    assert src.facts["ratio_skip_max"] == 167.85 and src.facts["ratio_threshold"] == 10.0
    assert src.hints["method"] == "ppo"
    assert any("no metric lines" in w for w in src.warnings)
    src = console.read(paste(tmp_path, TRL_351))
    assert src.facts["kl_negative_warnings"] == 3
    assert src.facts["kl_negative_min"] == -0.51 and src.facts["kl_negative_first"] == -0.18


def test_negative_kl_warning_alone_is_a_finding_not_healthy():
    code, doc = analyse(REAL / "hiyouga__LlamaFactory__issue664.log")
    # a warning (the default gate fails on errors): no series was read, but the warnings were understood and
    # judged, so the report is the judgement, not "inconclusive"
    assert code == 0 and doc["status"] == "warning"
    assert doc["run"]["method"] == "ppo"
    lead = doc["findings"][0]
    assert lead["rule"] == "PPO102" and lead["severity"] == "warning"
    assert "-5.27" in lead["title"]


def test_both_warnings_in_one_sentence(tmp_path):
    code, doc = analyse(paste(tmp_path, TRL_1857))
    rules = {f["rule"]: f for f in doc["findings"]}
    assert code == 0 and doc["status"] == "warning"  # judged from the warnings: not inconclusive
    assert "PPO101" in rules and "12.3" in rules["PPO101"]["message"]
    assert "PPO102" in rules and "-2.44" in rules["PPO102"]["title"]


def test_skipped_batches_far_above_the_threshold_are_an_error(tmp_path):
    code, doc = analyse(paste(tmp_path, TRL_1031))
    ppo101 = [f for f in doc["findings"] if f["rule"] == "PPO101"]
    assert code == 1 and ppo101 and ppo101[0]["severity"] == "error"


def test_a_mild_single_warning_is_not_a_negative_kl_finding(tmp_path):
    """One warned value at rounding level (TRL prints -0.00 for a mean KL of -0.003) does not make PPO102 fire; the paste is still not healthy
    (nothing about the training could be checked)."""
    code, doc = analyse(paste(tmp_path, "UserWarning: KL divergence is starting to become negative: -0.00 - this "
                                        "might be a precursor for failed training.\n"))
    assert not [f for f in doc["findings"] if f["rule"] == "PPO102"]
    # the warning was read and judged (too mild to report), so not inconclusive; RUN101 still says that no
    # step was logged, and the status is never healthy
    assert doc["status"] == "warning" and [f["rule"] for f in doc["findings"]] == ["RUN101"]


BANNER = """\
[INFO|trainer.py:2128] 2024-05-01 10:00:00,000 >> ***** Running training *****
[INFO|trainer.py:2129] 2024-05-01 10:00:00,000 >>   Num examples = 1,000
[INFO|trainer.py:2130] 2024-05-01 10:00:00,000 >>   Num Epochs = 3
[INFO|trainer.py:2136] 2024-05-01 10:00:00,000 >>   Total optimization steps = 189
  0%|          | 0/189 [00:00<?, ?it/s]  1%|          | 1/189 [00:05<15:40,  5.00s/it]  5%|5         | 10/189 [00:50<14:55,  5.00s/it]
"""


def test_a_training_banner_and_progress_bar_without_metric_lines_is_inconclusive(tmp_path):
    """The HF Trainer's start-up block and a progress bar say training started, not how it went: the paste is
    read (not "no training logs found"), the report is inconclusive and says no step was logged."""
    code, doc = analyse(paste(tmp_path, BANNER))
    # inconclusive carries an error (contract): the default gate does not pass a run it did not understand
    assert code == 1 and doc["status"] == "inconclusive"
    assert [(f["rule"], f["severity"]) for f in doc["findings"]] == [("RUN101", "error")]
    assert any("progress bar at 10/189" in w for s in doc["run"]["sources"] for w in s["warnings"])


def test_a_progress_bar_alone_is_not_a_training_log(tmp_path):
    """A bar without the start-up block could be anything (loading shards, mapping a dataset)."""
    r = CliRunner().invoke(app, ["analyze", str(paste(tmp_path, BANNER.splitlines()[-1] + "\n")), "--isolated"])
    assert r.exit_code == 2 and "no training logs found" in r.output


def test_a_paste_cut_inside_a_warning_keeps_the_complete_ones(tmp_path):
    """Damaged input: the paste ends in the middle of the third negative-KL warning (its value cut off) and a
    stray NUL follows; the two complete warnings are still stated, the cut one adds nothing."""
    cut = TRL_351[: TRL_351.rindex("-0.51")] + "\x00"
    src = console.read(paste(tmp_path, cut))
    assert src.facts["kl_negative_warnings"] == 2
    assert src.facts["kl_negative_min"] == -0.18 and src.facts["kl_negative_first"] == -0.18
