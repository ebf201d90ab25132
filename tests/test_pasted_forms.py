"""Forms a log takes on its way into an issue or a notebook's output folder (tests/fixtures/pastes, provenance in
its PROVENANCE.md): a dict pasted without its opening brace, the Trainer's `***** train metrics *****` block,
W&B's `Run summary:` block and a custom loop's JSON dump. Each used to end in "no training logs found"."""
from __future__ import annotations

import json

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources

from conftest import REPO, read_or_none

FIX = REPO / "tests" / "fixtures" / "pastes"


def _symptoms(report, floor="warning"):
    rank = {"info": 0, "warning": 1, "error": 2}
    return {f.symptom for f in report.findings if rank[f.severity] >= rank[floor]}


def test_a_dict_pasted_without_its_opening_brace_is_read_with_its_step():
    data = sources.read(FIX / "modelscope__ms-swift__issue5571.log")
    assert data.format == "console"
    assert data.series["grad_norm"].values.tolist() == [0.0]
    assert data.series["reward"].values.tolist() == [0.34375]
    assert data.series["loss"].steps.tolist() == [5]  # 'global_step/max_steps': '5/3766'
    assert any("without their braces" in w for w in data.warnings)


def test_a_dict_without_braces_among_other_lines_and_junk(tmp_path):
    line = (FIX / "modelscope__ms-swift__issue5571.log").read_bytes().rstrip(b"\n")
    bare = line.rstrip(b"}").replace(b"'5/3766'", b"'6/3766'")  # neither brace, the next step
    p = tmp_path / "paste.txt"
    p.write_bytes(b"[INFO] {'lr_scheduler_type': 'cosine'} loaded\n" + line + b"\n\x00\xff junk {\n" + bare
                  + b"\n")
    data = sources.read(p)
    assert data.series["reward"].values.tolist() == [0.34375, 0.34375]
    assert data.records == 2


def test_a_quoted_line_that_is_no_metric_dict_is_left_alone(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("'hello': 'world', 'x': 1\n{'loss': 2.5, 'learning_rate': 1e-05, 'epoch': 0.1}\n")
    data = sources.read(p)
    assert data.records == 1 and data.series["loss"].values.tolist() == [2.5]


def test_the_train_metrics_block_is_the_run_summary_and_a_zero_mean_loss_is_an_error():
    data = sources.read(FIX / "hiyouga__LlamaFactory__issue4278.log")
    assert data.facts["train_loss"] == 0.0 and data.facts["epoch"] == pytest.approx(2.9268)
    assert "train_runtime" not in data.facts  # `0:02:59.80` is no number
    report = kto_doctor.analyze(FIX / "hiyouga__LlamaFactory__issue4278.log")
    assert [f.rule for f in report.findings if f.severity == "error" and f.symptom == "loss-collapse"] == ["LOSS105"]
    assert report.status == "inconclusive"  # a summary alone: no series was understood, and it says so


def test_the_wandb_run_summary_is_one_row_of_last_values():
    data = sources.read(FIX / "NVlabs__Tool-N1__issue9.log")
    assert data.records == 1
    assert {"reward", "policy_loss", "advantages_max", "advantages_min", "learning_rate"} <= set(data.series)
    assert any("only W&B's run summary" in w for w in data.warnings)
    report = kto_doctor.analyze(FIX / "NVlabs__Tool-N1__issue9.log")
    assert "reward-anomaly" in _symptoms(report)


def test_a_wandb_summary_beside_metric_dicts_adds_no_row(tmp_path):
    p = tmp_path / "train.log"
    summary = (FIX / "NVlabs__Tool-N1__issue9.log").read_text()
    p.write_text("{'loss': 1.5, 'learning_rate': 1e-05, 'epoch': 0.5}\n{'loss': 1.2, 'learning_rate': 1e-05, "
                 "'epoch': 1.0}\n" + summary)
    data = sources.read(p)
    assert data.records == 2 and "advantages_max" not in data.series


def test_a_custom_json_dump_is_read_with_its_settings():
    data = sources.read(FIX / "Namngo-uxiuer__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json")
    assert data.format == "json_metrics"
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert data.series["loss"].values[0] == pytest.approx(0.6931471824645996)
    assert {"rewards/chosen", "rewards/rejected", "rewards/margins"} <= set(data.series)
    assert data.config["beta"] == 0.1 and data.config["learning_rate"] == 5e-05
    report = kto_doctor.analyze(FIX / "Namngo-uxiuer__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json")
    assert report.run.method == "dpo" and report.run.config.get("learning_rate") == 5e-05
    assert report.status != "healthy"  # 0.693 -> 0.00013 in six steps


def test_a_dump_without_a_per_step_loss_is_not_called_healthy():
    report = kto_doctor.analyze(FIX / "Tienlee41__K3-Track3-Day22__training_metrics.json")
    assert report.run.sources[0].records == 51
    assert report.status == "inconclusive"
    assert report.run.config["train_loss"] == pytest.approx(0.676107983827591)


def test_bare_preference_names_are_rewards_only_in_a_run_that_states_beta(tmp_path):
    doc = json.loads((FIX / "ZukaNoPro2k5__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json").read_text())
    data = sources.read(FIX / "ZukaNoPro2k5__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json")
    assert data.step_kind == "ordinal" and data.records == len(doc["history"])
    assert data.series["rewards/accuracies"].values[0] == pytest.approx(0.35, abs=1e-6)
    del doc["beta"]
    p = tmp_path / "dump.json"
    p.write_text(json.dumps(doc))
    plain = sources.read(p)
    assert "rewards/accuracies" not in plain.series and "loss" in plain.series


@pytest.mark.parametrize("text", [
    '{"learning_rate": 1e-05, "per_device_train_batch_size": 4}',  # training arguments
    '{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.9}\n{"step": 3, "loss": 1.8}\n',  # JSON lines
    '{"log_history": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.9}]}',  # a trainer_state.json
])
def test_the_json_dump_reader_claims_no_other_json(tmp_path, text):
    from kto_doctor.sources import json_metrics

    assert json_metrics.sniff(text) == 0.0


def test_a_truncated_dump_keeps_its_complete_rows_and_settings(tmp_path):
    raw = (FIX / "Namngo-uxiuer__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json").read_bytes()
    cut = raw.index(b'"step": 5')  # inside the fifth row
    p = tmp_path / "dpo_metrics.json"
    p.write_bytes(raw[:cut])
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4]
    assert data.config["beta"] == 0.1 and data.config["learning_rate"] == 5e-05
    assert any("damaged" in w and "4 complete row(s)" in w for w in data.warnings)


def test_a_dump_cut_inside_its_second_row_keeps_the_first(tmp_path):
    raw = (FIX / "Namngo-uxiuer__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json").read_bytes()
    p = tmp_path / "dpo_metrics.json"
    p.write_bytes(raw[: raw.index(b'"step": 2') + 12])
    data = sources.read(p)
    assert data.format == "json_metrics" and data.series["loss"].steps.tolist() == [1]


def test_a_dump_cut_before_any_row_is_a_one_line_error(tmp_path):
    raw = (FIX / "Namngo-uxiuer__K4-Track3-Day22-DPO-ORPO-Alignment__dpo_metrics.json").read_bytes()
    p = tmp_path / "dpo_metrics.json"
    p.write_bytes(raw[: raw.index(b'"history"')])
    with pytest.raises(kto_doctor.InputError) as exc:
        kto_doctor.analyze(p)
    assert "dpo_metrics.json" in str(exc.value) and "\n" not in str(exc.value)


# -- a custom loop's `train_loss` -------------------------------------------------------------------------


def _mlflow_run(root, metrics: dict) -> None:
    run = root / "mlruns" / "1" / ("0123456789abcdef" * 2)
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: x\nexperiment_id: '1'\nstatus: 3\nlifecycle_stage: active\n")
    (root / "mlruns" / "1" / "meta.yaml").write_text("experiment_id: '1'\nname: e\nlifecycle_stage: active\n")
    for key, values in metrics.items():
        (run / "metrics" / key).write_text("".join(f"170000000{i} {v} {i}\n" for i, v in enumerate(values)))


def test_a_custom_loop_logging_train_loss_per_epoch_to_mlflow_is_understood(tmp_path):
    _mlflow_run(tmp_path, {"train_loss": [2.0, 1.6, 1.3, 1.1, 0.9], "val_loss": [2.1, 1.9, 1.8, 1.85, 1.95]})
    report = kto_doctor.analyze(tmp_path / "mlruns")
    assert report.status != "inconclusive"
    assert report.run.series("loss").tolist() == [2.0, 1.6, 1.3, 1.1, 0.9]
    (src,) = report.run.sources
    assert any("`train_loss` is logged at 5 steps" in w for w in src.warnings)
    assert "overfitting" in _symptoms(report)  # val_loss rises from its best while train_loss falls


def test_hf_end_of_run_train_loss_stays_a_summary_beside_the_loss(tmp_path):
    _mlflow_run(tmp_path, {"loss": [2.0, 1.6, 1.3], "train_loss": [1.6]})
    report = kto_doctor.analyze(tmp_path / "mlruns")
    assert report.run.series("loss").tolist() == [2.0, 1.6, 1.3]
    assert not any("train_loss" in w for s in report.run.sources for w in s.warnings)


def test_a_json_dump_whose_rows_say_train_loss(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text(json.dumps({"lr": 1e-4, "history": [{"epoch": e, "train_loss": l, "val_loss": v}
                                                     for e, l, v in [(1, 2.0, 2.1), (2, 1.5, 1.8), (3, 1.2, 1.7)]]}))
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [2.0, 1.5, 1.2]
    assert any("`train_loss` is logged at 3 steps" in w for w in data.warnings)


def test_columns_of_averages_a_grpo_lab_dumped_are_read_as_its_metrics(tmp_path):
    """`json.dump({"rewards_avg": [...], "kl_avg": [...], ...})` at the end of a GRPO loop: no `loss` column, the
    names carry the averaging word; the dump is json_metrics', not a console log that happens to start `{"reward`."""
    from kto_doctor.sources import detect

    p = tmp_path / "grpo_metrics.json"
    p.write_text(json.dumps({"rewards_avg": [0.198, 0.2075, 0.21, 0.2237], "train_accuracies_avg": [0.1, 0.12, 0.13, 0.15],
                             "val_accuracies_avg": [0.2, 0.21, 0.22, 0.25], "kl_avg": [0.0, 0.001, 0.002, 0.004]},
                            indent=2))
    assert detect(p) == "json_metrics"
    data = sources.read(p)
    assert data.series["reward"].values.tolist() == [0.198, 0.2075, 0.21, 0.2237]
    assert data.series["kl"].values.tolist()[-1] == 0.004 and "eval_accuracy" in data.series


# -- DeepSpeed-Chat steps 1 and 2 (real examples in tests/fixtures/formats/deepspeed_chat) ---------------------


def test_deepspeed_chat_step1_perplexity_and_step2_rejected_scores(tmp_path):
    p = tmp_path / "training.log"
    p.write_text("***** Running training *****\n"
                 "***** Evaluating perplexity, Epoch 0/2 *****\nppl: 9.5, loss: 2.251\n"
                 "Epoch 1/2 with loss 1.9\n***** Evaluating perplexity, Epoch 1/2 *****\nppl: 5.1, loss: 1.63\n"
                 "Epoch 2/2 with loss 1.2\n***** Evaluating perplexity, Epoch 2/2 *****\nppl: 5.4, loss: 1.69\n")
    data = sources.read(p)
    assert data.format == "deepspeed_chat_sft_rm" and data.hints["method"] == "sft"
    assert data.series["loss"].steps.tolist() == [1, 2] and data.series["loss"].values.tolist() == [1.9, 1.2]
    assert data.series["eval_loss"].steps.tolist() == [0, 1, 2]
    assert data.series["eval_perplexity"].values.tolist() == [9.5, 5.1, 5.4]
    q = tmp_path / "rm.log"
    q.write_text("***** Evaluating reward, Epoch 1/1 *****\nchosen_last_scores (higher is better) : 1.5, "
                 "rejected_last_scores (lower is better) : -0.5, acc (higher is better) : 0.7\n")
    rm = sources.read(q)
    assert rm.hints["method"] == "rm"
    assert rm.series["eval_rewards/rejected"].values.tolist() == [-0.5]


# -- printed loss tensors ------------------------------------------------------------------------------------


def test_printed_loss_tensors_are_the_loss_and_a_nan_among_them_fails_the_run():
    report = kto_doctor.analyze(FIX / "lich99__ChatGLM-finetune-LoRA__issue32.log")
    (src,) = report.run.sources
    assert src.format == "printed_tensor" and src.records == 10
    loss = report.run.series("loss")
    assert loss.iloc[0] == pytest.approx(3.2207) and loss.isna().sum() == 9
    assert report.status == "failing" and "nan-inf" in _symptoms(report, "error")


def test_printed_tensors_with_grad_fn_and_a_loss_label(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("loss: tensor(2.5000, device='cuda:0', grad_fn=<NllLossBackward0>)\n"
                 "loss: tensor(2.1000, device='cuda:0', grad_fn=<NllLossBackward0>)\n"
                 "loss: tensor(1.9000, device='cuda:0', grad_fn=<NllLossBackward0>)\n")
    assert sources.read(p).series["loss"].values.tolist() == [2.5, 2.1, 1.9]


def test_a_traceback_with_a_tensor_or_two_is_not_a_loss_log(tmp_path):
    from kto_doctor.sources import printed_tensor

    text = ("Traceback (most recent call last):\n  File \"train.py\", line 10, in <module>\n    loss.backward()\n"
            "tensor(0.5000, device='cuda:0')\ntensor(0.4000, device='cuda:0')\nRuntimeError: CUDA out of memory\n")
    assert printed_tensor.sniff(text) == 0.0
    p = tmp_path / "trace.log"
    p.write_text(text)
    with pytest.raises(kto_doctor.InputError):
        kto_doctor.analyze(p)


def test_printed_tensors_cut_inside_the_last_print_keep_the_complete_ones_with_a_warning(tmp_path):
    lines = (FIX / "lich99__ChatGLM-finetune-LoRA__issue32.log").read_bytes().rstrip(b"\n").split(b"\n")
    p = tmp_path / "cut.log"
    p.write_bytes(b"\n".join(lines) + b"\ntensor(2.1")
    data = sources.read(p)
    assert data.format == "printed_tensor" and data.records == len(lines)
    assert any("cut short" in w for w in data.warnings)


def test_junk_bytes_between_printed_tensors_are_skipped(tmp_path):
    lines = (FIX / "lich99__ChatGLM-finetune-LoRA__issue32.log").read_bytes().rstrip(b"\n").split(b"\n")
    p = tmp_path / "junk.log"
    p.write_bytes(b"\n".join(lines[:3]) + b"\n\x00\xff\xfe garbage\n" + b"\n".join(lines[3:]) + b"\n")
    data = sources.read(p)
    assert data.format == "printed_tensor" and data.records == len(lines)
    assert not any("cut short" in w for w in data.warnings)


def test_a_line_of_prose_with_a_step_after_a_number_is_not_a_key_value_list(tmp_path):
    from kto_doctor.sources.base import SourceError

    p = tmp_path / "notes.log"
    p.write_text("We trained it for a while and the loss: 2.1 was fine, then at step 3 it broke.\n")
    with pytest.raises(SourceError, match="no training metrics found"):
        sources.read(p)


@pytest.mark.parametrize("text", [
    "loss: 2.0 | lr: 1e-5 | step: 20\nloss: 1.9 | lr: 1e-5 | step: 40\n",          # `|` between the pairs
    "loss=2.0 lr=1e-05 step=20\nloss=1.9 lr=1e-05 step=40\n",                     # key=value, blanks between
    "loss: 2.0\tlr: 1e-05\tstep: 20\nloss: 1.9\tlr: 1e-05\tstep: 40\n",         # tabs
    "2024-05-01 12:00:01 - INFO - loss: 2.0, lr: 1e-05, step: 20/1000\n"
    "2024-05-01 12:00:02 - INFO - loss: 1.9, lr: 1e-05, step: 40/1000\n",         # ` - ` fields, `step N/total`
    "loss 2.0 lr 1e-05 step 20\nloss 1.9 lr 1e-05 step 40\n",                     # blanks only
    "loss 2.0 | lr 1e-05 | step 20 | grad_norm 0.5\nloss 1.9 | lr 1e-05 | step 40 | grad_norm 0.4\n",
    "2024-05-01 12:00:01 INFO loss 2.0 lr 1e-05 step 20\n2024-05-01 12:00:02 INFO loss 1.9 lr 1e-05 step 40\n",
])
def test_a_key_value_list_with_the_step_last_reads_every_metric_whatever_the_separator(text, tmp_path):
    p = tmp_path / "train.log"
    p.write_text(text)
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [20, 40]
    assert data.series["loss"].values.tolist() == [2.0, 1.9]
    assert data.series["learning_rate"].values.tolist() == [1e-05, 1e-05]


def test_a_sentence_of_words_and_numbers_is_not_a_blank_separated_pair_list(tmp_path):
    from kto_doctor.sources.base import SourceError

    p = tmp_path / "notes.log"
    p.write_text("we ran loss 2.0 then waited a while before step 20 came\n" * 3)
    with pytest.raises(SourceError):
        sources.read(p)


@pytest.mark.parametrize("text", [
    "loss: 2.0, learning_rate: 1e-05, epoch: 0.1\nloss: 1.9, learning_rate: 9e-06, epoch: 0.2\n"
    "loss: nan, learning_rate: 8e-06, epoch: 0.3\n",
    "2024-05-01 12:00:01 INFO train loss = 2.0 | lr = 1e-05 | epoch = 0.1\n"
    "2024-05-01 12:00:02 INFO train loss = 1.9 | lr = 9e-06 | epoch = 0.2\n"
    "2024-05-01 12:00:03 INFO train loss = nan | lr = 8e-06 | epoch = 0.3\n",
])
def test_pairs_whose_only_counter_is_a_fractional_epoch_are_steps_in_log_order(text, tmp_path):
    p = tmp_path / "train.log"
    p.write_text(text)
    data = sources.read(p)
    assert data.step_kind == "ordinal"
    assert data.series["loss"].steps.tolist() == [1, 2, 3]
    assert data.series["loss"].values[:2].tolist() == [2.0, 1.9] and np.isnan(data.series["loss"].values[2])
    assert data.series["epoch"].values.tolist() == [0.1, 0.2, 0.3]
    report = kto_doctor.analyze(p)
    assert report.status == "failing"  # the NaN loss is seen, not a healthy run


def test_trl_016_grpo_length_keys_reach_the_truncation_rule(tmp_path):
    """TRL 0.16 logged `clipped_completions_ratio`, `min/max_completion_length` (later `completions/...`)."""
    p = tmp_path / "grpo.log"
    p.write_text("{'loss': 0.002, 'grad_norm': 41.0, 'learning_rate': 0.0, 'mean_completion_length': 8.0, "
                 "'min_completion_length': 8.0, 'max_completion_length': 8.0, 'clipped_completions_ratio': 1.0, "
                 "'reward': 16.375, 'reward_std': 2.07, 'kl': 0.051, 'epoch': 2.89}\n")
    data = sources.read(p)
    assert {"completions/clipped_ratio", "completions/max_length", "completions/min_length",
            "completions/mean_length"} <= set(data.series)
    report = kto_doctor.analyze(p)
    assert "truncation" in _symptoms(report, "error")


def test_block_per_step_prints_are_read_with_their_step_lines(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("step 1 token 5m \ntrain/loss 5.5021 \ntrain/grad_norm 249.4825 \ntrain/learning_rate 0.0000 \n\n"
                 "step 50 token 250m \ntrain/loss 2.2328 \ntrain/grad_norm 12.5982 \ntrain/learning_rate 0.0000 \n")
    data = sources.read(p)
    assert data.format == "blocks"
    assert data.series["loss"].steps.tolist() == [1, 50]
    assert data.series["loss"].values.tolist() == [5.5021, 2.2328]
    report = kto_doctor.analyze(p)
    assert "lr-schedule" not in _symptoms(report)  # a rate printed as 0.0000 while the loss falls 60% is rounding


def test_bulleted_step_reports_skip_their_timing_section(tmp_path):
    step = ("========================= Step {n}/100 =========================\n"
            "\U0001f4ca Training Results:\n  \u2022 Loss: {loss}\n  \u2022 Avg Reward: {r}\n"
            "\u23f1\ufe0f  Timing:\n  \u2022 Total step time: 66.55s\n  \u2022 policy_training: 25.05s (37.6%)\n")
    p = tmp_path / "nemo_rl.log"
    p.write_text("".join(step.format(n=n, loss=0.1 / n, r=0.3 + 0.01 * n) for n in range(1, 6)))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5]
    assert data.series["reward"].values.tolist() == pytest.approx([0.31, 0.32, 0.33, 0.34, 0.35])
    assert not any("time" in name for name in data.series)


def test_a_config_printed_one_key_per_line_is_not_a_run(tmp_path):
    from kto_doctor.sources.base import SourceError

    p = tmp_path / "config.txt"
    p.write_text("learning_rate 2e-5\nbatch_size 8\nwarmup_steps 100\nnum_epochs 3\n")
    with pytest.raises(SourceError):
        sources.read(p)


def test_deepspeed_skips_that_stopped_before_the_log_are_calibration(tmp_path):
    """DeepSpeed's `step=N, skipped=M` progress lines: the first one's count is a fact too (ChatGLM-Finetuning#12,
    tests/fixtures/formats/generic_kv: skipped=21 at steps 320 and 350)."""
    fix = REPO / "tests" / "fixtures" / "formats" / "generic_kv" / "liucongg__ChatGLM-Finetuning__issue12.log"
    data = sources.read(fix)
    assert (data.facts["first_progress_step"], data.facts["skipped_at_first_progress"]) == (320, 21)
    assert (data.facts["optimizer_steps"], data.facts["overflow_count"]) == (350, 21)
    report = kto_doctor.analyze(fix)
    assert [(f.rule, f.severity) for f in report.findings if f.rule == "FP16101"] == [("FP16101", "info")]
    # the console reader states the same facts; a count that rises over the log stays a warning
    p = tmp_path / "train.log"
    p.write_text("".join(f"[Rank 0] step={s}, skipped={k}, lr=[1e-05], mom=[[0.9, 0.95]]\n"
                         f"{{'loss': {2.0 - s / 1000:.3f}, 'learning_rate': 1e-05, 'epoch': {s / 1000:.2f}}}\n"
                         for s, k in ((320, 15), (330, 18), (340, 20), (350, 21))))
    data = sources.read(p)
    assert data.format == "console"
    assert (data.facts["first_progress_step"], data.facts["skipped_at_first_progress"]) == (320, 15)
    assert [f.severity for f in kto_doctor.analyze(p).findings if f.rule == "FP16101"] == ["warning"]


# -- LLaMA-Factory in a Colab `!llamafactory-cli train` cell: bars without their bar, the callback's rounded echo -------

def _lf_colab(n: int, echo: bool = True, hf: bool = True) -> str:
    out = []
    for i in range(1, n + 1):
        lr = 1e-4 * (1 - i / (n + 2))
        bar = f" {i * 5 * 100 // 74}% {i * 5}/74 [01:26<19:38, 17.08s/it]"
        if echo:
            out.append(f"{bar}07/13/2024 11:23:44 - INFO - llamafactory.train.callbacks - {{'loss': {1 / i:.4f}, "
                       f"'learning_rate': {lr:.4e}, 'epoch': {i * 0.13:.2f}, 'throughput': 258.02}}\n")
            bar = ""
        if hf:
            out.append(f"{bar}{{'loss': {1 / i:.4f}, 'grad_norm': 1.75, 'learning_rate': {lr!r}, 'epoch': {i * 0.13:.2f}, "
                       f"'num_input_tokens_seen': {22272 * i}}}\n")
    return "".join(out)


def test_llamafactory_callback_echoes_do_not_double_the_steps(tmp_path):
    """Each logging step is printed twice, rounded by LLaMA-Factory's LogCallback and in full by the Trainer: one
    record per step, at the step of the `5/74` bar before it (drawn without its bar, as in a Colab cell)."""
    p = tmp_path / "train.log"
    p.write_text(_lf_colab(10))
    data = sources.read(p)
    lr = data.series["learning_rate"]
    assert lr.steps.tolist() == [5.0 * i for i in range(1, 11)]
    assert lr.values.tolist() == pytest.approx([1e-4 * (1 - i / 12) for i in range(1, 11)], rel=1e-12)  # full values
    assert data.series["grad_norm"].steps.tolist() == lr.steps.tolist()
    report = kto_doctor.analyze(p)
    assert "ANY102" not in {f.rule for f in report.findings}  # rounded and full values are not a schedule restart


def test_llamafactory_callback_lines_alone_are_still_read(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_lf_colab(6, hf=False))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [5.0 * i for i in range(1, 7)]
    assert any("rounded copies" in w for w in data.warnings)


# -- a model card's "Training results" table: `Training Loss | Epoch | Step | Validation Loss | ...` -----------------

_CARD = ("| Training Loss | Epoch | Step | Validation Loss | Rewards/chosen | Rewards/rejected | Rewards/accuracies |\n"
         "|:-------------:|:-----:|:----:|:---------------:|:--------------:|:----------------:|:------------------:|\n"
         "| 0.3903        | 0.1   | 25   | 0.2328          | 0.1244         | -1.3373          | 0.9933             |\n"
         "| 0.0561        | 0.2   | 50   | 0.0585          | 0.0159         | -3.4934          | 0.9933             |\n"
         "| 0.0267        | 0.3   | 75   | 0.0268          | -0.0626        | -4.9264          | 0.9967             |\n")


@pytest.mark.parametrize("form", ["markdown", "no outer pipes", "rendered with single blanks", "a commit diff"])
def test_a_model_card_results_table_is_read_whatever_its_column_order(form, tmp_path):
    text = _CARD
    if form == "a commit diff":  # a README commit page: each line marked and a line number between them (CharlesLi)
        text = "".join(f"{' ' if i % 2 else '-'} {line}\n{64 + i}\n" for i, line in enumerate(_CARD.splitlines()))
    elif form == "no outer pipes":
        text = "\n".join(" | ".join(c.strip() for c in line.strip().strip("|").split("|")) + " |"
                         for line in _CARD.splitlines()).replace(":-------------:", "---")
    elif form == "rendered with single blanks":
        rows = [line.strip().strip("|").split("|") for line in _CARD.splitlines() if ":--" not in line]
        text = "\n".join(" ".join(c.strip() for c in r) for r in rows) + "\n"
    p = tmp_path / "README.md"
    p.write_text(text)
    data = sources.read(p)
    assert data.format == "progress_table"
    assert data.series["loss"].steps.tolist() == [25, 50, 75]  # the Step column, not the first one
    assert data.series["eval_loss"].values.tolist() == [0.2328, 0.0585, 0.0268]
    assert data.series["eval_rewards/accuracies"].values.tolist() == [0.9933, 0.9933, 0.9967]
    assert data.series["epoch"].values.tolist() == [0.1, 0.2, 0.3]
    report = kto_doctor.analyze(p)
    assert report.run.method == "dpo"  # told by the evaluation's preference columns
    assert "DPO103" in {f.rule for f in report.findings}  # 0.027 with every pair separated at a third of an epoch


def test_a_rendered_card_table_with_no_log_cells_and_a_nan_eval(tmp_path):
    p = tmp_path / "card.txt"
    p.write_text("Training Loss Epoch Step Validation Loss\nNo log 0.5 100 1.2345\n0.0 1.0 200 nan\n")
    data = sources.read(p)
    assert data.series["eval_loss"].steps.tolist() == [100, 200]
    assert data.series["loss"].steps.tolist() == [200]
    assert kto_doctor.analyze(p).status == "failing"  # NaN eval loss beside a train loss of 0.0


def test_a_metric_line_naming_step_and_loss_is_not_a_table_header(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"Step {i} Loss {2 - i / 10:.2f}\n" for i in range(1, 6)))
    assert sources.read(p).format != "progress_table"


REPORT_TABLE = """# Issue #2 results: DPO (unsloth)

| epoch | loss | rewards/chosen | rewards/rejected | rewards/accuracies | rewards/margins |
| --- | --- | --- | --- | --- | --- |
| 0.02 | 2.40 | -30.9 | -31.2 | 0.51 | +0.30 |
| 0.20 | 1.82 | -15.2 | -15.0 | 0.51 | +0.16 |
| 0.55 | 1.36 | -8.6 | -8.9 | 0.55 | +0.28 |
| 1.12 | 0.91 | -5.3 | -6.1 | 0.63 | +0.85 |
| 1.70 | 0.78 | -4.7 | -5.6 | 0.62 | +0.91 |
| 2.24 | 0.56 | -4.5 | -5.9 | 0.77 | +1.38 |
| 2.99 | 0.62 | -4.4 | -5.8 | 0.74 | +1.33 |
| final | train_loss = 0.9829 (3 epoch) | | | | |
"""


def test_a_reports_markdown_table_by_fractional_epoch_is_read_in_row_order(tmp_path):
    # Ishihara-Masabumi/llama32_unsloth_sft_dpo reports/issue2_results.md: lower-case names, epochs 0.02 ... 2.99
    p = tmp_path / "issue2_results.md"
    p.write_text(REPORT_TABLE)
    data = sources.read(p)
    assert data.format == "progress_table" and data.step_kind == "ordinal"
    assert data.series["loss"].values.tolist() == [2.40, 1.82, 1.36, 0.91, 0.78, 0.56, 0.62]
    assert data.series["epoch"].values.tolist() == [0.02, 0.20, 0.55, 1.12, 1.70, 2.24, 2.99]
    assert data.series["rewards/margins"].values[0] == 0.30
    report = kto_doctor.analyze(p)
    assert report.run.method == "dpo"
    assert any(f.rule == "DPO109" for f in report.findings)  # 2.40 at epoch 0.02: the reference is not the policy


# a table of averages over windows of steps, its busiest row in bold (the shape of kencoken/qwen-grpo's
# experiment_log.md; values made up)
BINNED_TABLE = """### full run, 80-step bins

| steps | corr | entropy | KL | loss |
|---|---|---|---|---|
| 1–80 | 0.46 | 0.39 | 0.005 | 0.18 |
| 81–160 | 0.62 | 0.23 | 0.021 | 0.20 |
| **161–240** | 0.72 | 0.16 | 0.037 | 0.16 |
| 241-320 | 0.79 | 0.13 | 0.057 | 0.10 |
| 321 to 333 | 0.80 | 0.12 | 0.060 | 0.09 |
"""


def test_a_table_of_step_ranges_is_read_at_each_ranges_last_step(tmp_path):
    p = tmp_path / "experiment_log.md"
    p.write_text(BINNED_TABLE, encoding="utf-8")
    data = sources.read(p)
    assert data.format == "progress_table"
    assert data.series["loss"].steps.tolist() == [80, 160, 240, 320, 333]
    assert data.series["loss"].values.tolist() == [0.18, 0.20, 0.16, 0.10, 0.09]
    assert data.series["kl"].values[2] == 0.037
    assert any("ranges of steps" in w for w in data.warnings)


def test_a_step_column_of_plain_numbers_says_nothing_of_ranges(tmp_path):
    p = tmp_path / "t.md"
    p.write_text("| Step | Training Loss |\n|---|---|\n| 10 | 2.0 |\n| 20 | 1.5 |\n| 30 | 1.2 |\n")
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [10, 20, 30]
    assert not any("ranges" in w for w in data.warnings)


def test_lower_case_words_in_prose_are_no_table_header(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("the epoch loss went down\n1 2 3\n4 5 6\n")
    data = read_or_none(p)
    assert data is None or data.format != "progress_table"


def test_each_nodes_copy_of_a_dict_is_one_record():
    # LlamaFactory#813: four nodes print each logging dict behind their address; the first copy is the record
    data = sources.read(FIX / "hiyouga__LlamaFactory__issue813.log")
    assert data.records == 4
    assert data.series["loss"].values.tolist() == [1.8673, 0.7744, 0.6309, 0.5621]


def test_node_prefixed_dicts_that_differ_are_all_records(tmp_path):
    p = tmp_path / "multi.log"
    p.write_text("worker-0: {'loss': 2.0, 'epoch': 0.1}\nworker-1: {'loss': 2.0, 'epoch': 0.1}\n"
                 "worker-0: {'loss': 1.5, 'epoch': 0.2}\nworker-1: {'loss': 1.5, 'epoch': 0.2}\n"
                 "worker-0: {'loss': 1.5, 'epoch': 0.3}\n")
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [2.0, 1.5, 1.5]
    # one prefix alone is no multi-node launch: a logger's `INFO:` before repeated dicts keeps every record
    q = tmp_path / "single.log"
    q.write_text("INFO: {'loss': 2.0, 'epoch': 0.1}\nINFO: {'loss': 2.0, 'epoch': 0.1}\n")
    assert sources.read(q).records == 2


def test_a_ppo_loss_that_jumps_about_while_the_reward_climbs_is_explained_not_flagged():
    # LlamaFactory#845: "the PPO loss oscillates at random and even goes negative"; the reward rises on every row
    report = kto_doctor.analyze(FIX / "hiyouga__LlamaFactory__issue845.log")
    assert report.run.method == "ppo" and report.status == "healthy"
    assert [d.cause for d in report.diagnosis if d.kind == "explanation"] == ["ppo-loss-not-a-curve"]
    note = next(f for f in report.findings if f.rule == "PPO105")
    assert note.severity == "info" and "-0.1176 (first 1 row) to -0.0829" in note.message


def test_dicts_pasted_with_typographic_quotes_are_read_whole():
    # transformers#33336: `{‘loss’: 1.453, ‘grad_norm’: 2.47, ...}`, quotes made typographic on the way to the issue
    p = FIX / "huggingface__transformers__issue33336.log"
    data = sources.read(p)
    assert data.format == "console"
    assert {"loss", "grad_norm", "learning_rate", "epoch"} <= set(data.series)
    assert data.series["loss"].values[:2].tolist() == [1.453, 1.406]
    assert any("typographic quotes" in w for w in data.warnings)
    # twelve rows over 2.3 epochs climbing 1.45 -> 1.61: a slow rise, judged on so few rows because they span epochs
    report = kto_doctor.analyze(p)
    rise = next(f for f in report.findings if f.rule == "LOSS103")
    assert rise.symptom == "loss-divergence" and rise.severity == "warning"


def test_double_typographic_quotes_and_a_curly_apostrophe_elsewhere(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("{“loss”: 2.0, “epoch”: 0.5}\n{“loss”: 1.5, “epoch”: 1.0}\n", encoding="utf-8")
    assert sources.read(p).series["loss"].values.tolist() == [2.0, 1.5]
    # plain dicts beside prose with a typographic apostrophe: the prose is not rewritten into the dicts' quotes
    q = tmp_path / "plain.log"
    q.write_text("it’s training\n{'loss': 2.0, 'epoch': 0.5}\n{'loss': 1.5, 'epoch': 1.0}\n", encoding="utf-8")
    data = sources.read(q)
    assert data.series["loss"].values.tolist() == [2.0, 1.5]
    assert not any("typographic" in w for w in data.warnings)


def test_a_progress_bars_last_redraw_above_per_epoch_summaries_is_not_their_step():
    # clovaai/donut#241: `Epoch 21: 99%` / `13160/13320 [..., loss=0.0146]` pasted above five `Epoch : N | Train
    # loss : x | Validation loss : y` lines; the summaries are the log, one row per epoch
    p = FIX / "clovaai__donut__issue241.log"
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [0, 1, 2, 3, 4]
    assert data.series["eval_loss"].values[1] == 0.06210419170951011
    assert not any("restarts" in w for w in data.warnings)
    report = kto_doctor.analyze(p)
    assert [f.rule for f in report.findings if f.severity != "info"] == ["SFT103"]  # best eval at epoch 1, then worse


_NARROW = """Step | Training Loss | reward | reward_std | kl | entropy
-- | -- | -- | -- | -- | --
1 | -0.283600 | 13.437500 | 21.810942 | nan | 0
2 | -0.149100 | 6.931818 | 14.526671 | nan | No Log
3 | -0.110500 | 6.250000 | 17.677670 | nan | No Log
4 | -0.014500 | 6.422414 | 12.048451 | nan | No Log
"""
_WIDE = """Step | Training Loss | reward | reward_std | completions / mean_length | kl
-- | -- | -- | -- | -- | --
1 | -0.283600 | 13.437500 | 21.810942 | 1115.437500 | nan
"""


def test_a_table_pasted_again_wider_is_one_log_not_a_resumed_run(tmp_path):
    # huggingface/open-r1#704's shape: the run's table, then its first row again with more columns. Read as a
    # restart at step 1, the later "segment" dropped steps 2-4 and the run was judged on one row
    p = tmp_path / "paste.log"
    p.write_text("the logs like:\n\n" + _NARROW + "\n" + _WIDE)
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4]
    assert data.series["loss"].values.tolist() == [-0.2836, -0.1491, -0.1105, -0.0145]
    assert data.series["completions/mean_length"].steps.tolist() == [1]
    assert not data.segments
    assert any("a copy, not a resumed run" in w for w in data.warnings)


def test_a_restart_whose_rows_differ_is_still_a_resumed_run(tmp_path):
    p = tmp_path / "paste.log"
    p.write_text(_NARROW + "\n" + _WIDE.replace("-0.283600", "-0.291100"))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1]  # the later segment wins where steps overlap
    assert len(data.segments) == 2
    assert not any("a copy" in w for w in data.warnings)


def test_a_printed_settings_dict_is_no_logged_row(tmp_path):
    # a script that prints its settings before the Trainer's dicts: read as a row, its peak rate landed at step 1,
    # every logged row moved one step on, and the schedule seemed to fall from 3e-4 to 1e-4 at once
    p = tmp_path / "train.log"
    p.write_text("{'learning_rate': 0.0003, 'batch_size': 8, 'warmup_steps': 10, 'max_steps': 1000}\n"
                 + "".join(f"{{'loss': {1.9 - 0.1 * i:.1f}, 'grad_norm': 2.0, 'learning_rate': 0.0001, "
                           f"'epoch': 0.{i}}}\n" for i in range(1, 7)))
    data = sources.read(p)
    assert data.series["learning_rate"].values.tolist() == [0.0001] * 6
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert "max_steps" not in data.series


def test_a_json_lines_settings_record_is_no_evaluation(tmp_path):
    # litgpt-style `{"type": "config", "args": {...}}` first: its `eval_every` made it an evaluation at step 0
    p = tmp_path / "metrics.jsonl"
    rows = [{"type": "config", "args": {"learning_rate": 3e-4, "eval_every": 100, "max_steps": 1000}}]
    rows += [{"step": 10 * s, "loss": 3.0 - 0.04 * s} for s in range(1, 11)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = sources.read(p)
    assert sorted(data.series) == ["loss"]
    assert data.series["loss"].steps.tolist() == [10 * s for s in range(1, 11)]


def test_a_row_that_repeats_a_setting_beside_its_loss_is_still_a_row(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"{{'loss': {2.0 - 0.1 * i:.1f}, 'learning_rate': 0.0001, 'batch_size': 8, "
                         f"'max_steps': 100}}\n" for i in range(5)))
    assert sources.read(p).series["loss"].values.tolist() == pytest.approx([2.0, 1.9, 1.8, 1.7, 1.6])


def test_a_loss_history_of_role_columns_is_loss_and_eval_loss(tmp_path):
    # `{"train": [...], "val": [...]}` in loss_history.json (a from-scratch LM's loop, held-out set 26): no name
    # said loss, so the file ended in "no training logs found"
    p = tmp_path / "loss_history.json"
    p.write_text(json.dumps({"train": [5.75, 4.09, 3.46, 3.15, 2.95], "val": [5.5, 4.2, 3.6, 3.3, 3.1]}))
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [5.75, 4.09, 3.46, 3.15, 2.95]
    assert data.series["eval_loss"].values.tolist()[-1] == 3.1
    # the same columns in a file whose name says nothing are no losses
    q = tmp_path / "history.json"
    q.write_text(p.read_text())
    assert read_or_none(q) is None or "loss" not in read_or_none(q).series


def test_columns_beside_columns_of_their_steps_are_read_at_those_steps(tmp_path):
    # Hari31416/qwen-grug-finetune's saved MLX LoRA curves (held-out set 50p): `train_losses` by `train_steps`,
    # `val_losses` by `val_steps` (validation at step 1, then every 20): "no training logs found" before
    p = tmp_path / "metrics.json"
    doc = {"train_steps": list(range(10, 210, 10)), "train_losses": [3.7 - 0.08 * k for k in range(20)],
           "val_steps": [1, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200],
           "val_losses": [3.13, 3.15, 3.1, 2.9, 2.7, 2.5, 2.3, 2.1, 2.0, 1.9, 1.85]}
    p.write_text(json.dumps(doc, indent=2))
    data = sources.read(p)
    assert data.format == "json_metrics"
    assert data.series["loss"].steps.tolist() == doc["train_steps"]
    assert data.series["loss"].values.tolist() == doc["train_losses"]
    assert data.series["eval_loss"].steps.tolist() == doc["val_steps"]
    assert data.series["eval_loss"].values.tolist() == doc["val_losses"]


def test_a_metric_column_without_a_step_column_of_its_length_is_not_placed_by_a_wrong_one(tmp_path):
    p = tmp_path / "curves.json"
    p.write_text(json.dumps({"steps": [1, 2, 3], "train_loss": [2.0, 1.8, 1.7, 1.6, 1.5]}))
    data = sources.read(p)  # read by position (the column form), not by the three steps
    assert data.series["loss"].values.tolist() == [2.0, 1.8, 1.7, 1.6, 1.5]


def test_rows_of_bare_numbers_in_a_loss_history_are_step_loss_and_eval_loss(tmp_path):
    p = tmp_path / "loss_history.json"
    rows = [[200 * k, 6.0 - 0.3 * k, 6.1 - 0.2 * k + (0.05 * k * k if k > 8 else 0)] for k in range(1, 13)]
    p.write_text(json.dumps(rows))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [200 * k for k in range(1, 13)]
    assert data.series["eval_loss"].values.tolist() == [r[2] for r in rows]
    assert any("read by position" in w for w in data.warnings)
    # a first column that does not rise is no step: not read by position
    p.write_text(json.dumps([[3, 1.0, 2.0], [1, 0.9, 2.1], [2, 0.8, 2.2]]))
    assert read_or_none(p) is None


def test_step_value_series_of_several_runs_are_not_summed_into_one_loss(tmp_path):
    # a dump of three DPO runs (`"ALIGNED/loss": [{"step": 1, "value": 0.69}, ...]`): read, but the runs' losses
    # were summed as the parts of one loss and the report said healthy
    p = tmp_path / "training_metrics.json"
    doc = {"metadata": {"seed": 1}, "metrics": {}}
    for run, base in (("ALIGNED", 0.69), ("GAMING", 0.5)):
        doc["metrics"][f"{run}/loss"] = [{"step": s, "value": base / (1 + s)} for s in range(1, 30)]
    p.write_text(json.dumps(doc))
    # each run is a run of its own, its names without the prefix
    from kto_doctor.sources import json_metrics

    runs = json_metrics.read(p)
    assert [d.run_key for d in runs] == ["ALIGNED", "GAMING"]
    assert runs[1].series["loss"].values.tolist()[0] == pytest.approx(0.25)
    with pytest.raises(kto_doctor.InputError, match="holds 2 runs.*--run ALIGNED"):
        kto_doctor.analyze(p)
    assert kto_doctor.analyze(p, run_key="GAMING").run.metrics["loss"].iloc[0] == pytest.approx(0.25)


def test_the_same_loss_under_several_prefixes_of_one_row_form_is_not_summed(tmp_path):
    # the rows form cannot be split by run: the losses of several groups stay unrecognised, not summed
    p = tmp_path / "metrics.csv"
    p.write_text("step,A/loss,B/loss\n" + "".join(f"{s},{0.7 / s:.4f},{0.5 / s:.4f}\n" for s in range(1, 12)))
    report = kto_doctor.analyze(p)
    assert report.status == "inconclusive"
    assert any("several runs or groups in one file" in w for w in report.run.warnings)


_NOTED_TABLE = """GPT-2 124M - Loss Analysis (steps 262k-280k)
========================================================================

Step  Train Loss    Val Loss   \u0394 Train  Notes
------------------------------------------------------------------------
262000      3.0952      3.0265
263000      3.3459      3.2922    +0.251
264000      3.6089      3.3886    +0.263
267000      5.0157      5.0602    +1.079  <<< SPIKE
268000      5.0102      5.1968    -0.005  <<< SPIKE
269000      4.6592      4.7792    -0.351
"""


def test_a_hand_made_table_with_remark_columns_reads_its_rows(tmp_path):
    # a report's table (held-out set 27: a web page of a GPT-2 run): rows leave the `Δ Train` and `Notes` cells out
    # or add `<<< SPIKE`; every row had to hold every cell, so nothing was read
    p = tmp_path / "report.log"
    p.write_text(_NOTED_TABLE, encoding="utf-8")
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [262000, 263000, 264000, 267000, 268000, 269000]
    assert data.series["loss"].values.tolist()[3] == 5.0157
    assert data.series["eval_loss"].values.tolist()[0] == 3.0265
    assert not [n for n in data.series if "Notes" in n or "Train" in n]
    # single blanks, a `Source` column whose cells are several words (`log line 42`)
    q = tmp_path / "metrics.log"
    q.write_text("Step Epoch loss mean_token_accuracy Source\n1 0.00 2.8099 0.436 log line 42\n"
                 "250 1.00 0.2402 0.957 log line 540\n500 2.00 0.1443 0.967 log line 1040\n")
    assert sources.read(q).series["loss"].values.tolist() == [2.8099, 0.2402, 0.1443]


def test_a_row_with_cells_beyond_the_header_is_still_no_row_of_a_table_without_remarks(tmp_path):
    p = tmp_path / "t.log"
    p.write_text("Step  Training Loss  Validation Loss\n10  0.9  1.0\n20  0.8  0.9  0.7\n30  0.7  0.85\n")
    assert sources.read(p).series["loss"].steps.tolist() == [10, 30]


def test_a_table_drawn_with_box_characters_and_thousands_separators_is_read(tmp_path):
    # a run report whose table a generator drew with box-drawing verticals and wrote its steps as `10,000`
    # (held-out set 27: a nanochat training report on a web page); nothing was read
    p = tmp_path / "report.log"
    p.write_text("LOSS PROGRESSION\n\u250c\u2500\u2500\u2500\u252c\u2500\u2500\u2500\u2510\n"
                 "\u2502 Step \u2502 Val bpb \u2502 Train Loss \u2502 Delta \u2502\n"
                 "\u251c\u2500\u2500\u2500\u253c\u2500\u2500\u2500\u2524\n"
                 + "".join(f"\u2502 {k * 10:,}000 \u2502 {0.95 - 0.01 * k:.4f} \u2502 {3.0 - 0.02 * k:.3f} \u2502 -0.01 \u2502\n"
                           for k in range(1, 9)), encoding="utf-8")
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [10000 * k for k in range(1, 9)]
    assert data.series["loss"].values.tolist()[0] == 2.98
    # a comma inside a decimal column still makes the table's decimal commas, not thousands
    q = tmp_path / "comma.log"
    q.write_text("Step\tTraining Loss\n10\t1,858179\n20\t1,7\n30\t1,6\n")
    assert sources.read(q).series["loss"].values.tolist() == [1.858179, 1.7, 1.6]


# A KTO model card of PaulD's hyper-parameter screening (held-out set 29): its results table ends in a column the
# card's generator left unnamed (`| Validation Loss | |`), and the same card rendered as text has lost its pipes
# and that column's header, not its values. Both were left to the bullet lists of hyper-parameters (the seed and
# batch size read as metrics) and the table, its train loss falling while the validation loss rises, was lost.
_CARD_ROWS = [("0.5502", "0.9412", "12", "0.6760", "8.5385"), ("0.3996", "1.9608", "25", "0.6791", "17.9477"),
              ("0.2636", "2.9804", "38", "0.7076", "21.9801"), ("0.34", "3.7647", "48", "0.7043", "22.1345")]
_CARD_HEAD = "Training hyperparameters\n\n- learning_rate: 0.0001\n- train_batch_size: 1\n- seed: 9012\n\nTraining results\n\n"


@pytest.mark.parametrize("form", ["pipe", "rendered"])
def test_a_model_card_table_with_an_unnamed_last_column_is_read(tmp_path, form):
    if form == "pipe":
        table = ("| Training Loss | Epoch | Step | Validation Loss | |\n|:---:|:---:|:---:|:---:|:---:|\n"
                 + "".join("| " + " | ".join(r) + " |\n" for r in _CARD_ROWS))
    else:
        table = "Training Loss Epoch Step Validation Loss\n" + "".join(" ".join(r) + "\n" for r in _CARD_ROWS)
    p = tmp_path / "README.md"
    p.write_text(_CARD_HEAD + table + "\nFramework versions\n\n- PEFT 0.11.1\n")
    run = kto_doctor.load_run(p)
    assert run.metrics.index.tolist() == [12, 25, 38, 48]
    assert run.metrics["eval_loss"].tolist() == [0.676, 0.6791, 0.7076, 0.7043]
    assert run.metrics["loss"].tolist() == [0.5502, 0.3996, 0.2636, 0.34]
    assert "seed" not in run.metrics.columns
    assert any(f.rule == "SFT103" for f in kto_doctor.analyze(p).findings)


def test_a_grpo_loops_printed_reward_lists_are_its_reward_and_spread(tmp_path):
    """A GRPO loop written from scratch prints each step's rewards, `rewards: tensor([...])`, between vLLM's and
    DeepSpeed's chatter (josephdutoit/probability-aligned-llms, held-out set 39: 195 of 197 lists all -1). Each list
    is a step: its mean the reward, its spread the reward_std, so the batches that scored alike are the no-signal
    state GRPO104 names. NumPy's comma-less lists read the same; a loop that prints its loss is left to the readers
    of loss lines."""
    from kto_doctor.sources import reward_lists

    lines = ["INFO 12-12 14:12:05 [arg_utils.py:589] HF_HUB_OFFLINE is True", "Generated answers: ['I am sorry']"]
    for k in range(30):
        rewards = "-1., " * 11 + ("1.]" if k in (6, 23) else "-1.]")
        lines.append(f"time: 7.18s     rewards: tensor([{rewards})")
        lines.append("Generating answers for the following inputs: ['On 02/11/2024, ...']")
    p = tmp_path / "grpo.log"
    p.write_text("\n".join(lines) + "\n")
    src = sources.read(p)
    assert src.format == "reward_lists" and src.records == 30
    reward, std = src.series["reward"].values, src.series["reward_std"].values
    assert reward[0] == -1.0 and reward[6] == pytest.approx(-10 / 12) and std[0] == 0.0 and std[6] > 0.5
    report = kto_doctor.analyze(p)
    assert report.run.method == "grpo" and "GRPO104" in [f.rule for f in report.findings]
    # a loop written from scratch is no framework's: its `reward_std` must not make it TRL's
    assert report.run.framework == "unknown"

    q = tmp_path / "np.log"
    q.write_text("".join(f"step reward: [ 1.  0.  0.  {k % 2}.]\n" for k in range(5)))
    assert reward_lists.read(q).series["reward"].values.tolist() == [0.25, 0.5, 0.25, 0.5, 0.25]

    r = tmp_path / "loop.log"
    r.write_text("".join(f"step {k} loss: {2 - 0.1 * k:.2f} rewards=[0.0, 1.0, 0.0, 0.0]\n" for k in range(5)))
    assert reward_lists.sniff(r.read_text()) == 0.0
    with pytest.raises(sources.SourceError):
        reward_lists.read(r)




def test_a_published_grpo_loops_reward_lists_are_read_and_a_cut_list_is_said(tmp_path):
    """The head of josephdutoit/probability-aligned-llms' grpo.log (provenance in fixtures/pastes/PROVENANCE.md):
    82 lines of launcher, vLLM and generation chatter around six `rewards: tensor([...])` lists of 12 completions,
    every one of them -1. The same head cut inside a seventh list keeps the six with a warning naming the line."""
    path = FIX / "josephdutoit__probability-aligned-llms__grpo-head.log"
    src = sources.read(path)
    assert src.format == "reward_lists" and src.records == 6
    assert src.series["reward"].values.tolist() == [-1.0] * 6
    assert src.series["reward_std"].values.tolist() == [0.0] * 6
    assert not any("cut short" in w for w in src.warnings)

    cut = tmp_path / "grpo.log"
    text = path.read_bytes()
    cut.write_bytes(text + b"time: 7.21s     rewards: tensor([-1., -1., -1.,")
    data = sources.read(cut)
    assert data.records == 6
    last_line = text.count(b"\n") + 1
    assert any(f"the last reward list is cut short (line {last_line})" in w for w in data.warnings)


_NEWEST_FIRST = [  # modelscope/ms-swift#9499's shape: a log viewer's copy, newest record on top, a timestamp above each
    ("2026-06-04 21:41:29.421", 4, "0", "1.414", "2.67e-06"),
    ("2026-06-04 21:35:21.137", 3, "0", "1.414", "2e-06"),
    ("2026-06-04 21:29:07.052", 2, "0", "1.414", "1.33e-06"),
    ("2026-06-04 21:22:57.641", 1, "12.9", "9.317", "6.7e-07"),
]


def test_a_log_pasted_newest_first_is_read_in_step_order_not_as_resumes(tmp_path):
    # read as three restarts (4, 3, 2, 1), the "later segment" kept step 1 alone and the zero losses were lost
    p = tmp_path / "paste.log"
    p.write_text("".join(f"{ts}\t\n{{'loss': '{lo}', 'grad_norm': '{g}', 'learning_rate': '{lr}', "
                         f"'global_step/max_steps': '{s}/294'}}\n" for ts, s, lo, g, lr in _NEWEST_FIRST))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [1, 2, 3, 4]
    assert data.series["loss"].values.tolist() == [12.9, 0.0, 0.0, 0.0]
    assert not data.segments
    assert any("newest first" in w for w in data.warnings)
    report = kto_doctor.analyze(p)
    assert "LOSS104" in {f.rule for f in report.findings if f.severity == "error"}


def test_trainer_log_lines_newest_first_are_one_run(tmp_path):
    p = tmp_path / "trainer_log.jsonl"
    p.write_text("".join(json.dumps({"current_steps": s, "total_steps": 100, "loss": 2.0 - s / 10}) + "\n"
                         for s in (40, 30, 20, 10)))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == [10, 20, 30, 40]
    assert data.series["loss"].values.tolist() == pytest.approx([1.0, 0.0, -1.0, -2.0])
    assert not data.segments


def test_one_step_back_is_still_a_resume_not_a_reversed_log(tmp_path):
    p = tmp_path / "trainer_log.jsonl"
    p.write_text("".join(json.dumps({"current_steps": s, "total_steps": 100, "loss": v}) + "\n"
                         for s, v in ((10, 2.0), (20, 1.9), (30, 1.8), (20, 1.7), (30, 1.6))))
    data = sources.read(p)
    assert len(data.segments) == 2
    assert not any("newest first" in w for w in data.warnings)
