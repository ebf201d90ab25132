"""verl's configuration in the keys kto-doctor's rules read.

verl is configured by one nested Hydra tree (`actor_rollout_ref.actor.optim.lr`, `actor_rollout_ref.rollout.n`,
`algorithm.adv_estimator`, ...). A run prints it at start-up (`pprint` of the resolved tree, one key per line under
the Ray prefix `(TaskRunner pid=...)`) and Hydra saves it as `.hydra/config.yaml`. Both carry the facts the
console's `step:N - ...` lines do not: the group size (`rollout.n`), the advantage estimator that makes a run GRPO
or PPO, the learning rate (verl <= 0.3 prints it as `actor/lr:0.000`), the response length limit, the KL terms.
"""
from __future__ import annotations

import ast
import re
from typing import Any

# nested path -> canonical config key
_PATHS = {
    ("actor_rollout_ref", "actor", "optim", "lr"): "learning_rate",
    ("actor_rollout_ref", "actor", "optim", "lr_warmup_steps"): "warmup_steps",
    ("actor_rollout_ref", "actor", "optim", "lr_warmup_steps_ratio"): "warmup_ratio",
    ("actor_rollout_ref", "actor", "grad_clip"): "max_grad_norm",
    ("actor_rollout_ref", "actor", "entropy_coeff"): "entropy_coeff",
    ("actor_rollout_ref", "actor", "clip_ratio_high"): "epsilon_high",
    ("actor_rollout_ref", "rollout", "n"): "num_generations",
    ("actor_rollout_ref", "rollout", "temperature"): "temperature",
    ("actor_rollout_ref", "model", "path"): "model_name_or_path",
    ("data", "max_response_length"): "max_completion_length",
    ("data", "max_prompt_length"): "max_prompt_length",
    ("data", "train_batch_size"): "train_batch_size",
    ("algorithm", "adv_estimator"): "adv_estimator",
    ("trainer", "total_training_steps"): "max_steps",
    ("trainer", "total_epochs"): "num_train_epochs",
}
# estimators that normalise rewards within a prompt's group of completions (the GRPO family): no critic
GROUP_ESTIMATORS = frozenset({"grpo", "rloo", "grpo_passk", "drgrpo", "opo", "reinforce_plus_plus_baseline", "gpg",
                              "grpo_vectorized"})


def is_verl_tree(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("actor_rollout_ref"), dict)


def facts(raw: dict) -> dict[str, Any]:
    """The canonical keys of a verl tree (values as stated; None and missing paths left out), and `method`:
    grpo for a group estimator, ppo for GAE (a critic)."""
    out: dict[str, Any] = {}
    for path, key in _PATHS.items():
        node: Any = raw
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, (dict, list)):
            out[key] = node
    if isinstance(out.get("warmup_steps"), (int, float)) and out["warmup_steps"] < 0:
        del out["warmup_steps"]  # -1: the warm-up is the ratio's
    actor = (raw.get("actor_rollout_ref") or {}).get("actor") or {}
    algorithm = raw.get("algorithm") or {}
    # the KL term TRL calls beta: the actor's KL loss where it is on, else the KL in the reward where that is on
    if isinstance(actor, dict) and actor.get("use_kl_loss") is True and actor.get("kl_loss_coef") is not None:
        out["beta"] = actor["kl_loss_coef"]
    elif isinstance(algorithm, dict) and algorithm.get("use_kl_in_reward") is True:
        coef = (algorithm.get("kl_ctrl") or {}).get("kl_coef")
        if coef is not None:
            out["beta"] = coef
    elif isinstance(actor, dict) and actor.get("use_kl_loss") is False and algorithm.get("use_kl_in_reward") is False:
        out["beta"] = 0.0
    estimator = str(out.get("adv_estimator") or "").lower()
    if estimator == "gae":
        out["method"] = "ppo"
    elif estimator in GROUP_ESTIMATORS:
        out["method"] = "grpo"
    return out


# the start of the printed tree, after any Ray prefix and colour codes
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PREFIX = re.compile(r"^(?:\([\w.]+ pid=\d+(?:, ip=[\d.]+)?\) )?")
_TREE_START = re.compile(r"\{'(?:actor_rollout_ref|algorithm|critic|data|reward_model|trainer)': ")
MAX_TREE = 1 << 20  # the printed tree is 10-60 KB; a start-up far longer is no tree


def printed_tree(head: str) -> dict | None:
    """The configuration verl printed at start-up in `head` (the log's first bytes), or None.

    Each line of the pprint output carries the same Ray prefix; the tree ends where its braces balance. It is
    read by `ast.literal_eval` (literals only: the log's own text, never evaluated as code)."""
    lines = head.split("\n")
    for i, raw_line in enumerate(lines):
        m = _TREE_START.search(_ANSI.sub("", raw_line))
        if m is None:
            continue
        # the text before the tree on its first line (a Ray actor's `(TaskRunner pid=..)`, torchrun's `[rank0]:`, a
        # logging timestamp, a quote mark of a paste) is on every line of it: its digits may change from line to line
        lead = _ANSI.sub("", raw_line)[:m.start()]
        same = re.compile(re.sub(r"\d+", r"\\d+", re.escape(lead))) if lead.strip() else None
        body: list[str] = []
        depth = size = 0
        for k, raw in enumerate(lines[i:]):
            part = _ANSI.sub("", raw)
            if k == 0:
                part = part[m.start():]
            else:
                got = same.match(part) if same is not None else None
                part = part[got.end():] if got is not None else _PREFIX.sub("", part)
            body.append(part)
            size += len(part)
            depth += _balance(part)
            if depth <= 0 or size > MAX_TREE:
                break
        if depth != 0:
            return None
        try:
            tree = ast.literal_eval("\n".join(body))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        return tree if is_verl_tree(tree) else None
    return None


_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def _balance(text: str) -> int:
    """Open minus closed braces and brackets outside quoted strings."""
    bare = _QUOTED.sub("", text)
    return sum(map(bare.count, "{[(")) - sum(map(bare.count, "}])"))
