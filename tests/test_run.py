"""load_run: discovery, checkpoint choice, merging, step placement, method/framework, overrides, errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import kto_doctor
from kto_doctor import InputError, load_run
from kto_doctor.config import normalize

from conftest import SAMPLES

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")

FLAGSHIP = ("{'loss': 0.5806, 'grad_norm': 0.16000482439994812, 'learning_rate': 4.22029964127453e-08, "
            "'rewards/chosen': 0.00045649479720365763, 'logps/chosen': -1.7963722954565922, "
            "'logits/chosen': -202528030.24783862, 'rewards/rejected': 5.853247662253727e-05, "
            "'logps/rejected': -10.940386572157836, 'logits/rejected': -213156961.200883, "
            "'rewards/margins': 0.0003979623205811204, 'kl': 11.288576126098633, 'epoch': 0.0}")


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def state(steps, global_step=None, metric="loss", value=1.0, **extra):
    history = [{metric: value, "step": s, **extra} for s in steps]
    return json.dumps({"global_step": global_step if global_step is not None else steps[-1], "log_history": history,
                       "logging_steps": 10, "max_steps": 100}, indent=2, sort_keys=True)


def test_newest_checkpoint_wins(tmp_path):
    write(tmp_path / "checkpoint-250" / "trainer_state.json", state([10, 250], value=9.0))
    write(tmp_path / "checkpoint-3500" / "trainer_state.json", state([10, 3500], value=8.0))
    write(tmp_path / "checkpoint-3750" / "trainer_state.json", state([10, 3750], value=1.0))
    run = load_run(tmp_path)
    assert run.series("loss").index.tolist() == [10, 3750]
    used = {s.path: s.used for s in run.sources}
    assert used == {"checkpoint-3750/trainer_state.json": True, "checkpoint-250/trainer_state.json": False,
                    "checkpoint-3500/trainer_state.json": False}
    assert "using checkpoint-3750/trainer_state.json (global_step 3750); 2 older copies ignored" in run.warnings


def test_provenance_with_superseded_checkpoints(tmp_path):
    write(tmp_path / "checkpoint-10" / "trainer_state.json", state([10], metric="loss"))
    write(tmp_path / "checkpoint-20" / "trainer_state.json", state([10, 20], metric="loss"))
    write(tmp_path / "trainer_log.jsonl", '{"current_steps": 30, "total_steps": 30, "loss": 1.0, "lr": 1e-5}\n')
    run = load_run(tmp_path)
    assert run.provenance == {"loss": "checkpoint-20/trainer_state.json", "learning_rate": "trainer_log.jsonl"}


def test_a_console_whose_steps_are_guessed_is_no_record_beside_one_that_logged_them(tmp_path):
    """LLaMA-Factory's trainer_log.jsonl (steps 5, 10, ... 30) beside a console log whose dicts carry no step (here
    no progress bar at all: step k = the k-th dict): the jsonl is the record for the metrics both hold, and the
    console's guessed steps 1-6 are not spliced in below its first step (a schedule that seemed to restart)."""
    lrs = [1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 4e-5]
    write(tmp_path / "trainer_log.jsonl", "\n".join(json.dumps(
        {"current_steps": 5 * (i + 1), "total_steps": 30, "loss": 2.0 - 0.1 * i, "lr": lr}) for i, lr in enumerate(lrs)))
    write(tmp_path / "train.log", "".join(
        f"{{'loss': {2.0 - 0.1 * i:.1f}, 'grad_norm': 0.5, 'learning_rate': {lr}, 'epoch': {0.1 * (i + 1):.1f}}}\n"
        for i, lr in enumerate(lrs)))
    run = load_run(tmp_path)
    assert run.provenance["learning_rate"] == "trainer_log.jsonl" and run.provenance["loss"] == "trainer_log.jsonl"
    assert run.series("learning_rate").index.tolist() == [5, 10, 15, 20, 25, 30]
    assert run.provenance["grad_norm"] == "train.log"  # only the console logged it: kept, on its guessed steps
    assert "ANY102" not in [f.rule for f in kto_doctor.analyze(tmp_path).findings]


def test_top_level_trainer_state_wins_ties(tmp_path):
    write(tmp_path / "checkpoint-100" / "trainer_state.json", state([10, 100], value=2.0))
    write(tmp_path / "trainer_state.json", state([10, 100], value=1.0))
    run = load_run(tmp_path)
    assert run.provenance["loss"] == "trainer_state.json"
    assert run.series("loss").tolist() == [1.0, 1.0]


def test_merge_priority_and_provenance(tmp_path):
    write(tmp_path / "trainer_state.json", state([10, 20], value=1.0, grad_norm=0.5))
    write(tmp_path / "trainer_log.jsonl", "\n".join(json.dumps(
        {"current_steps": s, "total_steps": 30, "loss": 2.0, "lr": 1e-5}) for s in (10, 20, 30)))
    run = load_run(tmp_path)
    loss = run.series("loss")
    assert loss.to_dict() == {10: 1.0, 20: 1.0, 30: 2.0}  # trainer_state wins, trainer_log fills step 30
    assert run.provenance["loss"] == "trainer_state.json"
    assert run.provenance["learning_rate"] == "trainer_log.jsonl"
    assert list(run.metrics.index) == [10, 20, 30] and math.isnan(run.metrics.loc[30, "grad_norm"])
    assert run.location("grad_norm", 20)[0] == "trainer_state.json"
    assert run.framework == "llamafactory" and run.method == "sft"


def test_logged_nan_stays_in_series(tmp_path):
    write(tmp_path / "trainer_state.json", json.dumps({"log_history": [
        {"loss": 1.0, "grad_norm": float("nan"), "step": 1}, {"loss": 0.9, "step": 2}]}))
    run = load_run(tmp_path)
    g = run.series("grad_norm")
    assert g.index.tolist() == [1] and math.isnan(g.iloc[0])


def test_flagship_line_placed_at_step_200_from_learning_rate(tmp_path):
    write(tmp_path / "train.log", "Running...\n" + FLAGSHIP + "\n")
    write(tmp_path / "kto.yaml", "stage: kto\nlearning_rate: 1.0e-6\nwarmup_steps: 4739\nlogging_steps: 10\n")
    run = load_run(tmp_path)
    assert run.series("loss").index.tolist() == [200]
    assert run.method == "kto" and run.framework == "llamafactory"
    console = next(s for s in run.sources if s.format == "console")
    assert any("steps inferred from the learning rate" in w for w in console.warnings)
    assert run.location("kl", 200) == ("train.log", 2)


def test_ordinal_steps_fall_back_to_logging_steps_then_order(tmp_path):
    lines = "\n".join("{'loss': %s, 'learning_rate': 0.0001, 'epoch': 0.1}" % v for v in (1.0, 0.9, 0.8))
    write(tmp_path / "a" / "train.log", lines)
    write(tmp_path / "a" / "cfg.yaml", "stage: sft\nlogging_steps: 5\nlearning_rate: 1.0e-4\n")
    assert load_run(tmp_path / "a").series("loss").index.tolist() == [5, 10, 15]
    write(tmp_path / "b" / "train.log", lines)
    assert load_run(tmp_path / "b").series("loss").index.tolist() == [1, 2, 3]


def test_overflow_steps_placed_with_the_ordinals(tmp_path):
    overflow = "[2024-08-12 11:36:25,378] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 " \
               "Skipping step. Attempted loss scale: 65536, reducing to 32768"
    write(tmp_path / "train.log", "\n".join(["{'loss': 1.0, 'epoch': 0.1}", overflow, "{'loss': 0.9, 'epoch': 0.2}"]))
    write(tmp_path / "cfg.yaml", "stage: sft\nlogging_steps: 5\n")
    run = load_run(tmp_path)
    assert run.facts["overflow_steps"] == [10] and run.facts["overflow_count"] == 1


def test_derived_config_keys(tmp_path):
    write(tmp_path / "trainer_state.json", state([10, 20]))
    write(tmp_path / "cfg.yaml", "stage: kto\nlearning_rate: 1.0e-6\nwarmup_ratio: 0.1\nmax_steps: 47390\n"
          "per_device_train_batch_size: 1\ngradient_accumulation_steps: 8\npref_beta: 0.1\nkto_chosen_weight: 1.0\n")
    run = load_run(tmp_path)
    c = run.config
    assert c["learning_rate"] == 1e-6 and isinstance(c["learning_rate"], float)
    assert c["total_steps"] == 47390 and c["warmup_steps_effective"] == 4739
    assert c["logging_steps"] == 10 and run.config_provenance["logging_steps"] == "derived"
    assert c["kl_window"] == 80 and c["effective_batch_size"] == 8
    assert c["beta"] == 0.1 and c["desirable_weight"] == 1.0
    assert run.config_provenance["beta"] == "cfg.yaml"


def test_set_overrides(tmp_path):
    write(tmp_path / "trainer_state.json", state([10, 20]))
    write(tmp_path / "cfg.yaml", "stage: kto\nlearning_rate: 1.0e-6\n")
    run = kto_doctor.load_run(tmp_path, overrides={"learning_rate": "2e-6", "pref_beta": "0.05",
                                                   "gradient_accumulation_steps": "4", "bf16": "true"})
    assert run.config["learning_rate"] == 2e-6 and run.config_provenance["learning_rate"] == "--set"
    assert run.config["beta"] == 0.05 and run.config["bf16"] is True
    assert run.config["kl_window"] == 40  # derived keys see the override


@pytest.mark.parametrize("rows,expected,framework", [
    ({"loss": 0.5, "kl": 1.0, "rewards/chosen": 0.1}, "kto", "trl"),
    ({"loss": 0.6, "rewards/accuracies": 0.5, "rewards/margins": 0.1}, "dpo", "trl"),
    # sft_loss / odds_ratio_loss are LLaMA-Factory's ORPO keys (TRL logs nll_loss / log_odds_ratio)
    ({"loss": 0.6, "rewards/accuracies": 0.5, "odds_ratio_loss": 1.2, "sft_loss": 0.4}, "orpo", "llamafactory"),
    ({"loss": 0.6, "rewards/accuracies": 0.5, "nll_loss": 1.2, "log_odds_ratio": -0.4}, "orpo", "trl"),
    ({"loss": 0.001, "rewards/chosen": -5.4, "rewards/rejected": -11.9}, "dpo", "trl"),  # mlx-lm style
    ({"loss": 0.0, "reward": 0.5, "reward_std": 0.1, "kl": 0.01}, "grpo", "trl"),
    ({"loss": 1.2}, "sft", "transformers"),
])
def test_method_from_metric_fingerprints(tmp_path, rows, expected, framework):
    write(tmp_path / "trainer_state.json", json.dumps({"log_history": [dict(rows, step=1)]}))
    run = load_run(tmp_path)
    assert run.method == expected
    assert run.framework == framework


@pytest.mark.parametrize("yaml_text,expected", [
    ("stage: dpo\npref_loss: orpo\n", "orpo"), ("stage: dpo\npref_loss: simpo\n", "simpo"),
    ("stage: dpo\npref_loss: ipo\n", "dpo"), ("stage: kto\n", "kto"), ("stage: rm\n", "rm"),
])
def test_method_from_llamafactory_stage(tmp_path, yaml_text, expected):
    write(tmp_path / "trainer_state.json", state([1]))
    write(tmp_path / "train.yaml", yaml_text)
    assert load_run(tmp_path).method == expected


def test_normalize_spellings():
    c = normalize({"pref_loss": ["sigmoid", "sft"], "max_seq_length": "2048", "evaluation_strategy": "steps",
                   "use_peft": True, "kto_rejected_weight": 1, "warmup_ratio": "1e-1", "custom_key": "x"})
    # a list of several losses is their weighted sum, named by all of them; a list of one is that loss
    assert normalize({"loss_type": ["sigmoid"]})["loss_type"] == "sigmoid"
    assert c == {"loss_type": "sigmoid+sft", "cutoff_len": 2048, "eval_strategy": "steps", "use_peft": True,
                 "undesirable_weight": 1.0, "warmup_ratio": 0.1, "custom_key": "x", "finetuning_type": "lora"}
    assert normalize({"peft_type": "LORA", "r": 16}, "adapter_config") == {"finetuning_type": "lora", "lora_rank": 16}
    # ChatGLM P-Tuning v2 records the prefix length in the model's config.json (AriesChen-UPC/GeoLLM)
    assert normalize({"model_type": "chatglm", "pre_seq_len": 128}, "model_config")["finetuning_type"] == "ptuning"
    assert "finetuning_type" not in normalize({"model_type": "chatglm", "pre_seq_len": None}, "model_config")
    assert normalize({"vocab_size": 151936, "model_type": "qwen2", "hidden_size": 4096, "rope_theta": 1e6},
                     "model_config") == {"vocab_size": 151936, "model_type": "qwen2", "hidden_size": 4096}
    # a quantization_config says the checkpoint is a quantized pretrained model (QLoRA, GPTQ): never a random init
    assert normalize({"model_type": "llama", "quantization_config": {"load_in_4bit": True}},
                     "model_config")["quantized"] is True
    assert "quantized" not in normalize({"model_type": "llama", "quantization_config": {}}, "model_config")


def test_errors_are_one_line_input_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no training logs found \(looked for trainer_state.json"):
        load_run(empty)
    garbage = write(tmp_path / "garbage.bin", "\x00\x01 nothing here")
    with pytest.raises(InputError) as exc:
        load_run(garbage)
    assert str(garbage) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="no such file"):
        load_run(tmp_path / "missing")
    broken = write(tmp_path / "broken" / "trainer_state.json", "{")
    with pytest.raises(InputError):
        load_run(broken.parent)


def test_unrelated_files_are_skipped_quietly(tmp_path):
    write(tmp_path / "trainer_state.json", state([1, 2]))
    write(tmp_path / "README.txt", "This folder holds my model.\n")
    write(tmp_path / "dataset.yaml", "name: data\nsplits: [train]\n")
    run = load_run(tmp_path)
    assert [s.path for s in run.sources] == ["trainer_state.json"] and run.warnings == []


@needs_corpus
@pytest.mark.parametrize("path", sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in (
    "README.md", "labels.yaml")), ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_loads(path):
    try:
        run = load_run(path)
    except InputError as exc:  # results and config files alone are not training logs
        assert path.suffix in (".yaml", ".json") and "\n" not in str(exc)
        return
    assert run.metric_names or "train_loss" in run.facts or "final_eval_loss" in run.facts
    assert run.method in kto_doctor.model.METHODS


@needs_corpus
@pytest.mark.parametrize("path", sorted(p for p in (CORPUS / "runs").iterdir()) if CORPUS.is_dir() else [],
                         ids=lambda p: p.name)
def test_corpus_run_directories(path):
    run = load_run(path)
    assert run.framework == "llamafactory" and "loss" in run.metric_names


@pytest.mark.parametrize("steps", [
    {"a": [1, 2, 3], "b": [1, 2, 3]},  # one set of steps
    {"a": [1, 2, 3, 4], "b": [2, 4], "c": [3]},  # the widest holds the others
    {"a": [1, 3, 5], "b": [2, 3, 6], "c": [7]},  # a union no series has
    {"a": [5], "b": [1, 2, 3, 4]},  # the widest holds none of the other's
    {"a": [10, 20], "b": []},
    # steps every N: where a step is in them is arithmetic (run._grid); equal to the searches
    {"a": [10, 20, 30, 40, 50], "b": [20, 50], "c": [30]},
    {"a": [-4, -2, 0, 2], "b": [-2, 2], "c": [1]},  # one off the grid: the union is not one
    {"a": [3, 6, 9], "b": [12], "c": [6]},  # one past the end: the union is a grid again
    {"a": [0, 5, 10], "b": [5, 7]},
    {"a": [7], "b": [7]},
])
def test_metrics_frame_is_what_concat_makes(steps):
    import numpy as np
    import pandas as pd

    from kto_doctor.run import frame_index, metrics_frame

    rng = np.random.default_rng(0)
    series = {name: pd.Series(rng.random(len(s)), index=pd.Index(np.array(s, dtype=np.int64), name="step"), name=name)
              for name, s in steps.items()}
    expected = pd.concat(series, axis=1, sort=True)
    expected.index.name = "step"
    pd.testing.assert_frame_equal(metrics_frame(series), expected, check_exact=True)
    pd.testing.assert_index_equal(frame_index(series), expected.index, exact=True)  # (the steps without the frame)


def test_the_metrics_frame_is_built_when_read_and_the_analysis_never_reads_it():
    """`Run.metrics` of a loaded run is built on first use, the same frame as built at once; the analysis reads
    only its steps (on a 1 GB console log its filled columns were 12.8 MB of the peak)."""
    import pickle

    import pandas as pd

    from kto_doctor import analysis
    from kto_doctor.model import Later
    from kto_doctor.run import metrics_frame

    run = load_run(SAMPLES / "kto-healthy")
    assert type(run.__dict__["metrics"]) is Later
    steps = run.step_index
    report = analysis.evaluate(run, analysis.load_rules())
    assert report.findings is not None and type(run.__dict__["metrics"]) is Later
    copy = pickle.loads(pickle.dumps(run))
    frame = run.metrics
    assert type(run.__dict__["metrics"]) is pd.DataFrame and run.metrics is frame and run.step_index is frame.index
    pd.testing.assert_index_equal(steps, frame.index, exact=True)
    pd.testing.assert_frame_equal(frame, metrics_frame(run._series), check_exact=True)
    pd.testing.assert_frame_equal(copy.metrics, frame, check_exact=True)


def test_a_long_console_log_is_held_once(tmp_path):
    """The peak memory of a 1 GB log: metrics logged in every record share one steps array (reader, index), and
    the frame's columns of metrics logged at every step are the series' own values, not copies."""
    import numpy as np

    write(tmp_path / "train.log", "".join(f"{{'loss': {1 / i}, 'grad_norm': {i}, 'epoch': {i / 100}, 'step': {i}}}\n"
                                          + (f"{{'eval_loss': {1 / i}, 'epoch': {i / 100}}}\n" if i % 7 == 0 else "")
                                          for i in range(1, 200)))
    run = load_run(tmp_path)
    loss, grad = run.series("loss"), run.series("grad_norm")
    assert loss.index is grad.index and run.metrics.index is loss.index
    assert np.shares_memory(run.metrics["loss"].to_numpy(), loss.to_numpy())
    assert run.metrics["eval_loss"].notna().sum() == 28 and run.series("eval_loss").tolist()[0] == 1 / 7


def test_a_reader_that_understands_nothing_gives_way_to_one_that_reads_a_loss(tmp_path):
    """A custom DPO loop's slurm log (lixing-w/dpo's shape): a settings block and `Number of trainable ...: N` lines
    before `Example Generation at Step N:` headings, which the block reader takes for blocks of metrics, and
    `Step N: Train Loss=..., Eval Loss=...` lines, which the generic reader reads. The block reader found no loss:
    the run is judged on the loss the generic reader found, not called inconclusive."""
    settings = ("Hyperparameters:\n         Epochs: 2\n         Learning Rate: 5e-06\n         Batch Size: 2\n"
                "         Gradient Accumulation Steps: 8\n         Max Sequence Length: 1024\n \n\n"
                "trainable params: 8,404,992 || all params: 502,437,760 || trainable%: 1.6728\n"
                "Number of trainable parameters: 8404992\nNumber of trainable layers: 288\n")
    steps = "".join(f"New best model saved with eval loss {e:.4f}\nExample Generation at Step {s}:\nHello! It is 2.\n"
                    f"Step {s}: Train Loss={t:.4f}, Eval Loss={e:.4f}, Win Rate={w:.4f}\n"
                    for s, t, e, w in [(0, 0.6914, 0.6914, 0.0), (3000, 0.7734, 0.65, 0.78), (6000, 0.75, 0.6293, 0.78),
                                       (9000, 0.5625, 0.6149, 0.89), (12000, 0.418, 0.61, 0.83)])
    write(tmp_path / "R-DPO.2502630-log.out", "Job started\n" + settings + steps)
    run = load_run(tmp_path)
    assert [s.format for s in run.sources] == ["generic_kv"]
    assert run.series("eval_loss").tolist() == [0.6914, 0.65, 0.6293, 0.6149, 0.61]
    assert run.series("loss").index.tolist() == [0, 3000, 6000, 9000, 12000]
    assert not run.core_missing
