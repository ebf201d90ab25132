"""Canonical metric names, whatever spelling a source used.

HF Trainer logs `loss`, `eval_loss`; TensorBoard (HF `rewrite_logs`) writes `train/loss`, `eval/loss`;
LLaMA-Factory's trainer_log.jsonl writes `lr` and `accuracy`; LLaMA-Factory KTO puts an un-prefixed `kl`
into eval rows. Every reader calls `canonical(name, eval_row)` so that rules see one vocabulary.
"""
from __future__ import annotations

# Spellings that mean the same metric (after the train/ and eval/ prefixes are handled).
_ALIASES = {
    "lr": "learning_rate",
    "learning-rate": "learning_rate",
    "train_loss_step": "loss",
    "gradnorm": "grad_norm",
    "grad-norm": "grad_norm",
    "global_grad_norm": "grad_norm",
    "accuracy": "rewards/accuracies",  # LLaMA-Factory trainer_log.jsonl: the DPO reward accuracy
    "objective/kl": "objective/kl",
}

# Keys that describe the log row rather than training: never metrics.
BOOKKEEPING = frozenset(
    {
        "step", "current_steps", "total_steps", "percentage", "elapsed_time", "remaining_time",
        "eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "train_runtime",
        "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss",
        "runtime", "samples_per_second", "steps_per_second", "num_input_tokens_seen",
        "throughput", "total_tokens", "global_step/max_steps", "memory(GiB)", "train_speed(iter/s)",
    }
)

# Keys kept as run summaries (end-of-training rows), not step series.
SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"})


def canonical(name: str, eval_row: bool = False) -> str:
    """Map a logged key to its canonical metric name.

    `eval_row` says the key came from an evaluation record (HF puts `eval_loss` there; LLaMA-Factory's KTO
    also puts an un-prefixed `kl`, which is an eval KL and must not mix with the train `kl`).
    """
    n = name.strip()
    if n.startswith("train/"):
        n = n[len("train/"):]
    elif n.startswith("eval/"):
        return "eval_" + _eval_alias(n[len("eval/"):])
    elif n.startswith("test/"):
        return "test_" + n[len("test/"):]
    if n.startswith("eval_"):
        return "eval_" + _eval_alias(n[len("eval_"):])
    n = _ALIASES.get(n, n)
    if eval_row and n not in ("epoch",):
        return "eval_" + n
    return n


def _eval_alias(rest: str) -> str:
    # eval_accuracy is the SFT token accuracy (compute_accuracy); only LLaMA-Factory's un-prefixed train
    # `accuracy` in trainer_log.jsonl is the DPO reward accuracy.
    return rest if rest == "accuracy" else _ALIASES.get(rest, rest)


def is_eval_record(keys) -> bool:
    """An HF log record is an eval record when it carries eval_* keys and no train loss."""
    has_eval = False
    for k in keys:
        if k == "loss":
            return False
        if k.startswith("eval_") or k.startswith("eval/"):
            has_eval = True
    return has_eval


# Metric names kto-doctor knows (canonical spellings). Rule expressions naming anything else must declare
# it (requires.metrics / optional_metrics), so that a typo is caught with a did-you-mean.
_TRAIN = (
    "loss", "grad_norm", "learning_rate", "epoch", "kl",
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected",
    "nll_loss", "sft_loss", "odds_ratio_loss", "log_odds_ratio", "log_odds_chosen", "aux_loss",
    "reward", "reward_std", "frac_reward_zero_std", "entropy", "num_tokens",
    "completions/clipped_ratio", "completions/mean_length", "completions/max_length", "completions/min_length",
    "completion_length", "clip_ratio", "clip_ratio/region_mean", "clip_ratio/high_mean", "clip_ratio/low_mean",
    "objective/kl", "objective/entropy", "objective/rlhf_reward", "objective/scores", "val/ratio",
    "policy/clipfrac_avg", "policy/approxkl_avg", "policy/entropy_avg", "loss_scale", "accuracy", "acc",
)
KNOWN_METRICS = frozenset(_TRAIN + tuple("eval_" + m for m in _TRAIN if m != "epoch") + ("eval_accuracy",))
