"""Project configuration: `.kto-doctor.yaml`, or `[tool.kto-doctor]` in `pyproject.toml`.

Found upward from the working directory (the repository a CI job runs in), the first file wins (like
ruff), or named with `--config FILE`. Never taken from inside the data being analysed: whoever writes the
logs must not configure the gate that judges them, so a config file under the run path is skipped (and
`Settings.ignored` says so); naming it with `--config` is the explicit opt-in.
Keys (both files; in TOML the same names):

    extend-rules: [ci/rules/]          # rule files or folders, relative to the config file
    select: [KTO, SCHED101]            # codes, code prefixes, names, symptoms or groups
    ignore: [LOSS103]
    fail-on: warning                   # default for --fail-on
    map: {"train/lm_loss": loss}        # logged names the ontology does not know -> canonical names
    rules:                             # per-rule changes without copying the rule
      KTO103: {severity: info, params: {max_start_kl: 5}}
    exceptions:                        # rules off for this project, with the reason kept in the report
      - {rules: [SCHED104], reason: "tiny debug model, learning rates are meaningless"}
"""
from __future__ import annotations

import os
import stat
from dataclasses import field
from pathlib import Path

from .fastclass import dataclass
from . import InputError

CONFIG_NAMES = (".kto-doctor.yaml", ".kto-doctor.yml")
KEYS = {"extend-rules", "select", "ignore", "fail-on", "rules", "exceptions", "map"}


@dataclass
class Settings:
    source: str | None = None
    rule_paths: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    overrides: list[dict] = field(default_factory=list)  # [{rule, severity?, params?, enabled?, reason?}]
    metric_map: dict[str, str] = field(default_factory=dict)  # logged name -> canonical name (`map`)
    ignored: list[str] = field(default_factory=list)  # config files skipped because they lie in the data


PYPROJECT_PEEK = 1 << 20  # a pyproject.toml is searched for [tool.kto-doctor] in its first megabyte


def candidates(d: Path):
    """The project config files of one folder, in the order they win."""
    for name in CONFIG_NAMES:
        if (d / name).is_file():
            yield d / name
    pp = d / "pyproject.toml"
    if pp.is_file():
        try:
            with open(pp, "rb") as f:
                head = f.read(PYPROJECT_PEEK)
        except OSError:
            return
        if b"[tool.kto-doctor" in head:
            yield pp


def find_config(start: Path, data: Path | None = None, ignored: list | None = None) -> Path | None:
    """The nearest project config at or above `start`, skipping any inside the folder `data`."""
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for d in [here, *here.parents]:
        for found in candidates(d):
            if data is not None and _inside(found, data):
                if ignored is not None:
                    ignored.append(str(found))
                continue
            return found
    return None


def data_root(run_path) -> Path | None:
    """The folder whose content is the analysed data: the run folder, or the folder of a run file (None:
    no data, as for `explain` or `rules list`)."""
    if run_path is None:
        return None
    p = Path(run_path)
    if not p.exists():
        return None
    p = p.resolve()
    return p if p.is_dir() else p.parent


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def settings_for(run_path, cwd=None) -> Settings:
    """Settings from the nearest project config upward from the working directory, never from inside the
    run (see the module doc); `run_path` None for commands that analyse no data. An explicit
    `--config FILE` is `load_settings(FILE)` instead."""
    ignored: list[str] = []
    found = find_config(Path(cwd) if cwd is not None else Path.cwd(), data_root(run_path), ignored)
    s = load_settings(found) if found is not None else Settings()
    s.ignored = ignored
    return s


MAX_CONFIG_BYTES = 4 << 20


def load_settings(path: Path) -> Settings:
    """The settings of one project config file. InputError (exit 2) naming the file and where it is
    broken, never quoting its content (it may be a secret the config pointed at by mistake or on purpose)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(f"{path}: not a regular file")
        if os.stat(path).st_size > MAX_CONFIG_BYTES:
            raise InputError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MB: not a project configuration")
        if path.name == "pyproject.toml":
            data = _toml(path).get("tool", {}).get("kto-doctor", {})
        else:
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except InputError:
        raise
    except Exception as e:  # a broken project file is an input error with its name, never a traceback
        raise InputError(f"{path}: cannot read project configuration ({_where(e)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: project configuration must be a mapping")
    unknown = set(data) - KEYS
    if unknown:
        raise InputError(f"{path}: unknown key '{sorted(unknown)[0]}' (keys: {', '.join(sorted(KEYS))})")
    base = path.parent
    s = Settings(source=str(path))
    s.rule_paths = [_rule_path(base / p, p, path) for p in _strlist(data, "extend-rules", path)]
    s.select = _strlist(data, "select", path)
    s.ignore = _strlist(data, "ignore", path)
    fail_on = data.get("fail-on")
    if fail_on is not None and fail_on not in ("error", "warning", "info", "never"):
        raise InputError(f"{path}: fail-on must be error, warning, info or never")
    s.fail_on = fail_on
    mapping = data.get("map") or {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InputError(f"{path}: `map` maps logged metric names to canonical ones ({{'lm loss': loss}})")
    s.metric_map = dict(mapping)
    per_rule = data.get("rules") or {}
    if not isinstance(per_rule, dict):
        raise InputError(f"{path}: `rules` maps rule codes to {{severity, params, enabled}}")
    for code, ov in per_rule.items():
        if not isinstance(ov, dict):
            raise InputError(f"{path}: rules.{code} must be a mapping")
        s.overrides.append(dict(ov, rule=str(code), _pos=None))
    for i, exc in enumerate(data.get("exceptions") or []):
        if not isinstance(exc, dict) or not exc.get("rules") or not exc.get("reason"):
            raise InputError(f"{path}: exceptions[{i}] needs `rules` and a `reason`")
        for code in exc["rules"] if isinstance(exc["rules"], list) else [exc["rules"]]:
            s.overrides.append({"rule": str(code), "enabled": False, "reason": str(exc["reason"]), "_pos": None})
    return s


def _where(exc: Exception) -> str:
    """What is wrong with a config file and where, without the snippet of content YAML errors carry."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if type(exc).__name__ == "TOMLDecodeError":
        return f"invalid TOML: {str(exc).splitlines()[0][:120]}"
    return type(exc).__name__


def _rule_path(p: Path, written: str, config: Path) -> str:
    """An extend-rules entry: an existing regular file or folder (a FIFO would block the run, a device
    such as /dev/zero would never end)."""
    try:
        mode = os.stat(p).st_mode
    except OSError:
        raise InputError(f"{config}: extend-rules entry '{written}' does not exist") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError(f"{config}: extend-rules entry '{written}' is not a regular file or folder")
    return str(p.resolve())


def _strlist(data, key, path):
    v = data.get(key) or []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InputError(f"{path}: `{key}` must be a list of strings")
    return v


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)
