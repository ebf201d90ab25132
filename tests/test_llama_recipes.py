"""The llama-recipes / llama-cookbook console (`python -m llama_recipes.finetuning`): its tqdm description per
batch, the epoch means and the eval line. A real paste in tests/fixtures/pastes (meta-llama/llama-cookbook#206)."""
from __future__ import annotations

from pathlib import Path

import pytest

import kto_doctor
from kto_doctor import sources

PASTE = Path(__file__).parent / "fixtures" / "pastes" / "meta-llama__llama-cookbook__pr206.log"


def _log(epochs: int = 3, per: int = 20, eval_loss=(0.95, 0.90, 0.99), bar: bool = True) -> str:
    out = []
    for e in range(1, epochs + 1):
        for s in range(per):
            loss = 1.5 - 0.02 * ((e - 1) * per + s)
            for redraw in (loss + 0.01, loss):  # the description is redrawn before the next batch
                tail = f": {100 * (s + 1) // per:3d}%|###   | {s + 1}/{per} [00:{s:02d}<00:10, 2.5s/it]" if bar else ""
                out.append(f"\rTraining Epoch: {e}/{epochs}, step {s}/{per} completed (loss: {redraw!r}){tail}")
        out.append("\nMax CUDA memory allocated was 18 GB\n")
        out.append(f"evaluating Epoch: 100%|#####| 5/5 [00:06<00:00,  3.69it/s]\n"
                   f" eval_ppl=tensor({2.718 ** eval_loss[e - 1]:.4f}, device='cuda:0') "
                   f"eval_epoch_loss=tensor({eval_loss[e - 1]:.4f}, device='cuda:0')\n")
        out.append(f"Epoch {e}: train_perplexity={2.718 ** (1.3 - 0.3 * e):.4f}, train_epoch_loss={1.3 - 0.3 * e:.4f}, "
                   f"epoch time 512.3{e}s\n")
    return "".join(out)


def test_steps_run_on_across_epochs_and_the_last_redraw_of_a_step_is_kept(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_log())
    data = sources.read(p)
    assert data.format == "llama_recipes"
    loss = data.series["loss"]
    assert loss.steps.tolist() == list(range(1, 61))  # (epoch - 1) x 20 + step + 1
    assert loss.values[[0, 20, 59]].tolist() == pytest.approx([1.5, 1.5 - 0.4, 1.5 - 1.18])
    assert data.series["eval_loss"].steps.tolist() == [20, 40, 60]  # after each epoch's last batch
    assert data.series["eval_loss"].values.tolist() == [0.95, 0.90, 0.99]
    assert data.series["epoch_mean/train_loss"].steps.tolist() == [20, 40, 60]  # not the step's loss


def test_an_eval_loss_that_turns_up_while_the_train_loss_falls_is_judged(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_log(epochs=3, eval_loss=(0.95, 0.90, 1.02)))
    report = kto_doctor.analyze(p)
    assert report.run.framework == "llama-recipes"
    assert "overfitting" in {f.symptom for f in report.findings if f.severity != "info"}


def test_the_description_of_every_rank_at_the_last_step_is_one_step(tmp_path):
    data = sources.read(PASTE)
    assert data.format == "llama_recipes"
    assert data.series["loss"].steps.tolist() == [609]  # (3 - 1) x 203 + 202 + 1
    assert data.series["loss"].values.tolist() == pytest.approx([0.7195559144020081])  # the last rank printed
    assert kto_doctor.analyze(PASTE).status not in ("failing", "inconclusive")


def test_recognised_by_content_under_any_name(tmp_path):
    p = tmp_path / "stdout"
    p.write_text(_log(bar=False))
    assert sources.read(p).format == "llama_recipes"


def test_damage_in_the_middle_and_a_cut_end_keep_every_complete_step(tmp_path):
    """Binary junk between two epochs and a file cut inside a description: every step before and after the junk,
    and every complete step before the cut, is read as in the whole file (redraws without their bar, `\r` only)."""
    text = _log(bar=False)
    whole = sources.read(_write(tmp_path / "whole.log", text)).series["loss"]
    mid = text.index("\rTraining Epoch: 2/3, step 0/20")
    junk = text[:mid] + "\n\x00\xff garbage Training Epoch: 9/ step (loss: \n" + text[mid:]
    damaged = sources.read(_write(tmp_path / "junk.log", junk)).series["loss"]
    assert damaged.steps.tolist() == whole.steps.tolist()
    assert damaged.values.tolist() == whole.values.tolist()
    cut_at = text.index("\rTraining Epoch: 3/3, step 5/20") + 30  # inside the description of step 45
    cut = sources.read(_write(tmp_path / "cut.log", text[:cut_at])).series["loss"]
    assert cut.steps.tolist()[:45] == whole.steps.tolist()[:45]
    assert 45 <= len(cut.steps) <= 46


def _write(path, text: str):
    path.write_text(text)
    return path
