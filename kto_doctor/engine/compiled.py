"""The built-in rules in compiled form: JSON data made at build time, so a start does not re-compile them.

Compiling the shipped rule files (YAML with positions, every expression parsed and checked, every template
split) costs more than the rest of a small analysis. The wheel therefore carries the compiled RuleSet as
JSON (`_builtin_rules.compiled.json`, written by the build hook `hatch_build.py`), and `load()` rebuilds
the RuleSet from it. The file is data, never code: only the engine's own classes listed in `_CLASSES` are
built from it, through their constructors, and expression trees are re-parsed from their source by
`ast.parse` when first evaluated (no tree is read from the file). Nothing is ever written at run time: a
cache in a user-writable place (a CI cache) would be a way to change the rules.

The file records a fingerprint of the rule files and of the code that compiles them; `load()` returns
None (and the caller compiles the YAML as before) when the fingerprint does not match, so an edited rule
or engine never runs against a stale compiled form.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime
import json
import zlib
from pathlib import Path

from . import rules as _rules
from .expr import Compiled
from .template import Field, Template
from .yamlpos import Pos

FORMAT = 1
FILENAME = "_builtin_rules.compiled.json"
# The code whose behaviour decides what a compiled rule holds (the whole engine, the contract's vocabularies
# in model.py, the metric names in ontology.py): any change to it makes the file stale.
_CODE = ("engine/*.py", "model.py", "ontology.py")
_TAG = "__t"


class LazyCompiled(Compiled):
    """A checked expression whose tree is parsed from its source on first use (compile_expr checked it when
    the compiled file was made; the fingerprint guarantees the source is the one that was checked)."""

    @property
    def tree(self):
        tree = self.__dict__.get("_tree")
        if tree is None:
            tree = self.__dict__["_tree"] = ast.parse(self.source.strip(), mode="eval")
        return tree

    @tree.setter
    def tree(self, value):
        self.__dict__["_tree"] = value


_CLASSES = {cls.__name__: cls for cls in (_rules.Rule, _rules.RuleSet, _rules.CauseSpec, _rules.CatalogCause, Pos)}
_PATH_FIELDS = {("Pos", "file"), ("Rule", "source")}  # absolute paths under the rules folder


def compiled_path() -> Path:
    return Path(__file__).resolve().parent.parent / FILENAME


def fingerprint(rules_dir: Path | None = None) -> str:
    """CRC-32 and size of every built-in rule file (by relative path) and of the compiling code."""
    rules_dir = rules_dir or _rules.builtin_rules_dir()
    pkg = Path(__file__).resolve().parent.parent
    parts = [f"format {FORMAT}"]
    code = sorted({p for pattern in _CODE for p in pkg.glob(pattern)})
    for rel, path in [(p.relative_to(rules_dir).as_posix(), p) for p in _rules.rule_files(rules_dir)] + [
            (f"code:{p.relative_to(pkg).as_posix()}", p) for p in code]:
        data = path.read_bytes()
        parts.append(f"{rel} {len(data)} {zlib.crc32(data):08x}")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------------------
# Writing (build time, and tests)
# ------------------------------------------------------------------------------------------------------------


def dumps(ruleset: _rules.RuleSet, rules_dir: Path | None = None) -> str:
    """The RuleSet as JSON text with the fingerprint of `rules_dir` (the built-in rules folder by default)."""
    rules_dir = (rules_dir or _rules.builtin_rules_dir())
    prefix = str(rules_dir) + "/" if not str(rules_dir).endswith(("/", "\\")) else str(rules_dir)
    # Two lines: a small header (checked before the rest is parsed) and the RuleSet.
    head = json.dumps({"format": FORMAT, "fingerprint": fingerprint(rules_dir)})
    return head + "\n" + json.dumps(_encode(ruleset, prefix), separators=(",", ":"), allow_nan=True) + "\n"


# Expressions and templates are most of the file: they are stored as short arrays (one JSON object each).
_COMPILED_FIELDS = ("source", "metrics", "config_keys", "params", "lets")  # all but `source` are sets
_FIELD_FIELDS = ("expr", "spec", "start")
_TEMPLATE_FIELDS = ("source", "parts")


def _check_fields(cls, expected):
    names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "tree")
    if names != expected:  # a new field must be added here, or the compiled form would silently lose it
        raise TypeError(f"compiled.py stores {cls.__name__} as {expected}; the class now has {names}")


def _encode(v, prefix: str, owner: str = "", name: str = ""):
    if v is None or isinstance(v, (bool, int, float, str)):
        if (owner, name) in _PATH_FIELDS:
            s = str(v).replace("\\", "/")
            p = prefix.replace("\\", "/")
            if not s.startswith(p):
                raise ValueError(f"{owner}.{name} {v!r} is not under the rules folder {prefix!r}")
            return {_TAG: "rulepath", "v": s[len(p):]}
        return v
    if isinstance(v, list):
        return [_encode(x, prefix) for x in v]
    if isinstance(v, tuple):
        return {_TAG: "tuple", "v": [_encode(x, prefix) for x in v]}
    if isinstance(v, (set, frozenset)):
        return {_TAG: type(v).__name__, "v": [_encode(x, prefix) for x in sorted(v, key=repr)]}
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v) and _TAG not in v:
            return {k: _encode(x, prefix) for k, x in v.items()}
        return {_TAG: "dict", "v": [[_encode(k, prefix), _encode(x, prefix)] for k, x in v.items()]}
    if isinstance(v, datetime.datetime):
        return {_TAG: "datetime", "v": v.isoformat()}
    if isinstance(v, datetime.date):
        return {_TAG: "date", "v": v.isoformat()}
    if isinstance(v, Compiled):
        _check_fields(Compiled, _COMPILED_FIELDS)
        return {_TAG: "C", "v": [v.source] + [sorted(getattr(v, f)) for f in _COMPILED_FIELDS[1:]]}
    if isinstance(v, Field):
        _check_fields(Field, _FIELD_FIELDS)
        return {_TAG: "F", "v": [_encode(v.expr, prefix), v.spec, v.start]}
    if isinstance(v, Template):
        _check_fields(Template, _TEMPLATE_FIELDS)
        return {_TAG: "T", "v": [v.source, [_encode(x, prefix) for x in v.parts]]}
    cls = type(v).__name__
    if not (dataclasses.is_dataclass(v) and _CLASSES.get(cls) is type(v)):
        raise TypeError(f"cannot store a {cls} in the compiled rules")
    out = {_TAG: cls}
    for f in dataclasses.fields(v):
        value = getattr(v, f.name)
        if cls == "Rule" and f.name == "tests" and value is v.raw.get("tests") and value is not None:
            out[f.name] = {_TAG: "raw_tests"}  # the same list as raw["tests"]: stored once
            continue
        out[f.name] = _encode(value, prefix, cls, f.name)
    return out


# ------------------------------------------------------------------------------------------------------------
# Reading (every start)
# ------------------------------------------------------------------------------------------------------------


def load(path: Path | None = None, rules_dir: Path | None = None) -> _rules.RuleSet | None:
    """The compiled built-in RuleSet, or None when there is no compiled file or it does not match the rules
    and the code (then the caller compiles the YAML)."""
    path = path or compiled_path()
    rules_dir = rules_dir or _rules.builtin_rules_dir()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    head, _, body = text.partition("\n")
    try:
        head = json.loads(head)
    except ValueError:
        return None
    try:
        if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("fingerprint") != fingerprint(rules_dir):
            return None
    except OSError:
        return None
    new_compiled = object.__new__
    base = str(rules_dir)
    sep = "" if base.endswith(("/", "\\")) else "/"

    def hook(d):
        tag = d.get(_TAG)
        if tag is None:
            return d
        if tag == "tuple":
            return tuple(d["v"])
        if tag == "rulepath":
            return str(Path(base + sep + d["v"]))
        if tag == "set":
            return set(d["v"])
        if tag == "frozenset":
            return frozenset(d["v"])
        if tag == "dict":
            return {k: x for k, x in d["v"]}
        if tag == "C":
            obj = new_compiled(LazyCompiled)
            source, metrics, config_keys, params, lets = d["v"]
            obj.__dict__.update(source=source, metrics=set(metrics), config_keys=set(config_keys),
                                params=set(params), lets=set(lets))
            return obj
        if tag == "F":
            return Field(*d["v"])
        if tag == "T":
            return Template(*d["v"])
        if tag == "raw_tests":
            return _RAW_TESTS
        if tag == "datetime":
            return datetime.datetime.fromisoformat(d["v"])
        if tag == "date":
            return datetime.date.fromisoformat(d["v"])
        cls = _CLASSES[tag]  # a KeyError for anything else: the file is not ours
        del d[_TAG]
        return cls(**d)

    try:
        ruleset = json.loads(body, object_hook=hook)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(ruleset, _rules.RuleSet):
        return None
    for rule in ruleset.rules:
        if rule.tests is _RAW_TESTS:
            rule.tests = rule.raw.get("tests")
    return ruleset


_RAW_TESTS = object()


def write(target: Path, rules_dir: Path | None = None) -> Path:
    """Compile the built-in rules (from YAML) and write the compiled form to `target` (build hook)."""
    rules_dir = rules_dir or _rules.builtin_rules_dir()
    ruleset = _rules.load_paths([rules_dir], builtin=True)
    target.write_text(dumps(ruleset, rules_dir), encoding="utf-8")
    return target
