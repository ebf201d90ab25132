"""From a path to one `Run`: find the run (`discover`), read its files with their sources, merge them.

Nothing here knows a log format: which files are logs and which folder is a run is the discovery's
business (asking the source registry); how several files of one format become one (checkpoint copies of
trainer_state.json, the event files of a resumed run) is the source's own `choose`/`combine`. Assembly
merges the configs (normalised, then `--set` overrides, then derived keys such as
`warmup_steps_effective`, then what the framework's version implies, see `frameworks`), places console logs
that have no step counter on the global step axis, and merges every metric into one frame indexed by
step: where two sources log the same metric, the more trusted one (lower `Source.priority`) is the record
and the others only extend it beyond its steps. Every such choice is written to `Run.merge_notes`.
"""
from __future__ import annotations

import math
import os
import re
import stat
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import InputError
from . import config as cfgmod
from . import frameworks, startup
from .discover import Discovery, LogFile, RunSpec, describe, discover
from .model import FRAMEWORKS, METHODS, Later, Run, SourceInfo
from .ontology import SPEECH_METRICS, core_missing, group_rates, loss_parts, understood, unknown
from .sources.base import SourceData, SourceError
from .sources.registry import registry

NOTHING_FOUND = ("no training logs found (looked for trainer_state.json, trainer_log.jsonl, "
                 "events.out.tfevents.*, console logs and the formats `kto-doctor formats` lists)")


def load_run(path, overrides: dict | None = None, metric_map: dict | None = None, run_key: str | None = None,
             method: str | None = None) -> Run:
    """The one run at `path` (exit 2 when there is none, or several: those are `scan`'s)."""
    disc = discover_path(path)
    spec = only_run(disc, run_key)
    whole_store = spec.key is not None and [f.path for f in spec.files] == [spec.root]
    label = f"{path}#{spec.key}" if whole_store and "#" not in str(path) else str(path)  # a store's run: which
    return load_spec(spec, label, disc.warnings, overrides, metric_map, method)


def discover_path(path) -> Discovery:
    root = Path(path)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise InputError(f"{path}: not a regular file or folder")
    return discover(root)


def only_run(disc: Discovery, run_key: str | None = None) -> RunSpec:
    runs = disc.runs
    if run_key is not None:
        runs = [r for r in runs if r.key == run_key or r.label == run_key]
        if not runs:
            raise InputError(f"{disc.path}: no run '{run_key}' (runs: {describe(disc.runs)})")
    if not runs:
        skipped = [w for w in disc.warnings if ": skipped: " in w]
        if skipped:
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            raise InputError(f"{disc.path}: no readable training log; {skipped[0].replace(': skipped: ', ': ', 1)}"
                             f"{more}")
        raise InputError(f"{disc.path}: {NOTHING_FOUND}")
    if len(runs) > 1:
        own = [r for r in runs if r.root == disc.path]
        if len(own) == 1:  # the run at PATH itself; the others are separate runs below it
            disc.warnings.append(f"{len(runs) - 1} other run(s) below {disc.path} not included "
                                 f"({describe([r for r in runs if r is not own[0]])}); kto-doctor scan reads them all")
            return own[0]
        raise InputError(f"{disc.path}: holds {len(runs)} runs ({describe(runs)}); analyse one of them "
                         f"(kto-doctor analyze {_example(disc, runs[0])}) or all with kto-doctor scan {disc.path}")
    return runs[0]


def _example(disc: Discovery, r: RunSpec) -> str:
    if r.key is not None:
        return f"{disc.path} --run {r.key}"
    return str(r.root)


def load_spec(spec: RunSpec, label: str, warnings: list[str] | None = None, overrides: dict | None = None,
              metric_map: dict | None = None, method: str | None = None) -> Run:
    run_warnings = list(warnings or [])
    datas, infos = read_spec(spec, run_warnings)
    if not any(d.format != "config" and (d.series or d.facts) for d in datas):
        empty = [info for d, info in zip(datas, infos) if d.format != "config"]
        if empty:  # read, but nothing in it: name the file rather than claim nothing was there
            more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
            raise InputError(f"{label}: no training metrics: {empty[0].path} ({empty[0].format}) holds none{more}")
        skipped = [w for w in run_warnings if ": skipped: " in w]
        if skipped:
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            raise InputError(f"{label}: no readable training log; {skipped[0].replace(': skipped: ', ': ', 1)}"
                             f"{more}")
        raise InputError(f"{label}: {NOTHING_FOUND}")
    return assemble(label, datas, infos, run_warnings, overrides, metric_map, method)


# ---------------------------------------------------------------- reading a run's files


def read_spec(spec: RunSpec, run_warnings: list[str]) -> tuple[list[SourceData], list[SourceInfo]]:
    """Read every file of one run with its source; returns the data and, in the same order, what was read
    (superseded copies follow at the end, marked unused)."""
    datas: list[SourceData] = []
    infos: list[SourceInfo] = []
    superseded: list[SourceInfo] = []
    by_source: dict[str, list[LogFile]] = {}
    for f in spec.files:
        by_source.setdefault(f.source.name, []).append(f)
    for name, files in by_source.items():
        src = files[0].source
        if src.choose is not None and len(files) > 1:
            rel = {f.path: f.rel for f in files}
            try:
                groups = src.choose([f.path for f in files])
            except Exception:
                groups = [[f.path] for f in files]
            for group in groups:
                chosen = None
                for p in group:
                    if chosen is not None:
                        superseded.append(SourceInfo(path=rel.get(p, str(p)), format=src.name, records=0, used=False,
                                                     warnings=[f"superseded by {chosen}"]))
                        continue
                    got = _read_one(LogFile(path=p, sources=[src], rel=rel.get(p, str(p))), spec, run_warnings)
                    if got:
                        chosen = rel.get(p, str(p))
                        gs = got[0].facts.get("global_step")
                        label = chosen + (f" (global_step {gs})" if gs is not None else "")
                        for d in got:
                            datas.append(d)
                            infos.append(_info(d, chosen))
                older = len(group) - 1
                if chosen is not None and older:
                    run_warnings.append(f"using {label}; {older} older cop{'y' if older == 1 else 'ies'} ignored")
            continue
        read_here: list[tuple[SourceData, str]] = []
        for f in files:
            for d in _read_one(f, spec, run_warnings):
                read_here.append((d, f.rel))
        if src.combine is not None and len(read_here) > 1:
            try:
                merged = src.combine([d for d, _ in read_here])
            except Exception as exc:
                run_warnings.append(f"{name}: files could not be combined ({type(exc).__name__}: {exc}); "
                                    "each is read on its own")
            else:
                rel = os.path.commonpath([r for _, r in read_here]) if len(read_here) > 1 else read_here[0][1]
                read_here = [(merged, rel or ".")]
        for d, rel in read_here:
            datas.append(d)
            infos.append(_info(d, rel))
    return datas, infos + superseded


def _read_one(f: LogFile, spec: RunSpec, run_warnings: list[str]) -> list[SourceData]:
    """The file read by the first of its candidate sources that can; [] (with a warning where it matters).

    A reader that succeeds but finds no core series (no loss, eval loss, reward or policy loss, nor a fact about
    the training process) is kept only if no later candidate finds one: a custom loop's log whose settings block
    one reader takes for metric blocks may hold `Step 0: Train Loss=0.69, Eval Loss=0.69` lines another reads."""
    first_error = None
    unread = None  # (source, data) of the first reader that understood nothing
    for src in f.sources:
        try:
            got = src.read(f.path)
        except SourceError as exc:
            first_error = first_error or (src, exc)
            continue
        except (ImportError, ModuleNotFoundError) as exc:
            run_warnings.append(f"{f.rel}: skipped: the {src.name} reader is not available ({exc})")
            return unread[1] if unread is not None else []
        except RecursionError:
            first_error = first_error or (src, SourceError(f"{f.path}: nested too deeply to read"))
            continue
        except MemoryError:
            first_error = first_error or (src, SourceError(f"{f.path}: too large to read in memory"))
            continue
        except Exception as exc:  # a reader bug must not hide the other logs
            run_warnings.append(f"{f.rel}: skipped: {src.name} reader failed ({type(exc).__name__}: {exc})")
            return unread[1] if unread is not None else []
        out = got if isinstance(got, list) else [got]
        if spec.key is not None:
            out = [d for d in out if d.run_key in (None, spec.key)]
        for d in out:
            d.format = d.format or src.name
            if src.dialect and not d.hints.get("framework"):
                d.hints["framework"] = src.dialect
        if unread is not None and src.kind != "metrics":
            continue  # (a file some metrics reader could read is no configuration)
        if src.kind == "metrics" and out and not any(understood(d.series.keys(), d.facts) for d in out):
            unread = unread or (src, out)
            continue
        if unread is not None:
            for d in out:
                d.warnings.append(f"{f.path.name}: read as {src.name}; the {unread[0].name} reader found no loss "
                                  f"or reward in it")
        return out
    if unread is not None:
        return unread[1]
    if first_error is not None:
        src, exc = first_error
        if _loud(f, src):
            run_warnings.append(f"{f.rel}: skipped: {_reason(exc, f.path)}")
    return []


def _loud(f: LogFile, src) -> bool:
    """Whether failing to read a file deserves a warning: it was claimed as a log by name (an unreadable
    trainer_state.json is news; a `notes.txt` that holds no metrics, or a dataset card YAML, is not)."""
    return src.kind != "config" and src.claims_name(f.path.name.lower()[:-3] if f.path.name.lower().endswith(".gz")
                                                    else f.path.name.lower())


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
             overrides: dict | None = None, metric_map: dict | None = None, method: str | None = None) -> Run:
    rel_of = {id(d): info.path for d, info in zip(datas, infos)}
    notes: list[str] = []
    if metric_map:
        _apply_map(datas, metric_map, notes)
    facts = _merge_facts(datas)
    overrides = dict(overrides or {})
    if method:
        overrides.setdefault("method", method)
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
    for d, info in zip(datas, infos):
        note = _drop_bad_steps(d)
        if note:
            info.warnings.append(note)
    series, provenance, locations = _merge_series(datas, rel_of, notes)
    _derive_loss(series, provenance, notes, run_warnings)
    _derive_rate(series, provenance, notes, run_warnings)
    _derive_epoch(series, provenance, config, datas, notes)
    method, method_source = detect_method(config, datas, series, run_warnings)
    _derive_preference(method, series, provenance, notes, run_warnings)
    if _derive_reward(method, series, provenance, notes, run_warnings):
        config.setdefault("reward_ceiling", 1.0)  # an accuracy's best is 1: a reward near it has solved the task
    # the frame is built when something reads it (a library caller, a chart): the analysis needs only its steps
    index = frame_index(series)
    metrics = metrics_frame(series) if index is None else Later(partial(metrics_frame, series), index)
    run = Run(path=path, metrics=metrics, config=config, sources=infos, warnings=run_warnings, facts=facts,
              provenance=provenance, config_provenance=config_prov, locations=locations, _series=series)
    run.segments = [{"first": _num(a), "last": _num(b), "source": rel_of[id(d)]}
                    for d in datas for a, b, _ in d.segments]
    run.method, run.method_source = method, method_source
    run.framework, run.framework_source = detect_framework(config, datas, series)
    for key, value in frameworks.facts(run.framework, run.method, config).items():
        if key not in config:
            config[key] = value
            config_prov[key] = f"{run.framework} {run.method} (what its version logs)"
    run.unknown_metrics = unknown(series)
    run.core_missing = core_missing(run.method, series, facts)
    run.merge_notes = notes
    return run


def _apply_map(datas: list[SourceData], mapping: dict, notes: list[str]) -> None:
    """`--map old=new`: a user names a metric kto-doctor did not recognise (or corrects one it did)."""
    for d in datas:
        for old, new in mapping.items():
            if old in d.series and old != new:
                d.series[new] = d.series.pop(old)
                notes.append(f"{new}: read from '{old}' in {Path(d.path).name} (--map)")


def _num(x):
    return int(x) if float(x).is_integer() else float(x)


def _priority(d: SourceData) -> int:
    src = registry().get(d.format)
    return src.priority if src is not None else 100


def _merge_facts(datas: list[SourceData]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for d in sorted(datas, key=_priority, reverse=True):
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
    if not _positive(config.get("vocab_size")):
        from .known_models import vocab_size_for

        known = vocab_size_for(config.get("model_name_or_path"))
        if known is not None:
            put("vocab_size", known[0])
            prov["vocab_size"] = f"known model family ({known[1]})"


def _derive_loss(series: dict, provenance: dict, notes: list[str], warnings: list[str]) -> None:
    """A log whose losses all have names of their own (`loss_itc`, `loss_mlm`, ... of a multi-task model; an
    unknown loop's `GD_loss`) has a training loss all the same: the one that says it is the total
    (`combined_loss`), the only one, or else their sum at the steps where every part was logged (the parts'
    weights are not in the log: 1 each). Stated as a warning, a merge note and in the provenance: a judgement the
    report must show."""
    for ppl, loss in (("perplexity", "loss"), ("eval_perplexity", "eval_loss")):
        if ppl in series and loss not in series:
            _loss_of_perplexity(series, provenance, notes, warnings, ppl, loss)
    if any(n in series for n in ("loss", "policy_loss", "reward")):
        return
    parts, total = loss_parts(series)
    if not parts:
        return
    # `A/loss`, `B/loss`, ...: one loss of several runs or groups that one file holds (a dump of three DPO runs),
    # not the parts of one loss: no sum, no pick; the run stays not understood and says how to choose one
    tails = {n.rsplit("/", 1)[-1] for n in parts}
    if len(parts) > 1 and total is None and len(tails) == 1 and all("/" in n for n in parts):
        warnings.append(f"{len(parts)} series name the same loss under different prefixes ({', '.join(parts[:6])}"
                        + (", ..." if len(parts) > 6 else "") + "): several runs or groups in one file, not the parts "
                        f"of one loss; none was taken for the loss (--map '{parts[0]}=loss' judges one)")
        return
    if total is not None or len(parts) == 1:
        name = total or parts[0]
        series["loss"] = series.pop(name).rename("loss")  # (one series under one name: its NaN said once, as the loss's)
        provenance["loss"] = f"derived: '{name}'"
        notes.append(f"loss: read from '{name}', " + ("the total among the logged losses" if total
                     else "the only training loss the log names") + " (no series the ontology knows as the loss)")
        warnings.append(notes[-1])
        return
    import pandas as pd

    frame = pd.concat([series[n] for n in parts], axis=1, join="inner")
    if frame.empty:
        return
    series["loss"] = pd.Series(frame.to_numpy(dtype=np.float64).sum(axis=1), index=frame.index, name="loss")
    provenance["loss"] = "derived: " + " + ".join(parts)
    notes.append(f"loss: the sum of the {len(parts)} logged losses ({', '.join(parts)}), each weighted 1, at the "
                 f"{len(frame)} steps where all were logged: no total loss was logged")
    warnings.append(notes[-1])


def _derive_rate(series: dict, provenance: dict, notes: list[str], warnings: list[str]) -> None:
    """A run that logs its learning rate per parameter group only (`backbone_lr` and `proj_lr` of a vision-language
    model, `lr_group_1`, Lightning's `lr-AdamW/pg2`) still has a schedule: the group whose rate peaks highest is
    taken for the learning rate (the others are fractions of it: a backbone trained at a tenth), said as a warning."""
    if "learning_rate" in series:
        return
    rates = group_rates(series)
    best, peak = None, -1.0  # a rate of 0 on every row is one too: the one a frozen schedule shows
    for name in rates:
        v = series[name].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        # a rate is a small non-negative number; a counter or a ratio that happens to carry `lr` is none
        if len(v) == 0 or v.min() < 0 or v.max() >= 1 or v.max() <= peak:
            continue
        best, peak = name, float(v.max())
    if best is None:
        return
    series["learning_rate"] = series[best].rename("learning_rate")
    provenance["learning_rate"] = f"derived: '{best}'"
    others = [n for n in rates if n != best]
    which = (f"the parameter group whose rate peaks highest ({peak:.3g})" if peak > 0
             else "a parameter group whose rate is 0 on every row, as every group's is")
    notes.append(f"learning_rate: read from '{best}', {which}" + (f" of {len(others) + 1} per-group rates"
                 if others else "") + " (no single learning rate was logged)")
    warnings.append(notes[-1])


def _derive_reward(method: str, series: dict, provenance: dict, notes: list[str], warnings: list[str]) -> bool:
    """An RL loop that logs its task accuracy and no reward (`[step 25] avg_loss=0.01 acc=0.92`: a hand-written GRPO
    loop whose reward is the answer's correctness) has its progress signal all the same: the accuracy is taken for
    the reward, said as a warning, so the reward rules judge it (a collapse to 0 at the end, a plateau)."""
    if method not in ("grpo", "ppo") or any(n in series for n in ("reward", "rewards/chosen")) or "accuracy" not in series:
        return False
    series["reward"] = series["accuracy"].rename("reward")
    provenance["reward"] = "derived: 'accuracy'"
    notes.append("reward: read from 'accuracy', the task accuracy of an RL run that logs no reward")
    warnings.append(notes[-1])
    return True


_PREFERENCE_METHODS = ("dpo", "orpo", "simpo", "kto")
# bare names a hand-made table or a custom loop gives the preference metrics (`| step | loss | acc | margins |`)
_PREFERENCE_BARE = {"rewards/accuracies": ("accuracy", "accuracies", "reward_accuracy"),
                    "rewards/margins": ("margins", "margin", "reward_margin")}


def _derive_preference(method: str, series: dict, provenance: dict, notes: list[str], warnings: list[str]) -> None:
    """A preference run whose log names its pair accuracy and margin without the `rewards/` prefix (a trajectory
    table in a write-up, a custom loop's print) has them read as rewards/accuracies and rewards/margins, said as a
    warning, so the preference rules judge them. Only for a preference method, and only where the canonical name
    is absent: an RL run's `accuracy` is its task accuracy (_derive_reward)."""
    if method not in _PREFERENCE_METHODS:
        return
    for canon, bare in _PREFERENCE_BARE.items():
        if canon in series:
            continue
        name = next((b for b in bare if b in series), None)
        if name is None:
            continue
        series[canon] = series[name].rename(canon)
        provenance[canon] = f"derived: '{name}'"
        notes.append(f"{canon}: read from '{name}', the bare name of a {method.upper()} run's pair metric")
        warnings.append(notes[-1])


def _loss_of_perplexity(series, provenance, notes, warnings, ppl: str, loss: str) -> None:
    """Perplexity is exp of the per-token loss in nats, whatever base the trainer's own loss uses (fairseq logs
    bits and 2 ** loss), so ln(ppl) is the loss the rules know. A NaN or infinite perplexity is a NaN or infinite
    loss; a value under 1 is no perplexity and its row is left out."""
    import pandas as pd

    src = series[ppl]
    v = src.to_numpy(dtype=np.float64)
    keep = ~(v < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(v[keep])
    series[loss] = pd.Series(out, index=src.index[keep], name=loss)
    provenance[loss] = f"derived: ln({ppl})"
    notes.append(f"{loss}: ln({ppl}), the loss in nats per token a perplexity stands for (no {loss} was logged)")
    warnings.append(notes[-1])


def _derive_epoch(series: dict, provenance: dict, config: dict, datas: list[SourceData], notes: list[str]) -> None:
    """A log without an epoch series (a notebook's `Step | Training Loss` table) whose training banner states the
    examples of an epoch and the batch of an optimizer step: epoch = step x batch / examples, as the Trainer
    counts it (to within a step per epoch). Not for steps placed by log order, which are no optimizer steps."""
    if "epoch" in series and "loss" in series:
        _fill_epoch(series, provenance, notes)
    if "epoch" in series or "loss" not in series:
        return
    if any(d.step_kind == "ordinal" and "loss" in d.series for d in datas):
        return
    n, b = config.get("num_examples"), config.get("effective_batch_size")
    total, epochs = config.get("total_steps"), config.get("num_train_epochs")
    if _positive(n) and _positive(b):
        per_step, how = b / n, f"step x {int(b)} / {int(n)} examples"
        said = f"step x {int(b)} per step / {int(n)} examples; {n / b:.4g} steps per epoch"
    elif _positive(total) and _positive(epochs) and not _positive(config.get("max_steps")):
        # the run states both (a notebook's `[699/699 13:20, Epoch 2/3]`, a banner's `Num Epochs` and `Total
        # optimization steps`): the Trainer's max_steps is epochs x steps per epoch
        per_step, how = epochs / total, f"step x {epochs:g} epochs / {int(total)} steps"
        said = (f"{total / epochs:.4g} steps per epoch: {int(total)} optimizer steps over {epochs:g} "
                f"epoch{'' if epochs == 1 else 's'}")
    else:
        return
    import pandas as pd

    index = series["loss"].index
    series["epoch"] = pd.Series(index.to_numpy(dtype=np.float64) * per_step, index=index, name="epoch", copy=False)
    provenance["epoch"] = f"derived: {how}"
    notes.append(f"epoch: derived from the step ({said}): no epoch was logged")


def _fill_epoch(series: dict, provenance: dict, notes: list[str]) -> None:
    """An epoch logged only where each epoch ends (a loop's `Epoch 2 completed` line: whole numbers at a few
    steps) under a loss logged at many steps: the fractional epoch of every step, as HF logs it, by straight lines
    through (0, 0) and those ends, the last epoch's length carried past the last end."""
    import pandas as pd

    ep, loss = series["epoch"].dropna(), series["loss"]
    v = ep.to_numpy(dtype=np.float64)
    s = ep.index.to_numpy(dtype=np.float64)
    if len(v) == 0 or len(v) * 2 > len(loss) or not (v == np.round(v)).all() or not (np.diff(v) > 0).all() \
            or not (np.diff(s) > 0).all() or v[0] < 1 or s[0] <= 0:
        return
    xs, ys = np.r_[0.0, s], np.r_[v[0] - 1.0, v]
    at = loss.index.to_numpy(dtype=np.float64)
    out = np.interp(at, xs, ys)
    per = (xs[-1] - xs[-2]) / (ys[-1] - ys[-2])  # steps in the last epoch
    past = at > xs[-1]
    out[past] = ys[-1] + (at[past] - xs[-1]) / per
    series["epoch"] = pd.Series(out, index=loss.index, name="epoch")
    provenance["epoch"] = f"derived: the loss steps placed between the {len(v)} logged epoch end(s)"
    notes.append(f"epoch: the {len(v)} epoch end(s) the log states, spread over the steps between them "
                 "(a straight line per epoch)")


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
    d.hints["steps"] = "inferred"
    return f"{d.path.name}: no step counter in the log; steps inferred from {how}"


MAX_STEP = 2.0 ** 53  # beyond this a float step is no longer a whole number


def _drop_bad_steps(d: SourceData) -> str | None:
    """Keep values whose step is a finite, non-negative whole number (rounding near-integers); say what went."""
    dropped = 0
    checked: dict[int, tuple] = {}  # id(steps) -> (steps, whole, ok): series sharing a steps array keep sharing
    for name, s in list(d.series.items()):
        got = checked.get(id(s.steps))
        if got is None:
            steps = np.asarray(s.steps, dtype=np.float64)
            whole = np.rint(steps)
            ok = np.isfinite(steps) & (steps >= 0) & (steps < MAX_STEP) & (np.abs(steps - whole) < 1e-6)
            got = checked[id(s.steps)] = (s.steps, whole, ok)
        _, whole, ok = got
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


def _merge_series(datas, rel_of, notes: list[str]):
    """One series per metric. The most trusted source (lowest priority number) is the record; others only
    extend it beyond its steps (a console that outlives the last checkpoint's trainer_state). Inside that
    range the better source stands: console steps placed one off would otherwise double every value.
    A source whose steps were mostly inferred (log order, neighbours) ranks below every source that logged its
    own, and extends such a record only past its end: its step 1 is no step before the record's first."""
    pd = startup.late_import("pandas")  # (here, not at import: a long log is read without pandas; startup.py)

    by_metric: dict[str, list[tuple[int, SourceData]]] = {}
    for d in datas:
        rank = (d.hints.get("steps") == "inferred", _priority(d))
        for name in d.series:
            by_metric.setdefault(name, []).append((rank, d))
    series: dict[str, pd.Series] = {}
    provenance: dict[str, str] = {}
    locations: dict[str, Any] = {}
    indexes: dict[int, tuple] = {}  # id(steps) -> (steps, index): series that share their steps share the index
    for name, entries in by_metric.items():
        entries.sort(key=lambda e: e[0])
        best = entries[0][1]
        steps = best.series[name].steps
        values = best.series[name].values
        lines = best.series[name].lines
        lo, hi = (steps.min(), steps.max()) if len(steps) else (np.inf, -np.inf)
        exact = not entries[0][0][0]
        for (guessed, _), other in entries[1:]:
            o = other.series[name]
            below = (o.steps < lo) if not (guessed and exact) else np.zeros(len(o.steps), dtype=bool)
            new = ~np.isin(o.steps, steps) & (below | (o.steps > hi))
            inside = len(o.steps) - int(new.sum())
            if new.any():
                steps = np.concatenate([steps, o.steps[new]])
                values = np.concatenate([values, o.values[new]])
                lines = None
                notes.append(f"{name}: {rel_of[id(other)]} adds {int(new.sum())} value(s) outside the steps of "
                             f"{rel_of[id(best)]} ({_span(o.steps[new])})")
            if inside:
                notes.append(f"{name}: {rel_of[id(best)]} ({best.format}) is the record over "
                             f"{rel_of[id(other)]} ({other.format}) at {inside} step(s) both logged")
        if len(steps) < 2 or bool((steps[1:] > steps[:-1]).all()):
            # already one value per step in order (the common case): the arrays are used as they are, not copied
            sorted_steps, taken_values, taken_lines = steps, values, lines
        else:
            order = np.argsort(steps, kind="stable")
            sorted_steps = steps[order]
            # One value per step: a source may log a tag twice at one step (HF writes train/epoch for both the
            # train and the eval log of that step); the later record wins, as for resumed segments.
            if len(sorted_steps) > 1 and (sorted_steps[1:] == sorted_steps[:-1]).any():
                keep = np.append(sorted_steps[1:] != sorted_steps[:-1], True)
                order = order[keep]
                sorted_steps = sorted_steps[keep]
            taken_values = values[order]
            taken_lines = lines[order] if lines is not None else None
        known = indexes.get(id(sorted_steps))
        if known is None:
            known = indexes[id(sorted_steps)] = (sorted_steps, pd.Index(sorted_steps.astype(np.int64), name="step",
                                                                        copy=False))
        index = known[1]
        series[name] = pd.Series(taken_values, index=index, name=name, copy=False)
        rel = rel_of[id(best)]
        provenance[name] = rel
        if taken_lines is not None:
            locations[name] = (rel, pd.Series(taken_lines, index=index, copy=False))
    return series, provenance, locations


def metrics_frame(series: dict[str, pd.Series]) -> pd.DataFrame:
    """The metrics by step: one column per series, on the sorted union of their steps, NaN where a metric was
    not logged. What `pd.concat(series, axis=1, sort=True)` makes; for float series (every reader's) a
    column logged at every step is that series' values array itself (the frame shares it, as the series
    share the readers' arrays), the others are filled in place, without a reindexed copy of every series
    (on a 1 GB console log, 100 MB less at the peak and most of the assembly's time)."""
    import pandas as pd

    if not series:
        return pd.DataFrame(index=pd.Index([], dtype="int64", name="step"))
    parts = list(series.values())
    if not _shared(parts):
        frame = pd.concat(series, axis=1, sort=True)
        frame.index.name = "step"
        return frame
    indexes = [s.index.to_numpy() for s in parts]  # each sorted and unique (_merge_series)
    index, steps, grid = _union(parts, indexes)
    columns = {}
    for name, s, ix in zip(series, parts, indexes):
        if len(ix) == len(steps):  # logged at every step: the column is the series' own values, not a copy
            columns[name] = s.to_numpy()
        else:
            col = columns[name] = np.full(len(steps), np.nan)
            col[_positions(ix, steps, grid)] = s.to_numpy()
    return pd.DataFrame(columns, index=index, copy=False)


def frame_index(series: dict[str, pd.Series]) -> pd.Index | None:
    """The index of `metrics_frame(series)` (the steps of the run), without building its columns; None where the
    frame is `pd.concat`'s."""
    import pandas as pd

    if not series:
        return pd.Index([], dtype="int64", name="step")
    parts = list(series.values())
    if not _shared(parts):
        return None
    return _union(parts, [s.index.to_numpy() for s in parts])[0]


def _shared(parts: list) -> bool:
    """Float series on int64 steps (every reader's): their frame shares their arrays."""
    return all(s.dtype == np.float64 and s.index.dtype == np.int64 for s in parts)


def _union(parts: list, indexes: list) -> tuple:
    """(the frame's index, its steps, `_grid` of them): the sorted union of the series' steps."""
    import pandas as pd

    distinct: list[np.ndarray] = []  # most metrics of a run share their steps: each set of steps once
    for ix in indexes:
        if not any(len(d) == len(ix) and (d is ix or np.array_equal(d, ix)) for d in distinct):
            distinct.append(ix)
    widest = max(range(len(parts)), key=lambda j: len(indexes[j]))
    steps = indexes[widest]
    grid = _grid(steps)
    index = parts[widest].index  # where the widest set of steps holds all the others, it is the frame's index
    if index.name != "step" or any(not _within(d, steps, grid) for d in distinct):  # the sorted union (np.unique hashes: slower than a sort)
        steps = np.concatenate(distinct)
        steps.sort()
        steps = steps[np.append(True, steps[1:] != steps[:-1])]
        index = pd.Index(steps, name="step")
        grid = _grid(steps)
    return index, steps, grid


def _grid(steps: np.ndarray) -> tuple[int, int] | None:
    """(first, stride) where the sorted, distinct `steps` are `first + stride * arange(len(steps))` (a run
    logged every N steps: nearly every run), else None. Then where a step is in them is arithmetic, not a
    binary search (on a 1M-scalar TensorBoard run the searches were 3% of the whole command)."""
    if len(steps) < 2:
        return None
    first, stride = int(steps[0]), int(steps[1] - steps[0])
    if int(steps[-1]) - first != stride * (len(steps) - 1) or not (steps[1:] - steps[:-1] == stride).all():
        return None
    return first, stride


def _positions(part: np.ndarray, steps: np.ndarray, grid: tuple[int, int] | None) -> np.ndarray:
    """Where each value of `part` (every one of them in `steps`) is in the sorted array `steps`."""
    if grid is None:
        return np.searchsorted(steps, part)
    first, stride = grid
    return part - first if stride == 1 else (part - first) // stride


def _within(part: np.ndarray, steps: np.ndarray, grid: tuple[int, int] | None = None) -> bool:
    """Whether every value of the sorted array `part` is in the sorted array `steps` (`grid`: `_grid(steps)`)."""
    if part is steps or not len(part):
        return True
    if grid is not None:
        first, stride = grid
        if part[0] < first or part[-1] > steps[-1]:
            return False
        return stride == 1 or bool(((part - first) % stride == 0).all())
    at = np.searchsorted(steps, part)
    return bool(at[-1] < len(steps)) and np.array_equal(steps[at], part)


def _span(steps: np.ndarray) -> str:
    a, b = float(steps.min()), float(steps.max())
    return f"step {a:g}" if a == b else f"steps {a:g}-{b:g}"


# ---------------------------------------------------------------- method and framework

# Keys of the merged (normalised) config that only LLaMA-Factory writes. Not `cutoff_len`: TRL's and other
# trainers' `max_length` / `max_seq_length` are normalised to it (a LLaMA-Factory YAML is recognised by its
# raw keys in the config reader, cutoff_len included).
# (not finetuning_type: the canonical config has it from any PEFT adapter_config.json or TRL's use_peft, so it says
# LoRA, not LLaMA-Factory; a LLaMA-Factory YAML that states it is recognised by its reader)
LLAMAFACTORY_CONFIG_KEYS = ("stage", "pref_beta", "pref_loss", "kto_chosen_weight")
_STAGE_METHOD = {"kto": "kto", "sft": "sft", "pt": "pt", "rm": "rm", "ppo": "ppo", "grpo": "grpo"}
_DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "exo_pair", "aot",
               "aot_pair", "apo_zero", "apo_down", "discopop", "sft")
STATED, GUESSED = "stated", "guessed"


def detect_method(config: dict, datas: list[SourceData], series: dict, notes: list | None = None) -> tuple[str, str]:
    """(method, "stated" | "guessed"): stated by `--method`/`--set method=`, a config's stage or loss type,
    or a log naming its trainer class; guessed from the metric names otherwise."""
    told = str(config.get("method") or "").lower()
    if told in METHODS and told != "unknown":
        return told, STATED
    stage = str(config.get("stage") or "").lower()
    loss_type = str(config.get("loss_type") or "").lower()
    if stage == "dpo":
        return (loss_type if loss_type in ("orpo", "simpo") else "dpo"), STATED
    if stage in _STAGE_METHOD:
        return _STAGE_METHOD[stage], STATED
    if loss_type in ("orpo", "simpo", "kto"):
        return loss_type, STATED
    for d in datas:
        if d.hints.get("method") in METHODS and d.hints["method"] != "unknown":
            return d.hints["method"], STATED
    guess = _method_from_names(set(series), loss_type)
    if guess in _WEAK_GUESSES:
        named = _method_from_file_names(datas)
        if named is not None and named[0] != guess:
            if notes is not None:
                notes.append(f"method: {named[0]}, guessed from the name of {named[1]} (the metric names alone "
                             f"suggest {guess})")
            return named[0], GUESSED
    if guess == "sft" and "loss" in series:
        # a cross-entropy is never negative: a loss below 0 on several rows is a policy-gradient or custom
        # objective (a hand-written GRPO loop's `avg_loss=-0.0386`), which the SFT rules must not judge
        v = series["loss"].to_numpy(dtype=np.float64)
        negative = int((v < -1e-4).sum())
        if negative >= 2 and negative >= 0.1 * len(v):
            if notes is not None:
                notes.append(f"method: unknown: the loss is negative on {negative} of {len(v)} rows, so it is no "
                             "cross-entropy (a policy-gradient or custom objective); --method says which")
            return "unknown", GUESSED
    return guess, GUESSED


# Guesses that rest on a bare `loss` or `reward` (any supervised loop logs a loss; a reward alone does not say PPO):
# a log's file name that names its method (`train_grpo_gemma2_3.log`, `dpo.log`, `rl_grpo_base.log`) says more
_WEAK_GUESSES = frozenset({"sft", "ppo", "unknown"})
_NAME_TOKENS = {"grpo": "grpo", "dapo": "grpo", "gspo": "grpo", "rloo": "grpo", "dpo": "dpo", "kto": "kto",
                "orpo": "orpo", "simpo": "simpo", "ppo": "ppo", "sft": "sft", "pretrain": "pt", "pretraining": "pt"}


def _method_from_file_names(datas: list[SourceData]) -> tuple[str, str] | None:
    """(the one method the metric files' names name as a word of their own, the file), as `train_grpo_gemma2_3.log`
    does; None where none does, or two name different ones."""
    found: dict[str, str] = {}
    for d in datas:
        if d.path is None:
            continue
        words = re.split(r"[^a-z0-9]+", Path(d.path).stem.lower())
        for w in words:
            if w in _NAME_TOKENS:
                found.setdefault(_NAME_TOKENS[w], Path(d.path).name)
    return next(iter(found.items())) if len(found) == 1 else None


_ORPO_TERMS = frozenset({"log_odds_ratio", "log_odds_chosen", "odds_ratio_loss"})  # logged by ORPO alone


def _method_from_names(names: set, loss_type: str) -> str:
    # an evaluation's metrics say the method as well as training's do (a model card's results table holds only
    # evaluation columns: `eval_rewards/accuracies` is a DPO run's)
    names = names | {n[5:] for n in names if n.startswith("eval_")}
    # A value loss means a critic: PPO, even where completion lengths are logged as GRPO logs them (verl's
    # PPO logs response_length/* like its GRPO; old TRL PPO tokens/responses_len_mean).
    if "objective/kl" in names or "value_loss" in names or any(n.startswith("ppo/") for n in names):
        return "ppo"
    # group statistics only a group-sampling RL trainer logs (GRPO, RLOO, DAPO...: TRL, verl, prime-rl)
    if names & {"reward_std", "frac_reward_zero_std", "solve_none", "solve_all"} or any(
            n.startswith("completions/") or (n.startswith("rewards/") and n.endswith(("/mean", "/std"))
                                             or n.endswith("_reward_func")) for n in names):
        return "grpo"
    if names & {"policy_loss", "advantages"} or ("reward" in names and names & {"entropy", "kl", "clip_ratio"}):
        return "grpo"
    if "kl" in names and "rewards/chosen" in names and "rewards/accuracies" not in names:
        return "kto"
    # Paired preference metrics without KTO's kl: DPO-family (mlx-lm logs only chosen/rejected rewards;
    # some DPO forks log only logits/*).
    if names & {"rewards/accuracies", "rewards/margins"} or {"rewards/chosen", "rewards/rejected"} <= names \
            or {"logits/chosen", "logits/rejected"} <= names and "kl" not in names:
        if names & (_ORPO_TERMS | {"nll_loss", "sft_loss"}):
            return "orpo"
        return "dpo"
    # the odds-ratio terms are ORPO's alone: a table of ORPO's trajectory names its accuracy `acc`, not
    # rewards/accuracies, and still says the method
    if names & _ORPO_TERMS:
        return "orpo"
    if loss_type in _DPO_LOSSES and loss_type != "sft":
        return "dpo"
    # Rewards of two reward functions or more beside the total (`format_reward`, `answer_reward`): rule-based
    # rewards summed per completion, as a group-sampling loop computes them (a hand-written GRPO loop's print)
    if "reward" in names and sum(n.endswith("_reward") and not n.startswith("eval_") for n in names) >= 2:
        return "grpo"
    # A scalar reward beside the loss and nothing of the above: an RL run whose trainer logs little
    # (LLaMA-Factory's PPO writes only loss, reward and learning_rate). Supervised trainers log no reward.
    if "reward" in names:
        return "ppo"
    if any("eval_" + m in names or m in names for m in SPEECH_METRICS):
        return "unknown"  # speech recognition (WER/CER): not a language-model fine-tune
    if "loss" in names or "eval_loss" in names:
        return "sft"
    return "unknown"


def detect_framework(config: dict, datas: list[SourceData], series: dict) -> tuple[str, str]:
    """(framework, "stated" | "guessed"): stated by a source that only that framework writes (a
    trainer_log.jsonl, a LLaMA-Factory YAML, a banner), guessed from metric names or the file format."""
    hinted = [d.hints.get("framework") for d in datas if d.hints.get("framework")]
    names = set(series)
    named = str(config.get("framework") or "").lower()  # --set framework=...
    if named in FRAMEWORKS and named != "unknown":
        return named, STATED
    if "llamafactory" in hinted or any(k in config for k in LLAMAFACTORY_CONFIG_KEYS):
        return "llamafactory", STATED
    for h in hinted:
        if h not in ("transformers",):
            return h, STATED
    # sft_loss / odds_ratio_loss are LLaMA-Factory's own ORPO keys (TRL logs nll_loss / log_odds_ratio).
    if {"sft_loss", "odds_ratio_loss"} <= names:
        return "llamafactory", GUESSED
    if any(n.startswith(("rewards/", "logps/", "logits/", "completions/", "objective/", "ppo/")) for n in names) \
            or names & {"kl", "reward_std", "nll_loss", "log_odds_ratio"}:
        return "trl", GUESSED
    if "transformers" in hinted:
        return "transformers", STATED
    if any(d.format in ("trainer_state", "console", "tensorboard") for d in datas):
        return "transformers", GUESSED
    return "unknown", GUESSED
