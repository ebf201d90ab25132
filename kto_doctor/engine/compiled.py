"""The built-in rules in compiled form: JSON data made at build time, so a start does not re-compile them.

Compiling the shipped rule files (YAML with positions, every expression parsed and checked, every template
split) costs more than the rest of a small analysis. The wheel therefore carries the compiled RuleSet as
JSON (`_builtin_rules.compiled.json`, written by the build hook `hatch_build.py`), and `load()` rebuilds
the RuleSet from it. The file is data, never code: only the engine's own classes listed in `_CLASSES` are
built from it, through their constructors, and an expression is stored in its lowered form (`expr.lower`:
nested lists of operation names, names and constants, JSON data that the evaluator walks), so a start
parses none; its `ast` tree, which nothing evaluates, is parsed from its source only if asked for. Nothing is ever written at run time: a
cache in a user-writable place (a CI cache) would be a way to change the rules.

What a start decodes is what the run needs. The first data line holds each rule's selection fields (code,
name, methods, required metrics, params... `LIGHT`) and the cause catalog; every other field of a rule
(its expressions, templates and causes) is on a line of its own, decoded when the rule first reads one, so a
rule skipped for its method or a metric the run does not log costs nothing more. The YAML mapping and the test
cases (`YAML`: about half the bytes, read by `explain`, SARIF and `rules test`, never by an evaluation) are on
a second line per rule, decoded only when one of them is read.

The file's header records a fingerprint of every file in the rules folder and of the code that compiles
them, and a CRC of the data lines; `load()` returns None (and the caller compiles the YAML as before) when
either does not match, so an edited rule or engine never runs against a stale compiled form.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime
import json
import os
import zlib
from pathlib import Path

from . import rules as _rules
from .expr import Compiled
from .template import Field, Template
from .pos import Pos

FORMAT = 4
FILENAME = "_builtin_rules.compiled.json"
# The code whose behaviour decides what a compiled rule holds (the whole engine, the contract's vocabularies
# in model.py, the metric names in ontology.py): any change to it makes the file stale.
CODE = ("engine/*.py", "model.py", "ontology.py")
_TAG = "__t"
# Rule fields decoded with the RuleSet: what selecting rules (--select, overrides), skipping them (method,
# framework, required metrics and config) and listing them reads. Every other field is decoded per rule.
LIGHT = ("id", "name", "symptom", "severity", "doc", "group", "methods", "frameworks", "requires_metrics",
         "requires_any", "requires_config", "params", "for_steps", "for_rows", "tolerance", "metrics",
         "config_keys", "references", "aliases", "tags", "enabled", "disabled_reason", "source", "pos", "builtin")
# Rule fields on the second line of a rule: what reports and tests of the rules read, never an evaluation.
YAML = ("raw", "tests")


class LazyCompiled(Compiled):
    """A checked expression whose `ast` tree is parsed from its source on first use (compile_expr checked it
    when the compiled file was made; the fingerprint guarantees the source is the one that was checked)."""

    @property
    def tree(self):
        tree = self.__dict__.get("_tree")
        if tree is None:
            tree = self.__dict__["_tree"] = ast.parse(self.source.strip(), mode="eval")
        return tree

    @tree.setter
    def tree(self, value):
        self.__dict__["_tree"] = value


class LazyRule(_rules.Rule):
    """A built-in rule whose fields beyond `LIGHT` are decoded from the compiled file when first read
    (`_line`: the line of the `HEAVY` fields, `_yaml_line`: that of the `YAML` ones, until decoded)."""

    def __getstate__(self):  # copies and pickles carry every field themselves
        d = self.__dict__
        for line in ("_line", "_yaml_line"):
            if line in d:
                d["_lines"].decode(self, line)
        return {k: v for k, v in d.items() if k != "_lines"}


def _lazy_field(name: str, line: str) -> property:
    key = "_" + name

    def get(self):
        d = self.__dict__
        if key not in d:
            d["_lines"].decode(self, line)
        return d[key]

    def put(self, value):
        self.__dict__[key] = value

    return property(get, put)


HEAVY = tuple(f.name for f in dataclasses.fields(_rules.Rule) if f.name not in LIGHT and f.name not in YAML)
for _name in HEAVY:
    setattr(LazyRule, _name, _lazy_field(_name, "_line"))
for _name in YAML:
    setattr(LazyRule, _name, _lazy_field(_name, "_yaml_line"))


class _Lines:
    """The per-rule lines of a compiled file; `decode(rule, "_line" | "_yaml_line")` fills that rule's HEAVY
    or YAML fields."""

    def __init__(self, lines: list[bytes], hook) -> None:
        self.lines, self.hook = lines, hook

    def decode(self, rule: LazyRule, line: str) -> None:
        fields = json.loads(self.lines[rule.__dict__.pop(line)], object_hook=self.hook)
        if fields.get("tests") is _RAW_TESTS:
            fields["tests"] = fields["raw"].get("tests")
        for name in (HEAVY if line == "_line" else YAML):
            rule.__dict__["_" + name] = fields[name]


_RAW_TESTS = object()
_CLASSES = {cls.__name__: cls for cls in (_rules.RuleSet, _rules.CauseSpec, _rules.CatalogCause, Pos)}
_PATH_FIELDS = {("Pos", "file"), ("Rule", "source")}  # absolute paths under the rules folder


def compiled_path() -> Path:
    return Path(__file__).resolve().parent.parent / FILENAME


def fingerprint(rules_dir: Path | None = None) -> str:
    """CRC-32 and size of every file under the rules folder (by relative path) and of the compiling code."""
    rules_dir = str(rules_dir or _rules.builtin_rules_dir()).rstrip("/\\")
    pkg = str(Path(__file__).resolve().parent.parent)
    files = [((d[len(rules_dir) + 1:] + "/" + f).lstrip("/").replace(os.sep, "/"), os.path.join(d, f))
             for d, _, names in os.walk(rules_dir) if "__pycache__" not in d for f in names]
    engine = os.path.join(pkg, "engine")
    files += [(f"code:engine/{n}", os.path.join(engine, n)) for n in os.listdir(engine) if n.endswith(".py")]
    files += [(f"code:{c}", os.path.join(pkg, c)) for c in CODE[1:]]
    parts = [f"format {FORMAT}"]
    for rel, path in sorted(files):
        with open(path, "rb") as f:
            data = f.read()
        parts.append(f"{rel} {len(data)} {zlib.crc32(data):08x}")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------------------
# Writing (build time, and tests)
# ------------------------------------------------------------------------------------------------------------


def dumps(ruleset: _rules.RuleSet, rules_dir: Path | None = None) -> str:
    """The RuleSet as JSON lines with the fingerprint of `rules_dir` (the built-in rules folder by default):
    a header, the RuleSet with each rule's LIGHT fields, one line per rule with its HEAVY fields, then one
    line per rule with its YAML fields."""
    if hasattr(_rules.Rule, "__post_init__"):  # LazyRule is built without __init__: nothing may be lost
        raise TypeError("compiled.py builds rules without __init__; Rule now has a __post_init__")
    missing = set(LIGHT) - {f.name for f in dataclasses.fields(_rules.Rule)}
    if missing:
        raise TypeError(f"compiled.LIGHT names fields Rule no longer has: {sorted(missing)}")
    rules_dir = str(rules_dir or _rules.builtin_rules_dir())
    prefix = rules_dir if rules_dir.endswith(("/", "\\")) else rules_dir + "/"
    lines = [_encode(ruleset, prefix)]
    for rule in ruleset.rules:
        lines.append({name: _encode(getattr(rule, name), prefix, "Rule", name) for name in HEAVY})
    for rule in ruleset.rules:
        fields = {name: _encode(getattr(rule, name), prefix, "Rule", name) for name in YAML}
        if rule.tests is not None and rule.tests is rule.raw.get("tests"):
            fields["tests"] = {_TAG: "raw_tests"}  # the same list as raw["tests"]: stored once
        lines.append(fields)
    data = "".join(json.dumps(line, separators=(",", ":"), allow_nan=True) + "\n" for line in lines)
    head = {"format": FORMAT, "fingerprint": fingerprint(Path(rules_dir)), "crc": zlib.crc32(data.encode("utf-8"))}
    return json.dumps(head) + "\n" + data


# Expressions and templates are most of the file: they are stored as short arrays (one JSON object each).
_COMPILED_FIELDS = ("source", "code", "metrics", "config_keys", "params", "lets")  # the last four are sets
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
        if v and all(type(x) is tuple and len(x) == 2 for x in v):  # lets, evidence...: [(name, expr), ...]
            return {_TAG: "pairs", "v": [_encode(y, prefix) for x in v for y in x]}
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
        return {_TAG: "C", "v": [v.source, v.code] + [sorted(getattr(v, f)) for f in _COMPILED_FIELDS[2:]]}
    if isinstance(v, Field):
        _check_fields(Field, _FIELD_FIELDS)
        return {_TAG: "F", "v": [_encode(v.expr, prefix), v.spec, v.start]}
    if isinstance(v, Template):
        _check_fields(Template, _TEMPLATE_FIELDS)
        return {_TAG: "T", "v": [v.source, [_encode(x, prefix) for x in v.parts]]}
    if type(v) is _rules.Rule:
        return {_TAG: "Rule", **{n: _encode(getattr(v, n), prefix, "Rule", n) for n in LIGHT}}
    cls = type(v).__name__
    if not (dataclasses.is_dataclass(v) and _CLASSES.get(cls) is type(v)):
        raise TypeError(f"cannot store a {cls} in the compiled rules")
    return {_TAG: cls, **{f.name: _encode(getattr(v, f.name), prefix, cls, f.name) for f in dataclasses.fields(v)}}


# ------------------------------------------------------------------------------------------------------------
# Reading (every start)
# ------------------------------------------------------------------------------------------------------------


def load(path: Path | None = None, rules_dir: Path | None = None) -> _rules.RuleSet | None:
    """The compiled built-in RuleSet, or None when there is no compiled file or it does not match the rules
    and the code (then the caller compiles the YAML)."""
    path = path or compiled_path()
    rules_dir = rules_dir or _rules.builtin_rules_dir()
    try:
        head, _, data = path.read_bytes().partition(b"\n")
        head = json.loads(head)
        if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("crc") != zlib.crc32(data) \
                or head.get("fingerprint") != fingerprint(rules_dir):
            return None
        data.decode("utf-8")  # (the CRC matched: this only refuses a file that was written wrong)
    except (OSError, ValueError):
        return None
    lines = data.split(b"\n")
    base = str(rules_dir).rstrip("/\\") + os.sep
    new = object.__new__
    made: list = []

    def hook(d):
        tag = d.get(_TAG)
        if tag is None:
            return d
        v = d.get("v")
        if tag == "C":
            obj = new(LazyCompiled)
            source, code, metrics, config_keys, params, lets = v
            obj.__dict__.update(source=source, code=code, metrics=set(metrics), config_keys=set(config_keys),
                                params=set(params), lets=set(lets))
            return obj
        if tag == "pairs":
            return list(zip(v[::2], v[1::2]))
        if tag == "tuple":
            return tuple(v)
        if tag == "F":
            return Field(*v)
        if tag == "T":
            return Template(*v)
        if tag == "rulepath":
            return base + v.replace("/", os.sep)
        if tag == "Rule":
            rule = new(LazyRule)
            del d[_TAG]
            rule.__dict__.update(d, _line=len(made) + 1)
            made.append(rule)
            return rule
        if tag == "set":
            return set(v)
        if tag == "frozenset":
            return frozenset(v)
        if tag == "dict":
            return {k: x for k, x in v}
        if tag == "raw_tests":
            return _RAW_TESTS
        if tag == "datetime":
            return datetime.datetime.fromisoformat(v)
        if tag == "date":
            return datetime.date.fromisoformat(v)
        cls = _CLASSES[tag]  # a KeyError for anything else: the file is not ours
        del d[_TAG]
        return cls(**d)

    try:
        ruleset = json.loads(lines[0], object_hook=hook)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(ruleset, _rules.RuleSet) or len(ruleset.rules) != len(made) \
            or any(a is not b for a, b in zip(ruleset.rules, made)) or len(lines) != 2 * len(made) + 2 \
            or any(set(r.__dict__) != {*LIGHT, "_line"} for r in made):
        return None
    shared = _Lines(lines, hook)
    for rule in made:
        rule.__dict__.update(_lines=shared, _yaml_line=rule.__dict__["_line"] + len(made))
    return ruleset


def write(target: Path, rules_dir: Path | None = None) -> Path:
    """Compile the built-in rules (from YAML) and write the compiled form to `target` (build hook)."""
    rules_dir = rules_dir or _rules.builtin_rules_dir()
    ruleset = _rules.load_paths([rules_dir], builtin=True)
    target.write_text(dumps(ruleset, rules_dir), encoding="utf-8")
    return target


if __name__ == "__main__":  # a source checkout after editing rules: `python -m kto_doctor.engine.compiled`
    print(f"wrote {write(compiled_path())}")
