"""JSON Schema for rule files and rule test files, built from `rules.RULE_FIELDS` so it never drifts.

`kto-doctor rules schema` prints it. Editors use it for completion and early errors
(`# yaml-language-server: $schema=rules.schema.json`). The schema checks shape only; the loader checks
the rest (expressions, metric names, cause ids) with file:line:col.
"""
from __future__ import annotations

from ..model import METHODS, SEVERITIES, SYMPTOMS
from .rules import CATALOG_FIELDS, CAUSE_FIELDS, OVERRIDE_FIELDS, REQUIRES_FIELDS, RULE_FIELDS
from .testing import CASE_KEYS, EXPECT_KEYS

SCHEMA_ID = "urn:kto-doctor:rules-schema:1"

_STR = {"type": "string"}
_STRLIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
_EXPR = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}, {"type": "boolean"}],
         "description": "A rule expression (docs/rules.md, 'Expressions')."}
_SERIES = {"anyOf": [{"type": "string"}, {"type": "number"},
                     {"type": "array", "items": {"type": ["number", "string", "null"]}}],
           "description": "Series notation: v, vxN, a+dxN, a-dxN, a..bxN, nan, inf, _ (a missing row)."}


def _kind_schema(kind: str) -> dict:
    if kind == "code":
        return {"type": "string", "pattern": r"^[A-Z][A-Z0-9]*[0-9]{1,4}$"}
    if kind == "slug":
        return {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"}
    if kind == "symptom":
        return {"enum": list(SYMPTOMS)}
    if kind == "severity":
        return {"enum": list(SEVERITIES)}
    if kind in ("template", "text", "str"):
        return dict(_STR)
    if kind == "expr":
        return dict(_EXPR)
    if kind == "methods":
        return {"anyOf": [{"const": "any"}, {"enum": list(METHODS)},
                          {"type": "array", "items": {"enum": list(METHODS)}}]}
    if kind == "strlist":
        return dict(_STRLIST)
    if kind == "requires":
        return {"type": "object", "additionalProperties": False,
                "properties": {k: dict(_STRLIST) for k in sorted(REQUIRES_FIELDS)}}
    if kind == "params":
        scalar = {"type": ["number", "string", "boolean", "null"]}
        return {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_]*$"},
                "additionalProperties": {"anyOf": [scalar, {"type": "array", "items": {"type": ["number", "string"]}}]}}
    if kind == "lets":
        return {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_]*$"},
                "additionalProperties": dict(_EXPR)}
    if kind == "int":
        return {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\s*\d+\s*(steps?|rows?)?\s*$"}]}
    if kind == "severity_map":
        return {"type": "object", "additionalProperties": False,
                "properties": {s: dict(_EXPR) for s in SEVERITIES}}
    if kind == "symptom_map":
        return {"type": "object", "propertyNames": {"enum": list(SYMPTOMS)}, "additionalProperties": dict(_EXPR)}
    if kind == "exprmap":
        return {"type": "object", "additionalProperties": dict(_EXPR)}
    if kind == "causes":
        cause = {"type": "object", "required": ["id"], "additionalProperties": False, "properties": {
            "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "if": dict(_EXPR), "text": dict(_STR), "fixes": dict(_STRLIST)}}
        assert set(cause["properties"]) == CAUSE_FIELDS
        return {"type": "array", "items": {"anyOf": [{"type": "string"}, cause]}}
    if kind == "tests":
        return {"type": "array", "items": {"$ref": "#/$defs/testCase"}}
    if kind == "bool":
        return {"type": "boolean"}
    raise ValueError(f"no schema for field kind {kind!r}")


def rule_schema() -> dict:
    props = {}
    for name, (kind, _required, desc) in RULE_FIELDS.items():
        props[name] = dict(_kind_schema(kind), description=desc)
    return {"type": "object", "additionalProperties": False,
            "required": [k for k, (_, req, _) in RULE_FIELDS.items() if req], "properties": props}


def test_case_schema() -> dict:
    expect = {"type": "object", "additionalProperties": False, "properties": {
        "fires": {"type": "boolean"}, "first_step": {"type": "integer"}, "last_step": {"type": "integer"},
        "severity": {"enum": list(SEVERITIES)}, "symptom": {"enum": list(SYMPTOMS)}, "cause": _STR, "causes_include": {"type": "array", "items": _STR},
        "message_contains": _STRLIST, "title_contains": _STRLIST, "cause_text_contains": _STRLIST,
        "evidence": {"type": "object"}, "skipped": {"type": "boolean"}, "todo": {"type": "boolean"}}}
    assert set(expect["properties"]) == EXPECT_KEYS
    case = {"type": "object", "additionalProperties": False, "properties": {
        "name": _STR, "rule": _STR, "method": {"enum": list(METHODS)}, "framework": _STR,
        "config": {"type": "object"}, "series": {"type": "object", "additionalProperties": _SERIES},
        "steps": _SERIES, "expect": expect}}
    assert set(case["properties"]) == CASE_KEYS
    return case


def build_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a rule file: one rule, or rules/overrides/causes, or a test file."""
    override = {"type": "object", "required": ["rule"], "additionalProperties": False, "properties": {
        "rule": _STR, "severity": {"enum": list(SEVERITIES)}, "params": {"type": "object"},
        "enabled": {"type": "boolean"}, "reason": _STR}}
    assert set(override["properties"]) == OVERRIDE_FIELDS
    catalog_cause = {"type": "object", "required": ["title"], "additionalProperties": False, "properties": {
        "title": _STR, "kind": {"enum": ["problem", "explanation"]}, "fixes": {"type": "array", "items": _STR},
        "excludes": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
                     "description": "Causes that cannot hold together with this one; the diagnosis keeps the "
                                    "better-supported one."}}}
    assert set(catalog_cause["properties"]) == CATALOG_FIELDS
    collection = {"type": "object", "additionalProperties": False, "properties": {
        "version": {"type": ["integer", "string"]},
        "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
        "overrides": {"type": "array", "items": {"$ref": "#/$defs/override"}},
        "causes": {"type": "object", "propertyNames": {"pattern": r"^[a-z0-9][a-z0-9-]*$"},
                   "additionalProperties": {"$ref": "#/$defs/catalogCause"}}}}
    test_file = {"type": "object", "required": ["tests"], "additionalProperties": False, "properties": {
        "rule_files": {"type": "array", "items": _STR},
        "rule": _STR,
        "tests": {"type": "array", "items": {"$ref": "#/$defs/testCase"}}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "kto-doctor rule file",
        "description": "One rule (a mapping with id), a collection (rules / overrides / causes), "
                       "or a *.tests.yaml file (tests, rule_files). See docs/rules.md.",
        "anyOf": [{"$ref": "#/$defs/rule"}, {"$ref": "#/$defs/collection"}, {"$ref": "#/$defs/testFile"}],
        "$defs": {"rule": rule_schema(), "collection": collection, "override": override,
                  "catalogCause": catalog_cause, "testCase": test_case_schema(), "testFile": test_file},
    }
