#!/usr/bin/env python3
"""Write the two HAND-MADE sample runs: `kto-flagship/` and `kto-healthy/`.

These are not logs of real training. They are what LLaMA-Factory would write for the runs described in
their SAMPLE.md files, built from the arithmetic of the KTO loss and the HF schedulers, so that every number
is consistent with every other (learning rate with the warm-up, loss with the KL and desirable fraction,
logits sum with padded length x vocabulary). The real runs, written by real training code, are the
`lf-*` folders (see GENERATING.md). Deterministic: `python sample_logs/handmade.py` rewrites the same bytes.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def warmup_cosine(step: int, peak: float, warmup: int, total: int) -> float:
    """transformers' cosine schedule with linear warm-up, as logged after the scheduler step."""
    if step < warmup:
        return peak * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------------------------------
# kto-flagship: LlamaFactory#7380 reconstructed. Full-parameter KTO of Qwen2.5-7B-Instruct on 4 GPUs,
# learning rate 1e-6, warmup_ratio 0.1 of 47,390 steps (= 4,739 warm-up steps), killed at step 204.
# --------------------------------------------------------------------------------------------------

FLAGSHIP_YAML = """\
### model
model_name_or_path: Qwen/Qwen2.5-7B-Instruct
trust_remote_code: true

### method
stage: kto
do_train: true
finetuning_type: full
pref_beta: 0.1
deepspeed: examples/deepspeed/ds_z2_config.json

### dataset
dataset: kto_feedback
template: qwen
cutoff_len: 1024
overwrite_cache: true
preprocessing_num_workers: 16

### output
output_dir: saves/qwen2.5-7b/full/kto
logging_steps: 1
save_steps: 500
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
learning_rate: 1.0e-6
num_train_epochs: 2.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
"""

# The line from the issue, verbatim (step 200).
FLAGSHIP_LINE = (
    "{'loss': 0.5806, 'grad_norm': 0.16000482439994812, 'learning_rate': 4.22029964127453e-08, "
    "'rewards/chosen': 0.00045649479720365763, 'logps/chosen': -1.7963722954565922, "
    "'logits/chosen': -202528030.24783862, 'rewards/rejected': 5.853247662253727e-05, "
    "'logps/rejected': -10.940386572157836, 'logits/rejected': -213156961.200883, "
    "'rewards/margins': 0.0003979623205811204, 'kl': 11.288576126098633, 'epoch': 0.0}"
)

FLAGSHIP_HEAD = """\
[2025-03-18 21:03:52,118] [INFO] [real_accelerator.py:222:get_accelerator] Setting ds_accelerator to cuda (auto detect)
[INFO|2025-03-18 21:04:11] llamafactory.hparams.parser:383 >> Process rank: 0, world size: 4, device: cuda:0, distributed training: True, compute dtype: torch.bfloat16
[INFO|2025-03-18 21:04:13] llamafactory.data.template:143 >> Replace eos token: <|im_end|>
[INFO|2025-03-18 21:04:13] llamafactory.data.loader:143 >> Loading dataset kto_feedback.json...
[INFO|2025-03-18 21:05:31] llamafactory.model.model_utils.checkpointing:143 >> Gradient checkpointing enabled.
[INFO|2025-03-18 21:05:31] llamafactory.model.model_utils.attention:143 >> Using torch SDPA for faster training and inference.
[INFO|2025-03-18 21:05:31] llamafactory.model.adapter:143 >> Upcasting trainable params to float32.
[INFO|2025-03-18 21:05:31] llamafactory.model.adapter:143 >> Fine-tuning method: Full
[INFO|2025-03-18 21:05:32] llamafactory.model.loader:143 >> trainable params: 7,615,616,512 || all params: 7,615,616,512 || trainable%: 100.0000
[INFO|2025-03-18 21:06:02] llamafactory.train.trainer_utils:143 >> Created reference model from Qwen/Qwen2.5-7B-Instruct
[INFO|trainer.py:2405] 2025-03-18 21:06:09,124 >> ***** Running training *****
[INFO|trainer.py:2406] 2025-03-18 21:06:09,124 >>   Num examples = 758,240
[INFO|trainer.py:2407] 2025-03-18 21:06:09,124 >>   Num Epochs = 2
[INFO|trainer.py:2408] 2025-03-18 21:06:09,124 >>   Instantaneous batch size per device = 8
[INFO|trainer.py:2411] 2025-03-18 21:06:09,124 >>   Total train batch size (w. parallel, distributed & accumulation) = 32
[INFO|trainer.py:2412] 2025-03-18 21:06:09,124 >>   Gradient Accumulation steps = 1
[INFO|trainer.py:2413] 2025-03-18 21:06:09,124 >>   Total optimization steps = 47,390
[INFO|trainer.py:2414] 2025-03-18 21:06:09,125 >>   Number of trainable parameters = 7,615,616,512
"""


def flagship(out: Path) -> None:
    rng = random.Random(7380)
    beta, peak, warmup, total, batch = 0.1, 1e-6, 4739, 47390, 8
    lines = [FLAGSHIP_HEAD.rstrip("\n")]
    bar = "  0%|          | {s}/{t} [{m:02d}:{sec:02d}<41:2{d}:{sec2:02d},  3.1{d}s/it]"
    for s in range(1, 205):
        elapsed = int(s * 3.16)
        lines.append("\r" + bar.format(s=s, t=f"{total}", m=elapsed // 60, sec=elapsed % 60, d=s % 10,
                                       sec2=(59 - s) % 60))
        if s == 200:
            lines.append(FLAGSHIP_LINE)
            continue
        lr = warmup_cosine(s, peak, warmup, total)
        k = sum(rng.random() < 0.66 for _ in range(batch))  # desirable examples on rank 0
        k = min(max(k, 1), batch - 1)
        p = k / batch
        z = max(0.0, rng.gauss(11.29, 0.35))
        moved = s / 200.0  # the policy moves in proportion to the summed learning rate so far (tiny)
        r_c = 4.6e-4 * moved * moved + rng.gauss(0, 2e-5)
        r_r = 5.9e-5 * moved * moved + rng.gauss(0, 2e-5)
        loss = p * sigmoid(beta * (z - r_c / beta * 0)) + (1 - p) * sigmoid(-beta * z)
        l_pad = 8 * rng.randint(96, 128)  # padded length of the micro-batch, a multiple of 8 up to cutoff_len
        row = {
            "loss": round(loss, 4),
            "grad_norm": abs(rng.gauss(0.16, 0.02)),
            "learning_rate": lr,
            "rewards/chosen": r_c,
            "logps/chosen": -abs(rng.gauss(1.9, 0.5)),
            "logits/chosen": -1.30 * l_pad * 152064 * rng.uniform(0.97, 1.03),
            "rewards/rejected": r_r,
            "logps/rejected": -abs(rng.gauss(11.0, 1.5)),
            "logits/rejected": -1.37 * l_pad * 152064 * rng.uniform(0.97, 1.03),
            "rewards/margins": r_c - r_r,
            "kl": z,
            "epoch": round(s / 23695, 2),
        }
        lines.append(repr(row))
    lines.append("\r  0%|          | 204/47390 [10:44<41:28:31,  3.16s/it]^C")
    lines.append("W0318 21:17:01.532000 139810 torch/distributed/elastic/agent/server/api.py:704] "
                 "Received Signals.SIGINT death signal, shutting down workers")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_kto.yaml").write_text(FLAGSHIP_YAML)
    (out / "console.log").write_text("\n".join(lines) + "\n")
    (out / "SAMPLE.md").write_text(FLAGSHIP_MD)


FLAGSHIP_MD = """\
# kto-flagship (hand-made)

**Not a real run.** A reconstruction of hiyouga/LlamaFactory#7380 ("KTO训练时logits爆炸，loss没有变化":
"logits explode during KTO training, the loss does not change"), written by `sample_logs/handmade.py`
from the numbers of that issue. The line at step 200 of `console.log` is the issue's line verbatim; the
others are generated to be consistent with it.

- Full-parameter KTO of Qwen2.5-7B-Instruct (vocabulary 152,064), LLaMA-Factory, 4 GPUs, per-device batch 8,
  `logging_steps: 1`, `learning_rate: 1e-6`, `warmup_ratio: 0.1` of 47,390 steps = 4,739 warm-up steps.
- The user stopped it at step 204, worried by `logits/chosen` of -2.03e8 and a loss stuck at 0.58.

**A correct diagnosis** (kto-doctor's):
1. `logits-metric-artifact`: -2.03e8 / (1,024 x 152,064) = a mean logit of -1.30. Ordinary. The finite
   `logps/*` (-1.8, -10.9) confirm there is no explosion.
2. `flat-loss`: rewards are 0, and 0.5806 is exactly the no-learning KTO loss at kl 11.29, beta 0.1
   and 66% desirable examples: 0.5 + (0.66 - 0.5) tanh(0.1 x 11.29 / 2).
3. `lr-schedule`: 4.22e-8 = 1e-6 x 200/4739, step 200 of a 4,739-step warm-up. The loss cannot move yet.
4. `kl-high-at-start`: a per-micro-batch KL of 11 at step 1 means the reference is not the starting policy
   (here: full fine-tuning with an fp32-upcast policy against a bf16 reference, no ZeRO-3).

Top cause: the warm-up (the policy has not started to move).
"""

# --------------------------------------------------------------------------------------------------
# kto-healthy: LoRA KTO of Qwen2.5-0.5B-Instruct, 600 steps, that learns. kl is 0.0 (clamped) as in real
# healthy LLaMA-Factory runs, and logits/* is the large summed metric (an info finding, not a problem).
# --------------------------------------------------------------------------------------------------

HEALTHY_YAML = """\
### model
model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct

### method
stage: kto
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
pref_beta: 0.1

### dataset
dataset: kto_en_demo
template: qwen
cutoff_len: 512
max_samples: 4800

### output
output_dir: saves/qwen2.5-0.5b/lora/kto
logging_steps: 10
save_steps: 200
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
learning_rate: 5.0e-6
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true

### eval
val_size: 0.05
per_device_eval_batch_size: 8
eval_strategy: steps
eval_steps: 100
"""


def healthy(out: Path) -> None:
    rng = random.Random(600)
    peak, warmup, total, beta = 5e-6, 60, 570, 0.1
    history, jsonl = [], []
    progress = 0.0
    for s in range(10, total + 1, 10):
        lr = warmup_cosine(s, peak, warmup, total)
        progress += lr * 10 / peak / 180.0  # cumulative learning, 0 -> ~2.8
        r_c = 0.35 * progress + rng.gauss(0, 0.04)
        r_r = -0.55 * progress + rng.gauss(0, 0.05)
        kl = 0.0 if rng.random() < 0.85 else abs(rng.gauss(0, 0.05))
        loss = 0.5 * sigmoid(-(r_c - kl * beta) * 10 * beta) + 0.5 * sigmoid((r_r - kl * beta) * 10 * beta)
        loss = loss + rng.gauss(0, 0.008)
        l_pad = 8 * rng.randint(40, 64)
        row = {
            "epoch": s / total,
            "grad_norm": 2.6 * math.exp(-s / 400) + abs(rng.gauss(0.6, 0.12)),
            "kl": kl,
            "learning_rate": lr,
            "logits/chosen": -1.45 * l_pad * 151936 * rng.uniform(0.97, 1.03),
            "logits/rejected": -1.52 * l_pad * 151936 * rng.uniform(0.97, 1.03),
            "logps/chosen": -95.0 + 9.0 * progress + rng.gauss(0, 6),
            "logps/rejected": -120.0 - 14.0 * progress + rng.gauss(0, 8),
            "loss": round(loss, 4),
            "rewards/chosen": r_c,
            "rewards/margins": r_c - r_r,
            "rewards/rejected": r_r,
            "step": s,
        }
        history.append(row)
        jsonl.append({"current_steps": s, "total_steps": total, "loss": row["loss"], "lr": lr,
                      "epoch": round(s / total, 2), "percentage": round(100 * s / total, 2),
                      "elapsed_time": f"0:{s * 2 // 60:02d}:{s * 2 % 60:02d}",
                      "remaining_time": f"0:{(total - s) * 2 // 60:02d}:{(total - s) * 2 % 60:02d}"})
        if s % 100 == 0:
            ev = {"epoch": s / total, "eval_kl": 0.0, "eval_logits/chosen": -1.46 * 512 * 151936,
                  "eval_logps/chosen": -94.0 + 8.5 * progress, "eval_loss": round(loss + 0.01, 4),
                  "eval_rewards/chosen": r_c * 0.9, "eval_rewards/margins": (r_c - r_r) * 0.85,
                  "eval_rewards/rejected": r_r * 0.85, "eval_runtime": 12.51, "eval_samples_per_second": 19.2,
                  "eval_steps_per_second": 2.4, "kl": 0.0, "step": s}
            history.append(ev)
            jsonl.append({"current_steps": s, "total_steps": total, "eval_loss": ev["eval_loss"],
                          "epoch": round(s / total, 2), "percentage": round(100 * s / total, 2),
                          "elapsed_time": f"0:{s * 2 // 60:02d}:{s * 2 % 60:02d}",
                          "remaining_time": f"0:{(total - s) * 2 // 60:02d}:{(total - s) * 2 % 60:02d}"})
    train_loss = sum(r["loss"] for r in history if "loss" in r and "eval_loss" not in r) / len(
        [r for r in history if "loss" in r and "eval_loss" not in r])
    history.append({"epoch": 1.0, "step": total, "total_flos": 0.0, "train_loss": train_loss,
                    "train_runtime": 1183.2, "train_samples_per_second": 3.85, "train_steps_per_second": 0.482})
    state = {
        "best_global_step": None, "best_metric": None, "best_model_checkpoint": None, "epoch": 1.0,
        "eval_steps": 100, "global_step": total, "is_hyper_param_search": False,
        "is_local_process_zero": True, "is_world_process_zero": True, "log_history": history,
        "logging_steps": 10, "max_steps": total, "num_input_tokens_seen": 0, "num_train_epochs": 1,
        "save_steps": 200, "stateful_callbacks": {}, "total_flos": 0.0, "train_batch_size": 8,
        "trial_name": None, "trial_params": None,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
    (out / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl))
    (out / "train_results.json").write_text(json.dumps(
        {"epoch": 1.0, "total_flos": 0.0, "train_loss": train_loss, "train_runtime": 1183.2,
         "train_samples_per_second": 3.85, "train_steps_per_second": 0.482}, indent=2) + "\n")
    (out / "train_kto.yaml").write_text(HEALTHY_YAML)
    (out / "SAMPLE.md").write_text(HEALTHY_MD)


HEALTHY_MD = """\
# kto-healthy (hand-made)

**Not a real run.** Written by `sample_logs/handmade.py`: what LLaMA-Factory writes for a LoRA KTO run of
Qwen2.5-0.5B-Instruct that learns (570 steps, learning rate 5e-6 with a 10% warm-up and cosine decay,
evaluation every 100 steps). `trainer_state.json` has every metric; `trainer_log.jsonl` only loss and lr,
as LLaMA-Factory writes it.

What a correct diagnosis says: **healthy**. Rewards separate (chosen up, rejected down), the loss falls
from 0.5, grad_norm settles. Two things look alarming and are not: `kl` is 0.0 almost everywhere (KTO
clamps its KL estimate at 0; normal while rewards move), and `logits/chosen` is about -9e7 (the summed
KTO metric over up to 512 x 151,936 logits per sequence: an info note, not a problem). The eval rows also carry an
un-prefixed `kl`, as LLaMA-Factory's KTO trainer writes it.
"""

if __name__ == "__main__":
    flagship(HERE / "kto-flagship")
    healthy(HERE / "kto-healthy")
    print("wrote", HERE / "kto-flagship", "and", HERE / "kto-healthy")
