"""From a path to one `Run`: find the files, read each with its reader, merge them.

Discovery walks a run directory (or takes one file), keeps only the newest of several checkpoint copies of
trainer_state.json, and reads everything else it recognises. Assembly merges the configs (normalized,
then `--set` overrides, then derived keys such as `warmup_steps_effective`), places console logs that
have no step counter on the global step axis, and merges every metric into one frame indexed by step,
trusting trainer_state over TensorBoard over console over trainer_log where they overlap.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import InputError
from . import config as cfgmod
from . import sources
from .model import FRAMEWORKS, METHODS, Run, SourceInfo
from .sources.base import SourceData, SourceError

MAX_FILES = 2000
# Lower number = more trusted when two sources log the same metric at the same step.
PRIORITY = {"trainer_state": 0, "tensorboard": 1, "console": 2, "trainer_log": 3}
# Formats whose failure to read is worth a warning; an unreadable *.log / *.yaml is usually not a log at all.
LOUD_FORMATS = ("trainer_state", "trainer_log", "tensorboard", "results")
NOTHING_FOUND = ("no training logs found (looked for trainer_state.json, trainer_log.jsonl, "
                 "events.out.tfevents.*, *.log)")
_GLOBAL_STEP = re.compile(rb'"global_step"\s*:\s*(\d+)')
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def load_run(path, overrides: dict | None = None) -> Run:
    root = Path(path)
    if not root.exists():
        raise InputError(f"{path}: no such file or directory")
    run_warnings: list[str] = []
    if root.is_dir():
        datas, infos = _read_directory(root, run_warnings)
    else:
        datas, infos = _read_single(root)
    if not any(d.format != "config" for d in datas):
        # Name what was found and why it could not be used, rather than claiming nothing was there.
        skipped = [w for w in run_warnings if ": skipped: " in w]
        if skipped:
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            raise InputError(f"{path}: no readable training log; {skipped[0].replace(': skipped: ', ': ', 1)}{more}")
        raise InputError(f"{path}: {NOTHING_FOUND}")
    return assemble(str(path), datas, infos, run_warnings, overrides)


# ---------------------------------------------------------------- discovery


def _read_single(file: Path) -> tuple[list[SourceData], list[SourceInfo]]:
    fmt = sources.detect(file) or "console"  # a file named on the command line: try it as a console log
    try:
        data = sources.read(file, fmt)
    except SourceError as exc:
        raise InputError(_one_line(exc)) from None
    except ImportError as exc:
        raise InputError(f"{file}: the {fmt} reader is not available ({exc})") from None
    return [data], [_info(data, file.name)]


def _walk(root: Path, run_warnings: list[str]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in sources.SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            fmt = sources.detect(p)
            if fmt is None:
                continue
            if len(found) >= MAX_FILES:
                run_warnings.append(f"more than {MAX_FILES} log files under {root}; read only the first {MAX_FILES}")
                return found
            found.append((p, fmt))
    return found


def _read_directory(root: Path, run_warnings: list[str]) -> tuple[list[SourceData], list[SourceInfo]]:
    found = _walk(root, run_warnings)
    datas: list[SourceData] = []
    infos: list[SourceInfo] = []  # infos[i] describes datas[i]; the superseded copies follow at the end
    superseded: list[SourceInfo] = []
    for copies in _checkpoint_groups([p for p, fmt in found if fmt == "trainer_state"]):
        _choose_trainer_state(root, copies, datas, infos, superseded, run_warnings)
    missing: dict[str, int] = {}  # format -> files whose reader could not be imported
    for p, fmt in found:
        if fmt == "trainer_state":
            continue
        rel = _rel(p, root)
        try:
            data = sources.read(p, fmt)
        except SourceError as exc:
            if fmt in LOUD_FORMATS:
                run_warnings.append(f"{rel}: skipped: {_reason(exc, p)}")
            continue
        except ImportError:
            missing[fmt] = missing.get(fmt, 0) + 1
            continue
        except Exception as exc:  # a reader bug must not hide the other logs
            run_warnings.append(f"{rel}: skipped: {type(exc).__name__}: {exc}")
            continue
        datas.append(data)
        infos.append(_info(data, rel))
    for fmt, n in missing.items():
        run_warnings.append(f"{n} {fmt} file(s) not read: the {fmt} reader is not available")
    _merge_event_files(root, datas, infos)
    return datas, infos + superseded


def _merge_event_files(root: Path, datas: list[SourceData], infos: list[SourceInfo]) -> None:
    """Several event files of one writer folder (restarts; HF's separate eval writer) become one source.

    The TensorBoard reader's merge resolves the same tag at the same step by the later wall time and warns
    when files disagree; the series merge below only knows source priorities, which cannot tell them apart.
    """
    groups: dict[Path, list[int]] = {}
    for i, d in enumerate(datas):
        if d.format == "tensorboard":
            groups.setdefault(Path(d.path).parent, []).append(i)
    if all(len(ix) < 2 for ix in groups.values()):
        return
    from .sources.tensorboard import merge

    drop: set[int] = set()
    for ix in groups.values():
        if len(ix) < 2:
            continue
        merged = merge([datas[i] for i in ix])
        datas[ix[0]] = merged
        infos[ix[0]] = _info(merged, _rel(Path(merged.path), root))
        drop.update(ix[1:])
    datas[:] = [d for i, d in enumerate(datas) if i not in drop]
    infos[:] = [x for i, x in enumerate(infos) if i not in drop]


def _checkpoint_groups(states: list[Path]) -> list[list[Path]]:
    """trainer_state.json copies of one run: the output dir's own and those of its checkpoint-N/ folders.

    Any other file (a renamed copy, a second run) is a group of its own.
    """
    groups: dict[Path, list[Path]] = {}
    for p in states:
        if p.name != "trainer_state.json":
            key = p
        elif _CHECKPOINT.fullmatch(p.parent.name):
            key = p.parent.parent
        else:
            key = p.parent
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def _choose_trainer_state(root, states, datas, infos, superseded, run_warnings):
    """Read only the newest trainer_state.json (largest global_step; top level wins ties).

    Every checkpoint holds the whole log_history up to its step, so older copies add nothing; their
    global_step is peeked from the head of the file instead of parsing them.
    """
    def rank(p: Path):
        gs = _peek_global_step(p)
        in_checkpoint = _CHECKPOINT.fullmatch(p.parent.name) is not None
        return (gs if gs is not None else -1, 0 if in_checkpoint else 1)

    ordered = sorted(states, key=rank, reverse=True)
    chosen = None
    skipped = []
    for p in ordered:
        rel = _rel(p, root)
        if chosen is not None:
            skipped.append(p)
            superseded.append(SourceInfo(path=rel, format="trainer_state", records=0, used=False,
                                         warnings=[f"superseded by {_rel(chosen.path, root)}"]))
            continue
        try:
            chosen = sources.read(p, "trainer_state")
        except SourceError as exc:
            run_warnings.append(f"{rel}: skipped: {_reason(exc, p)}")
            continue
        datas.append(chosen)
        infos.append(_info(chosen, rel))
    if chosen is not None and skipped:
        gs = chosen.facts.get("global_step")
        run_warnings.append(f"using {_rel(chosen.path, root)} (global_step {gs}); "
                            f"{len(skipped)} older cop{'y' if len(skipped) == 1 else 'ies'} ignored")


def _peek_global_step(p: Path) -> int | None:
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    m = _GLOBAL_STEP.search(head)
    return int(m.group(1)) if m else None


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _one_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _reason(exc: Exception, p: Path) -> str:
    """The SourceError text without the leading path (the warning already names the file)."""
    msg = _one_line(exc)
    prefix = f"{p}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _info(data: SourceData, rel: str) -> SourceInfo:
    return SourceInfo(path=rel, format=data.format, records=data.records, warnings=list(data.warnings),
                      metrics=list(data.series))


# ---------------------------------------------------------------- assembly


def assemble(path: str, datas: list[SourceData], infos: list[SourceInfo], run_warnings: list[str],
             overrides: dict | None = None) -> Run:
    rel_of = {id(d): info.path for d, info in zip(datas, infos)}
    facts = _merge_facts(datas)
    config, config_prov = _merge_config(datas, rel_of, overrides)
    _derive(config, config_prov, facts)
    # Run facts (trainable params, example counts, overflow counts...) are visible to rules as config.*
    # wherever no configuration file states the key.
    for key, value in facts.items():
        if key not in config and isinstance(value, (int, float, str, bool)):
            config[key] = value
            config_prov[key] = "run facts"
    for d, info in zip(datas, infos):
        if d.step_kind == "ordinal" and d.series:
            info.warnings.append(_place_ordinals(d, config))
            if "overflow_steps" in d.facts:
                facts["overflow_steps"] = d.facts["overflow_steps"]
    for d in datas:
        note = _drop_bad_steps(d)
        if note:
            infos[[i for i, x in enumerate(datas) if x is d][0]].warnings.append(note)
    series, provenance, locations = _merge_series(datas, rel_of)
    metrics = pd.concat(series, axis=1, sort=True) if series else pd.DataFrame(index=pd.Index([], dtype="int64"))
    metrics.index.name = "step"
    run = Run(path=path, metrics=metrics, config=config, sources=infos, warnings=run_warnings, facts=facts,
              provenance=provenance, config_provenance=config_prov, locations=locations, _series=series)
    run.segments = [{"first": _num(a), "last": _num(b), "source": rel_of[id(d)]}
                    for d in datas for a, b, _ in d.segments]
    run.method, run.method_source = detect_method(config, datas, series)
    run.framework, run.framework_source = detect_framework(config, datas, series)
    return run


def _num(x):
    return int(x) if float(x).is_integer() else float(x)


def _merge_facts(datas: list[SourceData]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for d in sorted(datas, key=lambda d: PRIORITY.get(d.format, 4), reverse=True):
        facts.update({k: v for k, v in d.facts.items() if v is not None})
    return facts


def _merge_config(datas, rel_of, overrides) -> tuple[dict, dict]:
    rank = {"model_config": 0, "adapter_config": 1, "training": 2}
    configs = sorted((d for d in datas if d.format == "config"),
                     key=lambda d: (rank.get(d.hints.get("config_kind"), 2), rel_of[id(d)]))
    layers = [(cfgmod.normalize(d.config, d.hints.get("config_kind")), rel_of[id(d)]) for d in configs]
    # Configuration stated inside logs (a console's "Running training" block) is below any config file.
    for d in datas:
        if d.format != "config" and d.config:
            layers.insert(0, (cfgmod.normalize(d.config, None), rel_of[id(d)]))
    if overrides:
        layers.append((cfgmod.normalize({k: cfgmod.parse_set_value(v) for k, v in overrides.items()}), "--set"))
    return cfgmod.merge(layers)


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _derive(config: dict, prov: dict, facts: dict) -> None:
    """Keys computed from others, never replacing a `--set` value."""

    def put(key, value):
        if value is not None and prov.get(key) != "--set":
            config[key] = value
            prov[key] = "derived"

    if not _positive(config.get("logging_steps")) and _positive(facts.get("logging_steps")):
        put("logging_steps", int(facts["logging_steps"]))
    if config.get("world_size") is None and _positive(facts.get("world_size")):
        put("world_size", int(facts["world_size"]))
    total = None
    if _positive(config.get("max_steps")):
        total = int(config["max_steps"])
    elif _positive(facts.get("max_steps")):
        total = int(facts["max_steps"])
    elif _positive(facts.get("total_steps")):
        total = int(facts["total_steps"])
    put("total_steps", total)
    total = config.get("total_steps")
    if _positive(config.get("warmup_steps")):
        put("warmup_steps_effective", int(config["warmup_steps"]))
    elif _positive(config.get("warmup_ratio")) and _positive(total):
        put("warmup_steps_effective", math.ceil(config["warmup_ratio"] * total))
    elif config.get("warmup_steps") == 0 and not _positive(config.get("warmup_ratio")):
        put("warmup_steps_effective", 0)
    pdbs, ga = config.get("per_device_train_batch_size"), config.get("gradient_accumulation_steps")
    if _positive(pdbs) and _positive(ga):
        ws = config.get("world_size") if _positive(config.get("world_size")) else 1
        put("effective_batch_size", int(pdbs * ga * ws))
    elif _positive(facts.get("total_train_batch_size")):
        put("effective_batch_size", int(facts["total_train_batch_size"]))
    if _positive(ga) and _positive(config.get("logging_steps")):
        put("kl_window", int(ga * config["logging_steps"]))
    if not _positive(config.get("vocab_size")):
        from .known_models import vocab_size_for

        known = vocab_size_for(config.get("model_name_or_path"))
        if known is not None:
            put("vocab_size", known[0])
            prov["vocab_size"] = f"known model family ({known[1]})"


def _place_ordinals(d: SourceData, config: dict) -> str:
    """Put a console log's 1, 2, 3... on global steps; returns the note saying how."""
    k_all = np.unique(np.concatenate([s.steps for s in d.series.values()]))
    lr = d.series.get("learning_rate")
    mapping = None
    how = None
    peak, warm = config.get("learning_rate"), config.get("warmup_steps_effective")
    if lr is not None and _positive(peak) and _positive(warm):
        s = lr.values * warm / peak
        if (np.all(np.isfinite(s)) and np.all(np.abs(s - np.round(s)) < 1e-6) and np.all(np.round(s) >= 1)
                and (len(s) < 2 or np.all(np.diff(np.round(s)) > 0)) and np.array_equal(lr.steps, k_all[k_all > 0])):
            mapping = dict(zip(lr.steps.tolist(), np.round(s).tolist()))
            how = f"the learning rate (linear warm-up to {peak:g} over {warm} steps)"
    if mapping is None:
        ls = config.get("logging_steps")
        if _positive(ls):
            mapping = {k: k * ls for k in k_all.tolist()}
            how = f"logging_steps × k (logging_steps {ls})"
        else:
            mapping = {k: k for k in k_all.tolist()}
            how = "log order (step k = k-th logged dict; logging_steps unknown)"
    for s in d.series.values():
        s.steps = np.array([mapping.get(k, k) for k in s.steps.tolist()], dtype=np.float64)
    if d.facts.get("overflow_steps"):  # ordinals of the train record that followed each overflow
        d.facts["overflow_steps"] = [_num(mapping.get(float(k), k)) for k in d.facts["overflow_steps"]]
    d.step_kind = "exact"
    return f"{d.path.name}: no step counter in the log; steps inferred from {how}"


MAX_STEP = 2.0 ** 53  # beyond this a float step is no longer a whole number


def _drop_bad_steps(d: SourceData) -> str | None:
    """Keep values whose step is a finite, non-negative whole number (rounding near-integers); say what went."""
    dropped = 0
    for name, s in list(d.series.items()):
        steps = np.asarray(s.steps, dtype=np.float64)
        whole = np.rint(steps)
        ok = np.isfinite(steps) & (steps >= 0) & (steps < MAX_STEP) & (np.abs(steps - whole) < 1e-6)
        if ok.all():
            s.steps = whole
            continue
        dropped += int((~ok).sum())
        s.steps, s.values = whole[ok], np.asarray(s.values)[ok]
        if s.lines is not None:
            s.lines = np.asarray(s.lines)[ok]
        if s.wall_times is not None:
            s.wall_times = np.asarray(s.wall_times)[ok]
        if not len(s.steps):
            del d.series[name]
    if dropped:
        return f"{Path(d.path).name}: {dropped} value(s) with a step that is not a whole number >= 0 ignored"
    return None


def _merge_series(datas, rel_of):
    by_metric: dict[str, list[tuple[int, SourceData]]] = {}
    for d in datas:
        for name in d.series:
            by_metric.setdefault(name, []).append((PRIORITY.get(d.format, 4), d))
    series: dict[str, pd.Series] = {}
    provenance: dict[str, str] = {}
    locations: dict[str, Any] = {}
    for name, entries in by_metric.items():
        entries.sort(key=lambda e: e[0])
        best = entries[0][1]
        steps = best.series[name].steps
        values = best.series[name].values
        lines = best.series[name].lines
        lo, hi = (steps.min(), steps.max()) if len(steps) else (np.inf, -np.inf)
        for _, other in entries[1:]:
            o = other.series[name]
            # A lower-priority source only extends the metric beyond the steps the better source covers
            # (a console that outlives the last checkpoint's trainer_state). Inside that range the better
            # source is the record: console steps placed one off would otherwise double every value.
            new = ~np.isin(o.steps, steps) & ((o.steps < lo) | (o.steps > hi))
            if new.any():
                steps = np.concatenate([steps, o.steps[new]])
                values = np.concatenate([values, o.values[new]])
                lines = None
        order = np.argsort(steps, kind="stable")
        sorted_steps = steps[order]
        # One value per step: a source may log a tag twice at one step (HF writes train/epoch for both the
        # train and the eval log of that step); the later record wins, as for resumed segments.
        if len(sorted_steps) > 1 and (sorted_steps[1:] == sorted_steps[:-1]).any():
            keep = np.append(sorted_steps[1:] != sorted_steps[:-1], True)
            order = order[keep]
            sorted_steps = sorted_steps[keep]
        index = pd.Index(sorted_steps.astype(np.int64), name="step")
        series[name] = pd.Series(values[order], index=index, name=name)
        rel = rel_of[id(best)]
        provenance[name] = rel
        if lines is not None:
            locations[name] = (rel, pd.Series(lines[order], index=index))
    return series, provenance, locations


# ---------------------------------------------------------------- method and framework

LLAMAFACTORY_CONFIG_KEYS = ("stage", "finetuning_type", "pref_beta", "pref_loss", "kto_chosen_weight", "cutoff_len")
_STAGE_METHOD = {"kto": "kto", "sft": "sft", "pt": "pt", "rm": "rm", "ppo": "ppo", "grpo": "grpo"}
_DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "exo_pair", "aot",
               "aot_pair", "apo_zero", "apo_down", "discopop", "sft")


def detect_method(config: dict, datas: list[SourceData], series: dict) -> tuple[str, str]:
    """(method, "stated" | "guessed"): stated by --method / --set method, a config or a log; else guessed
    from the metric names."""
    stated = _stated_method(config, datas)
    if stated is not None:
        return stated, "stated"
    return _guessed_method(config, series), "guessed"


def _stated_method(config: dict, datas: list[SourceData]) -> str | None:
    method = str(config.get("method") or "").lower()
    if method in METHODS and method != "unknown":
        return method
    stage = str(config.get("stage") or "").lower()
    loss_type = str(config.get("loss_type") or "").lower()
    if stage == "dpo":
        return loss_type if loss_type in ("orpo", "simpo") else "dpo"
    if stage in _STAGE_METHOD:
        return _STAGE_METHOD[stage]
    if loss_type in ("orpo", "simpo", "kto"):
        return loss_type
    for d in datas:
        if d.hints.get("method") in METHODS and d.hints["method"] != "unknown":
            return d.hints["method"]
    return None


def _guessed_method(config: dict, series: dict) -> str:
    loss_type = str(config.get("loss_type") or "").lower()
    names = set(series)
    if names & {"reward_std", "frac_reward_zero_std", "completion_length"} or any(
            n.startswith("completions/") or (n.startswith("rewards/") and n.endswith(("/mean", "/std"))
                                             or n.endswith("_reward_func")) for n in names):
        return "grpo"
    if "objective/kl" in names or any(n.startswith("ppo/") for n in names):
        return "ppo"
    if "kl" in names and "rewards/chosen" in names and "rewards/accuracies" not in names:
        return "kto"
    # Paired preference metrics without KTO's kl: DPO-family (mlx-lm logs only chosen/rejected rewards;
    # some DPO forks log only logits/*).
    if names & {"rewards/accuracies", "rewards/margins"} or {"rewards/chosen", "rewards/rejected"} <= names \
            or {"logits/chosen", "logits/rejected"} <= names and "kl" not in names:
        if names & {"log_odds_ratio", "nll_loss", "odds_ratio_loss", "sft_loss", "log_odds_chosen"}:
            return "orpo"
        return "dpo"
    if loss_type in _DPO_LOSSES and loss_type != "sft":
        return "dpo"
    if "loss" in names or "eval_loss" in names:
        return "sft"
    return "unknown"


def detect_framework(config: dict, datas: list[SourceData], series: dict) -> tuple[str, str]:
    """(framework, "stated" | "guessed"): stated by --set framework, a framework's own file or log line
    (hints) or its config keys; else guessed from metric names and file formats."""
    hinted = {d.hints.get("framework") for d in datas}
    named = str(config.get("framework") or "").lower()
    if named in FRAMEWORKS and named != "unknown":
        return named, "stated"
    if "llamafactory" in hinted or any(k in config for k in LLAMAFACTORY_CONFIG_KEYS):
        return "llamafactory", "stated"
    if "trl" in hinted:
        return "trl", "stated"
    if "transformers" in hinted:
        return "transformers", "stated"
    return _guessed_framework(datas, set(series)), "guessed"


def _guessed_framework(datas: list[SourceData], names: set) -> str:
    # sft_loss / odds_ratio_loss are LLaMA-Factory's own ORPO keys (TRL logs nll_loss / log_odds_ratio).
    if {"sft_loss", "odds_ratio_loss"} <= names:
        return "llamafactory"
    if any(n.startswith(("rewards/", "logps/", "logits/", "completions/")) for n in names) \
            or names & {"kl", "reward_std", "nll_loss", "log_odds_ratio"}:
        return "trl"
    if any(d.format in ("trainer_state", "console", "tensorboard") for d in datas):
        return "transformers"
    return "unknown"
