"""Runs published as the notebook that trained them: the metrics are in the cells' outputs (the Trainer's HTML
progress table, printed metric dicts), or in a Markdown export of that notebook. Real examples are under
tests/fixtures/formats/notebook (see its PROVENANCE.md); the cases here build the shapes those files have."""
from __future__ import annotations

import json

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources
from kto_doctor.sources.base import SourceError

from conftest import REPO

FIX = REPO / "tests" / "fixtures" / "formats" / "notebook"


def _trainer_table(rows, header=("Step", "Training Loss", "Validation Loss"), bar="[50/50 01:02, Epoch 1/1]") -> list[str]:
    """The HTML the notebook progress callback displays, as nbformat stores it (a list of lines)."""
    head = "".join(f"      <th>{h}</th>\n" for h in header)
    body = "".join("    <tr>\n" + "".join(f"      <td>{c}</td>\n" for c in row) + "    </tr>\n" for row in rows)
    html = ("\n    <div>\n      <progress value='50' max='50' style='width:300px; height:20px;'></progress>\n"
            f"      {bar}\n    </div>\n    <table border=\"1\" class=\"dataframe\">\n  <thead>\n"
            " <tr style=\"text-align: left;\">\n" + head + "    </tr>\n  </thead>\n  <tbody>\n" + body
            + "  </tbody>\n</table><p>")
    return html.splitlines(True)


def _notebook(*outputs) -> dict:
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Fine-tune\n"]},
                      {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": list(outputs),
                       "source": ["trainer.train()\n"]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _display(html: list[str]) -> dict:
    return {"data": {"text/html": html, "text/plain": ["<IPython.core.display.HTML object>"]}, "metadata": {},
            "output_type": "display_data"}


ROWS = [(10, "2.100000", "No log"), (20, "1.800000", "1.900000"), (30, "1.600000", "1.700000"),
        (40, "1.500000", "1.650000"), (50, "1.450000", "1.640000")]


def test_the_trainer_progress_table_in_a_cell_output_is_read(tmp_path):
    p = tmp_path / "finetune.ipynb"
    p.write_text(json.dumps(_notebook(
        {"name": "stdout", "output_type": "stream", "text": ["\x1b[34mwandb\x1b[0m: Tracking run\n"]},
        _display(_trainer_table(ROWS)))))
    data = sources.read(p)
    assert data.format == "progress_table" and data.path == p
    assert data.series["loss"].steps.tolist() == [10, 20, 30, 40, 50]
    assert data.series["loss"].values.tolist() == [2.1, 1.8, 1.6, 1.5, 1.45]
    assert data.series["eval_loss"].values.tolist() == [1.9, 1.7, 1.65, 1.64]
    assert any(w.startswith("finetune.ipynb: a Jupyter notebook") for w in data.warnings)
    assert not any(str(tmp_path) not in w and "kto-doctor-" in w for w in data.warnings)  # no temporary name


@pytest.mark.parametrize("noise_kb", [1, 70, 300])
def test_the_table_is_found_after_a_long_install_log(tmp_path, noise_kb):
    """`!pip install` and model downloads can print more than the 64 KB a reader sniffs before training starts."""
    noise = ["Requirement already satisfied: package-%05d in /usr/local/lib/python3.10 (1.0.0)\n" % i
             for i in range(noise_kb * 1024 // 80)]
    p = tmp_path / "DPO_training.ipynb"
    p.write_text(json.dumps(_notebook({"name": "stdout", "output_type": "stream", "text": noise},
                                      _display(_trainer_table(ROWS)))))
    data = sources.read(p)
    assert data.format == "progress_table"
    assert data.series["loss"].values.tolist() == [2.1, 1.8, 1.6, 1.5, 1.45]


@pytest.mark.parametrize("widgets_kb", [0, 40, 120])
def test_a_notebook_saved_with_its_metadata_first_is_a_notebook(tmp_path, widgets_kb):
    """Kaggle writes `metadata` (kernel spec, widget state) before `cells` on one line: the smol-course student
    notebooks held their cells 30 and 117 KB in, and were read as a console log or not at all."""
    nb = _notebook(_display(_trainer_table(ROWS)))
    state = {f"model_{i:05d}": {"model_name": "HBoxModel", "state": {"layout": "IPY_MODEL_" + "a" * 32}}
             for i in range(widgets_kb * 1024 // 100)}
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "version": "3.10.14"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}
    reordered = {"metadata": meta, "nbformat_minor": 4, "nbformat": 4, "cells": nb["cells"]}
    p = tmp_path / "sft-finetuning.ipynb"
    p.write_text(json.dumps(reordered, separators=(",", ":")))
    assert p.read_text().index('"cells"') > widgets_kb * 1000
    data = sources.read(p)
    assert data.format == "progress_table"
    assert data.series["eval_loss"].values.tolist() == [1.9, 1.7, 1.65, 1.64]


_UNSLOTH_BANNER = ["==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1\n",
                   "   \\\\   /|    Num examples = 720 | Num Epochs = 11 | Total steps = 120\n",
                   "O^O/ \\_/ \\    Batch size per device = 8 | Gradient accumulation steps = 8\n",
                   "\\        /    Data Parallel GPUs = 1 | Total batch size (8 x 8 x 1) = 64\n"]


def test_the_training_banner_gives_a_step_table_its_epochs(tmp_path):
    """A `Step | Training Loss` table has no epoch column; unsloth's banner says 720 examples and 64 a step, so
    step s is epoch s x 64 / 720 (Newsteinwell/singer: 11 epochs of memorisation, SFT102)."""
    rows = [(10, "1.449000", None), (20, "1.300000", None), (30, "1.100000", None), (40, "0.930000", None)]
    table = _trainer_table([(s, l, "No log") for s, l, _ in rows])
    p = tmp_path / "Alpaca.ipynb"
    p.write_text(json.dumps(_notebook({"name": "stdout", "output_type": "stream", "text": _UNSLOTH_BANNER},
                                      _display(table))))
    run = kto_doctor.load_run(p)
    assert run.config["num_examples"] == 720 and run.config["effective_batch_size"] == 64
    assert run.series("epoch").tolist() == pytest.approx([10 * 64 / 720, 20 * 64 / 720, 30 * 64 / 720, 40 * 64 / 720])
    assert run.provenance["epoch"].startswith("derived")
    two = tmp_path / "two.ipynb"  # two trainings with different banners: which one the table belongs to is unknown
    other = [line.replace("720", "1440").replace("= 120", "= 240") for line in _UNSLOTH_BANNER]
    bare = _trainer_table([(s, l, "No log") for s, l, _ in rows], bar="")  # (nor a progress line of its own)
    two.write_text(json.dumps(_notebook({"name": "stdout", "output_type": "stream", "text": _UNSLOTH_BANNER + other},
                                        _display(bare))))
    assert "epoch" not in kto_doctor.load_run(two).metric_names


@pytest.mark.parametrize("trainable, fires", [("0", True), ("29,933,568", False)])
def test_unsloths_trainable_parameters_line_is_a_fact_and_zero_is_an_error(tmp_path, trainable, fires):
    """midhunkumar22/GRPO-Fine-Tuning-text-to-sql: unsloth printed `Trainable parameters = 0/999,885,952`; the run
    logged a flat reward and a KL of exactly 0, and nothing said why."""
    banner = _UNSLOTH_BANNER + [f' "-____-"     Trainable parameters = {trainable}/999,885,952 (0.00% trained)\n']
    rows = [(10, "1.449000", "No log"), (20, "1.440000", "No log"), (30, "1.450000", "No log"), (40, "1.440000", "No log")]
    p = tmp_path / "sft.ipynb"
    p.write_text(json.dumps(_notebook({"name": "stdout", "output_type": "stream", "text": banner},
                                      _display(_trainer_table(rows)))))
    run = kto_doctor.load_run(p)
    assert run.config["trainable_params"] == int(trainable.replace(",", ""))
    report = kto_doctor.analyze(p)
    assert any(f.rule == "SFT104" and f.severity == "error" for f in report.findings) == fires


def test_the_progress_line_gives_a_step_table_its_epochs_and_the_staircase_is_explained(tmp_path):
    """The callback's bar above the table states max_steps and the epochs (`[699/699 13:20, Epoch 2/3]`,
    datawhalechina/self-llm's Qwen3-8B LoRA notebook): without an Epoch column or a banner, step s is epoch
    s x 3 / 699, and a loss that steps down at steps 233 and 466 is the multi-epoch staircase, said as expected."""
    loss = [3.0 + 0.02 * ((i * 7) % 3 - 1) for i in range(23)] + [2.6 + 0.02 * ((i * 5) % 3 - 1) for i in range(23)] \
        + [2.2 + 0.02 * ((i * 11) % 3 - 1) for i in range(23)]
    table = _trainer_table([(10 * (i + 1), f"{v:.6f}") for i, v in enumerate(loss)], header=("Step", "Training Loss"),
                           bar="[699/699 13:20, Epoch 2/3]")
    p = tmp_path / "Qwen3-8B-LoRA.ipynb"
    p.write_text(json.dumps(_notebook(_display(table))))
    run = kto_doctor.load_run(p)
    assert run.config["total_steps"] == 699 and run.config["num_train_epochs"] == 3
    assert run.series("epoch").tolist() == pytest.approx([10 * (i + 1) * 3 / 699 for i in range(69)])
    assert "233 steps per epoch" in " ".join(run.merge_notes)
    report = kto_doctor.analyze(p)
    assert [(f.rule, f.severity) for f in report.findings] == [("SFT105", "info")]
    # a bar mid-run (`< remaining, rate`) says the same; with max_steps configured the epochs are not the Trainer's
    mid = _trainer_table([(10 * (i + 1), f"{v:.6f}") for i, v in enumerate(loss)], header=("Step", "Training Loss"),
                         bar="[ 690/699 13:10 < 00:10, 0.89 it/s, Epoch 2.96/3]")
    q = tmp_path / "mid.ipynb"
    q.write_text(json.dumps(_notebook(_display(mid))))
    assert kto_doctor.load_run(q).series("epoch").iloc[-1] == pytest.approx(690 * 3 / 699)
    assert "epoch" not in kto_doctor.load_run(q, overrides={"max_steps": 699}).metric_names


def test_printed_metric_dicts_in_a_stream_output_are_read_and_a_nan_is_seen(tmp_path):
    lines = [f"{{'loss': {2.0 - 0.01 * i:.4f}, 'grad_norm': nan, 'learning_rate': 1e-05, 'epoch': {i / 50:.2f}}}\n"
             for i in range(1, 30)]
    p = tmp_path / "run.ipynb"
    p.write_text(json.dumps(_notebook({"name": "stdout", "output_type": "stream", "text": lines})))
    data = sources.read(p)
    assert data.format == "console" and len(data.series["loss"].values) == 29  # not the JSON read as text
    assert np.isnan(data.series["grad_norm"].values).all()
    report = kto_doctor.analyze(p)
    assert report.status == "failing"


def test_a_notebook_cut_short_keeps_the_outputs_before_the_cut(tmp_path):
    text = json.dumps(_notebook(_display(_trainer_table(ROWS)),
                                {"data": {"text/plain": ["TrainOutput(global_step=50)"]}, "metadata": {},
                                 "output_type": "execute_result", "execution_count": 1}), indent=1)
    p = tmp_path / "cut.ipynb"
    p.write_text(text[:text.index("TrainOutput")])
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [2.1, 1.8, 1.6, 1.5, 1.45]
    assert any("not complete JSON" in w and "before the damage" in w for w in data.warnings)


def test_a_notebook_whose_training_cell_has_no_rows_holds_no_metrics(tmp_path):
    p = tmp_path / "template.ipynb"
    p.write_text(json.dumps(_notebook(_display(_trainer_table([])))))
    with pytest.raises(SourceError, match="template.ipynb: no training metrics"):
        sources.read(p)


def test_a_dataframe_shown_in_a_notebook_is_not_a_training_log(tmp_path):
    df = _trainer_table([(0, "hello", "world")], header=("", "text", "label"))
    p = tmp_path / "data.ipynb"
    p.write_text(json.dumps(_notebook(_display(df))))
    with pytest.raises(SourceError):
        sources.read(p)


def test_a_notebook_exported_to_markdown_keeps_its_html_table(tmp_path):
    p = tmp_path / "finetune.md"
    p.write_text("# Fine-tune\n\n```python\ntrainer.train()\n```\n\n" + "".join(_trainer_table(ROWS))
                 + "\n\n    TrainOutput(global_step=50, training_loss=1.69)\n")
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [2.1, 1.8, 1.6, 1.5, 1.45]
    assert any("an exported notebook page" in w for w in data.warnings)


def test_a_folder_with_a_notebook_and_its_checkpoint_copy_is_one_run(tmp_path):
    nb = json.dumps(_notebook(_display(_trainer_table(ROWS))))
    (tmp_path / "finetune.ipynb").write_text(nb)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "finetune-checkpoint.ipynb").write_text(nb)
    report = kto_doctor.analyze(tmp_path)
    assert [s.path for s in report.run.sources] == ["finetune.ipynb"]


REAL = {  # file -> (steps of the loss, first and last loss, eval losses): the notebooks' own tables
    "huggingface__notebooks__peft-gemma_7b_english_quotes.ipynb": (list(range(1, 11)), 1.7005, 0.6476, []),
    "huggingface__notebooks__examples-idefics-finetune_image_captioning_peft.ipynb": ([20, 40], 1.45, 0.702,
                                                                                      [0.880157, 0.675355]),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_notebooks_are_read(name):
    steps, first, last, evals = REAL[name]
    data = sources.read(FIX / name)
    loss = data.series["loss"]
    assert loss.steps.tolist() == steps
    assert (loss.values[0], loss.values[-1]) == (first, last)
    assert (data.series["eval_loss"].values.tolist() if evals else []) == evals
    assert kto_doctor.analyze(FIX / name).status in ("healthy", "warning")


def _code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": src.splitlines(True)}


def test_settings_are_read_from_the_code_as_literals_never_run(tmp_path):
    from kto_doctor.sources.notebook import code_settings

    nb = {"cells": [
        _code("!pip install -q peft\n%%capture\nLR = 2e-4\nimport os\nos.system('rm -rf /')  # parsed, never run\n"),
        _code("model = AutoModelForCausalLM.from_pretrained('google/gemma-3-4b-it')\n"
              "tok = AutoTokenizer.from_pretrained('./output/checkpoint-100')\n"
              "config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=['q_proj'])\n"),
        _code("args = TrainingArguments(output_dir='x', learning_rate=1e-3, gradient_accumulation_steps=8)\n"),
        _code("args = TrainingArguments(output_dir='x', learning_rate=LR, gradient_accumulation_steps=4,\n"
              "    num_train_epochs=3, warmup_ratio=compute_warmup(), logging_steps=-1 * 2)\n"),
        _code("def broken(:\n"),  # a cell that is no Python is skipped
    ], "nbformat": 4}
    settings, cells, hints = code_settings(nb)
    assert settings == {"model_name_or_path": "google/gemma-3-4b-it", "lora_rank": 8, "lora_alpha": 32,
                        "lora_dropout": 0.1, "learning_rate": 2e-4, "gradient_accumulation_steps": 4,
                        "num_train_epochs": 3}  # the last call wins; a computed value is not guessed
    assert cells == [2, 3, 4]
    assert hints == {}  # a plain Trainer states no method


def test_a_list_of_losses_is_their_weighted_sum_not_a_sigmoid_dpo_loss(tmp_path):
    # HF cookbook MPO: DPOConfig(loss_type=["sigmoid", "bco_pair", "sft"]): a loss of 2.6 holds the SFT NLL, and is
    # no DPO loss far above ln 2 (DPO109 read it as one)
    rows = [(10 * i, f"{2.62 - 0.003 * i:.4f}") for i in range(1, 13)]
    nb = _notebook(_display(_trainer_table(rows, header=("Step", "Training Loss"))))
    nb["cells"].insert(0, _code("from trl import DPOConfig, DPOTrainer\n"
                                "args = DPOConfig(output_dir='o', loss_type=['sigmoid', 'bco_pair', 'sft'],"
                                " loss_weights=[0.8, 0.2, 1.0], report_to=[name])\n"
                                "trainer = DPOTrainer(model=model, args=args)\n"))
    p = tmp_path / "mpo.ipynb"
    p.write_text(json.dumps(nb))
    data = sources.read(p)
    assert data.config["loss_type"] == ["sigmoid", "bco_pair", "sft"] and data.config["loss_weights"] == [0.8, 0.2, 1.0]
    assert "report_to" not in data.config  # a list holding a computed value is no literal
    report = kto_doctor.analyze(p)
    assert report.run.method == "dpo" and report.run.config["loss_type"] == "sigmoid+bco_pair+sft"
    assert not [f.rule for f in report.findings if f.rule.startswith("DPO")]


def test_a_loss_the_notebooks_gradient_accumulation_explains_is_named(tmp_path):
    rows = [(10 * i, f"{27.13 - 0.5 * i:.4f}") for i in range(1, 30)]
    nb = _notebook(_display(_trainer_table(rows, header=("Step", "Training Loss"))))
    nb["cells"].insert(0, _code("model = AutoModelForCausalLM.from_pretrained('google/gemma-3-4b-it')\n"
                                "args = TrainingArguments(output_dir='o', gradient_accumulation_steps=4,"
                                " learning_rate=1e-4, logging_steps=10)\n"))
    p = tmp_path / "gemma3.ipynb"
    p.write_text(json.dumps(nb))
    data = sources.read(p)
    assert data.config["gradient_accumulation_steps"] == 4
    assert any("settings read from the code of cell(s) 1" in w for w in data.warnings)
    report = kto_doctor.analyze(p)
    assert [f.rule for f in report.findings if f.severity != "info"][:1] == ["LOSS106"]


@pytest.mark.parametrize("trainer, method", [("DPOTrainer", "dpo"), ("UnslothGRPOTrainer", "grpo"),
                                             ("ORPOConfig", "orpo"), ("KTOTrainer", "kto"), ("SFTTrainer", "sft")])
def test_the_trainer_class_the_code_instantiates_states_the_method(trainer, method):
    from kto_doctor.sources.notebook import code_settings

    nb = {"cells": [_code("from unsloth import FastLanguageModel\n"
                          "model, tok = FastLanguageModel.from_pretrained(model_name='unsloth/Qwen3-4B')\n"),
                    _code(f"trainer = {trainer}(model=model, args=args)\ntrainer.train()\n")], "nbformat": 4}
    _, _, hints = code_settings(nb)
    assert hints["method"] == method and hints["framework"] == "unsloth"


def test_a_grpo_notebooks_zero_loss_is_grpo_by_construction_not_a_collapse(tmp_path):
    rows = [(2 * i, "0.000000") for i in range(1, 26)]
    nb = _notebook(_display(_trainer_table(rows, header=("Step", "Training Loss"))))
    nb["cells"].insert(0, _code("trainer = GRPOTrainer(model=model, reward_funcs=[f], args=GRPOConfig(output_dir='o'))\n"))
    p = tmp_path / "grpo.ipynb"
    p.write_text(json.dumps(nb))
    report = kto_doctor.analyze(p)
    assert report.run.method == "grpo"
    assert not [f for f in report.findings if f.symptom == "loss-collapse" and f.severity == "error"]


@pytest.mark.parametrize("text", [
    '{"cells": "abc", "nbformat": 4}',
    '{"worksheets": 7, "nbformat": 3}',
    '{"worksheets": [{"cells": 3}], "nbformat": 3}',
    '{"cells": [{"cell_type": "code", "outputs": {"x": 1}, "source": 5}], "nbformat": 4}',
    '{"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": 12}], "source": ["(((("]}]}',
])
def test_a_notebook_with_fields_of_the_wrong_type_holds_no_metrics_and_says_so(text, tmp_path):
    p = tmp_path / "odd.ipynb"
    p.write_text(text)
    with pytest.raises(SourceError, match="odd.ipynb: no"):
        sources.read(p, "notebook")


def _cells_notebook(*cells) -> dict:
    """A notebook of code cells, each given as its list of outputs."""
    return {"cells": [{"cell_type": "code", "execution_count": i + 1, "metadata": {}, "outputs": list(outputs),
                       "source": ["trainer.train()\n"]} for i, outputs in enumerate(cells)],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_one_training_drawn_twice_and_its_closing_evaluation_are_read_together(tmp_path):
    """A GRPO notebook (Ena-AlexBrush's shape): the training cell displays its table at [115/150] and again at
    [150/150], then `trainer.evaluate()` in the next cell draws a one-row table. All three are one training: its
    last drawing is read, with the evaluation's row, and the report does not speak of several trainings."""
    header = ("Step", "Training Loss")
    early = _display(_trainer_table([(s, "0.000000") for s in range(10, 120, 10)], header))
    final = _display(_trainer_table([(s, "0.000000") for s in range(10, 160, 10)], header))
    evaluation = _display(_trainer_table([("0.000000", "0.000000", 150, "0.000000", "1.000000")],
                                         ("Training Loss", "Validation Loss", "Step", "Reward", "Frac Reward Zero Std")))
    p = tmp_path / "grpo.ipynb"
    p.write_text(json.dumps(_cells_notebook([early, final], [evaluation])))
    data = sources.read(p)
    assert data.series["loss"].steps.tolist() == list(range(10, 160, 10))
    assert data.series["eval_reward"].values.tolist() == [0.0] and data.series["eval_reward"].steps.tolist() == [150]
    assert not any("one per training" in w for w in data.warnings)


def test_of_two_trainings_in_two_cells_the_last_is_read_with_its_own_evaluation(tmp_path):
    first = _display(_trainer_table([(10, "9.000000", "9.500000"), (20, "8.000000", "8.500000")]))
    first_eval = _display(_trainer_table([(20, "8.000000", "8.400000")]))
    second = _display(_trainer_table(ROWS))
    second_eval = _display(_trainer_table([(50, "1.450000", "1.630000")]))
    p = tmp_path / "two.ipynb"
    p.write_text(json.dumps(_cells_notebook([first], [first_eval], [second], [second_eval])))
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [2.1, 1.8, 1.6, 1.5, 1.45]
    assert data.series["eval_loss"].values.tolist()[-1] == 1.63  # the second training's closing evaluation
    assert 8.4 not in data.series["eval_loss"].values.tolist()
    assert any("2 Trainer progress tables (one per training)" in w for w in data.warnings)


def test_a_table_by_whole_epochs_states_its_epochs(tmp_path):
    """evaluation_strategy='epoch': the Trainer's table is `Epoch | Training Loss | Validation Loss`, one row per
    epoch (an MCQA notebook: 5 epochs at ln 5). The epochs are a series, not derived from the rows' numbers as if
    they were optimizer steps (which made epoch 5 look like 3% of the first epoch)."""
    rows = [(e, f"{v:.6f}", "1.609528") for e, v in [(1, 1.5996), (2, 1.6216), (3, 1.5989), (4, 1.6062), (5, 1.6102)]]
    p = tmp_path / "MCQA.ipynb"
    p.write_text(json.dumps(_notebook(_display(_trainer_table(rows, ("Epoch", "Training Loss", "Validation Loss"))))))
    run = kto_doctor.load_run(p)
    assert run.series("epoch").tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert not run.provenance["epoch"].startswith("derived")
    assert "SFT108" not in [f.rule for f in kto_doctor.analyze(p).findings]


def test_a_training_log_is_read_over_a_few_printed_counts_an_earlier_reader_takes(tmp_path):
    # LLMs-from-scratch's pre-training chapter (a Chinese edition's executed copy): token counts and one loss pair
    # printed as `Name: value` lines, then the training loop's `Ep N (Step NNNNNN): Train loss x, Val loss y`
    def stream(text):
        return {"name": "stdout", "output_type": "stream", "text": [text]}
    loop = ("Ep 1 (Step 000000): Train loss 9.657, Val loss 9.845\nEp 1 (Step 000005): Train loss 7.690, Val loss 8.041\n"
            "Every effort moves you,.\nEp 2 (Step 000010): Train loss 6.532, Val loss 6.812\n"
            "Ep 2 (Step 000015): Train loss 5.920, Val loss 6.577\nEp 3 (Step 000020): Train loss 5.777, Val loss 6.494\n")
    p = tmp_path / "ch05.ipynb"
    p.write_text(json.dumps(_notebook(stream("Characters: 20479\nTokens: 5145\n"),
                                      stream("Training tokens: 4608\nValidation tokens: 512\nAll tokens: 5120\n"),
                                      stream("Training loss: 10.98758347829183\nValidation loss: 10.98110580444336\n"),
                                      stream(loop))))
    data = sources.read(p)
    assert data.series["loss"].values.tolist() == [9.657, 7.69, 6.532, 5.92, 5.777]
    assert data.series["eval_loss"].steps.tolist() == [0, 5, 10, 15, 20]
