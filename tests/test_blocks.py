"""The `blocks` reader: metrics printed one per line in a block per step (a custom loop's `print(k, v)`, NeMo-RL's
step report). Real examples in tests/fixtures/formats/blocks (see its PROVENANCE.md); the generated cases here
check what the reader keeps from damaged, long and mixed files."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources
from kto_doctor.sources import blocks
from kto_doctor.sources.base import SourceError

FIX = Path(__file__).parent / "fixtures" / "formats" / "blocks"


def test_a_custom_loops_summary_print_is_read_at_its_step_lines():
    data = sources.read(FIX / "FranxYao__Long-Context-Data-Engineering__issue13.log")
    assert data.format == "blocks" and data.step_kind == "exact"
    assert data.series["loss"].steps.tolist() == [1, 50]
    assert data.series["loss"].values.tolist() == [5.5021, 2.2328]
    assert data.series["grad_norm"].values.tolist() == [249.4825, 12.5982]
    assert data.series["epoch"].values.tolist() == [0.0, 0.03]
    # the per-length losses are kept under their own names, never taken for the training loss
    assert data.series["per_length_loss/loss@65536"].values.tolist() == [5.8821]  # (only in the first block)
    report = kto_doctor.analyze(FIX / "FranxYao__Long-Context-Data-Engineering__issue13.log")
    assert report.status not in ("failing", "inconclusive")  # loss 5.50 -> 2.23 and grad norm 249 -> 12.6
    # the rate printed as 0.0000 is explained, not flagged: the loss shows the model was updated
    lr = [f for f in report.findings if f.rule == "SCHED103"]
    assert [f.severity for f in lr] == ["info"] and lr[0].causes[0].id == "lr-logged-not-applied"


def test_nemo_rl_step_report_keeps_results_and_drops_its_timing_section():
    data = sources.read(FIX / "NVIDIA-NeMo__RL__pr1052.log")
    assert data.format == "blocks" and data.step_kind == "ordinal"
    assert data.series["loss"].values.tolist() == [0.1032]
    assert data.series["reward"].values.tolist() == [0.3486]
    assert not any("time" in name or "sync" in name or "prep" in name for name in data.series)


def _log(n: int, first_step: int = 10) -> str:
    return "".join(f"step {first_step * k}\ntrain/loss {2.0 - k / (n + 1):.6f}\ntrain/grad_norm {1.0 + k % 7}\n"
                   f"train/learning_rate 2e-05\n\n" for k in range(1, n + 1))


def test_a_long_log_is_read_block_by_block(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_log(5000))
    data = blocks.read(p)
    assert data.records == 5000
    assert data.series["loss"].steps.tolist() == [10.0 * k for k in range(1, 5001)]
    assert data.series["loss"].values[[0, -1]].tolist() == pytest.approx([2.0 - 1 / 5001, 2.0 - 5000 / 5001])
    assert data.series["grad_norm"].lines.tolist()[:2] == [1, 6]  # a value points at its block's step line


@pytest.mark.parametrize("cut", [137, 1000, 4321, 9999])
def test_a_file_cut_anywhere_keeps_every_block_before_the_cut(tmp_path, cut):
    text = _log(400).encode()
    whole = blocks.read(_write(tmp_path / "whole.log", text))
    part = blocks.read(_write(tmp_path / "cut.log", text[:cut]))
    complete = text[:cut].count(b"\n\n")  # blocks whose blank line came before the damage
    assert part.series["loss"].values[:complete].tolist() == whole.series["loss"].values[:complete].tolist()
    assert part.series["loss"].steps.tolist()[:complete] == whole.series["loss"].steps.tolist()[:complete]
    assert complete <= len(part.series["loss"].values) <= complete + 1  # (+ the block the cut fell in)


def test_garbage_inside_the_log_ends_one_block_and_the_rest_is_read(tmp_path):
    text = _log(6).encode()
    broken = text.replace(b"train/grad_norm 4.0\n", b"\x00\x00\xff\xfe garbage \x00\n", 1)
    data = blocks.read(_write(tmp_path / "train.log", broken))
    assert data.series["loss"].steps.tolist() == [10, 20, 30, 40, 50, 60]
    assert data.series["grad_norm"].steps.tolist() == [10, 20, 40, 50, 60]  # step 30's value was the damaged line


def test_compressed_and_crlf_copies_read_the_same(tmp_path):
    text = _log(50)
    plain = blocks.read(_write(tmp_path / "a.log", text.encode()))
    zipped = blocks.read(_write(tmp_path / "b.log.gz", gzip.compress(text.encode())))
    crlf = blocks.read(_write(tmp_path / "c.log", text.replace("\n", "\r\n").encode()))
    for other in (zipped, crlf):
        assert other.series["loss"].values.tolist() == plain.series["loss"].values.tolist()
        assert other.series["loss"].steps.tolist() == plain.series["loss"].steps.tolist()


def test_blocks_before_the_first_step_line_take_step_zero(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("loss 3.0\nreward 0.1\n\n" + _log(2))
    data = blocks.read(p)
    assert data.series["loss"].steps.tolist() == [0, 10, 20]
    assert data.series["loss"].values[0] == 3.0


def test_without_step_lines_blocks_are_steps_in_log_order(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("".join(f"loss {1.0 / k}\nreward {0.1 * k}\n\n" for k in range(1, 5)))
    data = blocks.read(p)
    assert data.step_kind == "ordinal"
    assert data.series["reward"].steps.tolist() == [1, 2, 3, 4]
    assert data.series["reward"].values.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_a_trainer_summary_leaves_the_file_to_the_console_reader(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_log(3) + "***** train metrics *****\n  epoch = 3.0\n  train_loss = 1.2\n")
    with pytest.raises(SourceError, match="summary"):
        blocks.read(p)
    assert blocks.sniff(p.read_text()) == 0.0


def test_a_nan_loss_in_a_block_is_not_a_healthy_run(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_log(3) + "step 40\ntrain/loss nan\ntrain/grad_norm nan\n\n")
    data = blocks.read(p)
    assert np.isnan(data.series["loss"].values[-1])
    assert kto_doctor.analyze(p).status == "failing"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _olmo(steps: int) -> str:
    # AntonioLopardo/OLMo checkpoints/*/train.log: OLMo's trainer console, a step line after a log prefix, indented
    # `name=value` lines (a perplexity with thousands separators among them), W&B's summary when the script ends
    out = ["2025-12-26 19:16:24.833\tripe-sun-crunches-fin-03:0\ttrain:98\tINFO\tTrainConfig(run_name='OLMo-1B', seed=6198)"]
    for k in range(1, steps + 1):
        loss = 9.05 - 0.25 * k
        out += [f"2025-12-26 19:{17 + k:02d}:38.772\tripe-sun-crunches-fin-03:0\tolmo.train:990\tINFO\t[step={10 * k}/1000,epoch=0]",
                f"    optim/total_grad_norm={2.2 - 0.1 * k:.3f}",
                f"    train/CrossEntropyLoss={loss:.3f}",
                f"    train/Perplexity={int(2.718281828 ** loss):,}",
                f"    throughput/device/tokens_per_second={9100 + k}"]
    out += ["wandb: Run summary:", "wandb:   train/CrossEntropyLoss 6.55", "wandb: Run history:"]
    return "\n".join(out) + "\n"


def test_olmo_trainer_blocks_are_read_at_their_step_lines_up_to_the_wandb_summary(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_olmo(10))
    data = blocks.read(p)
    assert data.series["loss"].steps.tolist() == [10.0 * k for k in range(1, 11)]
    assert data.series["loss"].values.tolist() == pytest.approx([9.05 - 0.25 * k for k in range(1, 11)], abs=1e-3)
    assert data.series["grad_norm"].values[0] == pytest.approx(2.1)
    assert blocks.read(p, fast=False).series["loss"].values.tolist() == data.series["loss"].values.tolist()
    assert sources.read(p).format == "blocks"


def test_the_trainers_own_summary_after_step_blocks_still_leaves_the_file_to_the_console(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(_olmo(3).replace("wandb: Run summary:", "***** train metrics *****"))
    with pytest.raises(SourceError, match="summary"):
        blocks.read(p)


def test_a_last_line_without_its_line_feed_in_a_complete_block_is_kept(tmp_path):
    # a paste whose last line merely lacks its line feed: the block holds every metric, nothing was cut
    text = ("[step=1/10]\n    train/CrossEntropyLoss=2.5\n    optim/total_grad_norm=1.5\n"
            "[step=2/10]\n    train/CrossEntropyLoss=2.25\n    optim/total_grad_norm=1.25")
    p = tmp_path / "train.log"
    p.write_text(text)
    for fast in (True, False):
        data = blocks.read(p, fast=fast)
        assert data.series["loss"].values.tolist() == [2.5, 2.25]
        assert data.series["grad_norm"].values.tolist() == [1.5, 1.25]
        assert not any("ends inside" in w for w in data.warnings)


def test_a_value_cut_in_an_incomplete_last_block_is_dropped_with_a_warning(tmp_path):
    text = ("[step=1/10]\n    train/CrossEntropyLoss=2.5\n    optim/total_grad_norm=1.5\n"
            "[step=2/10]\n    train/CrossEntropyLoss=2.25\n    optim/total_grad_norm=1.2")
    p = tmp_path / "train.log"
    p.write_text(text.replace("[step=2/10]\n    train/CrossEntropyLoss=2.25\n    optim/total_grad_norm=1.2",
                              "[step=2/10]\n    train/CrossEntropyLoss=2.2"))
    for fast in (True, False):
        data = blocks.read(p, fast=fast)
        assert data.series["loss"].values.tolist() == [2.5]  # `2.2` of 2.25 is not a value
        assert any("ends inside its last line" in w and "CrossEntropyLoss=2.2" in w for w in data.warnings)


def test_a_model_card_s_hyperparameter_list_is_the_run_s_configuration_not_a_step(tmp_path):
    # Hub model cards (PaulD's KTO screening runs, held-out set 29) list `Training hyperparameters` one per line:
    # read as blocks, the learning rate, the seed and the batch sizes became a second and third row of metrics
    p = tmp_path / "README.md"
    p.write_text("It achieves the following results on the evaluation set:\n\n  • Loss: 0.7043\n"
                 "  • Eval/rewards/chosen: 2.7139\n  • Eval/rewards/margins: 0.1888\n\nTraining hyperparameters\n\n"
                 "  • learning_rate: 0.0001\n  • train_batch_size: 1\n  • seed: 9012\n  • gradient_accumulation_steps: 8\n"
                 "  • lr_scheduler_type: cosine\n  • lr_scheduler_warmup_ratio: 0.1\n  • num_epochs: 4.0\n")
    run = kto_doctor.load_run(p)
    assert len(run.metrics) == 1 and "seed" not in run.metrics.columns and "learning_rate" not in run.metrics.columns
    assert run.config["learning_rate"] == 0.0001 and run.config["warmup_ratio"] == 0.1
    assert run.config["num_train_epochs"] == 4.0 and run.config["gradient_accumulation_steps"] == 8
