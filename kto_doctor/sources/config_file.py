"""Configuration files: LLaMA-Factory YAML (`training_args.yaml` or the user's own), HF `TrainingArguments`
/ TRL config JSON, the model's `config.json` and PEFT's `adapter_config.json`.

The reader keeps the keys as spelled (`SourceData.config`) and says which kind of file it was in
`hints["config_kind"]` (training | model_config | adapter_config); `kto_doctor.config.normalize` does the
renaming. A YAML that is not a training configuration (a dataset card, a CI file...) is a SourceError,
which discovery skips quietly.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import is_training_config, normalize
from .base import SourceData, SourceError, read_bytes
from .registry import Source

LLAMAFACTORY_KEYS = frozenset({"stage", "finetuning_type", "pref_beta", "pref_loss", "pref_ftx", "cutoff_len",
                               "kto_chosen_weight", "kto_rejected_weight", "template", "create_new_adapter"})


def read(path: Path) -> SourceData:
    text = read_bytes(path).decode("utf-8", errors="replace")
    raw = _parse(path, text)
    if not isinstance(raw, dict):
        raise SourceError(f"{path}: not a mapping of configuration keys")
    kind = _kind(path, raw)
    if kind == "training" and not is_training_config(raw):
        raise SourceError(f"{path}: not a training configuration (no known key)")
    src = SourceData(path=path, format="config", config=raw, records=len(raw), hints={"config_kind": kind})
    problems: list[str] = []
    normalize(raw, kind, problems)  # the same check the merge applies; here only to say what is dropped
    src.warnings.extend(f"{path.name}: {p}; ignored" for p in problems)
    if kind == "training" and LLAMAFACTORY_KEYS.intersection(raw):
        src.hints["framework"] = "llamafactory"
    return src


def _parse(path: Path, text: str):
    if path.suffix.lower() in (".yaml", ".yml"):
        from . import flatyaml

        flat = flatyaml.load(text)  # a flat key: value file, as PyYAML reads it, without importing PyYAML
        if flat is not None:
            return flat
        import yaml

        try:
            return yaml.load(text, Loader=_loader())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SourceError(f"{path}: invalid YAML{where}") from None
        except RecursionError:
            raise SourceError(f"{path}: YAML nested too deep to read") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise SourceError(f"{path}: JSON nested too deep to read") from None
    except ValueError as exc:
        raise SourceError(f"{path}: invalid JSON at line {getattr(exc, 'lineno', '?')}") from None


_LOADER = None


def _loader():
    """yaml's SafeLoader, but an integer of more than 18 digits is read as a float (inf past its range):
    Python refuses int() of 5000 digits, which would make one absurd value cost the whole file."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def long_int(loader, node):
            text = str(loader.construct_scalar(node)).replace("_", "")
            if len(text.lstrip("+-")) > 18 and text.lstrip("+-").isdigit():
                return float(text)
            return yaml.SafeLoader.construct_yaml_int(loader, node)

        Loader.add_constructor("tag:yaml.org,2002:int", long_int)
        _LOADER = Loader
    return _LOADER


def _kind(path: Path, raw: dict) -> str:
    name = path.name.lower()
    if name == "adapter_config.json" or "peft_type" in raw:
        return "adapter_config"
    if name == "config.json" and ("architectures" in raw or "model_type" in raw) and "learning_rate" not in raw:
        return "model_config"
    return "training"


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    """A JSON of training arguments under another name."""
    return 0.5 if '"per_device_train_batch_size"' in head or '"learning_rate"' in head else 0.0


SOURCE = Source(
    name="config",
    title="Training configuration: LLaMA-Factory YAML, TrainingArguments/TRL JSON, model config.json, "
          "PEFT adapter_config.json",
    read=read,
    priority=90,
    names=("*.yaml", "*.yml", "training_args.json", "*training_args*.json", "config.json", "adapter_config.json",
           "generation_config.json", "*_config.json"),
    sniff=sniff,
    suffixes=(".json",),
    kind="config",
    examples=("examples/train_lora/llama3_lora_kto.yaml", "<output_dir>/training_args.yaml"),
)
