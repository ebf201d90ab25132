"""Line forms of older and custom trainers (tests/fixtures/pastes, provenance in its PROVENANCE.md): old Megatron's
items without colons, litgpt's iteration-and-step lines under gradient accumulation, a custom loop's `ep: 0, batch:
20` counter and mlx-lm's GRPO statistics. Each was read wrongly or not at all, and its verdict followed."""
from __future__ import annotations

import math
import re

import pytest

import kto_doctor
from kto_doctor import sources

from conftest import REPO, read_or_none

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


def test_an_epoch_and_a_step_of_its_length_that_restarts_each_epoch_keep_rising(tmp_path):
    # AnshDhalla1/PyTorch_finetune_GPT2's train.log (`Epoch 1 | Step 10/6501 | Loss: 0.5151 | ...`, held-out set 50p):
    # read as a resume, its first epoch was dropped; the evaluation after each epoch stays at that epoch's end
    lines = []
    for ep in (0, 1):
        lines += [f"INFO:__main__:Epoch {ep} | Step {s:4d}/60 | Loss: {3.0 - ep - s / 100:.4f} | LR: 1e-04 | Grad: 0.3"
                  for s in range(0, 60, 10)]
        lines += ["INFO:__main__:   Loss: 1.5", f"INFO:__main__:Epoch {ep} completed in 10.0s | Avg Loss: 2.0"]
    p = tmp_path / "train.log"
    p.write_text("\n".join(lines) + "\n")
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]
    assert data.series["loss"].values.tolist()[6] == 2.0
    assert not any("resumed run" in w for w in data.warnings)
    # a step that keeps rising beside its epoch is left as it is
    q = tmp_path / "global.log"
    q.write_text("".join(f"Epoch {s // 30} | Step {s}/60 | Loss: {2 - s / 100:.3f}\n" for s in range(0, 60, 10)))
    assert sources.read(q).series["loss"].steps.tolist() == [0, 10, 20, 30, 40, 50]


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


# -- from the fifth held-out set, after its blind score -----------------------------------------------------------


def test_deepspeed_progress_lines_state_the_skipped_steps_and_every_step_skipped_is_an_error():
    path = FIX / "Ourboros-Alignment-Team__RWKV-RM-Copilot__output.log"
    data = sources.read(path)
    assert (data.facts["optimizer_steps"], data.facts["overflow_count"]) == (210, 210)
    report = kto_doctor.analyze(path)
    top = report.findings[0]
    assert (top.rule, top.severity) == ("FP16101", "error")
    assert "the weights never changed" in top.title


def test_a_deepspeed_progress_line_without_skips_states_no_overflow(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"[Rank 0] step={s}, skipped=0, lr=[1e-06], mom=[(0.9, 0.99)]\n"
                         f"{{'loss': {1 - s / 1000:.3f}, 'epoch': {s / 100:.2f}}}\n" for s in range(10, 110, 10)))
    facts = sources.read(p).facts
    assert facts["optimizer_steps"] == 100 and "overflow_count" not in facts
    assert "FP16101" not in [f.rule for f in kto_doctor.analyze(p).findings]


def test_a_scale_started_at_2_32_walks_down_in_many_skips_that_are_calibration(tmp_path):
    """DeepSpeed with `initial_scale_power: 32` (hwang2006/large-scale-lm-tutorials, held-out set 41): its start-up
    line `step=0, skipped=0` states no step count, and 23 skips on the scale's way down from 2^32 to 1,024 (one of
    them hysteresis), then 270 steps without one, are the scaler finding its level: not "23 of its 0 steps"."""
    ds = "[INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: "
    lines = ["[INFO] [logging.py:96:log_dist] [Rank 0] step=0, skipped=0, lr=[3e-05], mom=[(0.9, 0.999)]",
             ds[:-len("Attempted loss scale: ")].rstrip() + " Attempted loss scale: 4294967296, but hysteresis is 2. "
             "Reducing hysteresis to 1"]
    lines += [f"{ds}{2 ** k}, reducing to {2 ** (k - 1)}" for k in range(32, 10, -1)]
    lines += [f"step:{s}, loss:{2.4 + 0.3 * ((s // 10) % 3) / 3:.4f}" for s in range(0, 310, 10)]
    p = tmp_path / "train.log"
    p.write_text("\n".join(lines) + "\n")
    facts = sources.read(p).facts
    assert "optimizer_steps" not in facts
    assert (facts["overflow_count"], facts["loss_scale_min"], facts["loss_scale_max"]) == (23, 1024, 2 ** 32)
    top = [f for f in kto_doctor.analyze(p).findings if f.rule == "FP16101"][0]
    assert top.severity == "info" and "from 2^32 to 1,024: 22 halvings" in top.message


def test_a_dump_of_metric_columns_is_read_one_row_per_value():
    data = sources.read(FIX / "jtang25__DPO-LoRA-Finetuning__training_log_qwen.json")
    assert data.format == "json_metrics"
    loss = data.series["loss"]
    assert len(loss.values) >= 299 and loss.values[0] == 0.6931471824645996
    assert data.series["eval_accuracy"].steps.tolist() == [300.0]  # a single evaluation sits at the end


def test_keras_history_columns_spread_a_shorter_column_evenly(tmp_path):
    p = tmp_path / "history.json"
    p.write_text('{"loss": [2.0, 1.5, 1.2, 1.0], "val_loss": [1.6, 1.1], "lr": [0.001, 0.001, 0.001, 0.001]}')
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4]
    assert data.series["eval_loss"].steps.tolist() == [2, 4]


def test_a_json_object_of_settings_with_a_list_of_strings_is_no_column_dump(tmp_path):
    p = tmp_path / "run.json"
    p.write_text('{"model": "x", "tags": ["a", "b"], "loss_type": ["sigmoid"]}')
    assert "json_metrics" not in [d.format for d in _readable(p)]


def _readable(path):
    try:
        return [sources.read(path)]
    except Exception:  # noqa: BLE001 - a file no source claims or reads is what the test asks about
        return []


def test_zero_train_losses_beside_a_nan_eval_loss_are_hidden_nans():
    report = kto_doctor.analyze(FIX / "shibing624__MedicalGPT__issue252.log")
    assert (report.findings[0].rule, report.findings[0].symptom) == ("NUM102", "nan-inf")
    assert "LOSS104" not in [f.rule for f in report.findings]


def test_a_loss_driven_to_0_0001_over_300_epochs_is_a_loss_collapse():
    report = kto_doctor.analyze(FIX / "mymusise__ChatGLM-Tuning__issue271.log")
    top = report.findings[0]
    assert (top.rule, top.symptom, top.severity) == ("SFT102", "loss-collapse", "error")


def test_gradients_climbing_tenfold_while_the_loss_climbs_back_is_instability():
    report = kto_doctor.analyze(FIX / "facebookresearch__crystal-text-llm__issue6.log")
    assert "GRAD103" in _rules(report)
    assert report.status != "healthy"


def _row(i):
    return {"epoch": 0.04 * i, "grad_norm": 7.0 - i, "learning_rate": 2.5e-06, "loss": 1.6 - 0.1 * i,
            "num_input_tokens_seen": 7392 * i, "step": 5 * i, "train_runtime": 2.3 * i,
            "train_tokens_per_second": 3197.4}


def test_rows_that_carry_train_runtime_beside_their_loss_are_rows_not_the_summary(tmp_path):
    """Newer LLaMA-Factory runs (include_num_input_tokens_seen) write train_runtime into every logged row
    (Vishnu30603/MedVLM-R1-DPO): the reader took each for the end-of-run summary and read no loss at all."""
    import json

    summary = {"epoch": 0.2, "step": 25, "total_flos": 1e15, "train_loss": 1.3, "train_runtime": 12.0,
               "train_samples_per_second": 3.1, "train_steps_per_second": 0.5}
    (tmp_path / "trainer_state.json").write_text(json.dumps(
        {"log_history": [_row(i) for i in range(1, 6)] + [summary], "global_step": 25, "max_steps": 25}))
    data = sources.read(tmp_path / "trainer_state.json")
    assert data.series["loss"].steps.tolist() == [5, 10, 15, 20, 25]
    assert data.facts["train_loss"] == 1.3  # the real summary is still the summary
    assert "train_tokens_per_second" not in kto_doctor.analyze(tmp_path).run.metric_names


def test_console_dicts_that_carry_train_runtime_beside_their_loss_are_rows(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(str({k: v for k, v in _row(i).items() if k != "step"}) + "\n" for i in range(1, 4)))
    assert sources.read(p).series["loss"].values.round(6).tolist() == [1.5, 1.4, 1.3]


def test_an_epoch_label_repeated_on_every_batch_line_keeps_every_line(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"Epoch {e}, Loss: {1 - 0.05 * i:.2f}, Positive Score: 0.5\n"
                         for i, e in enumerate([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == list(range(1, 11))
    assert data.series["epoch"].values.tolist() == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5]
    assert any("each line is a step" in w for w in data.warnings)


def test_one_line_per_epoch_keeps_the_epoch_as_the_step(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"Epoch {e}: train loss {2 - 0.1 * e:.2f}, val loss {2.1 - 0.1 * e:.2f}\n" for e in range(1, 6)))
    assert sources.read(p).series["loss"].steps.tolist() == [1, 2, 3, 4, 5]


# -- from the sixth held-out set, after its blind score -----------------------------------------------------------


def test_per_epoch_json_lines_step_by_the_epoch_and_a_loss_that_barely_moves_over_six_epochs_is_flat():
    data = sources.read(FIX / "OpenGVLab__LLaMA-Adapter__issue84.log")
    assert data.format == "epoch_jsonl"
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6]  # `"epoch": 0` closes the first epoch
    assert data.series["eval_loss"].values[0] == 1.0658111572265625  # val_closs
    assert data.series["learning_rate"].values[0] == 0.00014058173076923077
    assert "LOSS103" in _rules(kto_doctor.analyze(FIX / "OpenGVLab__LLaMA-Adapter__issue84.log"))


def test_a_deit_style_log_with_test_metrics_and_a_damaged_line(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text('{"train_lr": 0.001, "train_loss": 2.3, "test_loss": 2.2, "test_acc1": 41.3, "epoch": 0, '
                 '"n_parameters": 86567656}\n{"train_lr": 0.001, "train_loss": 2.0, "te\n'
                 '{"train_lr": 0.0009, "train_loss": 1.8, "test_loss": 1.9, "test_acc1": 50.1, "epoch": 2, '
                 '"n_parameters": 86567656}\n')
    data = sources.read(p)
    assert data.format == "epoch_jsonl" and data.records == 2
    assert data.series["loss"].steps.tolist() == [1, 3]
    assert "eval_loss" in data.series and data.facts["trainable_params"] == 86567656
    assert any("skipped 1 line" in w for w in data.warnings)


def test_a_console_log_named_log_txt_is_still_the_console_s(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text("{'loss': 1.2, 'learning_rate': 1e-05, 'epoch': 0.1}\n{'loss': 1.1, 'learning_rate': 1e-05, 'epoch': 0.2}\n")
    assert sources.read(p).format == "console"


def test_a_single_loss_of_121486_before_any_update_is_no_healthy_run():
    report = kto_doctor.analyze(FIX / "tatsu-lab__stanford_alpaca__issue285.log")
    assert report.status == "failing" and "LOSS108" in _rules(report)


def test_a_dpo_row_with_loss_0_and_nan_log_probs_is_a_hidden_nan():
    report = kto_doctor.analyze(FIX / "hiyouga__LlamaFactory__issue2078.log")
    assert (report.findings[0].rule, report.findings[0].symptom) == ("NUM102", "nan-inf")
    assert "LOGIT101" not in _rules(report)


# -- from the seventh held-out set, after its blind score ---------------------------------------------------------


def test_json_dicts_that_lead_with_their_step_are_console_records():
    data = sources.read(FIX / "9178nekomc__LingJie-Chat-v2-Pro__sft.log")
    assert data.format == "console"
    loss = data.series["loss"]  # loss_lm
    assert loss.steps[:3].tolist() == [20, 40, 60] and loss.values[0] == 0.0963183343410492
    assert "tok_s" not in data.series


def test_a_key_with_a_parenthesised_qualifier_and_a_misspelt_step_token():
    data = sources.read(FIX / "Lightning-AI__litgpt__pr1055.log")
    loss = data.series["loss"]
    assert loss.steps.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 119, 120]  # every iteration, `stEp` or `step`
    assert loss.values[0] == 1.657 and loss.values[-1] == 1.162


def test_value_first_lines_without_a_step_are_one_step_each():
    data = sources.read(FIX / "tinygrad__tinygrad__pr11467.log")
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert data.series["learning_rate"].values[0] == 0.000016689301
    assert kto_doctor.analyze(FIX / "tinygrad__tinygrad__pr11467.log").status != "failing"


def test_dicts_placed_between_progress_bar_anchors_get_whole_steps_and_a_stalled_dpo_loss_is_flagged():
    path = FIX / "sehunkuim__dpo-preference-optimization__dpo_train.log"
    data = sources.read(path)
    steps = data.series["loss"].steps
    assert len(steps) == 18 and (steps == steps.round()).all()
    assert not any("not a whole number" in w for w in data.warnings)
    assert "DPO108" in _rules(kto_doctor.analyze(path))


def test_a_sparse_log_that_never_leaves_a_one_percent_band_is_flat(tmp_path):
    import shutil

    shutil.copy(FIX / "faezeh-gholamrezaie__sleep-stage__checkpoint-600-trainer_state.json", tmp_path / "trainer_state.json")
    assert "LOSS103" in _rules(kto_doctor.analyze(tmp_path))


def test_losses_under_names_the_ontology_does_not_know_are_read_and_their_nan_is_seen(tmp_path):
    # a machine-unlearning loop's print (franciscoliu/SKU#1): no name is canonical, every one says it is a loss
    p = tmp_path / "unlearn.log"
    p.write_text("batch: 0, GD_loss: 8.13, RD_loss: 7.95, reversed_kl_loss: nan, combined_loss: nan, \n"
                 + "".join(f"batch: {b}, GD_loss: nan, RD_loss: nan, reversed_kl_loss: nan, combined_loss: nan, \n"
                           for b in range(1, 10)))
    data = sources.read(p)
    assert data.series["GD_loss"].steps.tolist() == list(range(10))
    assert math.isnan(data.series["combined_loss"].values[0])
    report = kto_doctor.analyze(p)
    # the total among them is the run's loss (said in the report), and its NaN from the first line fails the run
    assert any("read from 'combined_loss'" in w for w in report.run.warnings)
    assert report.status == "failing"
    assert any(f.symptom == "nan-inf" and f.severity == "error" for f in report.findings)


def test_a_multi_task_log_without_a_total_is_judged_on_the_sum_of_its_losses(tmp_path):
    # zengyan-97/X-VLM#12: the per-epoch averages of five losses with quoted values, and no total
    rows = [(3.29523, 0.55888, 2.58581), (2.73107, 0.49588, 2.01296), (2.46065, 0.46258, 1.79183),
            (2.29142, 0.44120, 1.66804), (2.16995, 0.42518, 1.58681), (2.07655, 0.41273, 1.52846)]
    p = tmp_path / "log.txt"
    p.write_text("".join(f'{{"train_loss_itc": "{a}", "train_loss_itm": "{b}", "train_loss_mlm": "{c}", '
                         f'"train_lr": "0.00009", "epoch": {e}}}\n' for e, (a, b, c) in enumerate(rows)))
    report = kto_doctor.analyze(p)
    loss = report.run.metrics["loss"].dropna()
    assert loss.tolist() == pytest.approx([sum(r) for r in rows])
    assert any("sum of the 3 logged losses" in w for w in report.run.warnings)
    assert report.status == "healthy"
    # one of them NaN at the last epoch: the sum is NaN there, and the run is not healthy
    p.write_text(p.read_text().replace('"1.52846"', '"nan"'))
    assert kto_doctor.analyze(p).status != "healthy"


def test_an_eval_loss_under_its_own_name_is_no_training_loss():
    from kto_doctor.ontology import loss_parts

    assert loss_parts(["val_loss_itc", "test_mlm_loss", "loss_itc", "GD_loss", "loss_scale"]) == (["loss_itc", "GD_loss"], None)
    assert loss_parts(["RD_loss", "combined_loss"]) == (["RD_loss", "combined_loss"], "combined_loss")


def test_a_step_list_of_names_that_are_no_metric_is_still_refused(tmp_path):
    p = tmp_path / "README.txt"
    p.write_text("step 1: install 2 packages\nstep 2: run 3 commands\nstep 3: wait 5 minutes\n")
    data = read_or_none(p)
    assert data is None or ("loss" not in data.series and not any(k.lower().endswith("loss") for k in data.series))


SLOWLLAMA = "".join(f"2023-09-29 20:{16 + 3 * i:02d}:01,559 backprop done, loss after forward pass = {v}\n"
                    for i, v in enumerate((1.4820520877838135, 1.5263310670852661, 1.518573522567749,
                                           1.504337191581726, 1.4659136533737183, 1.351263403892517)))


def test_lines_that_print_only_a_loss_are_steps_in_log_order(tmp_path):
    # okuvshynov/slowllama#1: a loop's log line with a time stamp and its loss, no counter of any kind
    p = tmp_path / "finetune.log"
    p.write_text(SLOWLLAMA)
    data = sources.read(p)
    assert data.format == "generic_kv" and data.step_kind == "ordinal"
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert data.series["loss"].values[0] == 1.4820520877838135


def test_a_stray_loss_line_in_a_counted_log_is_no_step(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"step {s}: loss {3 - s / 10}, lr 1e-4\n" for s in range(1, 6)) + "final loss = 0.1\n")
    loss = sources.read(p).series["loss"]
    assert loss.steps.tolist() == [1, 2, 3, 4, 5] and loss.values[-1] == 2.5


def test_a_sentence_or_two_about_a_loss_is_no_log(tmp_path):
    p = tmp_path / "NOTES.md"
    p.write_text("We trained it overnight.\nThe final loss: 0.52 was good enough.\n")
    data = read_or_none(p)
    assert data is None or "loss" not in data.series


def test_a_log_that_prints_only_perplexity_is_judged_on_its_loss(tmp_path):
    # fairseq / Megatron / run_clm print the perplexity; its log is the loss in nats whatever base the trainer uses
    p = tmp_path / "train.log"
    ppl = [812.4, 402.1, 210.7, 150.2, 121.9, 103.3]
    val = [900.0, 450.0, 260.0, 240.0, 300.0, 420.0]
    p.write_text("".join(f"step {100 * (i + 1)} | ppl {a} | val_ppl {b} | lr 3e-4\n" for i, (a, b) in enumerate(zip(ppl, val))))
    report = kto_doctor.analyze(p)
    frame = report.run.metrics
    assert frame["loss"].dropna().tolist() == pytest.approx([math.log(x) for x in ppl])
    assert frame["eval_loss"].dropna().tolist() == pytest.approx([math.log(x) for x in val])
    assert any(w.startswith("loss: ln(perplexity)") for w in report.run.warnings)
    assert "overfitting" in {f.symptom for f in report.findings}  # the eval perplexity rises from step 400 on
    # an infinite perplexity is an infinite loss
    p.write_text(p.read_text().replace("ppl 121.9 ", "ppl inf "))
    assert "nan-inf" in {f.symptom for f in kto_doctor.analyze(p).findings}


YANMTT = ("# Nan loss after 70K steps on the pre-training.\n\n```\n...\n76930 2.6496577\n76940 2.59109\n76950 2.596339\n"
          "76960 2.735384\n76970 2.6265104\n76980 nan\n76990 nan\nSaving the model\nLoading from checkpoint\n"
          "77000 nan\n77010 nan\n...\n```\n")


def test_bare_step_and_value_lines_are_the_loss_where_the_file_speaks_of_one(tmp_path):
    # prajdabre/yanmtt#7: `print(step, loss)` pasted under the issue title
    p = tmp_path / "issue7.log"
    p.write_text(YANMTT)
    data = sources.read(p)
    assert data.format == "step_value"
    loss = data.series["loss"]
    assert loss.steps.tolist() == [76930, 76940, 76950, 76960, 76970, 76980, 76990, 77000, 77010]
    assert loss.values[0] == pytest.approx(2.6496577) and math.isnan(loss.values[5])
    report = kto_doctor.analyze(p)
    assert report.status == "failing" and "nan-inf" in {f.symptom for f in report.findings}


def test_bare_lines_that_name_nothing_keep_their_value_unnamed(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text(YANMTT.replace("# Nan loss after 70K steps on the pre-training.", "# after 70K steps"))
    data = sources.read(p)
    assert "loss" not in data.series and "value" in data.series
    assert kto_doctor.analyze(p).status != "healthy"  # NaN in any series, and no core series understood


def test_numbers_that_do_not_count_up_are_no_steps(tmp_path):
    p = tmp_path / "table.txt"
    p.write_text("loss table\n3 0.5\n1 0.2\n4 0.9\n1 0.1\n5 0.3\n9 0.4\n")
    assert read_or_none(p) is None or read_or_none(p).format != "step_value"


def test_a_cut_last_bare_line_keeps_the_lines_before_it(tmp_path):
    p = tmp_path / "issue7.log"
    p.write_text(YANMTT.split("Saving")[0] + "77000 2.5")  # cut inside the last value: no line end
    data = sources.read(p)
    loss = data.series["loss"]
    assert loss.steps.tolist() == [76930, 76940, 76950, 76960, 76970, 76980, 76990]  # `77000 2.5` may be 2.53...
    assert "issue7.log: the file ends inside a line (cut short); its last value was not read" in data.warnings
    p.write_text(YANMTT.split("Saving")[0])  # the same lines whole: nothing is dropped, nothing said
    data = sources.read(p)
    assert data.series["loss"].steps.tolist()[-1] == 76990
    assert not any("cut short" in w for w in data.warnings)


def _epoch_summary_log(epochs: int, per: int, first_label: int = 1) -> str:
    # DanielPuentee/gpt-from-zero logs/pretrain.log: a loguru line per 100 steps, a summary when an epoch ends
    out, step, loss = [], 0, 6.3
    for e in range(epochs):
        for _ in range(per):
            step += 100
            loss *= 0.97
            out.append(f"2026-02-03 13:24:36.939 | INFO     | __main__:train:172 - Step {step}, Loss: {loss:.4f}")
        loss *= 0.7  # the running average starts again on data it has seen
        out.append(f"2026-02-03 13:25:24.716 | INFO     | __main__:train:176 - Epoch {e + first_label} completed. "
                   f"Average loss: {loss:.4f}")
    return "\n".join(out) + "\n"


def test_epoch_summaries_between_step_lines_give_the_epoch_of_every_step(tmp_path):
    p = tmp_path / "pretrain.log"
    p.write_text(_epoch_summary_log(epochs=5, per=15))
    data = sources.read(p)
    assert "Average loss" in data.series and not any(". " in n for n in data.series)
    ep = data.series["epoch"]
    assert ep.steps.tolist() == [1500, 3000, 4500, 6000, 7500] and ep.values.tolist() == [1, 2, 3, 4, 5]
    report = kto_doctor.analyze(p)
    epoch = report.run.metrics["epoch"].dropna()
    assert epoch.loc[300] == pytest.approx(0.2) and epoch.loc[2250 - 50] == pytest.approx(1 + 700 / 1500)
    assert epoch.loc[7500] == pytest.approx(5.0)
    assert "SFT102" in _rules(report)  # 5 epochs, the loss at a small fraction of its first-epoch level


def test_epoch_summaries_counted_from_zero_end_the_first_epoch_at_one(tmp_path):
    p = tmp_path / "pretrain.log"
    p.write_text(_epoch_summary_log(epochs=3, per=10, first_label=0))
    assert sources.read(p).series["epoch"].values.tolist() == [1, 2, 3]


def test_a_timing_field_with_no_value_yet_is_no_nan_metric(tmp_path):
    # KellerJordan/modded-nanogpt records: `step_avg:nanms` until the timing starts
    p = tmp_path / "log.txt"
    p.write_text("".join(f"step:{s}/6200 train_loss:{10.9 - 0.5 * s:.4f} train_time:{0 if s < 3 else 95 * s}ms "
                         f"step_avg:{'nan' if s < 3 else 95.0}ms\n" for s in range(1, 12)))
    report = kto_doctor.analyze(p)
    assert "step_avg" not in report.run.metric_names
    assert "nan-inf" not in {f.symptom for f in report.findings}


def test_a_dino_log_txt_pasted_in_an_issue_is_read_per_epoch(tmp_path):
    # facebookresearch/dino#284: the per-epoch `log.txt` lines, `{"train_loss": ...}` leading each (no HF summary)
    p = tmp_path / "issue284.log"
    rows = [(7.3975777105156295, 1.5593881389687975e-05), (5.733514768491804, 4.68507966364243e-05),
            (5.2813909558200205, 7.810771188315966e-05), (4.931780147671172, 0.000109364627129896),
            (4.612698832708123, 0.00014062154237663252), (4.365842029254521, 0.00017187845762336835),
            (4.147426321377269, 0.00020313537287010427), (3.9338953712608964, 0.00023439228811683975),
            (3.751991960459051, 0.00026564920336357545), (3.5828048398273182, 0.0002969061186103117),
            (3.4191214270823824, 0.0003124969637646053)]  # eleven lines: enough for the console sniff's full score
    p.write_text("".join(f'{{"train_loss": {a}, "train_lr": {b}, "train_wd": 0.04, "epoch": {e}}}\n'
                         for e, (a, b) in enumerate(rows)))
    data = sources.read(p)
    assert data.format == "epoch_jsonl"
    assert data.series["loss"].values.tolist() == [a for a, _ in rows]
    assert kto_doctor.analyze(p).status != "failing"  # eleven epochs of a falling loss: no "no per-step metrics" error


def test_peft_examples_printed_tensors_are_read_per_epoch(tmp_path):
    """PEFT's causal-LM examples print `epoch=0: train_ppl=tensor(7.0119e+25, device='cuda:0')
    train_epoch_loss=tensor(59.5122, device='cuda:0') eval_ppl=... eval_epoch_loss=...`: the tensors' numbers are
    the values, the epoch the step."""
    from kto_doctor.sources import generic_kv

    rows = [(0, "7.0119e+25", "59.5122", "2.6500e+13", "30.9082"), (1, "4.4497e+11", "26.8213", "59509564.", "17.9016"),
            (2, "6.5751e+09", "22.6066", "4530818.5000", "15.3264")]
    text = "".join(f"epoch={e}: train_ppl=tensor({p}, device='cuda:0') train_epoch_loss=tensor({l}, device='cuda:0') "
                   f"eval_ppl=tensor({ep}, device='cuda:0') eval_epoch_loss=tensor({el}, device='cuda:0')\n"
                   for e, p, l, ep, el in rows)
    p = tmp_path / "peft_lora_clm.log"
    p.write_text("trainable params: 1,572,864 || all params: 560,787,456\n" + text)
    data = generic_kv.read(p)
    assert data.series["loss"].steps.tolist() == [0, 1, 2]
    assert data.series["loss"].values.tolist() == [59.5122, 26.8213, 22.6066]
    assert data.series["eval_loss"].values.tolist() == [30.9082, 17.9016, 15.3264]
    assert data.series["perplexity"].values[0] == 7.0119e+25


def _group_rate_log(path, rate):
    # a vision-language run's JSON lines: a learning rate per parameter group (the backbone at a tenth of the
    # projector's), and no single `lr`
    import json

    path.write_text("".join(json.dumps({"step": 10 * s, "train/loss": 3.0 + 0.001 * (s % 3),
                                        "train/backbone_lr": rate(s) / 10, "train/proj_lr": rate(s)}) + "\n"
                            for s in range(1, 61)))
    return path


def test_rates_logged_per_parameter_group_are_the_schedule_and_a_zero_rate_everywhere_is_an_error(tmp_path):
    report = kto_doctor.analyze(_group_rate_log(tmp_path / "metrics.jsonl", lambda s: 0.0))
    assert report.run.metrics["learning_rate"].dropna().eq(0).all()
    assert any("read from 'backbone_lr'" in w and "0 on every row" in w for w in report.run.warnings)
    assert any(f.rule == "SCHED103" and f.severity == "error" for f in report.findings)


def test_the_group_with_the_highest_rate_is_the_learning_rate_and_a_working_schedule_is_no_finding(tmp_path):
    p = _group_rate_log(tmp_path / "metrics.jsonl", lambda s: 1e-4 * min(1.0, s / 10))
    report = kto_doctor.analyze(p)
    assert report.run.metrics["learning_rate"].max() == pytest.approx(1e-4)
    assert any("read from 'proj_lr'" in w and "of 2 per-group rates" in w for w in report.run.warnings)
    assert not any(f.rule.startswith("SCHED") for f in report.findings)


def test_schedule_settings_and_counters_that_carry_lr_are_no_rates():
    from kto_doctor.ontology import group_rates

    assert group_rates(["backbone_lr", "lr_group_1", "lr-AdamW/pg2", "learning_rate/proj", "mm_projector_lr"]) == [
        "backbone_lr", "lr_group_1", "lr-AdamW/pg2", "learning_rate/proj", "mm_projector_lr"]
    assert group_rates(["lr_scheduler_type", "base_lr", "lr_warmup_steps", "max_lr", "eval_lr", "learning_rate", "critic/lr",
                        "actor/lr(1e-4)",
                        "loss", "lr_decay"]) == []


def test_a_loop_printing_two_reward_functions_beside_its_reward_is_grpo_and_a_reward_stuck_at_0_is_an_anomaly(tmp_path):
    # Hosh1mi/Tech_challenge's hand-written GRPO loop (held-out set 26): `reward` with `format_reward` and
    # `answer_reward`, two completions a prompt, 0.0000 on most rows. A lone `reward` made it PPO, and the flat
    # reward was called a plateau
    p = tmp_path / "grpo.log"
    rewards = [0.5 if s % 9 == 0 else 0.0 for s in range(1, 121)]
    p.write_text("".join(f"__main__ - INFO - step={s} loss=0.000000 reward={r:.4f} format_reward={r:.4f} "
                         f"answer_reward=0.0000 correct=0/2\n" for s, r in enumerate(rewards, 1)))
    report = kto_doctor.analyze(p)
    assert report.run.method == "grpo"
    top = [f for f in report.findings if f.rule == "GRPO111"]
    assert top and top[0].symptom == "reward-anomaly"
    # one reward name beside `reward` says nothing of functions: still judged by the rest of the names
    q = tmp_path / "ppo.log"
    q.write_text("".join(f"step={s} loss=0.5 reward={r:.4f} kl_reward=0.1\n" for s, r in enumerate(rewards, 1)))
    assert kto_doctor.analyze(q).run.method == "ppo"


def _avg_loss_log(path, losses):
    path.write_text("".join(f"[step {20 * i}] avg_loss={v:.4f} acc=0.9\n" for i, v in enumerate(losses, 1)))
    return path


def test_a_log_named_for_its_method_says_the_method_a_bare_loss_does_not(tmp_path):
    # JunyiJ/PostTraining-LLM-Small's train_grpo_gemma2_3.log (held-out set 27): a hand-written GRPO loop's
    # `[step N] avg_loss=...` lines, read as SFT; memorisation was called on a policy-gradient loss near 0
    losses = [0.0157, 0.0219, 0.0013, 0.0009, 0.0011, 0.0001, 0.0008, 0.0004]
    report = kto_doctor.analyze(_avg_loss_log(tmp_path / "train_grpo_gemma2_3.log", losses))
    assert report.run.method == "grpo"
    assert any("guessed from the name of train_grpo_gemma2_3.log" in w for w in report.run.warnings)
    assert not any(f.rule.startswith("SFT") for f in report.findings)
    # the same lines under a name that says nothing are judged by their metric names
    assert kto_doctor.analyze(_avg_loss_log(tmp_path / "train.log", losses)).run.method == "sft"


def test_a_loss_below_zero_on_several_rows_is_no_cross_entropy(tmp_path):
    report = kto_doctor.analyze(_avg_loss_log(tmp_path / "train.log", [0.0485, -0.0386, 0.0148, -0.0176, 0.01]))
    assert report.run.method == "unknown"
    assert any("no cross-entropy" in w for w in report.run.warnings)
    assert not any(f.rule.startswith("SFT") for f in report.findings)


def _nohup_log(path):
    # iiicellled/Clean-Code-Qwen's dpo.log (held-out set 27): under nohup, tqdm's stderr redraws reach the file at
    # once and the script's stdout in bursts: five dicts logged at steps 10 ... 50 land after the bar's `50/160`,
    # and the evaluation's dict ends the next burst's bar line
    def bars(a, b):
        return "".join(f"\r {100 * i // 160:3d}%|#| {i}/160 [00:{i:02d}<01:00, 1.0it/s]" for i in range(a, b + 1))

    def row(k):
        return (f"{{'loss': {0.6931 - 0.0008 * k:.4f}, 'grad_norm': 0.3, 'learning_rate': 2e-06, "
                f"'rewards/margins': {0.002 * k:.4f}, 'rewards/accuracies': 0.8, 'epoch': {k * 10 / 160:.2f}}}\n")

    text = bars(1, 50) + row(1) + "".join(row(k) for k in range(2, 6))
    for start in (51, 101):
        text += bars(start, start + 49) + f"{{'eval_loss': 0.68, 'eval_runtime': 1.0, 'epoch': {(start - 1) / 160:.2f}}}\n"
        text += "".join(row(k) for k in range((start - 1) // 10 + 1, (start - 1) // 10 + 6))
    path.write_text(text)
    return path


def test_dicts_flushed_in_bursts_after_the_bar_are_placed_by_their_epoch(tmp_path):
    data = sources.read(_nohup_log(tmp_path / "dpo.log"))
    assert data.series["loss"].steps.tolist() == [10 * k for k in range(1, 16)]
    assert any("printed in bursts" in w for w in data.warnings)
    # without epochs the bursts cannot be told from a bar per dict: placed as before, from the bar and the interval
    p = tmp_path / "plain.log"
    p.write_text(re.sub(r", 'epoch': [0-9.]+", "", (tmp_path / "dpo.log").read_text()))
    assert not any("printed in bursts" in w for w in sources.read(p).warnings)


def test_an_rl_loop_s_accuracy_stands_for_its_reward_and_its_collapse_is_seen(tmp_path):
    # JunyiJ/PostTraining-LLM-Small's train_grpo_gemma2_5.log (held-out set 27): acc 0.90-1.00 for steps 25-400,
    # then 0.57 and 0.00 while completions turn to gibberish; no reward is logged
    accs = [0.90, 0.88, 0.92, 0.99, 0.99, 0.93, 0.97, 0.96, 0.95, 0.92, 0.98, 0.94, 0.98, 0.98, 1.00, 0.95, 0.57, 0.0]
    p = tmp_path / "train_grpo_gemma2_5.log"
    p.write_text("".join(f"[step {25 * i}] avg_loss={0.01 * (-1) ** i:.4f} acc={a:.4f}\n" for i, a in enumerate(accs, 1)))
    report = kto_doctor.analyze(p)
    assert any("reward: read from 'accuracy'" in w for w in report.run.warnings)
    assert any(f.rule == "GRPO107" and f.severity in ("warning", "error") for f in report.findings)
    # the same accuracy holding at 0.9 and more is a solved task, not a flat reward
    p.write_text("".join(f"[step {25 * i}] avg_loss={0.01 * (-1) ** i:.4f} acc={a:.4f}\n" for i, a in enumerate(accs[:16], 1)))
    assert not any(f.rule in ("GRPO107", "GRPO111") for f in kto_doctor.analyze(p).findings)


def test_an_orpo_trajectory_table_with_bare_acc_and_margins_is_read_as_orpo_pair_metrics(tmp_path):
    # javierdejesusda/YuhoLens docs/session_2026-04-28_summary.md (held-out set 28): a Markdown table of a TRL ORPO
    # run's trajectory, its pair accuracy named `acc`, its margin `margins`, beside ORPO's own log_odds_chosen
    rows = [(0.20, 10, 0.8663, -0.0209, -1.011), (0.41, 20, 0.8167, -0.0196, -0.945), (0.61, 30, 0.8112, -0.0185, -0.911),
            (0.81, 40, 0.8186, -0.0174, -0.860), (1.00, 50, 0.8278, -0.0171, -0.856)]
    head = "| epoch | step | loss   | acc | margins   | log_odds_chosen |\n|-------|------|--------|-----|-----------|-----------------|\n"
    p = tmp_path / "summary.md"
    p.write_text(head + "".join(f"| {e:.2f}  | {s}   | {l} | 0.0 | {m}   | {o}          |\n" for e, s, l, m, o in rows))
    run = kto_doctor.load_run(p)
    assert run.method == "orpo"
    assert run.metrics["rewards/accuracies"].tolist() == [0.0] * 5
    assert run.metrics["rewards/margins"].tolist() == [r[3] for r in rows]
    assert any("rewards/margins: read from 'margins'" in w for w in run.warnings)
    # without a preference method, a bare accuracy stays what it was logged as
    p.write_text("| step | loss | acc |\n|---|---|---|\n" + "".join(f"| {10 * i} | {2 - 0.1 * i:.2f} | 0.5 |\n" for i in range(1, 6)))
    run = kto_doctor.load_run(p)
    assert run.method == "sft" and "rewards/accuracies" not in run.metrics.columns


def test_minimind_epoch_and_iteration_counter_gives_the_step(tmp_path):
    # Coicozoi/minimind-from-scratch logs/dpo.log (held-out set 28): MiniMind prints `Epoch:[e/E](i/N)`; the step is
    # (e - 1) x N + i, not the line's position in the log
    lines = [f"Epoch:[{e}/2]({i}/300), loss: {0.70 - 0.001 * i:.4f}, dpo_loss: {0.70 - 0.001 * i:.4f}, aux_loss: 0.0000, "
             f"learning_rate: 0.00000004, epoch_time: 9.000min\n" for e in (1, 2) for i in (100, 200, 300)]
    p = tmp_path / "dpo.log"
    p.write_text("Model Params: 30.03M\n" + "".join(lines))
    run = kto_doctor.load_run(p)
    assert run.metrics.index.tolist() == [100, 200, 300, 400, 500, 600]
    assert run.metrics["learning_rate"].tolist() == [4e-8] * 6


@pytest.mark.parametrize("prefix", ["[rank0]: ", "> ", "    ", "2026-01-01 10:00:00,123 - INFO - "])
def test_minimind_lines_behind_a_prefix_keep_their_counter_and_every_metric(tmp_path, prefix):
    # a logger's or torchrun's prefix before MiniMind's GRPO line made it a counter-less loss line (its `Epoch:[` has a
    # bracket before the number): only `Actor Loss` was read, as the loss, one step per line; reward and KL were lost
    lines = [f"{prefix}Epoch:[1/1]({i}/9751), Reward: {-2.3 + 0.1 * i:.4f}, KL_ref: 0.0010, Actor Loss: 0.0000, "
             f"Learning Rate: 0.00000030\n" for i in (10, 20, 30, 40)]
    p = tmp_path / "grpo.log"
    p.write_text("Model Params: 30.03M\n" + "".join(lines))
    run = kto_doctor.load_run(p)
    assert run.metrics.index.tolist() == [10, 20, 30, 40]
    assert run.metrics["reward"].tolist() == pytest.approx([-1.3, -0.3, 0.7, 1.7])
    assert "policy_loss" in run.metrics.columns and "loss" not in run.metrics.columns


@pytest.mark.parametrize("prefix", ["", "[rank0]: ", "[default0]:"])
def test_step_bar_lines_under_torchruns_rank_prefix_are_read(tmp_path, prefix):
    # nwyin/modded-llama2's `10 | loss 9.3750 | lr 3.000000e-04 | 13597.70ms`, as `torchrun --tee 3` writes it
    p = tmp_path / "train.log"
    p.write_text("".join(f"{prefix}{s} | loss {9 - s / 10:.4f} | lr 3.000000e-04 | 13597.70ms\n" for s in (0, 10, 20, 30)))
    run = kto_doctor.load_run(p)
    assert run.metrics.index.tolist() == [0, 10, 20, 30]
    assert run.metrics["loss"].tolist() == pytest.approx([9, 8, 7, 6])


@pytest.mark.parametrize("eval_line", ["Validation loss: {v}", "val loss {v}", "eval: loss={v} acc=0.5",
                                       "dev | avg_loss: {v} | {{'exact_match': 2.6, 'rougeL': 19.8}}"])
def test_an_evaluation_line_without_a_counter_takes_the_step_of_the_training_line_before_it(tmp_path, eval_line):
    # microsoft/LMOps#48 (held-out set 28): MiniLLM prints `dev | avg_loss: 2.17 | {...}` after each epoch's
    # `train | epoch 0 | ... global iter: 1428/14290 | loss: 1.8361 | ...` line; the dev losses were not read at all
    text = eval_line.format(v=2.50) + "\n"  # an evaluation before training: no step before it, left out
    for step, loss, ev in ((1428, 1.8361, 2.174), (2856, 1.5378, 2.284), (4284, 0.6872, 2.521)):
        text += f"train | global iter: {step}/14290 | loss: {loss} | lr: 4.8e-05\n" + eval_line.format(v=ev) + "\n"
    p = tmp_path / "train.log"
    p.write_text(text)
    run = kto_doctor.load_run(p)
    assert run.metrics["eval_loss"].dropna().to_dict() == {1428: 2.174, 2856: 2.284, 4284: 2.521}
    assert run.metrics["loss"].dropna().tolist() == [1.8361, 1.5378, 0.6872]
    report = kto_doctor.analyze(p)
    assert any(f.rule == "SFT103" and f.severity == "warning" for f in report.findings)  # train down, eval up


def test_loss_lines_without_any_counter_keep_their_order_beside_evaluation_lines(tmp_path):
    p = tmp_path / "loop.log"
    p.write_text("".join(f"train loss: {2.0 - 0.1 * i:.2f}\nval loss: {2.1 - 0.05 * i:.2f}\n" for i in range(5)))
    run = kto_doctor.load_run(p)
    assert run.metrics["loss"].dropna().tolist() == [2.0, 1.9, 1.8, 1.7, 1.6]
    assert run.metrics["eval_loss"].dropna().tolist() == [2.1, 2.05, 2.0, 1.95, 1.9]


def test_keras_verbose_2_lines_without_a_bar_are_read_under_their_epoch_lines(tmp_path):
    """Keras with `verbose=2` prints no bar: `224s - loss: 3.5508 - acc: 0.2966 - val_loss: 1.4529 - val_acc: 0.5808`
    under `Epoch 1/50` (Keras 1: KyotoSunshine/CNN-for-handwritten-kanji model_training_log.txt), `1875/1875 - 3s -
    loss: ...` in TF2. Each is its epoch's row, val_* the eval series (the file read as "epoch" alone before)."""
    rows = [("224s", 3.5508, 0.2966, 1.4529, 0.5808), ("223s", 1.0899, 0.6879, 0.7529, 0.7712),
            ("225s", 0.7034, 0.7956, 0.4508, 0.8717), ("226s", 0.6124, 0.8221, 0.3751, 0.8912)]
    p = tmp_path / "model_training_log.txt"
    p.write_text("Train on 40000 samples, validate on 10000 samples\n" + "".join(
        f"Epoch {k}/50\n{t} - loss: {l} - acc: {a} - val_loss: {vl} - val_acc: {va}\n"
        for k, (t, l, a, vl, va) in enumerate(rows, 1)))
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [r[1] for r in rows]
    assert data.series["eval_loss"].values.tolist() == [r[3] for r in rows]
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4]

    q = tmp_path / "tf2.txt"
    q.write_text("".join(f"Epoch {k}/3\n1875/1875 - 3s - loss: {0.5 / k:.4f} - accuracy: 0.9{k}\n" for k in (1, 2, 3)))
    assert sources.read(q).series["loss"].values.tolist() == [0.5, 0.25, 0.1667]


def test_a_metrics_csv_that_is_no_lightning_log_is_read_as_a_table(tmp_path):
    """A hand-written GRPO loop's own `metrics.csv` (Prem01-cyber/AxiomForgeAI: `iteration,timestamp,loss,
    mean_reward,std_reward,...`) has Lightning's file name but no `step` column: the name's claimant refuses it and
    the content's reader takes it (it was "no readable training log"). A real CSVLogger file stays Lightning's."""
    own = tmp_path / "own" / "metrics.csv"
    own.parent.mkdir()
    own.write_text("iteration,timestamp,loss,mean_reward,std_reward\n" + "".join(
        f"{k},2026-04-26T03:{k:02d}:00,{0.0006 - 0.0001 * (k % 3):.6f},{0.9 - 0.001 * k:.6f},0.17\n"
        for k in range(1, 31)))
    data = sources.read(own)
    assert data.format == "csv_table" and data.series["reward"].values[0] == pytest.approx(0.899)
    assert kto_doctor.analyze(own).run.method == "grpo"

    lightning = tmp_path / "lightning_logs" / "version_0" / "metrics.csv"
    lightning.parent.mkdir(parents=True)
    lightning.write_text("epoch,step,train_loss,val_loss\n" + "".join(
        f"0,{s},{2 - s / 100:.3f},\n" for s in range(9, 99, 10)))
    assert sources.read(lightning).format == "lightning_csv"


def test_a_counted_line_with_no_number_is_no_step_of_the_epoch_summaries_around_it(tmp_path):
    """An agent's `▶ STEP 2 | stop reason='parse_error'` lines between a GRPO loop's `Epoch 3 | loss=-0.0402 |
    reward= 5.67 [-2.7 … 18.0]` summaries (alivnavc/GRPO-RL-SLM-SQLi grpo_training.log) counted steps 0-2 over and
    over, and the summaries took those steps: 2 of 10 epochs survived. Lines holding no value are not records."""
    lines = ["│ Epochs: 10  |  G=4  |  lr=2e-05  |  β=0.01 │"]
    rewards = [6.06, 5.61, 5.67, 5.78, 7.03, 7.53, 6.51, 6.74, 7.86, 6.69]
    for e, r in enumerate(rewards, 1):
        for s, action in enumerate(("enumerate_endpoints", "inject_payload", "stop  reason='parse_error'")):
            lines.append(f"  ▶ STEP {s} | {action}")
        lines.append(f"  Epoch {e:3d} | loss={0.01 * (-1) ** e:.4f} | reward={r:6.2f} [-2.1 … 16.3]")
    p = tmp_path / "grpo_training.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = sources.read(p)
    assert data.series["reward"].values.tolist() == rewards
    assert len(data.series["loss"].values) == 10


def test_a_nan_in_the_only_named_loss_is_said_once_as_the_loss(tmp_path):
    # OpenGVLab/Ask-Anything#253: `video-loss: nan` on every line; read as the loss, it was also reported a second
    # time as an unknown series holding NaN (NUM104 beside NUM101)
    p = tmp_path / "train.log"
    p.write_text("".join(f"2024-12-19T03:26:01 | utils.basic_utils: Train Epoch: [0]  [{i:3d}/528]  eta: 0:17:46  "
                         f"lr: 0.000096  video-loss: nan  time: 2.3156\n" for i in (0, 100, 200, 300)))
    report = kto_doctor.analyze(p)
    assert [f.rule for f in report.findings if f.severity != "info"] == ["NUM101"]
    assert "video-loss" not in report.run.metrics.columns
