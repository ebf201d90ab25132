"""One ontology: every framework's spelling of a metric reaches the rules under one canonical name."""
from __future__ import annotations

import json

import pytest

import kto_doctor
from kto_doctor.ontology import canonical, is_bookkeeping, is_known

SPELLINGS = [
    # (logged key, dialect, eval row, canonical)
    ("loss", None, False, "loss"), ("train/loss", None, False, "loss"), ("eval/loss", None, False, "eval_loss"),
    ("kl", None, True, "eval_kl"), ("epoch", None, True, "epoch"), ("lr", None, False, "learning_rate"),
    ("lm loss", None, False, "loss"), ("grad norm", None, False, "grad_norm"),  # Megatron
    ("loss_per_token", None, False, "loss"),  # a custom loop's `loss_per_token=` (renta0426, Nemotron challenge)
    ("learning rate", None, False, "learning_rate"), ("loss scale", None, False, "loss_scale"),
    ("number of nan iterations", None, False, "nan_iterations"),
    ("reduced_train_loss", None, False, "loss"),  # NeMo
    ("train_loss", "lightning", False, "loss"), ("val_loss", "lightning", False, "eval_loss"),
    ("lr-AdamW", "lightning", False, "learning_rate"),
    ("actor/pg_loss", None, False, "policy_loss"), ("actor/entropy", None, False, "entropy"),  # verl
    ("actor/pg_clipfrac", None, False, "clip_ratio"), ("actor/kl_loss", None, False, "kl"),
    ("critic/score/mean", None, False, "reward"), ("critic/vf_loss", None, False, "value_loss"),
    ("response_length/mean", None, False, "completions/mean_length"),
    ("response_length/clip_ratio", None, False, "completions/clipped_ratio"),
    ("completion_length", None, False, "completions/mean_length"),  # TRL before completions/*
    ("loss/train", None, False, "loss"), ("loss/eval", None, False, "eval_loss"),  # DPO reference impl.
    ("rewards_train/chosen", None, False, "rewards/chosen"), ("rewards_eval/margins", None, False,
                                                               "eval_rewards/margins"),
    ("logps_train/rejected", None, False, "logps/rejected"),
    ("Training Loss", None, False, "loss"), ("Validation Loss", None, False, "eval_loss"),  # progress tables
    ("Grad. Norm", None, False, "grad_norm"),  # `Step 9 | Loss: 0.0000 | Grad. Norm: 0.0000 | LR: …`
    ("Rewards/chosen", None, False, "rewards/chosen"),
    ("accuracy", "llamafactory", False, "rewards/accuracies"), ("accuracy", None, False, "accuracy"),
    ("eval_accuracy", "llamafactory", False, "eval_accuracy"),
    ("val/ratio", None, False, "val/ratio"),  # TRL PPO's own name, not an eval series
    # text logs (issue 15 section 2)
    ("gradient_norm", None, False, "grad_norm"), ("parameter_norm", None, False, "params_norm"),  # NxD bars
    ("chosen_rewards", None, False, "rewards/chosen"), ("rejected_rewards", None, False, "rewards/rejected"),
    ("gnorm", None, False, "grad_norm"),  # fairseq
    ("unsuper_loss", None, False, "ptx_loss"), ("Unsupervised Loss", None, False, "ptx_loss"),  # DS-Chat
    ("Actor Loss", None, False, "policy_loss"), ("Critic Loss", None, False, "value_loss"),
    ("average reward score", None, False, "reward"),
    ("pg", "openrlhf", False, "policy_loss"), ("rm", "openrlhf", False, "reward"),  # OpenRLHF bar postfix
    ("glen", "openrlhf", False, "completions/mean_length"), ("act_lr", "openrlhf", False, "learning_rate"),
    ("acc", "openrlhf", False, "rewards/accuracies"), ("reject_reward", "openrlhf", False, "rewards/rejected"),
    ("train loss", "generic", False, "loss"), ("loss train", "generic", False, "loss"),  # nanoGPT, litgpt
    ("closs", "generic", False, "loss"), ("val", "generic", False, "eval_loss"),  # MetricLogger, litgpt
    # a custom loop's averages (a GRPO lab's grpo_metrics.json: rewards_avg, kl_avg, val_accuracies_avg)
    ("rewards_avg", None, False, "reward"), ("kl_avg", None, False, "kl"), ("avg_loss", None, False, "loss"),
    ("train_accuracies_avg", None, False, "accuracy"), ("val_accuracies_avg", None, False, "eval_accuracy"),
    ("loss_mean", None, False, "loss"),
    # a GRPO loop's share of groups whose rewards are all equal (chaoheng666/DeepRetrieval-GRPO's train_log.jsonl)
    ("flat_reward_group_ratio", None, False, "frac_reward_zero_std"),
    # the development split is the evaluation split (`dev_loss`, `dev/accuracy`); `device` is no prefix
    ("dev_loss", None, False, "eval_loss"), ("dev/loss", None, False, "eval_loss"),
    # a nested key printed with spaces around its slash
    ("completions / clipped_ratio", None, False, "completions/clipped_ratio"), ("train / loss", None, False, "loss"),
]


def test_a_word_that_starts_like_a_split_is_no_split():
    assert canonical("device_loss") == "device_loss" and canonical("development") == "development"


@pytest.mark.parametrize("key", ["step_avg", "time_avg", "tokens_avg"])
def test_an_averaging_word_does_not_make_bookkeeping_a_metric(key):
    assert not is_known(canonical(key))


@pytest.mark.parametrize("key,dialect,eval_row,expected", SPELLINGS)
def test_spellings_map_to_canonical_names(key, dialect, eval_row, expected):
    assert canonical(key, eval_row, dialect) == expected
    assert is_known(expected)


TRACKER_BOOKKEEPING = [
    # HF's step counter and end-of-run numbers as W&B, MLflow and DVCLive spell them: not metrics
    "train/global_step", "train/train_loss", "train/train_runtime", "train/total_flos", "eval/runtime",
    "eval/samples_per_second", "eval/steps_per_second",
]


@pytest.mark.parametrize("key", TRACKER_BOOKKEEPING)
def test_hf_bookkeeping_through_trackers(key):
    assert is_bookkeeping(key)


def test_tracker_prefixed_metrics_stay_metrics():
    assert not is_bookkeeping("train/loss") and not is_bookkeeping("train/epoch")
    assert not is_bookkeeping("eval/loss") and canonical("eval/loss") == "eval_loss"


@pytest.mark.parametrize("key", ["consumed samples", "elapsed time per iteration (ms)", "v_num", "TFLOPs",
                                 "train_step_timing in s", "timing_s/step", "global_seqlen/min", "tokens_per_second_per_gpu",
                                 "counters/examples", "examples_per_second"])
def test_text_log_bookkeeping_is_not_a_metric(key):
    assert is_bookkeeping(key)


def test_verl_validation_prefixes_are_eval_series():
    assert canonical("val-core/math/acc/mean@1") == "eval_math/acc/mean@1"
    assert canonical("val-aux/gsm8k/reward/mean@1") == "eval_gsm8k/reward/mean@1"


def test_bookkeeping_depends_on_the_framework():
    assert is_bookkeeping("train_loss")  # HF: the mean over the whole run, a summary
    assert not is_bookkeeping("train_loss", "lightning")  # Lightning: a per-step series
    assert is_bookkeeping("timing_s/gen") and is_bookkeeping("perf/throughput")


def _state(tmp_path, rows):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"log_history": rows}))
    return p


def test_unknown_names_are_kept_listed_and_mappable(tmp_path):
    rows = [{"step": s, "my_objective": 2.0 - s / 10, "ppl_custom": 7.0} for s in range(1, 11)]
    path = _state(tmp_path, rows)
    report = kto_doctor.analyze(path)
    d = report.to_dict()
    assert d["run"]["unrecognised_metrics"] == ["my_objective", "ppl_custom"]
    # no loss: read, but not understood -- never healthy
    assert d["status"] == "inconclusive"
    mapped = kto_doctor.analyze(path, metric_map={"my_objective": "loss"})
    assert mapped.status != "inconclusive" and mapped.run.series("loss").iloc[0] == pytest.approx(1.9)
    assert mapped.to_dict()["run"]["unrecognised_metrics"] == ["ppl_custom"]
    assert any("--map" in n for n in mapped.run.merge_notes)


def test_a_run_with_hundreds_of_unknown_names_still_fails_the_gate(tmp_path):
    # RUN102's sentence listing every name read once exceeded the engine's string limit: the rule was "not
    # evaluated", the run inconclusive with no finding, and the exit code 0
    from typer.testing import CliRunner

    from kto_doctor.cli import app

    rows = [{"step": s, **{f"custom_metric_{i:03d}/value_mean": 0.1 * i + s for i in range(150)}}
            for s in range(1, 11)]
    path = _state(tmp_path, rows)
    report = kto_doctor.analyze(path)
    assert report.status == "inconclusive"
    (f,) = [f for f in report.findings if f.rule == "RUN102"]
    assert "and 138 more" in f.message
    res = CliRunner().invoke(app, ["analyze", str(path)])
    assert res.exit_code == 1 and "and 138 more" in res.output


def test_a_run_with_its_core_series_is_never_inconclusive(tmp_path):
    rows = [{"step": s, "loss": 1.0, "weird": 3.0} for s in range(1, 11)]
    assert kto_doctor.analyze(_state(tmp_path, rows)).status != "inconclusive"


def test_rl_runs_need_a_reward_or_policy_loss(tmp_path):
    rows = [{"step": s, "entropy": 0.5, "kl": 0.01, "reward": 0.3} for s in range(1, 11)]
    report = kto_doctor.analyze(_state(tmp_path, rows), method="grpo")
    assert report.run.method == "grpo" and report.run.method_source == "stated"
    assert report.status != "inconclusive"
    rows = [{"step": s, "entropy": 0.5, "kl": 0.01} for s in range(1, 11)]
    assert kto_doctor.analyze(_state(tmp_path, rows), method="grpo").status == "inconclusive"


def test_method_and_framework_say_whether_they_were_stated(tmp_path):
    rows = [{"step": s, "loss": 0.6931, "rewards/chosen": 0.0, "rewards/rejected": 0.0,
             "rewards/accuracies": 0.0, "rewards/margins": 0.0} for s in range(1, 11)]
    run = kto_doctor.load_run(_state(tmp_path, rows))
    assert (run.method, run.method_source) == ("dpo", "guessed")
    assert (run.framework, run.framework_source) == ("trl", "guessed")
    (tmp_path / "train.yaml").write_text("stage: dpo\npref_beta: 0.1\n")
    run = kto_doctor.load_run(tmp_path)
    assert (run.method, run.method_source) == ("dpo", "stated")
    assert (run.framework, run.framework_source) == ("llamafactory", "stated")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github", "markdown", "html"])
def test_every_format_renders_an_inconclusive_run(tmp_path, fmt):
    import subprocess
    import sys

    rows = [{"step": s, "my_objective": 2.0 - s / 10} for s in range(1, 11)]
    path = _state(tmp_path, rows)
    r = subprocess.run([sys.executable, "-m", "kto_doctor", "analyze", str(path), "--format", fmt],
                       capture_output=True, text=True, timeout=120)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert r.returncode in (0, 1)
    if fmt in ("text", "json", "junit", "markdown", "html"):  # SARIF/GitHub carry findings only
        assert "inconclusive" in r.stdout.lower()


def test_a_logged_reward_without_preference_metrics_is_an_rl_run(tmp_path):
    """LLaMA-Factory's PPO stage writes only loss, reward and learning_rate: not a supervised run, so the RL
    rules (a reward that never moves) judge it instead of the SFT ones."""
    import json

    from kto_doctor.run import load_run

    rows = [{"current_steps": s, "total_steps": 1287, "loss": -0.2 + s / 10000, "reward": 0.13 + (s % 3) / 100,
             "learning_rate": 1e-5} for s in range(10, 1270, 10)]
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_run(tmp_path)
    assert (run.method, run.method_source) == ("ppo", "guessed")
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "reward"})
                                                        + "\n" for r in rows))
    # without the reward, a loss below zero on most rows is no supervised cross-entropy either: not guessed SFT
    assert load_run(tmp_path).method == "unknown"
    (tmp_path / "trainer_log.jsonl").write_text("".join(
        json.dumps(dict({k: v for k, v in r.items() if k != "reward"}, loss=abs(r["loss"]))) + "\n" for r in rows))
    assert load_run(tmp_path).method == "sft"


def test_lr_keys_that_name_the_schedule_are_not_the_rate():
    from kto_doctor.ontology import canonical

    assert canonical("lr-AdamW") == canonical("lr_group1") == "learning_rate"  # Lightning's monitor
    for key in ("lr_scheduler_type", "lr_scheduler", "lr_warmup_steps", "lr_decay_style"):
        assert canonical(key) == key
