"""The flat `key: scalar` YAML that training configurations are (LLaMA-Factory's `examples/*.yaml`), read
without PyYAML, to the values PyYAML's SafeLoader gives.

Importing PyYAML costs about as much as the rest of a small run's reading (~90M instructions: its scanner,
parser and resolver modules, and the regexes they compile). A file is read here only when every line is
blank, a comment, or `key: value` at the left margin with a plain key and a scalar this module resolves the
way YAML 1.1 does (PyYAML's implicit resolvers: bool words, null, decimal ints, dotted floats, plain and
simply quoted strings). Anything else (nesting, lists, flow collections, anchors, tags, block scalars,
escapes, octal/hex/sexagesimal numbers, timestamps, non-ASCII text, tabs, CRs, documents markers) returns None
and the caller hands the file to PyYAML, so the result never differs; tests compare the two.
"""
from __future__ import annotations

import re

from . import lazyre

_KEY_LINE = lazyre.compile(r"([A-Za-z_][A-Za-z0-9_.\-/]*):(?: +(.*))?")
_BOOLS = {"yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False, "true": True,
          "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False, "on": True, "On": True,
          "ON": True, "off": False, "Off": False, "OFF": False}
_NULLS = ("~", "null", "Null", "NULL", "")
_RESERVED_KEYS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}
_INT = lazyre.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = lazyre.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_SINGLE = lazyre.compile(r"'([^']*)'(?: +#.*)?")
_DOUBLE = lazyre.compile(r'"([^"\\]*)"(?: +#.*)?')
_UNSAFE = lazyre.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # control characters other than the newline (tabs too)
# first characters of a plain scalar that make it something else (or an error) in YAML
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_NOT_FOUND = object()


def load(text: str) -> dict | None:
    """The mapping, or None when the text is outside the flat subset (then PyYAML decides)."""
    if not text.isascii() or _UNSAFE.search(text):
        return None
    out: dict = {}
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        m = _KEY_LINE.fullmatch(line.rstrip(" "))
        if m is None or m.group(1).lower() in _RESERVED_KEYS:
            return None
        value = _scalar(m.group(2) or "")
        if value is _NOT_FOUND:
            return None
        out[m.group(1)] = value
    return out or None


def _scalar(raw: str):
    if raw[:1] == "'":
        m = _SINGLE.fullmatch(raw)
        return m.group(1) if m else _NOT_FOUND
    if raw[:1] == '"':
        m = _DOUBLE.fullmatch(raw)
        return m.group(1) if m else _NOT_FOUND
    cut = raw.find(" #")
    s = (raw if cut < 0 else raw[:cut]).rstrip(" ")
    if s.startswith("#"):  # `key: #comment`: an empty value
        s = ""
    if s in _NULLS:
        return None
    if s in _BOOLS:
        return _BOOLS[s]
    if _INT.fullmatch(s):
        digits = s.lstrip("+-")
        return float(s) if len(digits) > 18 else int(s)  # config_file's loader: long integers as floats
    if _FLOAT.fullmatch(s):
        return float(s)
    if s[0] in _INDICATORS or s[0] in "+.0123456789=<" or ": " in s or s.endswith(":"):
        return _NOT_FOUND  # numbers of other forms, timestamps, merge keys, errors: PyYAML's call
    return s
