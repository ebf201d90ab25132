"""Project configuration: `.kto-doctor.yaml`, or `[tool.kto-doctor]` in `pyproject.toml`.

Found upward from the run directory, then from the working directory; the first file wins (like ruff).
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

from dataclasses import dataclass, field
from pathlib import Path

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


def find_config(start: Path) -> Path | None:
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for d in [here, *here.parents]:
        for name in CONFIG_NAMES:
            if (d / name).is_file():
                return d / name
        pp = d / "pyproject.toml"
        if pp.is_file() and "[tool.kto-doctor" in pp.read_text(encoding="utf-8", errors="replace"):
            return pp
    return None


def settings_for(run_path) -> Settings:
    """Settings from the nearest project config above the run, else above the working directory."""
    for start in (Path(run_path), Path.cwd()):
        if not start.exists():
            continue
        found = find_config(start)
        if found is not None:
            return load_settings(found)
    return Settings()


def load_settings(path: Path) -> Settings:
    try:
        if path.name == "pyproject.toml":
            data = _toml(path).get("tool", {}).get("kto-doctor", {})
        else:
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except Exception as e:  # a broken project file is an input error with its name, never a traceback
        raise InputError(f"{path}: cannot read project configuration ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: project configuration must be a mapping")
    unknown = set(data) - KEYS
    if unknown:
        raise InputError(f"{path}: unknown key '{sorted(unknown)[0]}' (keys: {', '.join(sorted(KEYS))})")
    base = path.parent
    s = Settings(source=str(path))
    s.rule_paths = [str((base / p).resolve()) for p in _strlist(data, "extend-rules", path)]
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
