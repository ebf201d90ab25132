"""Line forms of older and custom trainers (tests/fixtures/pastes, provenance in its PROVENANCE.md): old Megatron's
items without colons, litgpt's iteration-and-step lines under gradient accumulation, a custom loop's `ep: 0, batch:
20` counter and mlx-lm's GRPO statistics. Each was read wrongly or not at all, and its verdict followed."""
from __future__ import annotations

import math

import kto_doctor
from kto_doctor import sources

from conftest import REPO

FIX = REPO / "tests" / "fixtures" / "pastes"


def _rules(report, floor="warning"):
    rank = {"info": 0, "warning": 1, "error": 2}
    return [f.rule for f in report.findings if rank[f.severity] >= rank[floor]]


def test_old_megatron_items_without_colons_are_read_with_their_upper_case_nan():
    data = sources.read(FIX / "THUDM__Chinese-Transformer-XL__issue7.log")
    assert data.format == "megatron"
    loss = data.series["loss"]
    assert loss.steps.tolist() == [400, 500, 600, 700, 800, 900, 1000, 1100, 1200]
    assert math.isnan(loss.values[3]) and loss.values[0] == 6.758929
    assert data.series["learning_rate"].values[0] == 6.3e-06
    assert data.facts["loss_scale_min"] == 0.1
    assert not any("damaged" in w for w in data.warnings)


def test_a_loss_scale_below_one_is_an_exhausted_fp16_scaler_even_without_overflow_lines():
    report = kto_doctor.analyze(FIX / "THUDM__Chinese-Transformer-XL__issue7.log")
    assert report.findings[0].rule == "FP16101" and report.findings[0].severity == "error"
    assert "NUM101" in _rules(report)


def test_litgpt_micro_batch_lines_keep_every_iteration_and_a_jump_to_ln_vocab_is_divergence():
    data = sources.read(FIX / "Lightning-AI__litgpt__issue628.log")
    assert data.series["loss"].steps.tolist() == list(range(1151, 1160))  # not the 2 optimizer steps 144-145
    report = kto_doctor.analyze(FIX / "Lightning-AI__litgpt__issue628.log")
    top = report.findings[0]
    assert (top.rule, top.severity) == ("LOSS101", "error")
    assert "jumped at step 1152" in top.message


def test_litgpt_lines_with_a_bar_between_iteration_and_step_share_the_validation_line_s_counter():
    data = sources.read(FIX / "Lightning-AI__litgpt__issue1042.log")
    assert data.series["eval_loss"].steps.tolist() == [4800]
    assert data.series["loss"].steps.tolist() == [4810, 4820, 4830, 4840, 4850]
    report = kto_doctor.analyze(FIX / "Lightning-AI__litgpt__issue1042.log")
    assert _rules(report) == ["SFT106"]


def test_a_custom_loop_s_epoch_and_batch_counter_is_the_step_and_a_falling_scratch_loss_is_no_warning():
    data = sources.read(FIX / "Barber0__LLM-pretrain__train.log")
    assert data.series["loss"].steps.tolist() == list(range(20, 261, 20))
    report = kto_doctor.analyze(FIX / "Barber0__LLM-pretrain__train.log")
    assert report.status == "healthy"
    assert [(f.rule, f.severity) for f in report.findings] == [("SFT101", "info")]


def test_a_batch_counter_that_restarts_each_epoch_keeps_rising(tmp_path):
    p = tmp_path / "train.out"
    p.write_text("".join(f"Epoch {e}, Batch {b}/300, Loss: {3 - e - b / 1000:.3f}\n"
                         for e in (1, 2) for b in (100, 200, 300)))
    steps = sources.read(p).series["loss"].steps.tolist()
    assert steps == [100, 200, 300, 400, 500, 600]


def test_a_batch_size_is_no_batch_counter(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"step {s}: batch_size 8, loss {2 - s / 100:.2f}\n" for s in range(1, 6)))
    assert sources.read(p).series["loss"].steps.tolist() == [1, 2, 3, 4, 5]


def test_mlx_grpo_lines_give_rewards_per_function_and_a_correctness_term_that_never_fires_is_flagged():
    data = sources.read(FIX / "ml-explore__mlx-examples__pr1233.log")
    assert data.series["reward"].values.tolist() == [1.125, 0.844]
    assert data.series["kl"].values.tolist() == [0.0, 0.0]
    assert data.series["rewards/r1_accuracy_reward_func/mean"].values.tolist() == [0.0, 0.0]
    assert data.series["rewards/r1_count_xml/std"].values.tolist() == [0.0, 0.054]
    report = kto_doctor.analyze(FIX / "ml-explore__mlx-examples__pr1233.log")
    assert (report.run.method, report.run.framework) == ("grpo", "mlx")
    assert _rules(report) == ["GRPO113"]


def test_trl_ppo_stats_printed_with_numpy_scalars_are_read_and_a_nan_total_loss_fails(tmp_path):
    rows = [("0.5", "0.12", "0.31"), ("0.7", "0.11", "0.35"), ("nan", "nan", "0.35")]
    p = tmp_path / "ppo.log"
    p.write_text("".join(
        f"{{'objective/kl': array({kl}, dtype=float32), 'objective/kl_dist': array([0., 0.], dtype=float32), "
        f"'ppo/loss/total': array({loss}, dtype=float32), 'ppo/mean_scores': {score}, "
        f"'ppo/policy/clipfrac': array(0.01, dtype=float32)}}\n" for kl, loss, score in rows))
    data = sources.read(p)
    assert data.series["loss"].values[:2].tolist() == [0.12, 0.11]  # ppo/loss/total, through the ontology
    assert "objective/kl_dist" not in data.series  # a vector is no logged scalar
    report = kto_doctor.analyze(p)
    assert (report.run.method, report.run.framework) == ("ppo", "trl")
    assert report.status == "failing" and report.findings[0].rule == "NUM101"
