#!/usr/bin/env python3
"""Regenerate the real LLaMA-Factory sample runs under ``sample_logs/lf-*/``.

Each scenario is a genuine ``llamafactory-cli train`` run on CPU, with a tiny
randomly initialised Qwen2-style model, a tokenizer trained offline and
synthetic, learnable datasets. Nothing is downloaded from a model hub.

Pipeline (all deterministic, fixed seeds):

1. check the environment (llamafactory importable, the CUDA-linked
   torchvision/torchaudio wheels neutralised); print set-up commands if not;
2. build assets in the work dir: datasets + ``dataset_info.json``, a byte-level
   BPE tokenizer, two randomly initialised models (``init`` and a differently
   seeded ``init-alt``);
3. run a short internal SFT (``_base-sft``) whose output becomes the policy for
   the preference (KTO/DPO) scenarios, so they start from realistic values;
4. for each scenario: write ``train.yaml``, run ``llamafactory-cli train`` as a
   subprocess with its console tee'd to ``console.log``, time it, copy the
   run's logs (never weights/optimizer/tokenizer files) into
   ``<out>/<scenario>/`` and write a ``SCENARIO.md`` filled in from
   ``trainer_state.json``.

This script is not part of the kto-doctor package: the tool and its tests never
import it. Heavy libraries (torch, transformers, tokenizers) are imported only
inside the functions that need them, so ``--help`` works anywhere.

Usage::

    /work/gen/venv/bin/python sample_logs/generate.py                 # all scenarios
    /work/gen/venv/bin/python sample_logs/generate.py --scenario lf-kto-healthy
    /work/gen/venv/bin/python sample_logs/generate.py --list

See ``sample_logs/GENERATING.md`` for the venv set-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_WORKDIR = Path("/work/gen")
SEED = 42

SETUP_COMMANDS = """\
python3.11 -m venv /work/gen/venv
/work/gen/venv/bin/pip install torch==2.13.0            # CPU build (local wheel); never a CUDA build
/work/gen/venv/bin/pip install llamafactory==0.9.5 torch==2.13.0 tensorboard
# the resolver pulls CUDA-linked torchvision/torchaudio wheels that break imports on CPU:
/work/gen/venv/bin/pip uninstall -y torchvision torchaudio
/work/gen/venv/bin/python sample_logs/generate.py --install-torchaudio-placeholder
"""

TORCHAUDIO_PLACEHOLDER = '''\
"""Placeholder for torchaudio in a CPU-only venv (kto-doctor sample_logs generator).

The torchaudio wheel that pip resolves is linked against CUDA (libc10_cuda.so)
and cannot be imported next to a CPU build of torch. LLaMA-Factory imports
torchaudio at module level (llamafactory/data/mm_plugin.py) but only uses it
for audio inputs, which text-only training never reaches. Any real use fails loudly.
"""


def __getattr__(name):
    raise AttributeError(f"torchaudio placeholder: '{name}' is unavailable (audio support not installed)")
'''

# Environment for every training subprocess: offline, no wandb, unbuffered so
# stdout/stderr interleave as they would on a terminal.
RUN_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_DISABLED": "true",
    "DISABLE_VERSION_CHECK": "1",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
}

# Files copied from a run's output dir (everything else -- weights, optimizer and
# scheduler states, tokenizer files, rng states, training_args.bin -- stays out).
KEEP_TOP_LEVEL = ("trainer_state.json", "trainer_log.jsonl", "config.json", "adapter_config.json")
KEEP_SUFFIX = "_results.json"

# Columns summarised in SCENARIO.md when present in trainer_state.json.
SUMMARY_KEYS = (
    "loss", "eval_loss", "learning_rate", "grad_norm", "kl",
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "rewards/chosen_sum", "rewards/rejected_sum",
    "logps/chosen", "logps/rejected", "logps/chosen_sum", "logps/rejected_sum",
    "logits/chosen", "logits/rejected", "logits/chosen_sum", "logits/rejected_sum",
    "count/chosen", "count/rejected",
)

# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

COMMON_CFG: dict[str, Any] = {
    "do_train": True,
    "finetuning_type": "full",
    "template": "default",
    "cutoff_len": 128,
    "overwrite_cache": True,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 2,
    "lr_scheduler_type": "cosine",
    "logging_steps": 1,
    "plot_loss": True,
    "overwrite_output_dir": True,
    "save_strategy": "no",
    "report_to": "tensorboard",
    "seed": SEED,
    "data_seed": SEED,
    "dataloader_num_workers": 0,
}

PREF_CFG: dict[str, Any] = {"pref_beta": 0.1}


@dataclass
class Scenario:
    """One sample run: its LLaMA-Factory config and what a diagnosis should say."""

    name: str
    stage: str                      # sft | kto | dpo
    dataset: str                    # key in dataset_info.json
    model: str                      # "init" (random init) or "base" (output of _base-sft)
    cfg: dict[str, Any]
    injected: str                   # what was changed from a healthy run
    diagnosis: str                  # symptom name(s) from the kto-doctor vocabulary
    why: str                        # what in the logs supports the diagnosis
    ref_model: str | None = None    # "init-alt" for the mismatch scenario
    internal: bool = False          # not copied to sample_logs (the policy base)
    extra: dict[str, Any] = field(default_factory=dict)


KTO_HEALTHY = {"learning_rate": 2.0e-4, "warmup_steps": 5, "max_steps": 60}
DPO_HEALTHY = {"learning_rate": 5.0e-5, "warmup_steps": 5, "max_steps": 60}

SCENARIOS: list[Scenario] = [
    Scenario(
        name="_base-sft", stage="sft", dataset="sft_mixed", model="init", internal=True,
        cfg={"learning_rate": 3.0e-3, "warmup_steps": 10, "max_steps": 150, "logging_steps": 10},
        injected="(internal) SFT on both desirable and undesirable answers; its output is the "
                 "policy and reference model of the KTO/DPO scenarios.",
        diagnosis="healthy", why="",
    ),
    Scenario(
        name="lf-kto-healthy", stage="kto", dataset="kto_facts", model="base",
        cfg={**PREF_CFG, **KTO_HEALTHY},
        injected="Nothing: full-parameter KTO, beta 0.1, learning rate 5e-5, cosine schedule with "
                 "5 warm-up steps, reference model = the policy's starting weights.",
        diagnosis="healthy",
        why=("Loss starts at exactly 0.5 (KTO's value when policy = reference) and falls, noisily "
            "(each row is one 8-example batch), to about 0.2-0.37 at the end. Rejected rewards fall "
            "to about -1.8 while chosen rewards stay near 0, so the margin grows to about 1.6. The "
            "learning rate warms up over 5 steps to 2e-4, then decays (cosine). `kl` is 0.0 at "
            "57 of 60 steps (max 0.34): LLaMA-Factory clamps the batch KL estimate at 0, so a flat zero "
            "kl is normal. `logits/chosen` and `logits/rejected` are SUMS over tokens and the "
            "32,000-entry vocabulary (about -5e6 to -3e6): a metric artifact "
            "(logits-metric-artifact, informational), not exploding logits. Rows for a batch "
            "with no chosen (or no rejected) example simply lack those keys."),
    ),
    Scenario(
        name="lf-kto-warmup-too-long", stage="kto", dataset="kto_facts", model="base",
        cfg={**PREF_CFG, **KTO_HEALTHY, "warmup_steps": 500},
        injected="`warmup_steps: 500` with `max_steps: 60` (no `warmup_ratio` key: in "
                 "transformers 5.x any warmup_ratio, even 0, overrides warmup_steps).",
        diagnosis="lr-schedule",
        why=("The learning rate rises linearly at every logged step (4e-7 per step) and ends at "
            "2.36e-5, about 12% of the configured 2e-4: it never reaches its peak and never "
            "decays. Everything else looks like a timid healthy run: loss 0.5 -> 0.49, margin "
            "only about 0.06 after 60 steps (1.6 in lf-kto-healthy)."),
    ),
    Scenario(
        name="lf-kto-lr-too-high", stage="kto", dataset="kto_facts", model="base",
        cfg={**PREF_CFG, **KTO_HEALTHY, "learning_rate": 1.0e-1},
        injected="`learning_rate: 0.1` (2000x the healthy run) for full-parameter KTO.",
        diagnosis="lr-out-of-range (visible symptom: reward-anomaly, logps collapse in one step)",
        why=("The first real update (step 2, lr 0.02 while still warming up) wrecks the policy: "
            "at step 3 logps/chosen goes -9.2 -> -118 and logps/rejected -8.5 -> -214, "
            "rewards/chosen -10.9, the summed logits/chosen flip sign (-5.2e6 -> +3.0e6) and "
            "grad_norm drops 100x (0.2 -> 0.003). Afterwards the per-batch loss jumps between ~0 and 0.87 "
            "with margins near 10 and logps never return to their starting values. A margin of 10 "
            "here is not success. No NaN appears (fp32 on CPU)."),
    ),
    Scenario(
        name="lf-kto-ref-mismatch", stage="kto", dataset="kto_facts", model="base",
        ref_model="init-alt",
        cfg={**PREF_CFG, **KTO_HEALTHY},
        injected="`ref_model` points at a differently initialised random model (same "
                 "architecture and tokenizer, other seed) instead of the policy's starting weights.",
        diagnosis="kl-high-at-start",
        why=("At step 1, before any update (lr 0), `kl` is already about 175 and rewards are large "
            "and POSITIVE (chosen about +7.0, rejected about +13.0, margin -6.0), with loss 0.92 "
            "instead of KTO's exact 0.5 at the start. With a correct reference every reward is "
            "exactly 0 at step 1. kl stays between about 65 and 240 all run and the loss never "
            "drops below 0.87: the policy cannot close a gap that a wrong reference model created."),
    ),
    Scenario(
        name="lf-dpo-healthy", stage="dpo", dataset="dpo_facts", model="base",
        cfg={**PREF_CFG, "pref_loss": "sigmoid", **DPO_HEALTHY},
        injected="Nothing: full-parameter DPO (sigmoid loss), beta 0.1, learning rate 5e-5, cosine "
                 "schedule with 5 warm-up steps.",
        diagnosis="healthy",
        why=("Loss starts at ln 2 = 0.6931 with all rewards 0 and falls steadily to about 0.61; "
            "the reward margin grows to about 0.18 with rewards/accuracies 1.0 from step 3, "
            "chosen rewards stay slightly positive and chosen logps do not sink (-8.7 -> -8.1). "
            "(At lr 2e-4 the same run reached loss 0.02 but dragged chosen logps from -9 to "
            "-28; 5e-5 was kept as the unambiguous healthy reference.) "
            "Unlike KTO, DPO's logits/* metrics here are means (about -5), not sums."),
    ),
    Scenario(
        name="lf-dpo-no-learning", stage="dpo", dataset="dpo_facts", model="base",
        cfg={**PREF_CFG, "pref_loss": "sigmoid", **DPO_HEALTHY, "learning_rate": 0.0},
        injected="`learning_rate: 0`.",
        diagnosis="flat-loss (cause: lr-out-of-range, learning rate 0)",
        why=("The loss is 0.6931 (ln 2) and rewards, margins and accuracies are exactly 0 at "
            "every one of the 60 steps, learning_rate is 0 throughout, while grad_norm is "
            "non-zero (about 0.7): gradients exist, but no update is ever applied. logps and "
            "logits still vary from batch to batch (different data), which is not learning."),
    ),
    Scenario(
        name="lf-sft-healthy", stage="sft", dataset="sft_facts", model="init",
        cfg={"learning_rate": 3.0e-3, "warmup_steps": 5, "max_steps": 60,
             "val_size": 0.1, "eval_strategy": "steps", "eval_steps": 10,
             "per_device_eval_batch_size": 8},
        injected="Nothing: full-parameter SFT of the random-init model on a templated Q/A set, "
                 "10% held out for evaluation.",
        diagnosis="healthy",
        why=("Train loss falls from 10.48 (= ln 32,000, a uniform guess) to about 2.6 and the "
            "eval loss follows it down (8.4 at step 10 -> 2.6 at step 60), without turning up."),
    ),
    Scenario(
        name="lf-sft-overfit", stage="sft", dataset="sft_codes", model="init",
        cfg={"learning_rate": 5.0e-3, "lr_scheduler_type": "constant_with_warmup",
             "warmup_steps": 5, "num_train_epochs": 40,
             "val_size": 0.25, "eval_strategy": "steps", "eval_steps": 10,
             "per_device_eval_batch_size": 8, "logging_steps": 5},
        injected="40 epochs (200 steps) at a constant learning rate of 5e-3 on 36 training "
                 "examples whose answers end in random 4-word codes (nothing to generalise "
                 "beyond the template); 12 examples (25%) held out for evaluation.",
        diagnosis="overfitting",
        why=("Eval loss falls with the train loss at first (7.3 at step 10), bottoms out at about "
            "2.62 at step 50, then climbs steadily to about 3.9 at step 200 while the train loss "
            "keeps falling (10.2 -> 0.63): the model memorises the training codes and becomes "
            "confidently wrong on the held-out ones. A best-checkpoint / early-stopping point "
            "would be around step 50."),
    ),
    # ---- extras: cheap and each a distinct real signature ----
    Scenario(
        name="lf-kto-lr-zero", stage="kto", dataset="kto_facts", model="base",
        cfg={**PREF_CFG, **KTO_HEALTHY, "learning_rate": 0.0},
        injected="`learning_rate: 0` for KTO.",
        diagnosis="flat-loss (cause: lr-out-of-range, learning rate 0)",
        why=("Loss is exactly 0.5 and rewards, margins and kl exactly 0 at every step; "
            "learning_rate is 0 throughout while grad_norm is non-zero (about 0.2)."),
    ),
    Scenario(
        name="lf-kto-lora-healthy", stage="kto", dataset="kto_facts", model="base",
        cfg={**PREF_CFG, **KTO_HEALTHY, "finetuning_type": "lora", "lora_target": "all",
             "lora_rank": 8, "lora_alpha": 16, "learning_rate": 2.0e-3},
        injected="Nothing: KTO with a LoRA adapter (rank 8, alpha 16, all linear layers), "
                 "learning rate 2e-3; the reference is the base model with the adapter disabled.",
        diagnosis="healthy",
        why=("As lf-kto-healthy but through a LoRA adapter (17,408 trainable of 2,148,032 "
            "parameters, as the console reports): loss starts at exactly 0.5 and falls, noisily, "
            "to about 0.07; rejected logps fall from about -9 to about -64 while chosen logps "
            "stay near -10, so the margin grows to about 5.4; kl is 0.0 at 58 of 60 steps and "
            "the summed logits stay around -5e6 to -2e6 (logits-metric-artifact, informational).")
    ),
    Scenario(
        name="lf-sft-lr-too-high", stage="sft", dataset="sft_facts", model="init",
        cfg={"learning_rate": 1.0, "warmup_steps": 5, "max_steps": 60},
        injected="`learning_rate: 1.0` for full-parameter SFT (the healthy run uses 3e-3).",
        diagnosis="loss-divergence (cause: lr-out-of-range)",
        why=("Loss starts at 10.46 (= ln 32,000) and instead of falling climbs to about 61 by "
            "step 18, six times a uniform guess, with grad_norm 3 -> 15-37. It only comes back "
            "down (to about 6-8) because the cosine schedule drives the learning rate to 0, and "
            "it never gets near the healthy run's 2.6."),
    ),
]

SCENARIOS_BY_NAME = {s.name: s for s in SCENARIOS}

# --------------------------------------------------------------------------
# Environment check
# --------------------------------------------------------------------------


def cli_path() -> Path | None:
    """The llamafactory-cli next to this interpreter (the venv), else on PATH."""
    local = Path(sys.executable).parent / "llamafactory-cli"
    if local.exists():
        return local
    found = shutil.which("llamafactory-cli")
    return Path(found) if found else None


def install_torchaudio_placeholder() -> Path:
    """Write the torchaudio placeholder package into this interpreter's site-packages."""
    import site

    target = Path(site.getsitepackages()[0]) / "torchaudio"
    target.mkdir(exist_ok=True)
    (target / "__init__.py").write_text(TORCHAUDIO_PLACEHOLDER)
    return target


def check_environment() -> list[str]:
    """Return a list of problems (empty when the venv can run the scenarios)."""
    problems = []
    if importlib.util.find_spec("llamafactory") is None:
        problems.append("llamafactory is not importable from " + sys.executable)
        return problems
    if cli_path() is None:
        problems.append("llamafactory-cli not found next to the interpreter or on PATH")
    if importlib.util.find_spec("tensorboard") is None:
        problems.append("tensorboard is missing (report_to: tensorboard needs it): pip install tensorboard")
    probe = (
        "import torch, transformers\n"
        "assert '+cpu' in torch.__version__ or not torch.cuda.is_available(), torch.__version__\n"
        "from transformers import PreTrainedModel\n"
        "import llamafactory.data.mm_plugin\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, **RUN_ENV})
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()[-1:] or ["?"]
        problems.append("import probe failed: " + tail[0])
        if "torchvision" in res.stderr:
            problems.append("a CUDA-linked torchvision is installed: pip uninstall -y torchvision")
        if "torchaudio" in res.stderr or "libc10_cuda" in res.stderr:
            problems.append("a CUDA-linked torchaudio is installed: pip uninstall -y torchaudio, "
                            "then run this script with --install-torchaudio-placeholder")
    return problems


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("llamafactory", "transformers", "trl", "torch", "datasets", "accelerate",
                "peft", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# --------------------------------------------------------------------------
# Synthetic data (learnable: desirable answers follow one template)
# --------------------------------------------------------------------------

NOUNS = ["apple", "banana", "cherry", "lemon", "grape", "plum", "carrot", "tomato", "cloud",
         "grass", "snow", "coal", "sky", "ocean", "rose", "violet", "pumpkin", "lime", "pearl",
         "ruby", "emerald", "sapphire", "crow", "swan", "flamingo", "canary", "frog", "bear"]
COLORS = ["red", "yellow", "green", "blue", "white", "black", "purple", "orange", "pink", "brown"]
CODE_WORDS = ["alpha", "bravo", "delta", "echo", "golf", "hotel", "india", "kilo", "lima", "mike",
              "oscar", "papa", "romeo", "sierra", "tango", "victor", "whiskey", "zulu", "amber",
              "cobalt", "dune", "ember", "frost", "glade", "harbor", "ivory", "jade", "kelp",
              "lotus", "maple", "nectar", "onyx", "quartz", "raven", "slate", "thistle", "umber",
              "willow", "yarrow", "zephyr"]
NAMES = ["Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kai", "Lea",
         "Max", "Nia", "Omar", "Pia", "Quin", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Xena",
         "Yuri", "Zoe", "Abel", "Bea", "Cyr", "Dina", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade",
         "Kit", "Lou", "Mia", "Ned", "Ola", "Pat", "Rex", "Sia", "Tom", "Ugo", "Val", "Wyn"]


def fact_items(rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, desirable answer, undesirable answer) triples."""
    color_of = {n: rng.choice(COLORS) for n in NOUNS}
    items = []
    for noun in NOUNS:
        good = color_of[noun]
        bad = rng.choice([c for c in COLORS if c != good])
        for q in (f"What color is the {noun}?", f"Tell me the color of the {noun}."):
            items.append((q, f"The {noun} is {good}.", f"Hmm, maybe {bad}? Not sure about the {noun}."))
    for a in range(10):
        for b in range(10):
            if rng.random() < 0.5:
                wrong = a + b + rng.choice([-2, -1, 1, 2, 3])
                items.append((f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}.",
                              f"Hmm, maybe {wrong}? Not sure about {a} plus {b}."))
    rng.shuffle(items)
    return items


def code_items(rng: random.Random) -> list[tuple[str, str]]:
    """Q/A pairs whose answers hold random codes: only memorisable, never generalisable."""
    items = []
    for name in NAMES:
        code = " ".join(rng.choice(CODE_WORDS) for _ in range(4))
        items.append((f"What is the secret code of {name}?", f"The code of {name} is {code}."))
    return items


def build_datasets(data_dir: Path) -> list[str]:
    """Write the datasets and dataset_info.json; return all texts (for the tokenizer)."""
    rng = random.Random(SEED)
    facts = fact_items(rng)
    codes = code_items(rng)
    data_dir.mkdir(parents=True, exist_ok=True)

    sets: dict[str, list[dict[str, Any]]] = {
        "sft_facts.json": [{"instruction": q, "input": "", "output": g} for q, g, _ in facts],
        "sft_mixed.json": ([{"instruction": q, "input": "", "output": g} for q, g, _ in facts]
                           + [{"instruction": q, "input": "", "output": b} for q, _, b in facts]),
        "sft_codes.json": [{"instruction": q, "input": "", "output": a} for q, a in codes],
        "kto_facts.json": [],
        "dpo_facts.json": [{"instruction": q, "input": "", "chosen": g, "rejected": b}
                           for q, g, b in facts],
    }
    rng.shuffle(sets["sft_mixed.json"])
    for i, (q, g, b) in enumerate(facts):  # alternate: half desirable, half undesirable
        sets["kto_facts.json"].append({"instruction": q, "input": "", "output": g if i % 2 == 0 else b,
                                       "label": i % 2 == 0})
    for fname, rows in sets.items():
        (data_dir / fname).write_text(json.dumps(rows, indent=1) + "\n")

    alpaca = {"prompt": "instruction", "query": "input", "response": "output"}
    info = {
        "sft_facts": {"file_name": "sft_facts.json", "columns": alpaca},
        "sft_mixed": {"file_name": "sft_mixed.json", "columns": alpaca},
        "sft_codes": {"file_name": "sft_codes.json", "columns": alpaca},
        "kto_facts": {"file_name": "kto_facts.json", "columns": {**alpaca, "kto_tag": "label"}},
        "dpo_facts": {"file_name": "dpo_facts.json", "ranking": True,
                      "columns": {"prompt": "instruction", "query": "input",
                                  "chosen": "chosen", "rejected": "rejected"}},
    }
    (data_dir / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")

    texts = [t for q, g, b in facts for t in (q, g, b)] + [t for qa in codes for t in qa]
    return texts


# --------------------------------------------------------------------------
# Tokenizer and models
# --------------------------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}System: {{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}Human: {{ message['content'] }}\n"
    "{% else %}Assistant: {{ message['content'] }}{{ eos_token }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def build_tokenizer(texts: list[str], out_dir: Path):
    """Train a small byte-level BPE offline and save it as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=1,
                                  special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = texts + ["Human: ", "Assistant: ", "System: "] * 50
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|pad|>", model_max_length=512)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_model(tokenizer, out_dir: Path, seed: int) -> int:
    """Save a randomly initialised tiny Qwen2 (vocab 32,000, ~2.1M params); return its size."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters())


def build_assets(workdir: Path) -> None:
    """Datasets, tokenizer and the two random-init models (skipped if already there)."""
    marker = workdir / "assets.done"
    if marker.exists():
        return
    print(f"[generate] building datasets, tokenizer and models in {workdir}", flush=True)
    texts = build_datasets(workdir / "data")
    tokenizer = build_tokenizer(texts, workdir / "tokenizer")
    n = build_model(tokenizer, workdir / "models" / "init", seed=SEED)
    build_model(tokenizer, workdir / "models" / "init-alt", seed=SEED + 1000)
    print(f"[generate] tokenizer size {len(tokenizer)}, model params {n:,}", flush=True)
    marker.write_text("ok\n")


# --------------------------------------------------------------------------
# Running one scenario
# --------------------------------------------------------------------------


YAML_WORDS = {"no", "yes", "on", "off", "true", "false", "null", "~", "y", "n"}


def to_yaml(cfg: dict[str, Any]) -> str:
    """Flat dict -> YAML (scalars only; avoids needing PyYAML outside the venv)."""
    lines = []
    for key, value in cfg.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = repr(value) if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.1e}"
        elif isinstance(value, str) and value.lower() in YAML_WORDS:
            text = f'"{value}"'  # e.g. save_strategy: "no" (bare no is a YAML boolean)
        else:
            text = str(value)
        lines.append(f"{key}: {text}")
    return "\n".join(lines) + "\n"


def scenario_config(sc: Scenario, workdir: Path) -> dict[str, Any]:
    model = workdir / ("models/init" if sc.model == "init" else "runs/_base-sft")
    cfg: dict[str, Any] = {
        "model_name_or_path": str(model),
        "stage": sc.stage,
        **COMMON_CFG,
        "dataset": sc.dataset,
        "dataset_dir": str(workdir / "data"),
        "output_dir": str(workdir / "runs" / sc.name),
    }
    if sc.ref_model:
        cfg["ref_model"] = str(workdir / "models" / sc.ref_model)
    cfg.update(sc.cfg)
    return cfg


def run_training(cfg_path: Path, console_path: Path) -> tuple[int, float]:
    """Run llamafactory-cli, tee its merged stdout+stderr byte-for-byte; return (rc, seconds)."""
    cli = cli_path()
    if cli is None:
        raise SystemExit("llamafactory-cli not found")
    env = {**os.environ, **RUN_ENV}
    start = time.monotonic()
    with open(console_path, "wb") as log:
        proc = subprocess.Popen([str(cli), "train", str(cfg_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=cfg_path.parent)
        assert proc.stdout is not None
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            log.write(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        rc = proc.wait()
    return rc, time.monotonic() - start


def copy_outputs(run_dir: Path, dest: Path) -> list[Path]:
    """Copy logs only: no weights, optimizer/scheduler/rng states, tokenizer, args.bin, pngs."""
    copied = []
    for item in sorted(run_dir.iterdir()):
        if item.is_file() and (item.name in KEEP_TOP_LEVEL or item.name.endswith(KEEP_SUFFIX)):
            shutil.copy2(item, dest / item.name)
            copied.append(dest / item.name)
    for ev in sorted(run_dir.glob("runs/**/events.out.tfevents.*")):
        target = dest / ev.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ev, target)
        copied.append(target)
    for st in sorted(run_dir.glob("checkpoint-*/trainer_state.json")):
        target = dest / st.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(st, target)
        copied.append(target)
    return copied


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def summarise(log_history: list[dict[str, Any]]) -> str:
    """Markdown table: first/last/min/max of the interesting keys in log_history."""
    rows = []
    for key in SUMMARY_KEYS:
        pts = [(h["step"], h[key]) for h in log_history
               if key in h and isinstance(h[key], (int, float))]
        if not pts:
            continue
        vals = [v for _, v in pts]
        rows.append(f"| `{key}` | {len(pts)} | {fmt(pts[0][1])} (step {pts[0][0]}) | "
                    f"{fmt(pts[-1][1])} (step {pts[-1][0]}) | {fmt(min(vals))} | {fmt(max(vals))} |")
    head = ("| key | rows | first | last | min | max |\n"
            "| --- | --- | --- | --- | --- | --- |\n")
    return head + "\n".join(rows) + "\n"


def write_scenario_md(sc: Scenario, dest: Path, cfg: dict[str, Any], seconds: float,
                      versions: dict[str, str]) -> None:
    state = json.loads((dest / "trainer_state.json").read_text())
    history = state.get("log_history", [])
    train_rows = [h for h in history if "loss" in h]
    eval_rows = [h for h in history if "eval_loss" in h]
    first_row = train_rows[0] if train_rows else {}
    last_row = train_rows[-1] if train_rows else {}
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    injected = {k: cfg[k] for k in sc.cfg}
    if sc.ref_model:
        injected["ref_model"] = cfg["ref_model"]
    text = f"""# {sc.name}

Real LLaMA-Factory run on CPU, produced by `sample_logs/generate.py --scenario {sc.name}`
(fixed seed {SEED}). Stage `{sc.stage}`, full-parameter, dataset `{sc.dataset}`,
model: {"the random-init tiny Qwen2" if sc.model == "init" else "the internal `_base-sft` output (tiny Qwen2 after a short SFT)"}.

## What was injected

{sc.injected}

Scenario-specific config keys: `{json.dumps(injected)}` (full config: `train.yaml`).

## Correct diagnosis

**{sc.diagnosis}**

{sc.why}

## Measured

- wall time of the `llamafactory-cli train` run: {seconds:.0f} s (2-core CPU, no GPU; includes ~10 s of start-up, and is inflated when other jobs share the machine)
- global steps: {state.get("global_step")}, logged train rows: {len(train_rows)}, eval rows: {len(eval_rows)}
- library versions: {", ".join(f"{k} {v}" for k, v in versions.items())}

First logged train row: `{json.dumps(first_row)}`

Last logged train row: `{json.dumps(last_row)}`

Summary of `trainer_state.json` `log_history`:

{summarise(history)}
## Files

{chr(10).join(f"- `{f}`" for f in files)}

`console.log` is the merged stdout+stderr exactly as printed (tqdm `\\r` redraws included).
Weights, optimizer/scheduler/rng states, tokenizer files, `training_args.bin` and plots were
not kept.
"""
    (dest / "SCENARIO.md").write_text(text)


def run_scenario(sc: Scenario, workdir: Path, out: Path, versions: dict[str, str]) -> float:
    cfg = scenario_config(sc, workdir)
    cfg_dir = workdir / "configs"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = cfg_dir / f"{sc.name}.yaml"
    cfg_path.write_text(to_yaml(cfg))
    run_dir = Path(cfg["output_dir"])
    if run_dir.exists():
        shutil.rmtree(run_dir)
    raw_console = cfg_dir / f"{sc.name}.console.log"
    print(f"[generate] === {sc.name}: llamafactory-cli train {cfg_path}", flush=True)
    rc, seconds = run_training(cfg_path, raw_console)
    print(f"[generate] {sc.name}: exit {rc} after {seconds:.0f} s", flush=True)
    if rc != 0:
        raise SystemExit(f"{sc.name} failed (exit {rc}); console in {raw_console}")
    if sc.internal:
        return seconds
    dest = out / sc.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(cfg_path, dest / "train.yaml")
    shutil.copy2(raw_console, dest / "console.log")
    copy_outputs(run_dir, dest)
    write_scenario_md(sc, dest, cfg, seconds, versions)
    return seconds


def rewrite_markdown(names: list[str] | None, workdir: Path, out: Path) -> int:
    """Re-render SCENARIO.md from an existing folder, reusing its recorded wall time."""
    import re

    names = names or [s.name for s in SCENARIOS if not s.internal]
    for name in names:
        dest = out / name
        md = dest / "SCENARIO.md"
        if not md.exists():
            print(f"[generate] {name}: no SCENARIO.md in {dest}, skipped")
            continue
        m = re.search(r"wall time of the `llamafactory-cli train` run: (\d+) s", md.read_text())
        seconds = float(m.group(1)) if m else float("nan")
        versions = {}
        vm = re.search(r"library versions: (.*)", md.read_text())
        if vm:
            for part in vm.group(1).split(", "):
                pkg, _, ver = part.partition(" ")
                versions[pkg] = ver
        sc = SCENARIOS_BY_NAME[name]
        write_scenario_md(sc, dest, scenario_config(sc, workdir), seconds, versions)
        print(f"[generate] {name}: SCENARIO.md rewritten")
    return 0


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate the real LLaMA-Factory sample runs (sample_logs/lf-*/) on CPU.",
        epilog="Run it with the venv's interpreter; see sample_logs/GENERATING.md.")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        help="scenario to run (repeatable); default: all")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="scratch space for data, models and raw runs (default: /work/gen)")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where the scenario folders go (default: this script's folder)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--rebuild-assets", action="store_true",
                        help="rebuild datasets, tokenizer, models and the base SFT run")
    parser.add_argument("--rewrite-md", action="store_true",
                        help="only re-render SCENARIO.md of existing scenario folders (keeps the "
                             "recorded wall time); no training")
    parser.add_argument("--install-torchaudio-placeholder", action="store_true",
                        help="write the torchaudio placeholder into this venv and exit")
    args = parser.parse_args(argv)

    if args.list:
        for sc in SCENARIOS:
            if not sc.internal:
                print(f"{sc.name:28s} {sc.stage:4s} -> {sc.diagnosis}")
        return 0
    if args.install_torchaudio_placeholder:
        print(f"wrote {install_torchaudio_placeholder()}")
        return 0

    if args.rewrite_md:
        return rewrite_markdown(args.scenario, args.workdir.resolve(), args.out.resolve())

    problems = check_environment()
    if problems:
        print("Environment not ready:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        print("\nSet up the venv with:\n\n" + SETUP_COMMANDS, file=sys.stderr)
        return 2

    names = args.scenario or [s.name for s in SCENARIOS if not s.internal]
    unknown = [n for n in names if n not in SCENARIOS_BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    workdir: Path = args.workdir.resolve()
    out: Path = args.out.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.rebuild_assets:
        (workdir / "assets.done").unlink(missing_ok=True)
        shutil.rmtree(workdir / "runs" / "_base-sft", ignore_errors=True)
    build_assets(workdir)
    versions = library_versions()

    needs_base = any(SCENARIOS_BY_NAME[n].model == "base" for n in names)
    if needs_base and not (workdir / "runs" / "_base-sft" / "config.json").exists():
        run_scenario(SCENARIOS_BY_NAME["_base-sft"], workdir, out, versions)

    timings = {}
    for name in names:
        timings[name] = run_scenario(SCENARIOS_BY_NAME[name], workdir, out, versions)
    for name, sec in timings.items():
        print(f"[generate] {name}: {sec:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
