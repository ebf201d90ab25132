"""The text-log readers of issue 15 section 2 on real logs other people published (tests/fixtures/formats,
provenance in its PROVENANCE.md): recognised by content, canonical names, steps and values as the files print
them, damage tolerance, and the verdict `analyze` gives against the expert label."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources
from kto_doctor.model import SEVERITY_RANK
from kto_doctor.sources.base import SourceError
from kto_doctor.sources.registry import candidates

from conftest import REPO

FIX = REPO / "tests" / "fixtures" / "formats"
ALL = sorted(FIX.glob("*/*.log"))
NO_METRICS = {"progress_bar/OpenRLHF__OpenRLHF__issue350.log"}  # rollout bars only: no metric in the file
nan = float("nan")


def rel(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


def read(name: str):
    return sources.read(FIX / name)


# file -> (reader, series the file logs, (loss-like series, first step, first value, last step, last value, count))
# Values and steps are as the files print them (checked by eye against each file).
EXPECT = {
    "mmengine/InternLM__xtuner__issue187.log": (
        "mmengine", {"loss", "grad_norm", "learning_rate"}, ("loss", 200, 2.7522, 250, 2.4566, 6)),
    "mmengine/InternLM__xtuner__issue626.log": (
        "mmengine", {"loss", "learning_rate"}, ("loss", 10, nan, 20, nan, 2)),
    "mmengine/InternLM__xtuner__issue658.log": (
        "mmengine", {"loss", "grad_norm", "learning_rate"}, ("loss", 510, 0.6919, 580, 0.6829, 8)),
    "mmengine/csg2008__InternLMAgricultureAssistant__note-llama3-md.log": (
        "mmengine", {"loss", "grad_norm", "learning_rate"}, ("loss", 10, 2.9904, 1920, 0.0004, 11)),
    "mmengine/JiaquanYe__TableMASTER-mmocr__issue32.log": (  # mmcv 1.x: `, ` items, `eta: 6 days, 15:22:46`
        "mmengine", {"loss", "grad_norm", "learning_rate", "loss_ce"}, ("loss", 100, 1.9091, 200, 0.9186, 2)),
    "megatron/epfLLM__Megatron-LLM__issue11.log": (
        "megatron", {"loss", "grad_norm", "learning_rate", "loss_scale", "skipped_iterations", "nan_iterations"},
        ("loss", 182, 2.382640, 185, 2.435094, 4)),
    "megatron/bigscience-workshop__Megatron-DeepSpeed__issue396.log": (  # no `lm loss` key: NaN
        "megatron", {"loss", "grad_norm"}, ("loss", 5426, nan, 5428, nan, 3)),
    "megatron/bigscience-workshop__bigscience__train-tr8b-104B-chronicles-md.log": (
        "megatron", {"loss", "grad_norm"}, ("loss", 6502, 3.876781, 14000, 2.898812, 8)),
    "megatron/NVIDIA__nccl__issue743.log": (  # all 10 iterations skipped: no loss at all
        "megatron", {"learning_rate", "loss_scale", "skipped_iterations"}, None),
    "megatron/NVIDIA-BioNeMo__bionemo-recipes__pr740.log": (
        "megatron", {"loss", "learning_rate", "eval_loss"}, ("loss", 120, 1.233, 125, 1.34, 6)),
    "megatron/NVIDIA-NeMo__Speech__issue15207.log": (
        "megatron", {"loss", "learning_rate"}, ("loss", 0, 0.4985, 4, 0.4728, 5)),
    "verl_console/rllm-org__rllm__issue54.log": (
        "verl_console", {"policy_loss", "reward", "entropy", "kl", "completions/mean_length", "clip_ratio"},
        ("reward", 4, 0.0, 4, 0.0, 1)),
    "verl_console/verl-project__verl__issue721.log": (
        "verl_console", {"policy_loss", "kl", "entropy", "grad_norm", "ppo_kl"}, ("policy_loss", 59, nan, 59, nan, 1)),
    "verl_console/verl-project__verl__issue7412.log": (
        "verl_console", {"policy_loss", "reward", "entropy", "learning_rate", "completions/max_length"},
        ("reward", 34, -0.0182796623557806, 34, -0.0182796623557806, 1)),
    "verl_console/volcengine__verl__docs-ascend_tutorial-ascend_quick_start-rst.log": (
        "verl_console", {"policy_loss", "reward", "value_loss", "completions/min_length"},
        ("reward", 0, 0.004, 1, 0.0, 2)),
    "deepspeed_chat/deepspeedai__DeepSpeedExamples__issue444.log": (
        "deepspeed_chat", {"policy_loss", "value_loss", "reward"},
        ("policy_loss", 3183, 30.921875, 3185, math.inf, 3)),
    "deepspeed_chat/deepspeedai__DeepSpeedExamples__issue586.log": (
        "deepspeed_chat", {"policy_loss", "value_loss", "reward"},
        ("reward", 259, 0.20556640625, 264, 0.2060546875, 6)),
    "deepspeed_chat/microsoft__DeepSpeedExamples__step3-actor_opt-1.3b_critic_opt-350m.log": (
        "deepspeed_chat", {"policy_loss", "value_loss", "reward"},
        ("reward", 0, -0.67919921875, 20, -0.07952880859375, 21)),
    "deepspeed_chat/deepspeedai__DeepSpeedExamples__issue322.log": (  # step 2: a row per epoch, eval at epoch 0
        "deepspeed_chat_sft_rm", {"loss", "eval_rewards/chosen", "eval_rewards/accuracies"},
        ("eval_rewards/accuracies", 0, 0.4861111044883728, 3, 0.5934343338012695, 4)),
    "deepspeed_chat/microsoft__DeepSpeedExamples__step2-opt-350m_globalBatchSize-64.log": (  # a tail: epoch 1
        "deepspeed_chat_sft_rm", {"loss", "eval_rewards/chosen", "eval_rewards/accuracies"},
        ("eval_rewards/accuracies", 1, 0.6994950175285339, 1, 0.6994950175285339, 1)),
    "deepspeed_chat/BeyonderXX__TRACE__issue5.log": (  # Step restarts each epoch of 8 micro-batches
        "deepspeed_chat", {"loss"}, ("loss", 0, 0.9741, 13, 1.1681, 14)),
    "torchtune/meta-pytorch__torchtune__pr640.log": (
        "torchtune", {"loss", "learning_rate"}, ("loss", 0, 1.7535516023635864, 17, 0.9709498286247253, 18)),
    "torchtune/meta-pytorch__torchtune__pr1358.log": (
        "torchtune", {"loss", "learning_rate"}, ("loss", 1, 2.085338592529297, 12, 1.1174635887145996, 12)),
    "torchtune/meta-pytorch__torchtune__pr2620.log": (  # each step drawn twice; the description's step
        "torchtune", {"loss"}, ("loss", 25, 1.2621808052062988, 31, 1.1992870569229126, 7)),
    "torchtune/meta-pytorch__torchtune__issue2776.log": (  # `|Loss: nan` at bar 3/3073
        "torchtune", {"loss"}, ("loss", 3, nan, 3, nan, 1)),
    "progress_bar/Lightning-AI__pytorch-lightning__issue4225.log": (  # every n drawn twice: the last wins
        "progress_bar", {"loss"}, ("loss", 1, 10.473, 5, 9.847, 5)),
    "progress_bar/aws-neuron__aws-neuron-sdk__libraries-nxd-training-tutorials-hf_llama3_8B_DPO_ORPO-rst.log": (
        "progress_bar", {"loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected"},
        ("loss", 1, 6.930, 3, 6.790, 2)),
    "progress_bar/aws-neuron__aws-neuron-sdk__libraries-nxd-training-tutorials-pretraining-rst.log": (
        "progress_bar", {"loss"}, ("loss", 188, 7.560, 190, 7.910, 3)),  # reduced_train_loss, not Lightning's loss=
    "progress_bar/kohya-ss__sd-scripts__issue2137.log": ("progress_bar", {"loss"}, ("loss", 41, nan, 205, nan, 5)),
    "progress_bar/LarryJane491__Lora-Training-in-Comfy__issue107.log": (
        "progress_bar", {"loss"}, ("loss", 176, 0.0, 256, 0.0, 6)),
    "progress_bar/NVIDIA-NeMo__Speech__issue5928.log": (  # `reduced_train_loss=nan.0`: a NaN tensor through a float format
        "progress_bar", {"loss"}, ("loss", 0, 11.0, 2, nan, 3)),
    "progress_bar/TMElyralab__MuseTalk__issue230.log": (  # `**loss=nan**`
        "progress_bar", {"loss", "learning_rate"}, ("loss", 92679, nan, 92679, nan, 1)),
    "progress_bar/awslabs__gluonts__issue833.log": (  # 4000/4000 every epoch: bar number x 4000 + n
        "progress_bar", {"loss"}, ("loss", 4000, 0.348, 20000, 0.273, 5)),
    "progress_bar/geoelements__gns__pr79.log": (
        "progress_bar", {"loss", "learning_rate"}, ("loss", 994, 0.06, 1988, 0.19, 2)),
    "progress_table/mahb97__Wake2vec__notes-12jan26fun-md.log": (
        "progress_table", {"loss", "eval_loss"}, ("eval_loss", 700, 6.817593, 1200, 7.523938, 6)),
    "progress_table/mahb97__Wake2vec__Llama-Notes-2dec-md.log": (
        "progress_table", {"loss"}, ("loss", 320, 4.2207, 660, 3.3637, 18)),
    "progress_table/walkinglabs.github.io__hands-on-modern-rl__chapter02_dpo-metrics.log": (  # ` ...` row skipped
        "progress_table", {"loss", "rewards/margins", "rewards/chosen", "rewards/rejected", "rewards/accuracies"},
        ("loss", 5, 0.6821, 45, 0.2103, 4)),
    "progress_table/unslothai__unsloth__issue2291.log": (  # ` | ` cells, `-- | --` rule, `rewards / x` headers
        "progress_table", {"loss", "reward", "reward_std", "kl", "completions/mean_length",
                           "rewards/match_format_approximately"}, ("reward", 1, -17.25, 11, -17.25, 11)),
    "dpo_reference/eric-mitchell__direct-preference-optimization__issue89.log": (  # wrapped keys repaired
        "console", {"loss", "grad_norm", "rewards/chosen", "rewards/accuracies", "logps/rejected"},
        ("loss", 5024, nan, 5025, nan, 2)),
    "dpo_reference/linfeng-du__direct-preference-optimization__out-sh.log": (  # step = counters/updates
        "console", {"loss", "grad_norm", "rewards/chosen", "rewards/margins", "logps/chosen", "eval_loss"},
        ("loss", 1, 0.70236, 32, 0.68148, 32)),
    "generic_kv/karpathy__nanoGPT__issue215.log": (
        "generic_kv", {"loss", "eval_loss"}, ("loss", 2920, 3.9883, 3060, nan, 15)),
    "generic_kv/Lightning-AI__litgpt__issue1110.log": (  # `step S`, never the (wrong) Epoch label
        "generic_kv", {"loss", "eval_loss"}, ("loss", 961, 1.062, 965, 1.182, 5)),
    "generic_kv/Lightning-AI__litgpt__issue689.log": (  # `iter 173 step 87`: every micro-batch, by iteration
        "generic_kv", {"loss"}, ("loss", 173, 10.8259, 194, 10.8259, 22)),
    "generic_kv/NVIDIA-NeMo__Automodel__pr3473.log": (
        "generic_kv", {"loss", "grad_norm", "learning_rate"}, ("loss", 13, 0.6407, 19, 0.7222, 7)),
    "generic_kv/OpenGVLab__LLaMA-Adapter__issue144.log": (  # `closs: v (avg)`
        "generic_kv", {"loss", "learning_rate"}, ("loss", 30, 1.5078, 110, 1.6016, 9)),
    "generic_kv/Alpha-VLLM__LLaMA2-Accessory__issue48.log": (  # Epoch [1] [30/1504] -> 1504 + 30
        "generic_kv", {"loss", "grad_norm", "learning_rate"}, ("loss", 1480, 1.08, 1534, 1.0396, 7)),
    "generic_kv/datawhalechina__tiny-universe__issue31.log": (
        "generic_kv", {"loss", "eval_loss", "learning_rate"}, ("loss", 100000, nan, 100000, nan, 1)),
    "generic_kv/microsoft__LMOps__issue130.log": (  # wrapped mid-key, `global iter: 13/ 5000`
        "generic_kv", {"policy_loss", "reward"}, ("policy_loss", 13, -0.0428, 15, 0.2084, 3)),
    "generic_kv/tinygrad__tinygrad__pr13803.log": (  # value before name
        "generic_kv", {"loss", "learning_rate"}, ("loss", 1, 11.875, 10, 11.875, 10)),
    "generic_kv/935963004__LaBraM__issue4.log": (
        "generic_kv", {"loss", "grad_norm", "loss_scale"}, ("loss", 430, 0.4481, 470, 0.4173, 5)),
    "generic_kv/facebookresearch__fairseq__issue301.log": (  # | epoch 011  3000 / 8223 -> 8223 + 3000
        "generic_kv", {"loss", "grad_norm", "eval_loss"}, ("loss", 2000, 1.27, 11223, 0.75, 10)),
    "generic_kv/HenriquesLab__ZeroCostDL4Mic__issue146.log": (  # Keras: the step of `Epoch 1/200`
        "generic_kv", {"loss", "eval_loss"}, ("loss", 1, 1.0597, 1, 1.0597, 1)),
    "generic_kv/udacity__deep-learning-v2-pytorch__issue341.log": (
        "generic_kv", {"loss", "eval_loss"}, ("loss", 1, 0.173275, 10, 0.153645, 10)),
    "generic_kv/PaddlePaddle__Paddle__pr56363.log": (  # `key: value, ...` with `global_step: N` after the metrics
        "generic_kv", {"loss", "learning_rate", "epoch"}, ("loss", 20, 2.00048828, 100, 1.97750511, 5)),
    "generic_kv/liucongg__ChatGLM-Finetuning__issue12.log": (  # `loss:v, global_step:N`
        "generic_kv", {"loss"}, ("loss", 320, 0.697265625, 340, 0.68994140625, 3)),
    "generic_kv/zhenhao-huang__CPM-1-Finetune-Text-Generation__issue3.log": (  # `train lm loss: v`
        "generic_kv", {"loss"}, ("loss", 750, 11.526718473434448, 910, 11.618546724319458, 17)),
    "llmc/SiddanthEmani__GPT-2-124M-CUDA__log124M-main.log": (  # `s:N trl: lr: norm:`, `s:N tel:`, `s:N eval:`
        "llmc", {"loss", "grad_norm", "learning_rate", "eval_loss", "eval_hellaswag_accuracy"},
        ("loss", 0, 11.0116, 514, 5.389, 515)),
    "llmc/KellerJordan__modded-nanogpt__records-011825_GPT2Medium-main.log": (  # validation losses only
        "llmc", {"eval_loss"}, ("eval_loss", 0, 10.983, 60000, 2.9282, 241)),
    "csv_table/Jayant-Guru-Shrivastava__ERAV4-Session11-shakespeare-gpt2-124M__logs-train.log": (  # `step<TAB>loss`
        "csv_table", {"loss"}, ("loss", 10, 8.460716, 4570, 0.128361, 457)),
    "blocks/FranxYao__Long-Context-Data-Engineering__issue13.log": (  # `step 1 token 5m` + `train/loss 5.5021 `
        "blocks", {"loss", "grad_norm", "learning_rate", "epoch"}, ("loss", 1, 5.5021, 50, 2.2328, 2)),
    "blocks/NVIDIA-NeMo__RL__pr1052.log": (  # `  • Loss: 0.1032` bullets, a Timing section, no step line
        "blocks", {"loss", "reward"}, ("loss", 1, 0.1032, 1, 0.1032, 1)),
    "step_value/Aditta-das__pytorch-practical__Learning-PyTorch-with-Examples-ipynb.log": (  # `print(t, loss)`
        "step_value", {"loss"}, ("loss", 99, 103.42988841979711, 1999, 8.864167435998365, 20)),
    "step_value/unslothai__unsloth__issue1145.log": (  # `print(step, loss)` glued after an unsloth tqdm bar, unnamed
        "step_value", {"value"}, ("value", 0, 2.5521, 80, 2.0887, 9)),
    "blocks/allenai__OLMo__issue692.log": (  # OLMo's trainer console pasted in an issue: 12.18 -> 0.0 in two steps
        "blocks", {"loss", "grad_norm", "perplexity"}, ("loss", 1, 12.18, 3, 0.0, 3)),
    "blocks/AntonioLopardo__OLMo__checkpoints-OLMo-150M-tied-emb-1000-train.log": (  # OLMo's own train.log, a head
        "blocks", {"loss", "grad_norm", "grad_provenance/embedding_grad_l2_norm"}, ("loss", 10, 9.064, 60, 6.951, 6)),
}


def test_every_committed_fixture_has_an_expectation_and_provenance():
    names = {rel(p) for p in ALL}
    assert names - NO_METRICS == set(EXPECT)
    prov = (FIX / "PROVENANCE.md").read_text()
    for p in ALL:
        assert f"`{rel(p)}`" in prov
        assert p.stat().st_size <= 30 * 1024
        assert "_unattributed_" not in p.name
    per_reader = {}
    for reader, _, _ in EXPECT.values():
        per_reader[reader] = per_reader.get(reader, 0) + 1
    # (the console's and csv_table's other real files are not .log files: tests/test_csv_table.py has those;
    assert all(n >= 2 for r, n in per_reader.items() if r not in ("console", "csv_table")), per_reader


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_reads_names_steps_and_values(name):
    reader, names, loss = EXPECT[name]
    data = read(name)
    assert data.format == reader
    assert names <= set(data.series), sorted(data.series)
    if loss is None:
        assert "loss" not in data.series
        return
    metric, s0, v0, s1, v1, n = loss
    s = data.series[metric]
    assert len(s.steps) == n
    assert (s.steps[0], s.steps[-1]) == (s0, s1)
    assert _same(float(s.values[0]), v0) and _same(float(s.values[-1]), v1)
    assert np.all(np.diff(s.steps) > 0)  # one value per step
    assert s.lines is not None and s.lines[0] >= 1


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_recognised_by_content_under_any_name(name, tmp_path):
    """Sniffing decides, not the file name: the same bytes as `stdout` (no suffix) reach the same reader."""
    reader = EXPECT[name][0]
    copy = tmp_path / "stdout"
    copy.write_bytes((FIX / name).read_bytes())
    found = [s.name for s in candidates(copy, lambda: copy.read_text(errors="replace"))]
    assert reader in found
    if reader != "generic_kv":  # the fallback never comes before a reader that recognised the file
        assert found.index(reader) < found.index("generic_kv") if "generic_kv" in found else True
        assert sources.read(copy).format == reader


def _records(data) -> dict:
    return {(name, int(ln)): float(v) for name, s in data.series.items() for v, ln in zip(s.values, s.lines)}


def _complete(whole: dict, lines_kept: int) -> dict:
    """The values of records that end before the cut: a record's line is its first; the last record that
    starts before the cut may go on over the next lines (a wrapped record), so only the ones before it count."""
    starts = sorted({line for _, line in whole if line <= lines_kept})
    last = starts[-1] if starts else 0
    return {k: v for k, v in whole.items() if k[1] < last}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_truncated_copies_keep_every_complete_record(name, tmp_path):
    """Cut anywhere: every value on a line that is still whole is read exactly as from the whole file."""
    raw = (FIX / name).read_bytes()
    whole = _records(read(name))
    for frac in (0.35, 0.6, 0.85):
        cut = int(len(raw) * frac)
        p = tmp_path / f"cut{frac}.log"
        p.write_bytes(raw[:cut])
        complete_lines = raw[:cut].count(b"\n")
        try:
            got = _records(sources.read(p, EXPECT[name][0]))
        except SourceError:
            got = {}
        want = _complete(whole, complete_lines)
        for key, value in want.items():
            if key[0].startswith("eval_") or key[0] == "epoch":  # repeated/derived values may move to the cut record
                continue
            assert key in got and _same(got[key], value), (frac, key)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corrupt_copies_keep_the_records_around_the_damage(name, tmp_path):
    """Binary junk and a broken line inserted in the middle: every record before and after is still read."""
    raw = (FIX / name).read_bytes()
    lines = raw.split(b"\n")
    whole = _records(read(name))
    starts = sorted({line for _, line in whole})  # between two records (a wrapped record stays whole)
    mid = starts[len(starts) // 2] - 1
    junk = [b"\x00\xff\xfe garbage \x1b[31m\xc3(", b"iteration | step: | Epoch(train) [ | {'loss': ,"]
    p = tmp_path / "corrupt.log"
    p.write_bytes(b"\n".join(lines[:mid] + junk + lines[mid:]))
    got = _records(sources.read(p, EXPECT[name][0]))
    if any(m == "value" for m, _ in whole) and not any(m == "value" for m, _ in got):
        # an unnamed value (step_value) is named by a word `loss` in the file's start: the junk line holds one
        got = {("value" if m == "loss" else m, line): v for (m, line), v in got.items()}
    for (metric, line), value in whole.items():
        moved = line if line <= mid else line + len(junk)
        assert (metric, moved) in got and _same(got[metric, moved], value), (metric, line)


# ------------------------------------------------------------------------------------------ verdicts

LABELS = {}
for row in (FIX / "PROVENANCE.md").read_text().splitlines():
    m = re.match(r"\| `([^`]+)` \|.*\| ([a-z0-9-]+) \((high|medium|low)\) \| (yes|no) \|$", row)
    if m:
        LABELS[m.group(1)] = (m.group(2), m.group(3), m.group(4) == "yes")

# What an expert would sign, per label: the symptoms that agree with it.
AGREE = {"nan": {"nan-inf"}, "fp16-overflow": {"fp16-overflow", "nan-inf"}, "overfitting": {"overfitting"},
         "flat-loss": {"flat-loss"}, "loss-collapse": {"loss-collapse"}, "reward-anomaly": {"reward-anomaly"},
         "truncation": {"truncation"}, "divergence": {"loss-divergence", "grad-explosion", "loss-spike"},
         "logits-metric-artifact": {"logits-metric-artifact"}}
# In-sample disagreements, each a rule that does not exist yet (not a reading problem): strict xfails, so that
# the day a rule closes the gap the test says so.
KNOWN_GAPS = {
    "verl_console/verl-project__verl__issue7412.log": "response_length/max at the cap but clip_ratio not in the "
    "excerpt: GRPO105 needs completions/clipped_ratio",
    "deepspeed_chat/BeyonderXX__TRACE__issue5.log": "no rule for a second epoch repeating the first's losses",
    "mmengine/csg2008__InternLMAgricultureAssistant__note-llama3-md.log": "SFT102 memorisation needs an epoch series",
    "megatron/bigscience-workshop__bigscience__train-tr8b-104B-chronicles-md.log": "grad norms of 3e3-1.2e5 on "
    "every row move with the fp16 loss scale (0.2-0.9 x it): GRAD104 reads them as the scaled norm, and the rows "
    "hold no other sign of the divergence the chronicles describe",
}

# Excerpts that hold no core series of their method (the label describes the thread, the excerpt has no loss):
# the report must be inconclusive, not healthy.
# Files with no core series whose facts were still understood and judged: not inconclusive.
FACTS_ONLY = {
    "megatron/NVIDIA__nccl__issue743.log": "one iteration line, every iteration of it skipped: Megatron prints "
    "no loss, but the 10 skips at loss scale 2^23 are the fp16 scaler's start-up search (FP16101, not a problem)",
}


def _verdict(report):
    strong = [f for f in report.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["warning"]]
    errors = [f for f in report.findings if f.severity == "error"]
    return report.status, {f.symptom for f in strong}, errors


def _cases():
    out = []
    for name in sorted(EXPECT):
        label, conf, llm = LABELS[name]
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name])] if name in KNOWN_GAPS else []
        out.append(pytest.param(name, label, conf, llm, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name,label,confidence,llm", _cases())
def test_verdict_agrees_with_the_expert_label(name, label, confidence, llm):
    """In-sample (the readers were written with these files at hand). Hard rules for every file: a run with a
    NaN in its loss is never healthy, and a healthy run never gets an error. The label's own symptom is
    required for confident labels of LLM runs."""
    report = kto_doctor.analyze(FIX / name)
    status, symptoms, errors = _verdict(report)
    loss = report.run.series("loss")  # logged values only: a step where the loss was not logged is no NaN
    if loss is not None and loss.isna().any() or label == "nan":
        assert status != "healthy" and "nan-inf" in symptoms, (status, symptoms)
    if name in FACTS_ONLY:  # judged from the facts the source stated: the report is that judgement
        assert status != "inconclusive" and not report.run.core_missing, status
        assert [f.rule for f in report.findings if f.symptom == "fp16-overflow"], report.findings
    elif label == "healthy":
        assert not errors, [(f.rule, f.title) for f in errors]
    elif label in AGREE and llm and confidence != "low":
        assert symptoms & AGREE[label], (label, status, symptoms)


def test_no_file_with_metric_lines_ends_in_no_metrics_found():
    """Every committed fixture that holds metric lines is read by some reader (the report names it)."""
    for p in ALL:
        if rel(p) in NO_METRICS:
            with pytest.raises(kto_doctor.InputError):
                kto_doctor.analyze(p)
            continue
        report = kto_doctor.analyze(p)
        assert report.run.sources and report.run.sources[0].records > 0, rel(p)
        assert len(report.run.metrics.columns), rel(p)


def test_the_report_says_when_the_fallback_read_a_file():
    report = kto_doctor.analyze(FIX / "generic_kv/karpathy__nanoGPT__issue215.log")
    (src,) = report.run.sources
    assert src.format == "generic_kv"
    assert any("generic `name: value` fallback" in w for w in src.warnings)


def test_dpo_reference_real_log_steps_are_updates_and_the_first_eval_is_step_0():
    """linfeng-du/direct-preference-optimization out.sh (PROVENANCE.md): values as the file prints them."""
    data = read("dpo_reference/linfeng-du__direct-preference-optimization__out-sh.log")
    assert data.hints["framework"] == "dpo-reference"
    margins = data.series["rewards/margins"]
    # `train stats after 160 examples: {... 'rewards_train/margins': '0.00036083', ... 'counters/updates': 5}`
    assert dict(zip(margins.steps.tolist(), margins.values.tolist()))[5.0] == 0.00036083
    # `eval after 0: {... 'loss/eval': '0.70663'}` comes before any train stats: step 0
    assert data.series["eval_loss"].steps.tolist() == [0.0]
    assert data.series["eval_loss"].values.tolist() == [0.70663]
    assert data.series["eval_rewards/accuracies"].values.tolist() == [0.41016]
    assert set(data.series["grad_norm"].values.tolist()) == {0.0}  # `'grad_norm': '0'` on every line
    report = kto_doctor.analyze(FIX / "dpo_reference/linfeng-du__direct-preference-optimization__out-sh.log")
    assert (report.run.method, report.run.framework) == ("dpo", "dpo-reference")
    assert report.status != "healthy"


# ------------------------------------------------------------------ OLMo's trainer console, real files (blocks)

OLMO_ISSUE = "blocks/allenai__OLMo__issue692.log"
OLMO_LOG = "blocks/AntonioLopardo__OLMo__checkpoints-OLMo-150M-tied-emb-1000-train.log"


def _by_step(s) -> dict:
    return dict(zip(s.steps.tolist(), s.values.tolist()))


def test_olmo_issue_paste_reads_steps_and_values_as_printed():
    """allenai/OLMo#692 (PROVENANCE.md): `[step=N/739328,epoch=0]` lines after a log prefix, then indented pairs."""
    data = read(OLMO_ISSUE)
    assert data.format == "blocks"
    assert {"loss", "grad_norm", "perplexity"} <= set(data.series)
    assert not any(k.startswith(("train/", "optim/")) for k in data.series)  # canonical names, not OLMo's
    # `train/CrossEntropyLoss=12.18`, `=1.7872662283480167e-06`, `=0.0`
    assert _by_step(data.series["loss"]) == {1.0: 12.18, 2.0: 1.7872662283480167e-06, 3.0: 0.0}
    # `optim/total_grad_norm=231.7`, `=0.0002`, `=7.725906669975302e-08`
    assert _by_step(data.series["grad_norm"]) == {1.0: 231.7, 2.0: 0.0002, 3.0: 7.725906669975302e-08}
    # `train/Perplexity=195,153` (thousands separators) is skipped; `=1.000` and `=1.0000` are read
    assert _by_step(data.series["perplexity"]) == {2.0: 1.0, 3.0: 1.0}
    assert data.series["loss"].lines.tolist() == [2, 10, 20]  # each value points at its block's step line
    assert any("3 block(s)" in w for w in data.warnings)


def test_olmo_train_log_head_reads_steps_and_values_as_printed():
    """AntonioLopardo/OLMo OLMo-150M train.log head (PROVENANCE.md): the config and model print are no blocks."""
    data = read(OLMO_LOG)
    assert data.format == "blocks"
    assert _by_step(data.series["loss"]) == {10.0: 9.064, 20.0: 8.247, 30.0: 7.643, 40.0: 7.365, 50.0: 7.113,
                                             60.0: 6.951}
    assert _by_step(data.series["grad_norm"]) == {10.0: 1.608, 20.0: 0.9643, 30.0: 1.014, 40.0: 0.7578,
                                                  50.0: 0.9911, 60.0: 0.6279}
    # the fork's own metrics keep their names: `grad_provenance/embedding_grad_mean=-7.66169590368464e-18` at step 20
    assert _by_step(data.series["grad_provenance/embedding_grad_mean"])[20.0] == -7.66169590368464e-18
    assert _by_step(data.series["grad_provenance/output_proj_grad_l1_norm"])[60.0] == 25.64
    assert "perplexity" not in data.series  # every `train/Perplexity=8,641` has a thousands separator
    assert data.series["loss"].lines.tolist()[:2] == [67, 87]
    assert data.series["grad_norm"].steps.tolist() == data.series["loss"].steps.tolist()


@pytest.mark.parametrize("name,needle", [(OLMO_LOG, b"train/CrossEntropyLoss=7.365"),
                                         (OLMO_LOG, b"[step=50/10000"),
                                         (OLMO_ISSUE, b"train/CrossEntropyLoss=1.787")])
def test_olmo_real_files_cut_mid_line_keep_every_complete_block(name, needle, tmp_path):
    """Cut inside a line (made here from the fixture's bytes): the blocks that ended before the cut are read exactly."""
    raw = (FIX / name).read_bytes()
    cut = raw.index(needle) + len(needle) - 2
    p = tmp_path / "train.log"
    p.write_bytes(raw[:cut])
    whole, part = read(name), sources.read(p, "blocks")
    block_starts = [int(ln) for ln in whole.series["loss"].lines]
    lines_before = raw[:cut].count(b"\n")
    done = sum(1 for ln in block_starts[1:] if ln <= lines_before)  # blocks followed by the next one's step line
    assert done >= 1
    for metric in ("loss", "grad_norm"):
        w, c = whole.series[metric], part.series[metric]
        assert c.steps.tolist()[:done] == w.steps.tolist()[:done], metric
        assert c.values.tolist()[:done] == w.values.tolist()[:done], metric


@pytest.mark.parametrize("name,needle", [(OLMO_LOG, b"train/CrossEntropyLoss=7.365"),
                                         (OLMO_ISSUE, b"train/CrossEntropyLoss=1.787")])
def test_olmo_real_files_cut_mid_value_drop_the_cut_value_with_a_warning(name, needle, tmp_path):
    raw = (FIX / name).read_bytes()
    cut = raw.index(needle) + len(needle) - 2  # inside the number: `...=7.3` / `...=1.787` remain
    p = tmp_path / "train.log"
    p.write_bytes(raw[:cut])
    whole, part = read(name), sources.read(p, "blocks")
    cut_step = whole.series["loss"].steps[len(part.series["loss"].steps) - 1]
    assert set(part.series["loss"].values.tolist()) <= set(whole.series["loss"].values.tolist()), cut_step
    assert any("cut" in w or "truncated" in w for w in part.warnings), part.warnings


# ------------------------------------------------------------------ bare `<step> <value>` lines, a real file

STEP_VALUE = "step_value/Aditta-das__pytorch-practical__Learning-PyTorch-with-Examples-ipynb.log"


def test_bare_step_value_real_output_reads_as_the_loss():
    """Aditta-das/pytorch-practical (PROVENANCE.md): a notebook cell's `print(t, loss)` every 100 iterations under the
    code that prints it: the file speaks of a loss, so the value is the loss; the code lines are skipped."""
    data = read(STEP_VALUE)
    assert data.format == "step_value"
    assert set(data.series) == {"loss"}
    loss = data.series["loss"]
    assert loss.steps.tolist() == [float(99 + 100 * k) for k in range(20)]
    by_step = _by_step(loss)
    assert by_step[99.0] == 103.42988841979711  # `99 103.42988841979711`
    assert by_step[999.0] == 11.3133450071635  # `999 11.3133450071635`
    assert by_step[1999.0] == 8.864167435998365  # `1999 8.864167435998365`
    assert loss.lines.tolist()[:2] == [21, 22]  # `99 ...` is the file's line 21
    assert any("taken as the loss" in w for w in data.warnings)


@pytest.mark.parametrize("needle", [b"1299 9.5687", b"1299 9", b"1299"])
def test_bare_step_value_real_output_cut_mid_line_keeps_the_lines_before_it_with_a_warning(needle, tmp_path):
    """Cut inside `1299 9.568782966377839` (made here from the fixture's bytes): the 12 lines before it are read
    exactly, the cut one is not read as 9.5687 or 9, and the report says the file was cut."""
    raw = (FIX / STEP_VALUE).read_bytes()
    p = tmp_path / "out.log"
    p.write_bytes(raw[: raw.index(needle) + len(needle)])
    data = sources.read(p)
    assert data.format == "step_value"
    whole = read(STEP_VALUE).series["loss"]
    loss = data.series["loss"]
    assert loss.steps.tolist() == whole.steps.tolist()[:12]  # 99 ... 1199
    assert loss.values.tolist() == whole.values.tolist()[:12]
    if needle != b"1299":  # (a bare `1299` is no pair at all: nothing to drop)
        assert "out.log: the file ends inside a line (cut short); its last value was not read" in data.warnings
