"""Readers on realistic content: the verbatim formats of metrics-and-losses.md §3, damage, odd values."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from kto_doctor.sources import SourceError, detect
from kto_doctor.sources import config_file, console, results, trainer_log, trainer_state

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def state_json(history, **top) -> str:
    state = {"best_metric": None, "global_step": history[-1].get("step", 0) if history else 0,
             "log_history": history, "logging_steps": 10, "max_steps": 100, "train_batch_size": 2}
    state.update(top)
    return json.dumps(state, indent=2, sort_keys=True)


KTO_EVAL = {"epoch": 0.5, "eval_loss": 0.49, "eval_rewards/chosen": 0.1, "kl": 3.5, "eval_runtime": 4.3, "step": 30}


def kto_rows(n=3, start=10, every=10):
    return [{"epoch": 0.1 * i, "grad_norm": 0.16, "kl": 11.29, "learning_rate": 1e-6 * i, "logits/chosen": -2.0e8,
             "loss": 0.58 - 0.01 * i, "rewards/chosen": 4e-4, "step": start + every * i} for i in range(n)]


# ---------------------------------------------------------------- trainer_state


def test_trainer_state_train_eval_summary_and_facts(tmp_path):
    summary = {"epoch": 1.0, "step": 30, "total_flos": 1e15, "train_loss": 0.55, "train_runtime": 12.5,
               "train_samples_per_second": 3.0}
    p = write(tmp_path, "trainer_state.json", state_json(kto_rows() + [KTO_EVAL, summary]))
    src = trainer_state.read(p)
    assert src.series["loss"].steps.tolist() == [10, 20, 30]
    assert src.series["eval_loss"].values.tolist() == [0.49]
    # LLaMA-Factory KTO writes an un-prefixed kl into eval rows: it is an eval KL, not the train kl
    assert src.series["eval_kl"].values.tolist() == [3.5]
    assert src.series["kl"].steps.tolist() == [10, 20, 30]
    assert "eval_runtime" not in src.series and "train_runtime" not in src.series
    assert src.facts["train_runtime"] == 12.5 and src.facts["train_loss"] == 0.55
    assert src.facts["max_steps"] == 100 and src.facts["logging_steps"] == 10
    assert "epoch" in src.series
    # HF's indent=2 layout: record lines are real file lines
    lines = p.read_text().splitlines()
    first = int(src.series["loss"].lines[0])
    assert lines[first - 1].strip() == "{" and '"epoch"' in lines[first]


def test_trainer_state_nan_infinity_strings_and_none(tmp_path):
    rows = [{"loss": 1.0, "grad_norm": float("nan"), "learning_rate": "2e-5", "step": 1},
            {"loss": float("inf"), "grad_norm": None, "learning_rate": "3e-5", "remaining_time": "0:01:00", "step": 2}]
    p = write(tmp_path, "trainer_state.json", state_json(rows))
    assert "NaN" in p.read_text() and "Infinity" in p.read_text()
    src = trainer_state.read(p)
    assert math.isnan(src.series["grad_norm"].values[0]) and len(src.series["grad_norm"].values) == 1
    assert math.isinf(src.series["loss"].values[1])
    assert src.series["learning_rate"].values.tolist() == [2e-5, 3e-5]
    assert "remaining_time" not in src.series


def test_trainer_state_truncated_keeps_complete_records(tmp_path):
    text = state_json(kto_rows(5))
    cut = text.index('"step": 50')  # inside the 5th record
    p = write(tmp_path, "trainer_state.json", text[:cut])
    src = trainer_state.read(p)
    assert src.series["loss"].steps.tolist() == [10, 20, 30, 40]
    assert any("truncated at byte" in w and "kept 4 records" in w for w in src.warnings)
    assert src.facts["global_step"] == 50  # header fields before log_history survive


def test_trainer_state_resumed_run_segments(tmp_path):
    first = [{"loss": 1.0, "step": s} for s in (10, 20, 30, 40)]
    second = [{"loss": 0.5, "step": s} for s in (30, 40, 50)]
    src = trainer_state.read(write(tmp_path, "trainer_state.json", state_json(first + second)))
    loss = src.series["loss"]
    assert loss.steps.tolist() == [10, 20, 30, 40, 50]
    assert loss.values.tolist() == [1.0, 1.0, 0.5, 0.5, 0.5]  # the later segment wins
    assert [(a, b) for a, b, _ in src.segments] == [(10, 40), (30, 50)]
    assert any("restarts" in w for w in src.warnings)


@pytest.mark.parametrize("content", ["", "   \n", "[1, 2, 3]", '{"foo": 1}', "not json at all"])
def test_trainer_state_wrong_kind_is_source_error(tmp_path, content):
    with pytest.raises(SourceError) as exc:
        trainer_state.read(write(tmp_path, "trainer_state.json", content))
    assert "\n" not in str(exc.value) and "trainer_state.json" in str(exc.value)


# ---------------------------------------------------------------- trainer_log.jsonl

TRAINER_LOG = "\n".join([
    # verbatim from metrics-and-losses.md §3.1
    '{"current_steps": 5, "total_steps": 2178, "loss": 2.3475, "lr": 1.8348623853211011e-06, "epoch": 0.0022948609457695674, "percentage": 0.23, "elapsed_time": "0:32:48", "remaining_time": "9 days, 21:39:23"}',
    '{"current_steps": 4450, "total_steps": 9750, "loss": 0.0, "eval_loss": null, "predict_loss": null, "reward": null, "learning_rate": 2.966079263041303e-05, "epoch": 1.37, "percentage": 45.64, "elapsed_time": "8:43:51", "remaining_time": "10:23:54"}',
    '{"current_steps": 4455, "total_steps": 9750, "loss": 0.0, "accuracy": 1.0, "lr": 3.5714285714285718e-06, "epoch": 0.08968609865470852, "percentage": 1.82, "elapsed_time": "0:00:47", "remaining_time": "0:42:32"}',
    '{"current_steps": 4460, "total_steps": 9750, "eval_loss": 0.7, "epoch": 1.4}',
])


def test_trainer_log_spellings_and_facts(tmp_path):
    src = trainer_log.read(write(tmp_path, "trainer_log.jsonl", TRAINER_LOG + "\n"))
    assert src.series["learning_rate"].steps.tolist() == [5, 4450, 4455]  # lr and learning_rate
    assert src.series["rewards/accuracies"].values.tolist() == [1.0]
    assert src.series["eval_loss"].steps.tolist() == [4460]
    assert "predict_loss" not in src.series and "reward" not in src.series
    assert src.facts["total_steps"] == 9750
    assert src.hints["framework"] == "llamafactory"
    assert src.records == 4 and not src.warnings


def test_trainer_log_corrupt_and_truncated_lines(tmp_path):
    lines = TRAINER_LOG.splitlines()
    text = "\n".join([lines[0], '{"current_steps": 7, "loss": 1.2, "lr', lines[1], "garbage\x00\x01", lines[2][:40]])
    src = trainer_log.read(write(tmp_path, "trainer_log.jsonl", text))
    assert src.series["loss"].steps.tolist() == [5, 4450]
    assert src.warnings == ["trainer_log.jsonl: skipped 3 corrupt or truncated line(s), first at line 2"]


def test_trainer_log_empty_is_source_error(tmp_path):
    with pytest.raises(SourceError):
        trainer_log.read(write(tmp_path, "trainer_log.jsonl", "\n\n"))


# ---------------------------------------------------------------- console logs

FLAGSHIP = ("{'loss': 0.5806, 'grad_norm': 0.16000482439994812, 'learning_rate': 4.22029964127453e-08, "
            "'rewards/chosen': 0.00045649479720365763, 'logps/chosen': -1.7963722954565922, "
            "'logits/chosen': -202528030.24783862, 'rewards/rejected': 5.853247662253727e-05, "
            "'logps/rejected': -10.940386572157836, 'logits/rejected': -213156961.200883, "
            "'rewards/margins': 0.0003979623205811204, 'kl': 11.288576126098633, 'epoch': 0.0}")

TORCHRUN_LOG = (
    "[INFO|2025-03-19 10:00:00] llamafactory.hparams.parser:355 >> Process rank: 0, world size: 4, device: cuda:0\n"
    "10/22/2024 20:05:07 - INFO - llamafactory.model.adapter - Upcasting trainable params to float32.\n"
    "10/22/2024 20:05:08 - INFO - llamafactory.model.loader - trainable params: 4,399,104 || all params: "
    "498,431,872 || trainable%: 0.8826\n"
    "[INFO|2025-03-19 10:00:02] llamafactory.train.kto.workflow:50 >> Created reference model from the model itself.\n"
    "[INFO|trainer.py:1686] 2023-08-21 18:08:12,795 >> ***** Running training *****\n"
    "[INFO|trainer.py:1687] 2023-08-21 18:08:12,795 >>   Num examples = 12,000\n"
    "[INFO|trainer.py:1689] 2023-08-21 18:08:12,795 >>   Instantaneous batch size per device = 2\n"
    "[INFO|trainer.py:1692] 2023-08-21 18:08:12,795 >>   Total train batch size (w. parallel, distributed & "
    "accumulation) = 64\n"
    "[INFO|trainer.py:1693] 2023-08-21 18:08:12,795 >>   Gradient Accumulation steps = 8\n"
    "[INFO|trainer.py:1694] 2023-08-21 18:08:12,795 >>   Total optimization steps = 2,000\n"
    "  0%|          | 0/2000 [00:00<?, ?it/s]\r  0%|          | 1/2000 [00:05<3:00:00,  5.40s/it]\r"
    "[default0]:[2024-08-12 11:36:25,378] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
    "Skipping step. Attempted loss scale: 65536, reducing to 32768\n"
    "  0%|          | 2/2000 [00:10<3:00:00,  5.40s/it]\r  1%|          | 10/2000 [00:54<3:00:00,  5.40s/it]\n"
    "[default0]:\x1b[32m{'loss': '0.5', 'grad_norm': 'nan', 'learning_rate': '1e-06', "
    "'logits/chosen': '-8.167e+06', 'epoch': '0.01'}\x1b[0m\n"
    "  1%|          | 15/2000 [01:20<3:00:00,  5.40s/it]\r"
    "[default0]:[2024-08-12 11:40:00,000] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
    "Skipping step. Attempted loss scale: 32768, reducing to 16384\n"
    "  1%|          | 20/2000 [01:48<3:00:00,  5.40s/it]\r[rank0]:{'loss': 0.48, 'grad_norm': inf, "
    "'learning_rate': 2e-06, 'kl': -inf, 'epoch': 0.02}\n"
    "\r  0%|          | 0/13 [00:00<?, ?it/s]\r100%|██████████| 13/13 [00:03<00:00,  4.1it/s]\n"
    "{'eval_loss': 0.47, 'eval_runtime': 3.2, 'kl': 5.0, 'epoch': 0.02}\n"
    "Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.\n"
    "{'train_runtime': 120.5, 'train_samples_per_second': 1.0, 'train_loss': 0.49, 'epoch': 0.02}\n"
)


def test_console_torchrun_log_with_tqdm_ansi_prefixes_and_facts(tmp_path):
    src = console.read(write(tmp_path, "train.log", TORCHRUN_LOG))
    assert src.step_kind == "exact"
    loss = src.series["loss"]
    assert loss.steps.tolist() == [10, 20] and loss.values.tolist() == [0.5, 0.48]
    assert math.isnan(src.series["grad_norm"].values[0]) and math.isinf(src.series["grad_norm"].values[1])
    assert src.series["kl"].values.tolist() == [float("-inf")]
    assert src.series["logits/chosen"].values.tolist() == [-8.167e6]
    # the eval dict takes the step of the train dict before it, not the eval bar's 13
    assert src.series["eval_loss"].steps.tolist() == [20] and src.series["eval_kl"].values.tolist() == [5.0]
    assert loss.lines.tolist() == [13, 15]
    f = src.facts
    assert f["trainable_params"] == 4399104 and f["world_size"] == 4 and f["upcast_trainable_params"] is True
    assert f["reference_model"] == "the model itself"
    assert f["num_examples"] == 12000 and f["total_train_batch_size"] == 64 and f["total_steps"] == 2000
    assert src.config == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8}
    assert f["overflow_count"] == 2 and f["overflow_steps"] == [10, 20] and f["loss_scale_min"] == 16384
    assert f["loss_scale_at_minimum"] is True
    assert f["train_runtime"] == 120.5 and f["train_loss"] == 0.49
    assert src.hints["framework"] == "llamafactory"


def test_console_without_step_counter_is_ordinal(tmp_path):
    text = "\n".join(["Loading model...", FLAGSHIP, "{'eval_loss': 0.6, 'epoch': 0.0}", FLAGSHIP.replace("0.5806", "0.58")])
    src = console.read(write(tmp_path, "out.txt", text))
    assert src.step_kind == "ordinal"
    assert src.series["loss"].steps.tolist() == [1, 2] and src.series["eval_loss"].steps.tolist() == [1]
    assert src.series["logits/chosen"].values[0] == -202528030.24783862
    assert src.series["loss"].lines.tolist() == [2, 4]


def test_console_other_dict_formats(tmp_path):
    text = "\n".join([
        # LLaMA-Factory trainer_log record and ms-swift dict pasted in a console (metrics-and-losses.md §3)
        '{"current_steps": 5, "total_steps": 275, "loss": 0.0, "accuracy": 1.0, "lr": 3.57e-06, "epoch": 0.09}',
        '{"loss": 2.23302879, "acc": 0.26443233, "grad_norm": NaN, "learning_rate": 1.617e-05, "memory(GiB)": 19.54, '
        '"global_step/max_steps": "8280/11043", "percentage": "74.98%"}',
    ])
    src = console.read(write(tmp_path, "paste.log", text))
    assert src.series["rewards/accuracies"].steps.tolist() == [5]
    # ms-swift's `acc` is the token accuracy: canonical `accuracy`, never LLaMA-Factory's reward accuracy
    assert src.series["accuracy"].steps.tolist() == [8280] and math.isnan(src.series["grad_norm"].values[0])
    assert "memory(GiB)" not in src.series and src.facts["total_steps"] == 11043


def test_console_mlx_lines(tmp_path):
    text = ("Iter 31: Train loss 0.002, Chosen reward -5.426, Rejected reward -11.906, Learning Rate 1.000e-05, "
            "It/sec 1.015, Peak mem 2.334 GB\nIter 40: Val loss 0.500, Val took 3.1s\n")
    src = console.read(write(tmp_path, "mlx.log", text))
    assert src.series["loss"].steps.tolist() == [31] and src.series["rewards/rejected"].values.tolist() == [-11.906]
    assert src.series["eval_loss"].steps.tolist() == [40]


def test_console_mlx_banner_states_the_method(tmp_path):
    # mlx-lm PR 6: an ORPO run whose rows look like DPO's (chosen and rejected rewards, a loss far below ln 2)
    text = ("Starting ORPO training..., iters: 500\n"
            "Iter 10: Train loss 0.061, Chosen reward -0.206, Rejected reward -0.227, Accuracy 0.600, Margin 0.021, "
            "Learning Rate 1.000e-05, It/sec 0.103\n")
    assert console.read(write(tmp_path, "mlx.log", text)).hints["method"] == "orpo"
    plain = text.replace("Starting ORPO training..., iters: 500\n", "")
    assert "method" not in console.read(write(tmp_path, "plain.log", plain)).hints


def test_console_broken_dicts_skipped_others_kept(tmp_path):
    text = "{'loss': 1.0, 'epoch': 0.1}\n{'loss': 0.9, 'grad_norm': [1, 'epoch': 0.2}\n{'loss': 0.8, 'epo"
    src = console.read(write(tmp_path, "x.log", text))
    # A dict with a damaged value is not a record: its other values could belong to another dict (two
    # writers interleaved), so none of them is kept; the damage is counted in a warning.
    assert src.series["loss"].values.tolist() == [1.0]
    assert any("1 unreadable dict line(s) skipped, first at line 2" in w for w in src.warnings)


def test_console_set_literal_is_no_damaged_dict(tmp_path):
    # nhockid235/xling-grpo-sub3b: vLLM prints `This model supports multiple tasks: {'generate', 'embed', ...}`
    # before TRL's GRPO rows; a set holds no `key: value` and is no metric dict, so nothing was damaged
    text = ("INFO config.py:542] This model supports multiple tasks: {'generate', 'embed', 'classify'}. Defaulting.\n"
            "{'loss': 0.0, 'grad_norm': 0.0045, 'learning_rate': 5e-07, 'reward': 0.463, 'epoch': 0.01}\n"
            "{'loss': 0.0, 'grad_norm': 0.0051, 'learning_rate': 1e-06, 'reward': 0.429, 'epoch': 0.02}\n")
    src = console.read(write(tmp_path, "x.log", text))
    assert src.series["reward"].values.tolist() == [0.463, 0.429]
    assert not any("unreadable" in w for w in src.warnings)


def test_console_dicts_holding_expressions_are_not_rows(tmp_path):
    rows = "".join(f"{{'loss': {1 - i / 10}, 'learning_rate': 1e-05, 'epoch': {i / 10}}}\n" for i in range(3))
    hostile = ("{'loss': __import__('os').system('touch pwned'), 'learning_rate': 1e-05, 'epoch': 0.3}\n"
               "{'loss': 2**10, 'learning_rate': 1e-05}\n{'loss': 0.5, 'learning_rate': (lambda: 1)()}\n")
    src = console.read(write(tmp_path, "x.log", rows + hostile))
    assert src.records == 3 and src.series["loss"].values.tolist() == [1.0, 0.9, 0.8]
    assert not (tmp_path / "pwned").exists()
    assert any("3 unreadable dict line(s) skipped, first at line 4" in w for w in src.warnings)


def test_console_tensor_reprs_are_read_as_their_number(tmp_path):
    text = "{'loss': tensor(0.6931, device='cuda:0'), 'grad_norm': tensor(1.5), 'learning_rate': 1e-05}\n"
    src = console.read(write(tmp_path, "x.log", text))
    assert src.series["loss"].values.tolist() == [0.6931] and src.series["grad_norm"].values.tolist() == [1.5]


@pytest.mark.parametrize("text", ["", "just a log\nwith no metrics\n", "{'model': 'qwen', 'dtype': 'bf16'}\n"])
def test_console_without_metrics_is_source_error(tmp_path, text):
    with pytest.raises(SourceError):
        console.read(write(tmp_path, "notes.log", text))


# ---------------------------------------------------------------- config files and results


def test_llamafactory_yaml_config(tmp_path):
    yaml_text = ("### method\nstage: kto\nfinetuning_type: full\npref_beta: 0.1\nlearning_rate: 1e-6\n"
                 "warmup_ratio: 0.1\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8\n")
    src = config_file.read(write(tmp_path, "kto.yaml", yaml_text))
    assert src.config["learning_rate"] == "1e-6"  # YAML 1.1: a string; normalize makes it a float
    assert src.hints == {"config_kind": "training", "framework": "llamafactory"}


@pytest.mark.parametrize("text", ["- a\n- b\n", "name: my dataset\nsplits: [train]\n", "key: [unclosed\n"])
def test_yaml_that_is_not_a_training_config(tmp_path, text):
    with pytest.raises(SourceError):
        config_file.read(write(tmp_path, "other.yaml", text))


def test_model_and_adapter_config_kinds(tmp_path):
    model = config_file.read(write(tmp_path, "config.json", json.dumps(
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936})))
    adapter = config_file.read(write(tmp_path, "adapter_config.json", json.dumps({"peft_type": "LORA", "r": 8})))
    assert model.hints["config_kind"] == "model_config" and adapter.hints["config_kind"] == "adapter_config"


def test_results_file(tmp_path):
    src = results.read(write(tmp_path, "all_results.json", json.dumps(
        {"epoch": 2.99, "eval_loss": 0.1257, "eval_rewards/accuracies": 0.56, "train_loss": 0.197,
         "train_runtime": 789.8})))
    assert src.facts["final_eval_loss"] == 0.1257 and src.facts["train_loss"] == 0.197
    assert src.facts["eval_results"] == {"eval_loss": 0.1257, "eval_rewards/accuracies": 0.56}
    assert src.facts["epoch"] == 2.99


def test_detect_names_formats(tmp_path):
    assert detect(Path("x/trainer_state.json")) == "trainer_state"
    assert detect(Path("trainer_log.jsonl")) == "trainer_log"
    assert detect(Path("train.log")) == "console"
    assert detect(Path("all_results.json")) == "results"


# ---------------------------------------------------------------- corpus


@needs_corpus
@pytest.mark.parametrize("path", sorted(CORPUS.glob("trainer_state/*.json")) + sorted(CORPUS.glob("runs/*/trainer_state.json")),
                         ids=lambda p: p.name if p.parent.name == "trainer_state" else p.parent.name)
def test_corpus_trainer_states(path):
    src = trainer_state.read(path)
    assert src.series and all(len(s.steps) == len(s.values) == len(s.lines) for s in src.series.values())
    for s in src.series.values():
        assert np.all(np.diff(s.steps) > 0)


@needs_corpus
@pytest.mark.parametrize("path", sorted(CORPUS.glob("stdout/*.log")), ids=lambda p: p.name)
def test_corpus_consoles(path):
    src = console.read(path)
    assert src.series or "train_loss" in src.facts


@needs_corpus
def test_corpus_console_special_cases():
    wrapped = console.read(CORPUS / "stdout" / "ContextualAI__HALOs__issue24.log")
    assert wrapped.series["logits/chosen"].values[0] == -159737504.0  # a dict wrapped over 4 lines
    swift = console.read(CORPUS / "stdout" / "modelscope__ms-swift__issue2436.log")
    assert swift.series["loss"].steps.tolist() == [8270, 8275, 8280]
    tqdm = console.read(CORPUS / "stdout" / "2U1__Qwen-VL-Series-Finetune__issue10.log")
    assert tqdm.series["loss"].steps.tolist() == [1, 2] and tqdm.facts["total_steps"] == 666


@needs_corpus
@pytest.mark.parametrize("path", sorted(CORPUS.glob("runs/*/trainer_log.jsonl")), ids=lambda p: p.parent.name)
def test_corpus_trainer_logs(path):
    src = trainer_log.read(path)
    assert "loss" in src.series and src.facts["total_steps"] > 0


@pytest.mark.parametrize("name,line", [
    ("trainer_log.jsonl", '{{"current_steps": {s}, "loss": 1.0, "learning_rate": 1e-05}}\n'),
    ("train.log", "{{'loss': 1.0, 'learning_rate': 1e-05, 'step': {s}}}\n"),
])
def test_an_absurd_step_is_damage_not_a_resumed_run(tmp_path, name, line):
    """A step of 2**400 (a flipped digit run, a corrupt writer) spoils that record's step only: the
    run is not split into a "resumed" pair of segments around it."""
    from kto_doctor.run import load_run

    text = "".join(line.format(s=s if s != 15 else 2 ** 400) for s in range(1, 30))
    (tmp_path / name).write_text(text)
    run = load_run(tmp_path)
    assert not any("restart" in w or "resumed" in w for w in run.warnings), run.warnings
    assert run.series("loss").index.max() <= 29 and len(run.series("loss")) >= 28
