"""The source registry: every log format kto-doctor reads is a `Source` plugin.

A source is one module that says what it claims (file names, and the content of a file's first bytes, so a
pasted log with any name is recognised), how much it is trusted against other sources of the same metric,
and how to read a file into a `SourceData` in canonical names. The built-in sources register exactly as a
third party's do, through the `kto_doctor.sources` entry-point group::

    [project.entry-points."kto_doctor.sources"]
    my_trainer = "my_package.kto_source:SOURCE"

(`docs/sources.md` walks through writing one.) Nothing here imports numpy or pandas; the reader modules do,
on first use of the registry.
"""
from __future__ import annotations

import fnmatch
import functools
import importlib
import os
import re
from dataclasses import field
from pathlib import Path
from typing import Callable

from ..fastclass import dataclass
from .. import startup

ENTRY_POINT_GROUP = "kto_doctor.sources"

# Used when the package is imported from a source tree that was never installed (no entry points): the same
# list pyproject.toml registers. tests/test_source_registry.py keeps the two equal.
BUILTIN = (
    "trainer_state = kto_doctor.sources.trainer_state:SOURCE",
    "trainer_log = kto_doctor.sources.trainer_log:SOURCE",
    "tensorboard = kto_doctor.sources.tensorboard:SOURCE",
    "console = kto_doctor.sources.console:SOURCE",
    "config = kto_doctor.sources.config_file:SOURCE",
    "results = kto_doctor.sources.results:SOURCE",
    "verl = kto_doctor.sources.verl_jsonl:SOURCE",
    "lightning_csv = kto_doctor.sources.lightning_csv:SOURCE",
    "dvclive = kto_doctor.sources.dvclive:SOURCE",
    "mlflow = kto_doctor.sources.mlflow_files:SOURCE",
    "mlflow_sqlite = kto_doctor.sources.mlflow_sqlite:SOURCE",
    "wandb = kto_doctor.sources.wandb_run:SOURCE",
    "trackio = kto_doctor.sources.trackio:SOURCE",
    "swanlab = kto_doctor.sources.swanlab:SOURCE",
    "megatron = kto_doctor.sources.megatron:SOURCE",
    "mmengine = kto_doctor.sources.mmengine:SOURCE",
    "verl_console = kto_doctor.sources.verl_console:SOURCE",
    "deepspeed_chat = kto_doctor.sources.deepspeed_chat:SOURCE",
    "torchtune = kto_doctor.sources.torchtune:SOURCE",
    "llama_recipes = kto_doctor.sources.llama_recipes:SOURCE",
    "build_nanogpt = kto_doctor.sources.build_nanogpt:SOURCE",
    "llmc = kto_doctor.sources.llmc:SOURCE",
    "progress_bar = kto_doctor.sources.progress_bar:SOURCE",
    "progress_table = kto_doctor.sources.progress_table:SOURCE",
    "generic_kv = kto_doctor.sources.generic_kv:SOURCE",
    "step_value = kto_doctor.sources.step_value:SOURCE",
    "json_metrics = kto_doctor.sources.json_metrics:SOURCE",
    "csv_table = kto_doctor.sources.csv_table:SOURCE",
    "deepspeed_chat_sft_rm = kto_doctor.sources.deepspeed_chat_sft_rm:SOURCE",
    "printed_tensor = kto_doctor.sources.printed_tensor:SOURCE",
    "reward_lists = kto_doctor.sources.reward_lists:SOURCE",
    "epoch_jsonl = kto_doctor.sources.epoch_jsonl:SOURCE",
    "notebook = kto_doctor.sources.notebook:NOTEBOOK",
    "html_table = kto_doctor.sources.notebook:HTML_TABLE",
    "blocks = kto_doctor.sources.blocks:SOURCE",
)

# Files never worth opening: weights, tokenizers, images, archives, data sets.
SKIP_NAMES = frozenset({
    "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "vocab.json", "dataset_info.json",
    "llamaboard_config.yaml", "preprocessor_config.json", "added_tokens.json", "merges.txt", "requirements.txt",
    "license", "license.txt", "readme.md", "chat_template.json", "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
})
SKIP_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".npy", ".npz", ".pkl", ".pickle",
    ".h5", ".hdf5", ".msgpack", ".model", ".tiktoken", ".arrow", ".parquet", ".png", ".jpg", ".jpeg", ".gif",
    ".svg", ".pdf", ".zip", ".tar", ".tgz", ".xz", ".bz2", ".zst", ".7z", ".whl", ".so", ".pyc", ".py", ".sh",
    ".css", ".js",
)
# Suffixes of text logs: what a console capture, a pasted excerpt or a tracker's text file is called.
TEXT_SUFFIXES = (".log", ".txt", ".out", ".err", ".stdout", ".stderr", ".md", "")
CONSOLE_SUFFIXES = (".log", ".txt", ".out", ".err", ".stdout", ".stderr")
SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", ".ipynb_checkpoints", ".venv", "venv",
                       "site-packages", ".cache", "latest-run"})


@dataclass(frozen=True)
class Source:
    """One log format.

    name      the format name shown in reports (`run.sources[].format`) and `kto-doctor formats`.
    title     one line saying what writes it.
    read      path -> SourceData, or a list of them (a store holding several runs, a folder of several files).
              Raises `SourceError` (one line, naming the file) when the file is not of this format or holds
              nothing; damage is a warning on the returned SourceData.
    priority  lower is more trusted where two sources log the same metric at the same step.
    names     glob patterns on the lower-cased file name that claim a file without reading it.
    sniff     first bytes of a file, decoded (BOM, UTF-16 and gzip undone) -> confidence 0..1 that it is
              this format. 0 (or None) is "not mine". Asked only for files with one of `suffixes`.
    suffixes  file suffixes worth sniffing ("" = no suffix; "*" = any text file).
    fallback  read files of these suffixes even when no sniffer recognises them (the HF console reader for
              `*.log`: its metric lines can be far into a file).
    kind      "metrics" (step series), "config" or "summary" (end-of-run numbers only).
    anchor    a file of this format marks a run: its run folder is `run_root(path)` (default: its folder).
    folder    claims a whole folder as one source (an MLflow run, a W&B run): folder -> bool. Discovery
              does not descend into a claimed folder; `read` receives the folder.
    runs      for stores that hold several runs (a SQLite tracker): path -> run keys, cheaply.
    choose    several files of this format in one run -> groups of alternatives, each ordered by preference:
              the first readable file of a group is read, the others are superseded (checkpoint copies of
              trainer_state.json: only the newest). Default: every file is read.
    combine   several SourceData of this format in one run -> one (TensorBoard: the event files of restarts,
              resumes and separate writers, merged by wall time). Default: kept apart.
    dialect   the framework whose spellings `ontology.canonical` applies (e.g. "lightning").
    examples  where real files of this format come from (shown by `kto-doctor formats -v`).
    """

    name: str
    title: str
    read: Callable
    priority: int = 50
    names: tuple[str, ...] = ()
    sniff: Callable[[str], float] | None = None
    suffixes: tuple[str, ...] = ()
    fallback: bool = False
    kind: str = "metrics"
    anchor: bool = False
    run_root: Callable[[Path], Path] | None = None
    folder: Callable[[Path], bool] | None = None
    runs: Callable[[Path], list[str]] | None = None
    choose: Callable[[list[Path]], list[list[Path]]] | None = None
    combine: Callable[[list], object] | None = None
    dialect: str | None = None
    examples: tuple[str, ...] = ()

    def claims_name(self, low_name: str) -> bool:
        return any(glob_match(low_name, p) for p in self.names)

    def claims_name_exactly(self, low_name: str) -> bool:
        """Claimed by a pattern without wildcards (`trainer_state.json`), or one no other content can have
        (`*tfevents*`): such a claim decides without reading the file."""
        return any(("*" not in p and "?" not in p and p == low_name) or (p.startswith("*") and p.endswith("*")
                   and glob_match(low_name, p)) for p in self.names)

    def root_of(self, path: Path) -> Path:
        return self.run_root(path) if self.run_root is not None else path.parent


def glob_match(name: str, pattern: str) -> bool:
    """`fnmatch.fnmatchcase(name, pattern)`, by string search where `*` is the only wildcard (every built-in
    pattern): fnmatch compiles a regular expression per pattern, 21 of them at each start."""
    if "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    parts = pattern.split("*")
    if len(parts) == 1:
        return name == pattern
    first, last = parts[0], parts[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
        return False
    pos, stop = len(first), len(name) - len(last)
    for part in parts[1:-1]:  # each in turn, leftmost first: a later part can only gain from an earlier end
        found = name.find(part, pos, stop)
        if found < 0:
            return False
        pos = found + len(part)
    return True


@dataclass
class Registry:
    sources: list[Source] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # plugins that could not be loaded, one line each

    def get(self, name: str) -> Source | None:
        for s in self.sources:
            if s.name == name:
                return s
        return None

    def by_name(self, low_name: str) -> list[Source]:
        return [s for s in self.sources if s.names and s.claims_name(low_name)]

    def sniffers(self, suffix: str) -> list[Source]:
        return [s for s in self.sources if s.sniff is not None and (suffix in s.suffixes or "*" in s.suffixes)]

    def fallbacks(self, suffix: str) -> list[Source]:
        return [s for s in self.sources if s.fallback and suffix in CONSOLE_SUFFIXES and suffix in s.suffixes]

    def folder_sources(self) -> list[Source]:
        return [s for s in self.sources if s.folder is not None]


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """Every source: the entry-point group (built-ins and third parties), loaded once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _load()
        startup.resume()  # the code is loaded, runs are read next: the collector runs again (startup.py)
    return _REGISTRY


def reset(extra: list[Source] | None = None) -> Registry:
    """Forget the loaded registry (tests; a plugin installed at run time); `extra` sources are added."""
    global _REGISTRY
    _REGISTRY = _load()
    for s in extra or ():
        _REGISTRY.sources.append(s)
    _REGISTRY.sources.sort(key=lambda s: (s.priority, s.name))
    return _REGISTRY


def _load() -> Registry:
    reg = Registry()
    specs: list[tuple[str, str]] = []
    try:
        specs = plugin_specs()
    except Exception as exc:  # a broken installation must not stop the built-in readers
        reg.problems.append(f"entry points of {ENTRY_POINT_GROUP} could not be listed ({exc})")
    names = {n for n, _ in specs}
    for line in BUILTIN:  # an uninstalled source tree: no entry points of our own
        name, _, value = (x.strip() for x in line.partition("="))
        if name not in names:
            specs.append((name, value))
    seen: dict[str, str] = {}
    for name, value in specs:
        try:
            src = _resolve(value)
        except Exception as exc:
            reg.problems.append(f"source plugin '{name}' ({value}) could not be loaded: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(src, Source):
            reg.problems.append(f"source plugin '{name}' ({value}) is not a kto_doctor Source")
            continue
        if src.name in seen:
            reg.problems.append(f"source plugin '{name}' ({value}) ignored: format '{src.name}' is already "
                                f"provided by {seen[src.name]}")
            continue
        seen[src.name] = value
        reg.sources.append(src)
    reg.sources.sort(key=lambda s: (s.priority, s.name))
    return reg


def plugin_specs(group: str = ENTRY_POINT_GROUP) -> list[tuple[str, str]]:
    """(name, value) of every entry point of `group`, as `importlib.metadata.entry_points(group=...)` lists
    them: distributions found along sys.path in order, the first of a name shadowing later ones.

    Where every sys.path entry is a plain folder and no import hook lists distributions of its own, the
    folders' `*.dist-info` / `*.egg-info` entry_points.txt files are read directly: importing
    importlib.metadata and listing every distribution's entry points cost more than the rest of a small
    run's own work (~40M instructions at each start). Anything else goes through importlib.metadata.
    """
    import sys

    if not _plain_path():
        from importlib.metadata import entry_points

        return [(ep.name, ep.value) for ep in entry_points(group=group)]
    seen: set[str] = set()
    specs: list[tuple[str, str]] = []
    header = f"[{group}]"
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:  # listing order, as importlib.metadata's
            if not name.lower().endswith((".dist-info", ".egg-info")):
                continue
            stem = name.lower().rpartition(".")[0]
            dist = re.sub(r"[-_.]+", "_", stem.partition("-")[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            if header in text:
                specs += _group_entries(text, group)
    return specs


def _plain_path() -> bool:
    """sys.path is folders only (no zip file, no .egg), and no import hook lists distributions of its own."""
    import sys
    from importlib.machinery import PathFinder

    if any(f is not PathFinder and hasattr(f, "find_distributions") for f in sys.meta_path):
        return False
    return not any(entry and (entry.lower().endswith(".egg") or os.path.isfile(entry)) for entry in sys.path)


def _group_entries(text: str, group: str) -> list[tuple[str, str]]:
    """`name = value` lines of one section of an entry_points.txt (the ini layout importlib.metadata reads)."""
    out: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == group:
            name, sep, value = line.partition("=")
            if sep:
                out.append((name.strip(), value.strip()))
    return out


def _resolve(value: str):
    module, _, attr = value.partition(":")
    obj = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------------------------ identifying files


SURE = 0.9  # a sniff score this high overrides a wildcard name claim


def score(hits: int) -> float:
    """The common scale of text sniffers: 0 for no line of the format, rising with the lines seen, so that
    the format with the most recognisable lines in a file's start wins."""
    return 0.0 if hits <= 0 else min(1.0, 0.5 + 0.05 * hits)


def suffix_of(low_name: str) -> str:
    """The suffix that decides sniffing: `.log` for `train.log` and `train.log.gz`, "" for `stdout`."""
    if low_name.endswith(".gz"):
        low_name = low_name[:-3]
    dot = low_name.rfind(".")
    return low_name[dot:] if dot > 0 else ""


def skipped(low_name: str) -> bool:
    return low_name in SKIP_NAMES or low_name.endswith(SKIP_SUFFIXES)


DEEP = 0.5  # a sniff score below this is no specific reader's (the generic fallback scores 0.1-0.3)


def _sniffed(sniffers, text: str) -> list[tuple[float, "Source"]]:
    out = []
    for s in sniffers:
        try:
            score = float(s.sniff(text) or 0.0)
        except Exception:  # a plugin's sniffer must not stop discovery
            score = 0.0
        if score > 0:
            out.append((score, s))
    return out


# the suffixes of text a claimant's sniffer can judge; a binary (an event file, a database) is left to its claim
_SNIFFABLE = frozenset({".csv", ".tsv", ".json", ".jsonl", ".log", ".txt"})


def _content_disowns(claimed: list[Source], suffix: str, head) -> bool:
    """Every source that claims the file by name has a sniffer, and none of them recognises its first bytes."""
    if head is None or suffix not in _SNIFFABLE or any(s.sniff is None for s in claimed):
        return False
    text = head()
    return bool(text) and not _sniffed(claimed, text)


def candidates(path: Path, head: Callable[[], str | None] | None = None, reg: Registry | None = None,
               named: bool = False) -> list[Source]:
    """The sources that may read `path`, most likely first (empty: not a log kto-doctor reads).

    A name claim decides alone, unless every claimant has a sniffer and none recognises the first bytes of a text
    file: then the claimants go first and the sources its content suggests follow. Otherwise sniffers score the
    file's first bytes (read once, through `head`), then fallbacks for the suffix follow. `named`: the user named
    this file, so every text reader is tried.
    """
    reg = reg or registry()
    low = path.name.lower()
    if skipped(low) and not named:
        return []
    plain = low[:-3] if low.endswith(".gz") else low
    claimed = reg.by_name(plain)
    suffix = suffix_of(low)
    if head is not None:  # read the first bytes once, whichever step below needs them
        head = functools.cache(head)
    disowned: list[Source] = []
    if claimed and any(s.claims_name_exactly(plain) for s in claimed):
        if not _content_disowns(claimed, suffix, head):
            return claimed
        # the name is the claimant's, its content not (a hand-written loop's own `metrics.csv` with no `step`
        # column is no Lightning CSVLogger's): the claimant first, as the name says, then what the content says
        disowned, claimed = claimed, []
    sniffers = reg.sniffers(suffix)
    if named:
        sniffers = [s for s in reg.sources if s.sniff is not None]
    scored: list[tuple[float, Source]] = []
    if sniffers:
        text = head() if head is not None else None
        if text:
            scored = _sniffed(sniffers, text)
        if text and not any(s_score >= DEEP for s_score, _ in scored):
            # nothing specific in the first bytes of a large file: look at whole lines from further in (a W&B
            # output.log that prints 15,000 lines of rollouts before its first `step:1 - ...` metric line)
            from .base import read_samples

            deep = read_samples(path)  # None for a file that fits in its head
            if deep:  # the specific readers only: a fallback's score could not go first anyway
                again = _sniffed([s for s in sniffers if not s.fallback], deep)
                if any(s_score >= DEEP for s_score, _ in again):
                    scored = again
    scored.sort(key=lambda x: (-x[0], x[1].priority))
    if claimed:
        # a claim by a wildcard pattern (`*_results.json`, `*.yaml`) is weak: a sniffer that is sure of the
        # content (a trainer_state.json saved as `run_results.json`) goes first, the name's claim next
        sure = [s for score, s in scored if score >= SURE and s not in claimed]
        return sure + claimed + [s for _, s in scored if s not in sure and s not in claimed]
    out = [s for _, s in scored]
    fallbacks = reg.fallbacks(suffix) if not named else [s for s in reg.sources if s.fallback]
    out += [s for s in fallbacks if s not in out]
    return disowned + [s for s in out if s not in disowned]
