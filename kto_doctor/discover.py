"""From a path to the runs under it: which files are logs, and which folders are runs.

Which files are logs is asked of the source registry (a name claim, else the file's first bytes). Which
folder a log belongs to is asked of its source too (`Source.run_root`: a checkpoint's trainer_state.json
belongs to the output dir above it, HF's `runs/<date>/` event files likewise). Then:

- every folder that an anchor file (trainer_state.json, trainer_log.jsonl, event files, ...) names as its
  run root is a run, with every log file below it that no deeper run claims (console logs, configs,
  summaries);
- a folder with no anchor whose log files are loose consoles: one of them makes the folder a run (with its
  configs); several make each file a run (a folder of pasted excerpts);
- a tracker folder (a W&B, MLflow, DVCLive or SwanLab run, claimed whole by its source) is a run, unless
  it is the only one of its format inside a run root other logs anchor: then it is that run's tracker copy
  and joins it (see `_tracker_roots`);
- a folder whose only two run roots are an HF output dir (its child) and a folder of event files named like a
  logging dir (`logs/`, `tb_logs/`, ...) is one run: the Trainer's `logging_dir` beside its `output_dir`
  (see `_logging_dir_pairs`);
- a store that holds several runs (`Source.runs`) is one run per key.
`analyze` wants exactly one run; `scan` takes them all.

The walk is bounded and never trusts the tree: symlinked folders are not followed (no loops), a symlinked
file is read only when it resolves to a regular file inside the walked folder, FIFOs, sockets and devices are
skipped with a warning naming them (opening a FIFO blocks forever), and the number of files, folders and
levels is capped (each cap says so in a warning).
"""
from __future__ import annotations

import os
import stat
from dataclasses import field
from pathlib import Path

from .fastclass import dataclass
from .sources.registry import DEEP, SKIP_DIRS, Registry, Source, _sniffed, candidates, registry, skipped

MAX_FILES = 2000  # log files considered under one path
MAX_DIRS = 20000  # folders visited
MAX_DEPTH = 24  # levels below the path


@dataclass
class LogFile:
    path: Path
    sources: list[Source]  # the sources that may read it, most likely first
    rel: str  # relative to the walked path (what reports show)

    @property
    def source(self) -> Source:
        return self.sources[0]


@dataclass
class RunSpec:
    """One run: where it is and the log files that are its own."""

    root: Path  # the run folder (or the single file)
    files: list[LogFile] = field(default_factory=list)
    key: str | None = None  # a run inside a store that holds several (an MLflow database)
    label: str = ""  # how reports name it: the root relative to the walked path, plus `#key`

    @property
    def metrics_files(self) -> list[LogFile]:
        return [f for f in self.files if f.source.kind == "metrics"]


@dataclass
class Discovery:
    path: Path
    runs: list[RunSpec]
    warnings: list[str] = field(default_factory=list)
    files: list[LogFile] = field(default_factory=list)  # every log file seen (configs included)
    unlistable: list[tuple[Path, str]] = field(default_factory=list)  # folders that could not be listed, why


def discover(path, reg: Registry | None = None) -> Discovery:
    """The runs under `path` (a folder, or one file the user named)."""
    reg = reg or registry()
    root = Path(path)
    warnings: list[str] = []
    unlistable: list[tuple[Path, str]] = []
    if _is_dir(root):
        files = walk(root, warnings, reg, unlistable)
        runs = group(root, files, reg, warnings)
    else:
        files = [_named_file(root, reg)]
        runs = [RunSpec(root=root, files=files, label=root.name)]
    runs = _expand_stores(runs)
    return Discovery(path=root, runs=runs, warnings=warnings, files=files, unlistable=unlistable)


def _is_dir(p: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(p).st_mode)
    except OSError:
        return False


def _named_file(p: Path, reg: Registry) -> LogFile:
    """A file named on the command line: every reader that might take it, the console one last."""
    from .sources.base import read_head

    found = _stores_that_read(p, candidates(p, lambda: read_head(p), reg, named=True))
    console = reg.get("console")
    if not found and console is not None:
        found = [console]
    return LogFile(path=p, sources=found, rel=p.name)


# ---------------------------------------------------------------------------------------------- the walk


# Hydra's `.hydra/`, the one hidden folder a run writes: its config.yaml is the configuration of the run in the folder
# above it (searched although hidden, grouped with that folder)
HYDRA_DIR = ".hydra"


def walk(root: Path, warnings: list[str], reg: Registry | None = None,
         unlistable: list[tuple[Path, str]] | None = None) -> list[LogFile]:
    """Every log file under `root` (sorted, bounded, never following a symlinked folder); folders that cannot
    be listed go to `unlistable` as (folder, reason) besides a warning."""
    from .sources.base import read_head

    reg = reg or registry()
    real_root = Path(os.path.realpath(root))
    folder_sources = reg.folder_sources()
    found: list[LogFile] = []
    seen_real: set[str] = set()
    dirs_seen = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    capped = False
    cards: list[Path] = []  # README.md files: model cards, read only where nothing else is a log
    while stack:
        d, depth = stack.pop()
        dirs_seen += 1
        if dirs_seen > MAX_DIRS:
            warnings.append(f"more than {MAX_DIRS} folders under {root}; the rest were not searched")
            break
        claimed = [s for s in folder_sources if _claims_folder(s, d)]
        if claimed:
            found.append(LogFile(path=d, sources=claimed, rel=_rel(d, root)))
            continue
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            reason = str(exc.strerror or exc)
            warnings.append(f"{_rel(d, root)}/: skipped: cannot list it ({reason})")
            if unlistable is not None:
                unlistable.append((d, reason))
            continue
        subdirs = []
        for e in entries:
            p = Path(e.path)
            name = e.name
            try:
                if e.is_symlink():
                    target = _symlink_target(p, real_root)
                    if target is None:
                        if not os.path.isdir(p):
                            warnings.append(f"{_rel(p, root)}: skipped: a symlink that leads outside "
                                            f"{root} or nowhere")
                        continue  # symlinked folders are never followed
                    if target in seen_real:
                        continue
                    mode = os.stat(p).st_mode
                else:
                    mode = e.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                warnings.append(f"{_rel(p, root)}: skipped: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(mode):
                # A skipped name is still read when a source claims the folder whole (a committed copy of
                # W&B's `latest-run`, which is otherwise a symlink to a run folder next to it).
                if (name not in SKIP_DIRS and (not name.startswith(".") or name == HYDRA_DIR)) or \
                        (name in SKIP_DIRS and any(_claims_folder(s, p) for s in folder_sources)):
                    if depth + 1 > MAX_DEPTH:
                        warnings.append(f"{_rel(p, root)}/: not searched (more than {MAX_DEPTH} levels deep)")
                    else:
                        subdirs.append(p)
                continue
            if not stat.S_ISREG(mode):
                if not skipped(name.lower()):
                    warnings.append(f"{_rel(p, root)}: skipped: not a regular file ({_kind(mode)})")
                continue
            if name.lower() == "readme.md":
                cards.append(p)
            srcs = _stores_that_read(p, candidates(p, lambda p=p: read_head(p), reg))
            if not srcs:
                continue
            if len(found) >= MAX_FILES:
                capped = True
                break
            seen_real.add(os.path.realpath(p))
            found.append(LogFile(path=p, sources=srcs, rel=_rel(p, root)))
        if capped:
            warnings.append(f"more than {MAX_FILES} log files under {root}; read only the first {MAX_FILES}")
            break
        stack.extend((s, depth + 1) for s in reversed(subdirs))
    if cards and not any(f.source.kind == "metrics" for f in found):  # (configs beside a card are its run's)
        found += _model_cards(cards, root, warnings, reg)
    found.sort(key=lambda f: f.rel)
    return found


def _model_cards(cards: list[Path], root: Path, warnings: list[str], reg: Registry) -> list[LogFile]:
    """A downloaded model repository's only log is often its card: the Trainer writes the evaluation table into
    README.md ("Training results": `Training Loss | Epoch | Step | Validation Loss`). A README is no log anywhere
    else (it is skipped by name), so it is read only when no other file under the path holds metrics, and only where a
    specific reader is sure of its first bytes (prose with `Step 1: install` is not taken)."""
    from .sources.base import read_head

    out = []
    for p in cards:
        text = read_head(p)
        scored = _sniffed(reg.sniffers(".md"), text) if text else []
        srcs = [s for score, s in sorted(scored, key=lambda x: (-x[0], x[1].priority)) if score >= DEEP]
        srcs = _stores_that_read(p, srcs)
        if srcs:
            rel = _rel(p, root)
            warnings.append(f"{rel}: the model card's results table read as the log (no other log found)")
            out.append(LogFile(path=p, sources=srcs, rel=rel))
    return out


def _stores_that_read(p: Path, srcs: list[Source]) -> list[Source]:
    """A database is claimed by content only as "an SQLite file" (its schema can lie past the sniffed bytes):
    of the store sources, keep those whose `runs` can list it (the first that can leads); a database no store
    reads is not a log."""
    stores = [s for s in srcs if s.runs is not None]
    if not stores:
        return srcs
    good = []
    for s in stores:
        try:
            s.runs(p)
        except Exception:
            continue
        good.append(s)
    return good + [s for s in srcs if s.runs is None]


def _claims_folder(src: Source, d: Path) -> bool:
    try:
        return bool(src.folder(d))
    except Exception:
        return False


def _symlink_target(p: Path, real_root: Path) -> str | None:
    """The real path of a symlinked regular file inside the walked folder, else None."""
    try:
        real = os.path.realpath(p)
        st = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        Path(real).relative_to(real_root)
    except ValueError:
        return None
    return real


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def _rel(p: Path, root: Path) -> str:
    try:
        rel = p.relative_to(root).as_posix()
    except ValueError:
        return str(p)
    return rel if rel != "." else p.name or str(p)


# ------------------------------------------------------------------------------------------ the grouping


def group(root: Path, files: list[LogFile], reg: Registry | None = None,
          warnings: list[str] | None = None) -> list[RunSpec]:
    """Log files → runs (see the module doc)."""
    roots: dict[Path, RunSpec] = {}
    anchored_by: dict[Path, set[str]] = {}
    trackers: list[LogFile] = []
    for f in files:
        src = f.source
        if src.kind == "metrics" and src.anchor:
            if src.folder is not None:  # a tracker folder: see _tracker_roots
                trackers.append(f)
                continue
            r = src.root_of(f.path)
            roots.setdefault(r, RunSpec(root=r))
            anchored_by.setdefault(r, set()).add(src.name)
    for r in _tracker_roots(trackers, roots):
        roots.setdefault(r, RunSpec(root=r))
    for top, parts in _logging_dir_pairs(roots, anchored_by):
        for r in parts:
            del roots[r]
        roots[top] = RunSpec(root=top)
        if warnings is not None:
            warnings.append(f"{_rel(parts[0], root)} (TensorBoard) and {_rel(parts[1], root)} (trainer_state.json) are "
                            "read as one run: a Trainer's logging_dir beside its output_dir")
    loose: dict[Path, list[LogFile]] = {}
    for f in files:
        owner = _owner(f.path, roots)
        if owner is not None:
            roots[owner].files.append(f)
        else:
            folder = f.path.parent
            loose.setdefault(folder.parent if folder.name == HYDRA_DIR else folder, []).append(f)
    runs = list(roots.values())
    for folder, fs in loose.items():
        logs = [f for f in fs if f.source.kind == "metrics"]
        others = [f for f in fs if f.source.kind != "metrics"]
        if len(logs) == 1:
            runs.append(RunSpec(root=folder, files=logs + others))
        else:
            runs.extend(RunSpec(root=f.path, files=[f]) for f in logs)
    for r in runs:
        r.label = _rel(r.root, root)
        r.files.sort(key=lambda f: f.rel)
    runs.sort(key=lambda r: r.label)
    return runs


# what tutorials and scripts name the Trainer's logging_dir (`logging_dir="./logs"`); two sibling folders of other
# names (`exp_a/` of events, `exp_b/` of checkpoints) are two runs
_LOGGING_DIRS = {"logs", "log", "logging", "tb_logs", "tblogs", "tb", "tensorboard", "tensorboard_logs", "runs"}


def _logging_dir_pairs(roots: dict[Path, RunSpec], anchored_by: dict[Path, set[str]]) -> list[tuple[Path, tuple]]:
    """Folders that hold exactly two run roots, an HF output dir (checkpoints with trainer_state.json) as a direct
    child and event files alone in a logging folder beside it (`logs/`, `tb_logs/`, ...): one Trainer run given `logging_dir="logs"` beside
    `output_dir="output"` (the default puts the events inside the output dir, `output/runs/<date>/`). Both log the
    same steps; read apart, the folder was "2 runs" and analyze refused it. A third root below the folder, or the
    folder a root itself, leaves them apart."""
    out = []
    by_parent: dict[Path, list[Path]] = {}
    for r in roots:
        for parent in r.parents:
            by_parent.setdefault(parent, []).append(r)
    for top, below in by_parent.items():
        if len(below) != 2 or top in roots:
            continue
        events = [r for r in below if anchored_by.get(r) == {"tensorboard"}]
        states = [r for r in below if r.parent == top and "trainer_state" in anchored_by.get(r, ())
                  and "tensorboard" not in anchored_by.get(r, ())]
        if (len(events) == 1 and len(states) == 1 and not events[0].is_relative_to(states[0])
                and events[0].relative_to(top).parts[0].lower() in _LOGGING_DIRS):
            out.append((top, (events[0], states[0])))
    # the deepest such folder only (a folder of several such runs pairs each run, not the roots of two of them)
    taken: set[Path] = set()
    final = []
    for top, parts in sorted(out, key=lambda x: -len(x[0].parts)):
        if not taken.intersection(parts):
            taken.update(parts)
            final.append((top, parts))
    return final


def _tracker_roots(trackers: list[LogFile], roots: dict[Path, RunSpec]) -> list[Path]:
    """The tracker folders (a W&B, MLflow, DVCLive or SwanLab run) that are runs of their own.

    A tracker folder inside a run root that other logs anchor (an HF output dir with trainer_state.json or
    event files, and `wandb/run-*/` below it) is the same training run seen by a tracker: it joins that run
    when it is the only folder of its format under that root. Several of one format there (a `wandb/`
    holding three attempts) cannot be told apart from the run's own logs, so each stays a run of its own;
    so does a tracker folder no anchored root holds.
    """
    host = {id(t): _owner(t.path.parent, roots) for t in trackers}
    count: dict[tuple, int] = {}
    for t in trackers:
        if host[id(t)] is not None:
            key = (host[id(t)], t.source.name)
            count[key] = count.get(key, 0) + 1
    return [t.path for t in trackers if host[id(t)] is None or count[(host[id(t)], t.source.name)] > 1]


def _owner(p: Path, roots: dict[Path, RunSpec]) -> Path | None:
    """The deepest run root at or above `p` (a folder source is its own root)."""
    if p in roots:
        return p
    for parent in p.parents:
        if parent in roots:
            return parent
    return None


def _expand_stores(runs: list[RunSpec]) -> list[RunSpec]:
    """A store that holds several runs becomes one RunSpec per run key."""
    out: list[RunSpec] = []
    for r in runs:
        stores = [f for f in r.files if f.source.runs is not None]
        if not stores:
            out.append(r)
            continue
        split = []
        for f in stores:
            try:
                keys = list(f.source.runs(f.path))
            except Exception:
                keys = []
            if len(keys) <= 1:
                out.append(RunSpec(root=r.root, files=r.files, key=keys[0] if keys else None, label=r.label))
                continue
            split.append(f)
            for k in keys:
                out.append(RunSpec(root=f.path, files=[f], key=k, label=f"{f.rel}#{k}"))
        rest = [f for f in r.files if f not in split]
        if split and len(split) == len(stores) and any(f.source.kind == "metrics" for f in rest):
            out.append(RunSpec(root=r.root, files=rest, label=r.label))  # the folder's own logs stay a run
    return out


def describe(runs: list[RunSpec], limit: int = 6) -> str:
    """`a, b, c and 4 more` for messages."""
    names = [r.label or str(r.root) for r in runs]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
