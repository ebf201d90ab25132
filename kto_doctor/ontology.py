"""One metric ontology: every framework's spelling of a metric → the canonical name rules read.

Readers call `canonical(key, eval_row, dialect)` for every logged key. The table below is the only place
that knows that verl says `actor/entropy`, Megatron `lm loss`, Lightning `val_loss`, the DPO reference
implementation `rewards_train/chosen` and a notebook's progress table `Training Loss`. A spelling is looked
up case- and separator-insensitively (`Training Loss`, `training-loss` and `training_loss` are one key);
names nobody knows keep their own spelling and are listed in the report as unrecognised.

`dialect` is the reader's framework where a spelling means different things in different frameworks:
HF writes `train_loss` once, as the mean over the whole run (a summary, not a series); Lightning's CSVLogger
writes it at every step.
"""
from __future__ import annotations

import re

from .fastclass import dataclass

# --------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Metric:
    name: str
    meaning: str
    spellings: tuple[str, ...] = ()  # generic spellings (any framework)
    dialects: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (dialect, spellings only that dialect uses)
    core: bool = False  # a core series: without one of them the run was not understood (see CORE_SERIES)


def _m(name, meaning, *spellings, dialects=None, core=False):
    return Metric(name, meaning, tuple(spellings), tuple((d, tuple(s)) for d, s in (dialects or {}).items()), core)


METRICS: tuple[Metric, ...] = (
    # ---- optimisation (every method)
    _m("loss", "training loss, the mean over the logging window",
       "train_loss_step", "training_loss", "lm_loss", "reduced_train_loss", "loss/train", "train/loss",
       "epoch_loss", "batch_loss", "loss/mean", "ppo/loss/total", "loss_lm", "loss_per_token", "train/loss_per_token",
       "train/crossentropyloss", "crossentropyloss", "cross_entropy_loss", dialects={"lightning": ("train_loss",), "generic": ("train_loss", "loss_train", "closs")},
       core=True),
    _m("eval_loss", "evaluation loss", "validation_loss", "val_loss", "valid_loss", "loss/eval", "loss/val",
       "eval/loss", "val/loss", dialects={"generic": ("val",)}, core=True),
    _m("grad_norm", "global gradient norm before clipping", "gradnorm", "grad-norm", "global_grad_norm",
       "grad norm", "actor/grad_norm", "total_grad_norm", "gradient_norm", "gnorm", "optim/grad_norm",
       "optim/total_grad_norm"),
    _m("learning_rate", "learning rate of the (first) parameter group", "lr", "learning-rate", "actor/lr",
       "actor_lr", "epoch_learning_rate", "lr-adamw", "lr-adam", "lr-sgd", "optim/lr", "ppo/learning_rate", dialects={"openrlhf": ("act_lr",)}),
    _m("epoch", "fractional epoch at the log"),
    _m("loss_scale", "fp16 dynamic loss scale", "loss scale"),
    # exp(loss): fairseq's `ppl`, Megatron's `lm loss PPL`, run_clm's `perplexity`; a log that prints only it has its
    # loss all the same (ln ppl, see run._derive_loss)
    _m("perplexity", "per-token perplexity, exp of the loss", "ppl", "train_ppl", "lm loss ppl", "train_perplexity"),
    _m("skipped_iterations", "optimizer steps skipped in the logging interval (overflow)",
       "number of skipped iterations"),
    _m("nan_iterations", "iterations with a NaN loss in the logging interval", "number of nan iterations"),
    _m("num_tokens", "tokens seen"),
    _m("params_norm", "norm of all parameters", "params norm", "parameter_norm"),
    # ---- preference optimisation (DPO, KTO, ORPO, SimPO...)
    _m("rewards/chosen", "beta * log(pi/pi_ref) of the chosen responses", "rewards_train/chosen", "chosen_rewards",
       dialects={"openrlhf": ("chosen_reward",)}),
    _m("rewards/rejected", "beta * log(pi/pi_ref) of the rejected responses", "rewards_train/rejected",
       "rejected_rewards", dialects={"openrlhf": ("reject_reward",)}),
    _m("rewards/margins", "rewards/chosen - rewards/rejected", "rewards_train/margins"),
    _m("rewards/accuracies", "fraction of pairs with chosen reward above rejected", "rewards_train/accuracies",
       dialects={"llamafactory": ("accuracy",), "openrlhf": ("acc",)}),
    _m("logps/chosen", "log-probability of the chosen responses", "logps_train/chosen"),
    _m("logps/rejected", "log-probability of the rejected responses", "logps_train/rejected"),
    _m("logits/chosen", "logits of the chosen responses (reduction depends on trainer and version)",
       "logits_train/chosen"),
    _m("logits/rejected", "logits of the rejected responses", "logits_train/rejected"),
    _m("kl", "KL(policy || reference) estimate (KTO's batch KL, GRPO's per-token KL)", "actor/kl_loss"),
    _m("nll_loss", "negative log-likelihood term (ORPO/CPO)"),
    _m("sft_loss", "SFT term of LLaMA-Factory's ORPO/SimPO loss"),
    _m("odds_ratio_loss", "odds-ratio term of LLaMA-Factory's ORPO loss"),
    _m("log_odds_ratio", "log odds ratio (TRL ORPO)"),
    _m("log_odds_chosen", "log odds of the chosen responses (TRL ORPO)"),
    _m("aux_loss", "router auxiliary loss (MoE)"),
    _m("ptx_loss", "pretraining (unsupervised) loss term mixed into RLHF", "unsuper_loss", "unsupervised_loss",
       "pretrain_loss", dialects={"openrlhf": ("ptx",)}),
    _m("accuracy", "token accuracy (SFT)", "acc", "mean_token_accuracy"),
    # ---- task metrics an evaluation reports beside its loss (direction in TASK_METRIC_DIRECTION)
    _m("wer", "word error rate (speech recognition)"),
    _m("cer", "character error rate (speech recognition)"),
    _m("bleu", "BLEU score (translation)", "sacrebleu"),
    _m("rouge1", "ROUGE-1 (summarisation)"),
    _m("rouge2", "ROUGE-2 (summarisation)"),
    _m("rougeL", "ROUGE-L (summarisation)"),
    _m("rougeLsum", "ROUGE-Lsum (summarisation)"),
    _m("f1", "F1 score (classification, extractive QA)"),
    _m("exact_match", "exact-match rate (QA)"),
    _m("pearson", "Pearson correlation with the gold scores (sentence similarity, regression)", "pearsonr"),
    _m("spearman", "Spearman rank correlation with the gold scores (sentence similarity)", "spearmanr"),
    _m("matthews_correlation", "Matthews correlation coefficient (GLUE CoLA)", "mcc"),
    # ---- RL (GRPO, PPO, RLOO...)
    _m("reward", "mean sequence reward (raw score)", "critic/score/mean", "average reward score",
       "reward/mean", "reward/all/mean", "ppo/mean_scores", "env/reward_mean", "reward_mean", "mean_reward", "avg_reward", "env/all/reward/total", dialects={"openrlhf": ("rm",)}, core=True),
    _m("returns", "PPO's mean return: the reward less the KL penalty, discounted over the response",
       "ppo/returns/mean", "critic/returns/mean"),
    _m("reward_std", "standard deviation of rewards (within groups for GRPO)", "reward/std", "critic/score/std",
       "std_reward"),
    _m("reward_max", "largest reward in the batch", "critic/score/max", "max_reward"),
    _m("reward_min", "smallest reward in the batch", "critic/score/min", "min_reward"),
    _m("frac_reward_zero_std", "fraction of groups whose rewards are all equal (no learning signal)",
       "zero_std_ratio", "flat_reward_group_ratio"),
    _m("solve_none", "fraction of prompts that no completion solved (prime-rl)", "solve_none/all"),
    _m("solve_all", "fraction of prompts that every completion solved (prime-rl)", "solve_all/all"),
    _m("advantages", "mean advantage of the batch", "critic/advantages/mean", "advantages/mean", "advantage"),
    _m("advantages_max", "largest advantage of the batch", "critic/advantages/max", "advantages/max"),
    _m("advantages_min", "smallest advantage of the batch", "critic/advantages/min", "advantages/min"),
    _m("entropy", "mean token entropy of the policy", "actor/entropy", "actor/entropy_loss", "policy_entropy", "optim/entropy",
       "entropy/mean", "token_entropy"),
    _m("ppo_kl", "approximate KL between the new and the old policy of a PPO step", "actor/ppo_kl",
       "ppo/policy/approxkl", "policy/approxkl_avg", "approx_kl"),
    _m("policy_loss", "policy-gradient loss", "actor/pg_loss", "pg_loss", "act_loss", "actor_loss", "ppo/loss/policy",
       "loss/policy_avg",
       dialects={"openrlhf": ("pg",)}, core=True),
    _m("value_loss", "critic (value function) loss", "critic/vf_loss", "critic_loss", "cri_loss", "vf_loss",
       "ppo/loss/value", "loss/value_avg",
       dialects={"openrlhf": ("cri",)}),
    _m("clip_ratio", "fraction of tokens whose probability ratio was clipped", "actor/pg_clipfrac",
       "pg_clipfrac", "ppo_clip_ratio", "ppo/policy/clipfrac", "policy/clipfrac_avg", "clip_fraction"),
    _m("clip_ratio/region_mean", "TRL: clipped fraction (both sides)"),
    _m("clip_ratio/high_mean", "TRL: fraction clipped above"),
    _m("clip_ratio/low_mean", "TRL: fraction clipped below"),
    _m("completions/mean_length", "mean completion length in tokens", "completion_length",
       "response_length/mean", "response_length", "completions/mean_length", "decode_len/mean", "decode_len/all/mean",
       "tokens/responses_len_mean", "ppo/response_length", "mean_length", "mean_completion_length", "mean_generation_length",
       "avg_response_token_length", "avg_response_length", dialects={"openrlhf": ("glen", "gen_len")}),
    _m("completions/max_length", "longest completion in tokens", "response_length/max", "max_completion_length"),
    _m("completions/min_length", "shortest completion in tokens", "response_length/min", "min_completion_length"),
    _m("completions/clipped_ratio", "fraction of completions cut at the length limit",
       "response_length/clip_ratio", "completions/clip_ratio", "is_truncated/mean", "is_truncated/all/mean",
       "response_clip_ratio", "clipped_ratio", "clipped_completions_ratio"),
    _m("objective/kl", "TRL PPO/RLOO: KL to the reference"),
    _m("objective/entropy", "TRL PPO/RLOO: policy entropy"),
    _m("objective/rlhf_reward", "TRL PPO/RLOO: score minus KL penalty"),
    _m("objective/scores", "TRL PPO/RLOO: reward-model score"),
    _m("objective/non_score_reward", "TRL PPO/RLOO: the KL penalty part of the reward"),
    _m("policy/clipfrac_avg", "TRL PPO: clipped fraction"),
    _m("policy/approxkl_avg", "TRL PPO: approximate KL of the update"),
    _m("policy/entropy_avg", "TRL PPO: policy entropy"),
    _m("val/ratio", "TRL PPO: mean probability ratio new/old"),
    # TRL PPO's `val/` is the value head's and the responses', not a validation split
    _m("val/ratio_var", "TRL PPO: variance of the probability ratio new/old"),
    _m("val/clipfrac_avg", "TRL PPO: fraction of value estimates clipped"),
    _m("num_eos_tokens", "TRL PPO: EOS tokens in the batch's responses (0: no response ended)", "val/num_eos_tokens",
       "ppo/val/num_eos_tokens"),
)

# Task metrics: the score an evaluation is run for, with the direction that is better. An eval loss that rises
# while such a metric keeps its best is the model growing over-confident on the tokens it still gets wrong, not
# lost generalisation (Whisper fine-tunes: WER improves while eval cross-entropy climbs).
TASK_METRIC_DIRECTION = {
    "wer": "lower", "cer": "lower",
    "accuracy": "higher", "f1": "higher", "bleu": "higher", "exact_match": "higher",
    "rouge1": "higher", "rouge2": "higher", "rougeL": "higher", "rougeLsum": "higher",
    "pearson": "higher", "spearman": "higher", "matthews_correlation": "higher",
}
# Error rates of speech recognition: a run that reports them is not a language-model fine-tune, whatever
# its loss looks like (LLM-only readings such as ln(V) or chat templates do not apply).
SPEECH_METRICS = ("wer", "cer")

# Core series per method: a run that logged none of its method's core series was read but not understood.
CORE_SERIES = {
    "grpo": ("reward", "policy_loss", "loss"),
    "ppo": ("reward", "policy_loss", "loss", "objective/scores", "objective/rlhf_reward", "returns"),
}
DEFAULT_CORE = ("loss", "eval_loss")
# Facts a source states about the training process itself (not its configuration): a log holding only these
# (DeepSpeed's overflow lines, TRL's negative-KL or skipped-batch warnings) was understood in part, and the
# rules judge them, so the run is not "inconclusive" although no core series was read.
CORE_FACTS = ("overflow_count", "loss_scale_at_minimum", "kl_negative_warnings", "ratio_skipped_batches")

# Keys that describe the log row rather than training: never metrics.
BOOKKEEPING = frozenset({
    "step", "current_steps", "total_steps", "percentage", "elapsed_time", "remaining_time", "eval_runtime",
    "eval_samples_per_second", "eval_steps_per_second", "train_runtime", "train_samples_per_second",
    "train_steps_per_second", "total_flos", "train_loss", "runtime", "samples_per_second", "steps_per_second",
    "num_input_tokens_seen", "throughput", "total_tokens", "global_step/max_steps", "memory(gib)",
    "train_speed(iter/s)", "global_step", "iteration", "iter", "consumed_samples", "consumed_tokens",
    "elapsed_time_per_iteration_(ms)", "global_batch_size", "time", "data_time", "eta", "memory",
    "tokens_per_second", "tokens_per_second_per_gpu", "train_tokens_per_second", "tok_s", "tokens_s", "it/s", "s/it", "batch_size", "micro_batch_size",
    "training/global_step", "training/epoch", "num_zeros", "number_of_parameters", "max_memory_allocated",
    # text logs: Megatron / NeMo / mmengine / torchtune / tqdm bookkeeping
    "tflops", "actual_seqlen", "train_step_timing_in_s", "tokens_per_sec", "tgs", "samples_per_sec",
    "throughput_per_gpu_(tflop/s/gpu)", "tokens_per_gpu_(tokens/s/gpu)", "throughput_(tokens/s)",
    "mem-allocated-bytes-avg(mb)", "consumed_samples", "base_lr", "v_num", "throughput_peak", "gpu_resources",
    "peak_memory_active", "peak_memory_alloc", "peak_memory_reserved", "examples_per_second",
    "counters/examples", "counters/updates", "it/sec", "tokens/sec", "trained_tokens", "peak_mem", "mfu",
    "step_time", "iter_time", "wps", "ups", "wpb", "bsz", "wall", "train_wall", "data", "max_mem", "tps",
    "num_label_tokens", "mem", "ppo_ep", "e2e_latency", "epoch_time",
    # modded-nanogpt's `train_time:0ms step_avg:nanms` (no average before the timing starts: not a metric's NaN)
    "step_avg", "train_time", "batch_time", "elapsed",
})
BOOKKEEPING_PREFIXES = ("timing_s/", "timing/", "perf/", "time/", "throughput/", "memory/", "system/", "_",
                        "global_seqlen/", "timing_per_token_ms/", "mfu/", "actor/perf/", "critic/perf/")
# Keys kept as run summaries (end-of-training rows), not step series.
SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss",
                          "total_flos"})
# In these dialects a key that HF uses only for summaries is an ordinary series.
_SERIES_IN_DIALECT = {"lightning": frozenset({"train_loss"}), "generic": frozenset({"train_loss"})}

# ------------------------------------------------------------------------------------------ the lookup


def _key(name: str) -> str:
    """Case- and separator-insensitive form: 'Training Loss' → 'training_loss', 'lr-AdamW' → 'lr_adamw',
    'Grad. Norm' → 'grad_norm' (an abbreviating period before a space is a separator too), and spaces around
    a slash are no separator ('completions / clipped_ratio', as some loggers print a nested key, is
    'completions/clipped_ratio')."""
    return _SEPARATORS.sub("_", _SPACED_SLASH.sub("/", name.strip().lower()))


_SEPARATORS = re.compile(r"\.?[\s\-]+")
_SPACED_SLASH = re.compile(r"\s*/\s*")
KNOWN = frozenset(m.name for m in METRICS)
_GENERIC: dict[str, str] = {}
_DIALECT: dict[str, dict[str, str]] = {}
for _metric in METRICS:
    _GENERIC[_key(_metric.name)] = _metric.name
    for _s in _metric.spellings:
        _GENERIC.setdefault(_key(_s), _metric.name)
    for _dialect, _spellings in _metric.dialects:
        for _s in _spellings:
            _DIALECT.setdefault(_dialect, {})[_key(_s)] = _metric.name
_BOOKKEEPING = frozenset(_key(k) for k in BOOKKEEPING)
# DPO reference implementation: `rewards_train/chosen`, `logps_eval/rejected`, `loss/train`.
_SPLIT_GROUP = re.compile(r"^(rewards|logps|logits|loss)_?(train|eval)/?(.*)$")
_EVAL_PREFIXES = ("eval/", "eval_", "validation/", "validation_", "val/", "val_", "valid/", "valid_",
                  "val-core/", "val-aux/", "dev/", "dev_")  # `dev_loss`: the development split is the eval split


def is_bookkeeping(key: str, dialect: str | None = None) -> bool:
    k = _key(key)
    if dialect and k in _SERIES_IN_DIALECT.get(dialect, ()):
        return False
    if k in _BOOKKEEPING or k.startswith(BOOKKEEPING_PREFIXES):
        return True
    # HF's names as trackers spell them (W&B, MLflow, DVCLive): `train/global_step`, `train/train_runtime`,
    # `train/train_loss` (the end-of-run summary), `eval/runtime`, `eval/samples_per_second`.
    if k.startswith("train/"):
        return k[len("train/"):] in _BOOKKEEPING
    if k.startswith("eval/"):
        return "eval_" + k[len("eval/"):] in _BOOKKEEPING
    return False


def canonical(name: str, eval_row: bool = False, dialect: str | None = None) -> str:
    """The canonical name of a logged key.

    `eval_row` says the key came from an evaluation record (HF puts `eval_loss` there; LLaMA-Factory's KTO
    also puts an un-prefixed `kl`, an eval KL that must not mix with the train `kl`). Dialect spellings
    apply to train keys only: LLaMA-Factory's `accuracy` is the reward accuracy, `eval_accuracy` the SFT one.
    """
    n = name.strip()
    low = n.lower()
    if low.startswith(("test/", "test_")):
        return "test_" + _lookup(n[5:], None)
    base, is_eval = _split_role(n, low, dialect)
    out = _lookup(base, None if is_eval else dialect)
    if out.startswith("eval_"):
        return out
    if is_eval or (eval_row and out != "epoch"):
        return "eval_" + out
    return out


def _split_role(n: str, low: str, dialect: str | None) -> tuple[str, bool]:
    """(the name without its role prefix, whether the prefix said evaluation)."""
    k = _key(n)
    if k in _GENERIC or (dialect and k in _DIALECT.get(dialect, {})):
        return n, False  # a spelling of its own (`val/ratio`, `loss/eval`, `rewards_train/chosen`)
    m = _SPLIT_GROUP.match(low)
    if m:
        group, role, rest = m.groups()
        return (f"{group}/{rest}" if rest else group), role == "eval"
    if low.startswith("train/"):
        return n[len("train/"):], False
    # `train_` and `train ` alike (a text log's `train lm loss: 11.5`, `val lm loss: 11.6`)
    if low.startswith(("train_", "train ")) and (_key(n[len("train_"):]) in _GENERIC
                                                 or _averaged(_key(n[len("train_"):])) in _GENERIC):
        return n[len("train_"):], False
    for p in _EVAL_PREFIXES:
        if (low.startswith(p) or (p[-1] == "_" and low.startswith(p[:-1] + " "))) and len(n) > len(p):
            return n[len(p):], True
    return n, False


# `lr_...` keys that name the schedule, not the rate (`lr_scheduler_type: cosine`, `lr_warmup_steps: 100`)
_NOT_A_RATE = ("lr_scheduler", "lr_schedule", "lr_warmup", "lr_decay", "lr_policy", "lr_type", "lr_min", "lr_end")


def _lookup(n: str, dialect: str | None) -> str:
    k = _key(n)
    if dialect:
        hit = _DIALECT.get(dialect, {}).get(k)
        if hit is not None:
            return hit
    hit = _GENERIC.get(k)
    if hit is not None:
        return hit
    hit = _GENERIC.get(_averaged(k))  # a custom loop's `kl_avg`, `avg_loss`, `rewards_avg`: the mean it logged
    if hit is not None:
        return hit
    if k.startswith("lr_") and dialect in (None, "lightning") and not k.startswith(_NOT_A_RATE):
        return "learning_rate" if "/" not in k else n  # Lightning LearningRateMonitor: lr-AdamW, lr-AdamW/pg1
    return n


_AVERAGED = re.compile(r"^(?:avg|mean|average)_(.+)$|^(.+?)_(?:avg|mean|average)$")
_PLURAL = {"rewards": "reward", "accuracies": "accuracy", "losses": "loss"}


def _averaged(k: str) -> str:
    """A key without the averaging word a custom loop adds (`kl_avg`, `avg_loss`, `train_accuracies_avg`) and in the
    singular (`rewards` -> `reward`): the ontology's name for the same mean, or '' where there was no such word."""
    m = _AVERAGED.match(k)
    if m is None:
        return ""
    base = m.group(1) or m.group(2)
    return _PLURAL.get(base, base)


def _eval_name(n: str) -> str:
    return n[len("eval_"):] if n.startswith("eval_") else n


def is_known(name: str) -> bool:
    """A canonical name the ontology defines (train or eval form)."""
    return name in KNOWN or (name.startswith("eval_") and name[len("eval_"):] in KNOWN) or \
        (name.startswith("test_") and name[len("test_"):] in KNOWN)


def unknown(names) -> list[str]:
    return [n for n in names if not is_known(n)]


# A loss the ontology does not name (`GD_loss`, `loss_itc`, `combined_loss`): the parts of a multi-task loss, or an
# unknown trainer's total. Evaluation names (`val_loss_itc`) are not training losses.
_TOKENS = re.compile(r"[^a-z0-9]+")
_EVAL_TOKENS = frozenset({"eval", "val", "valid", "validation", "test", "dev"})
_TOTAL_TOKENS = frozenset({"total", "combined", "overall", "all", "sum", "full"})


def loss_parts(names) -> tuple[list[str], str | None]:
    """(the unknown training-loss series among `names`, the one among them that says it is the total or None)."""
    parts, total = [], None
    for n in names:
        if is_known(n):
            continue
        tokens = [t for t in _TOKENS.split(n.lower()) if t]
        if not any(t.endswith("loss") or t.startswith("loss") for t in tokens) or _EVAL_TOKENS.intersection(tokens):
            continue
        parts.append(n)
        if total is None and _TOTAL_TOKENS.intersection(tokens):
            total = n
    return parts, total


# The learning rate of one parameter group, logged under a name of its own (`backbone_lr`, `mm_projector_lr`,
# `lr_group_1`, `lr-AdamW/pg1`, `learning_rate/proj`): a token `lr` or `learning_rate`, no schedule word, no eval.
_RATE_TOKENS = frozenset({"lr", "learningrate"})
_NOT_RATE_TOKENS = frozenset({"scheduler", "schedule", "warmup", "decay", "policy", "type", "min", "end", "base",
                              "init", "initial", "max", "peak", "scale", "factor", "ratio", "mult", "multiplier",
                              # another model's optimiser (an RL run's value model, a GAN's discriminator)
                              "critic", "value", "vf", "disc", "discriminator"})


def group_rates(names) -> list[str]:
    """The series among `names` that hold one parameter group's learning rate (none the ontology already knows)."""
    out = []
    for n in names:
        if is_known(n):
            continue
        tokens = {t for t in _TOKENS.split(n.lower().replace("learning_rate", "learningrate")) if t}
        # a name with a unit in it (verl's `actor/lr(1e-4)`) is scaled: not the rate itself
        if tokens & _RATE_TOKENS and not tokens & (_NOT_RATE_TOKENS | _EVAL_TOKENS) and "(" not in n:
            out.append(n)
    return out


# The per-function rewards of a GRPO-style trainer: TRL's `rewards/<function>/mean` (0.16+) and `rewards/<function>`
# (before), mlx-lm's read the same way, EasyR1's `reward/<function>` (beside `reward/overall`, their sum). Not the
# preference rewards (`rewards/chosen`, `rewards/margins`, KTO's sums).
_REWARD_COMPONENT = re.compile(r"rewards?/(?!(?:chosen|rejected|margins|accuracies|kl|overall|std|max|min|mean)"
                               r"(?:_|/|$))([^/]+)(?:/mean)?")


def reward_components(names) -> list[str]:
    """The series among `names` that hold one reward function's mean reward."""
    return [n for n in names if _REWARD_COMPONENT.fullmatch(n)]


def task_metrics(names) -> list[tuple[str, str]]:
    """(eval metric name, 'lower' | 'higher') for every eval task metric among `names`, in table order."""
    present = set(names)
    return [("eval_" + m, d) for m, d in TASK_METRIC_DIRECTION.items() if "eval_" + m in present]


def core_series(method: str) -> tuple[str, ...]:
    return CORE_SERIES.get(method, DEFAULT_CORE)


def core_missing(method: str, names, facts) -> bool:
    """True when a run with these metric names and facts was read but not understood: none of its method's
    core series, and none of the facts about the training process that rules judge (CORE_FACTS)."""
    return not any(n in names for n in core_series(method)) and not any(facts.get(k) for k in CORE_FACTS)


def understood(names, facts) -> bool:
    """Whether a source read anything the rules can judge, whatever the run's method: a core series of some method,
    a loss from named parts, or a fact about the training process (`core_missing`'s question, asked of one file)."""
    return (any(n in _CORE_ANY for n in names) or bool(loss_parts(names)[0])
            or any(facts.get(k) for k in CORE_FACTS))


_CORE_ANY = frozenset(name for names in (*CORE_SERIES.values(), DEFAULT_CORE) for name in names)


def is_summary_record(keys) -> bool:
    """HF's end-of-run summary (`train_runtime`, `train_loss`, ...), not a logged row: a row with its `loss` stays a
    row even where the trainer adds `train_runtime` to each (LLaMA-Factory with include_num_input_tokens_seen)."""
    return "loss" not in keys and ("train_runtime" in keys or "train_loss" in keys)


def is_eval_record(keys) -> bool:
    """An HF log record is an eval record when it carries eval_* keys and no train loss."""
    has_eval = False
    for k in keys:
        if k == "loss":
            return False
        if k.startswith("eval_") or k.startswith("eval/"):
            has_eval = True
    return has_eval


# Every canonical name in train and eval form: rule expressions naming anything else must declare it.
KNOWN_METRICS = frozenset(KNOWN | {"eval_" + m for m in KNOWN if m not in ("epoch",) and not m.startswith("eval_")})
