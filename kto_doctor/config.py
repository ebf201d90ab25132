"""Canonical configuration keys, whatever file or framework spelled them.

LLaMA-Factory YAML says `pref_beta`, TRL says `beta`; LLaMA-Factory says `kto_chosen_weight`, TRL
`desirable_weight`; YAML 1.1 reads `1.0e-6` as a string. Rules read one vocabulary (`config["beta"]`),
so every config source goes through `normalize`; raw keys the table does not know are kept as they are.
"""
from __future__ import annotations

import math
import re
from typing import Any

# raw spelling -> canonical key (keys already canonical are not listed)
ALIASES = {
    "pref_beta": "beta",
    "pref_loss": "loss_type",
    "kto_chosen_weight": "desirable_weight",
    "kto_rejected_weight": "undesirable_weight",
    "max_length": "cutoff_len",
    "max_seq_length": "cutoff_len",
    "evaluation_strategy": "eval_strategy",
    "lora_r": "lora_rank",
    "r": "lora_rank",
    "gamma": "simpo_gamma",
    "_name_or_path": "model_name_or_path",
    "base_model_name_or_path": "model_name_or_path",
    "ref_model_name_or_path": "ref_model",
    "max_response_length": "max_completion_length",  # verl data.max_response_length
    "generate_max_len": "max_completion_length",  # OpenRLHF
    # a Hub model card's `Training hyperparameters` list (transformers' model card generator)
    "lr_scheduler_warmup_ratio": "warmup_ratio",
    "lr_scheduler_warmup_steps": "warmup_steps",
    "num_epochs": "num_train_epochs",
    "training_steps": "max_steps",
}
FLOAT_KEYS = frozenset({"learning_rate", "warmup_ratio", "beta", "desirable_weight", "undesirable_weight",
                        "pref_ftx", "simpo_gamma", "max_grad_norm", "val_size", "num_train_epochs", "weight_decay",
                        "adam_epsilon", "lora_dropout", "lora_alpha", "label_smoothing"})
INT_KEYS = frozenset({"warmup_steps", "max_steps", "logging_steps", "per_device_train_batch_size",
                      "gradient_accumulation_steps", "world_size", "cutoff_len", "vocab_size", "eval_steps",
                      "lora_rank", "quantization_bit", "seed", "save_steps", "max_completion_length"})
BOOL_KEYS = frozenset({"fp16", "bf16", "pure_bf16", "create_new_adapter", "logging_first_step", "use_peft", "quantized"})
# Keys that mark a mapping as a training configuration at all (YAML files are many things).
TRAINING_KEYS = frozenset(ALIASES) | FLOAT_KEYS | INT_KEYS | BOOL_KEYS | {
    "stage", "finetuning_type", "lr_scheduler_type", "model_name_or_path", "ref_model", "adapter_name_or_path",
    "deepspeed", "loss_type", "output_dir", "do_train", "dataset", "template", "model_type",
} - {"r", "gamma", "seed", "lora_alpha", "weight_decay", "adam_epsilon"}

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


# Keys of a model's config.json that diagnosis uses.
MODEL_KEYS = ("vocab_size", "model_type", "torch_dtype", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "intermediate_size", "max_position_embeddings", "tie_word_embeddings")


def normalize(raw: dict, fmt_hint: str | None = None, problems: list | None = None) -> dict[str, Any]:
    """Canonical keys and typed values for one config source.

    `fmt_hint` names the kind of file: "model_config" (a model's config.json: the vocabulary, the dtype and
    the size of the architecture matter — the width scales the usable learning rate), "adapter_config"
    (PEFT: LoRA, rank), or anything else for training arguments. Numbers out of range (`out_of_range`) are
    dropped; `problems`, when given, receives why.
    """
    if fmt_hint == "model_config":
        out = {k: raw[k] for k in MODEL_KEYS if raw.get(k) is not None}
        if raw.get("_name_or_path"):
            out["base_model"] = raw["_name_or_path"]
        # A quantization_config in a model's config.json: the checkpoint is a quantized pretrained model (QLoRA, GPTQ,
        # AWQ), never a random init.
        if isinstance(raw.get("quantization_config"), dict) and raw["quantization_config"]:
            out["quantized"] = True
        # ChatGLM's P-Tuning v2 saves the prefix length in the model's config: a prompt-tuned run.
        if isinstance(raw.get("pre_seq_len"), int) and not isinstance(raw["pre_seq_len"], bool) \
                and raw["pre_seq_len"] > 0:
            out["finetuning_type"] = "ptuning"
        return _typed(out, problems)
    if fmt_hint == "adapter_config":
        out = {"finetuning_type": "lora" if str(raw.get("peft_type", "LORA")).upper() == "LORA"
               else str(raw.get("peft_type")).lower()}
        for key in ("r", "lora_alpha", "lora_dropout", "base_model_name_or_path"):
            if raw.get(key) is not None:
                out[ALIASES.get(key, key)] = raw[key]
        return _typed(out, problems)
    out: dict[str, Any] = {}
    from . import verl_config  # (a verl Hydra tree, `.hydra/config.yaml`: its nested keys in the rules' names)

    if verl_config.is_verl_tree(raw):
        raw = verl_config.facts(raw)
    for key, value in raw.items():
        if key in ("r", "gamma"):  # too generic outside adapter/SimPO files: keep as spelled
            out[key] = value
            continue
        out[ALIASES.get(key, key)] = value
    if isinstance(out.get("loss_type"), (list, tuple)):
        # TRL's list of losses: one is that loss; several (MPO: sigmoid + bco_pair + sft) are their weighted sum, whose
        # value is none of theirs, so it is named by all of them ('sigmoid+bco_pair+sft') and no rule that reads a
        # sigmoid loss's value takes it for one
        types = [str(t) for t in out["loss_type"]]
        out["loss_type"] = "+".join(types) if types else None
    if "finetuning_type" not in out and out.get("use_peft") in (True, "true", "True"):
        out["finetuning_type"] = "lora"
    if "simpo_gamma" not in out and raw.get("gamma") is not None and out.get("loss_type") == "simpo":
        out["simpo_gamma"] = raw["gamma"]
    return _typed(out, problems)


def _typed(cfg: dict, problems: list | None = None) -> dict:
    for key, value in list(cfg.items()):
        cfg[key] = coerce(key, value, problems)
    return cfg


def coerce(key: str, value: Any, problems: list | None = None) -> Any:
    """Numbers from YAML 1.1 strings ("1.0e-6"), ints for counts, bools for flags; the rest unchanged.
    A number out of range is None (and `problems` says why)."""
    if isinstance(value, str):
        s = value.strip()
        if _NUMBER.match(s):
            value = float(s) if any(c in s for c in ".eE") or len(s) > 18 else int(s)
        elif s.lower() in ("true", "false") and key in BOOL_KEYS:
            value = s.lower() == "true"
        elif s.lower() in ("null", "none", "~"):
            value = None
    if (key in INT_KEYS or key in FLOAT_KEYS) and isinstance(value, str):
        # `learning_rate: auto` (DeepSpeed style) or a typo: not a number a rule can compare. Dropped, so the
        # key reads as unknown (rules that need it are skipped and say so) instead of failing every rule.
        return None
    problem = out_of_range(key, value)
    if problem:
        if problems is not None:
            problems.append(problem)
        return None
    if key in INT_KEYS and isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    elif key in FLOAT_KEYS and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


# Where a number stops being a configuration value: past these a rule's arithmetic overflows (a warm-up
# ratio of 1e308 times the steps) or the value means nothing (a ratio of 3). Such values are dropped where
# they enter (a config file: with a warning; `--set`: refused).
RATIO_KEYS = frozenset({"warmup_ratio", "lora_dropout", "label_smoothing"})
MAX_COUNT = 2 ** 53  # counts a float still holds exactly
MAX_FLOAT = 1e15


def out_of_range(key: str, value: Any) -> str | None:
    """Why `value` (typed) is no usable number for the canonical `key`, or None when it is fine."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and math.isnan(value):
        ok, want = key not in INT_KEYS and key not in RATIO_KEYS, "a number"
    elif key in RATIO_KEYS:
        ok, want = 0 <= value <= 1, "from 0 to 1"
    elif key in INT_KEYS:
        ok, want = -MAX_COUNT < value < MAX_COUNT, f"a whole number below {MAX_COUNT:.3g}"
    elif key in FLOAT_KEYS:
        ok, want = -MAX_FLOAT <= value <= MAX_FLOAT, f"a finite number within ±{MAX_FLOAT:g}"
    else:
        ok, want = not isinstance(value, int) or -(1 << 63) <= value < (1 << 63), "a 64-bit number"
    return None if ok else f"{key} = {show_number(value)} is out of range ({want})"


def show_number(value) -> str:
    """A number for a message: never thousands of digits (Python refuses to print them anyway)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 21:
        return f"a {len(str(value)) if value.bit_length() < 13000 else 'many'}-digit integer"
    return f"{value:g}" if isinstance(value, float) else str(value)


def is_training_config(raw: dict) -> bool:
    from .verl_config import is_verl_tree

    return any(k in TRAINING_KEYS for k in raw) or is_verl_tree(raw)


def merge(layers: list[tuple[dict, str]]) -> tuple[dict, dict]:
    """Merge normalized configs, later layers filling or replacing earlier ones.

    `layers` is [(config, source_name), ...] from lowest to highest priority; returns the merged config
    and {key: source_name} saying where each value came from. None never replaces a known value.
    """
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for cfg, name in layers:
        for key, value in cfg.items():
            if value is None and merged.get(key) is not None:
                continue
            merged[key] = value
            provenance[key] = name
    return merged, provenance


# ---------------------------------------------------------------- `--set key=value`

# Keys computed from others (run.py `_derive`) or stated by the logs as run facts; a --set may state them.
DERIVED_KEYS = frozenset({"total_steps", "warmup_steps_effective", "effective_batch_size", "kl_window",
                          "base_model", "trainable_params", "total_train_batch_size", "num_examples",
                          "overflow_count", "loss_scale_min", "loss_scale_max", "reference_model", "desirable_fraction"})
# Not configuration: what the run is (validated against model.METHODS / model.FRAMEWORKS).
RUN_KEYS = ("method", "framework")
KNOWN_KEYS = (frozenset(ALIASES) | frozenset(ALIASES.values()) | FLOAT_KEYS | INT_KEYS | BOOL_KEYS | TRAINING_KEYS
              | frozenset(MODEL_KEYS) | DERIVED_KEYS | frozenset(RUN_KEYS)
              | {"lr_scheduler_type", "seed", "lora_alpha", "weight_decay", "adam_epsilon", "lora_target"})


def parse_set_value(value):
    """A `--set` value as a YAML scalar (1e-6, true, null, cosine); numbers also in YAML 1.1's blind spot
    (1e-6 without a dot reads as text there)."""
    if not isinstance(value, str):
        return value
    import yaml

    if not value.strip():
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    except ValueError:  # an integer of thousands of digits: Python refuses int(); a float reads it (inf)
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(parsed, str):
        try:
            return float(parsed) if any(c in parsed for c in ".eE") or len(parsed) > 18 else int(parsed)
        except ValueError:
            return parsed
    return parsed if isinstance(parsed, (int, float, bool)) or parsed is None else value


def check_setting(key: str, raw: str, extra_keys=()) -> str | None:
    """Why `--set key=raw` cannot be used (unknown key with a did-you-mean, wrong type), or None when fine.

    `extra_keys` are the keys the loaded rules read (`config.NAME`): a team rule's key is known too.
    """
    from .model import FRAMEWORKS, METHODS

    known = KNOWN_KEYS | frozenset(extra_keys)
    if key not in known:
        import difflib

        close = difflib.get_close_matches(key, sorted(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (kto-doctor config keys lists them)"
        return f"--set {key}: unknown configuration key{hint}"
    value = parse_set_value(raw)
    canon = ALIASES.get(key, key)
    if value is None:
        return None
    raw = raw if len(raw) <= 40 else raw[:20] + "…"
    problem = out_of_range(canon, value)
    if problem:
        return f"--set {key}={raw}: {problem}"
    if key in RUN_KEYS:
        choices = METHODS if key == "method" else FRAMEWORKS
        if str(value).lower() not in choices:
            return f"--set {key}={raw}: {key} is one of {', '.join(choices)}"
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if canon in INT_KEYS and not (number and math.isfinite(value) and float(value).is_integer()):
        return f"--set {key}={raw}: {key} takes a whole number"
    if canon in FLOAT_KEYS and not number:
        return f"--set {key}={raw}: {key} takes a number"
    if canon in BOOL_KEYS and not isinstance(value, bool):
        return f"--set {key}={raw}: {key} takes true or false"
    return None


def key_kind(key: str) -> str:
    canon = ALIASES.get(key, key)
    if canon in INT_KEYS:
        return "whole number"
    if canon in FLOAT_KEYS:
        return "number"
    if canon in BOOL_KEYS:
        return "true/false"
    if key in RUN_KEYS:
        return "name"
    return "text or number"
