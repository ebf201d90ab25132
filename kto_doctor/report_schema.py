"""The JSON Schema of kto-doctor's JSON output (`kto-doctor schema report`).

One schema for both commands: `analyze --format json` writes one report object; `scan --format json`
writes an array with one report per run, where a run that could not be analysed is an error entry
(`status: "error"`, `error`). Fields follow ../shared/contract.md (schema_version 1); new fields may be
added (additionalProperties stays open), none is renamed or removed.
"""
from __future__ import annotations

SCHEMA_ID = "https://kto-doctor.invalid/schema/report-1.json"  # a name, never fetched


def build() -> dict:
    from .model import FRAMEWORKS, METHODS, SEVERITIES, SYMPTOMS

    step = {"type": ["integer", "null"], "description": "a global step, or null when unknown (never a fake 0)"}
    number = {"type": "number"}
    evidence_value = {"description": "a number, a string (also 'nan', 'inf', '-inf'), a boolean, null or a list",
                      "type": ["number", "string", "boolean", "null", "array", "object"]}
    source = {
        "type": "object", "required": ["path", "format", "records", "warnings"],
        "properties": {"path": {"type": "string"}, "format": {"type": "string"},
                       "records": {"type": "integer", "minimum": 0},
                       "warnings": {"type": "array", "items": {"type": "string"}}},
    }
    run = {
        "type": "object", "required": ["path", "method", "framework", "sources", "steps", "metrics"],
        "properties": {
            "path": {"type": "string", "description": "the run as given (a local path or a remote URL)"},
            "method": {"enum": list(METHODS)},
            "framework": {"type": "string", "description": f"one of {', '.join(FRAMEWORKS)}, or a newer name"},
            "method_source": {"enum": ["stated", "guessed"]},
            "framework_source": {"enum": ["stated", "guessed"]},
            "sources": {"type": "array", "items": source},
            "steps": {"type": "object", "required": ["first", "last", "logged"],
                      "properties": {"first": step, "last": step, "logged": {"type": "integer", "minimum": 0}}},
            "metrics": {"type": "array", "items": {"type": "string"}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "segments": {"type": "array", "items": {"type": "object", "required": ["first", "last"],
                                                    "properties": {"first": number, "last": number,
                                                                   "source": {"type": "string"}}}},
        },
    }
    cause = {"type": "object", "required": ["id", "score", "text", "fixes"],
             "properties": {"id": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 1},
                            "text": {"type": "string"}, "fixes": {"type": "array", "items": {"type": "string"}}}}
    finding = {
        "type": "object",
        "required": ["rule", "name", "symptom", "severity", "title", "message", "steps", "evidence", "causes"],
        "properties": {
            "rule": {"type": "string"}, "name": {"type": "string"},
            "symptom": {"type": "string", "description": "from the contract's vocabulary: "
                        + ", ".join(SYMPTOMS) + ", …"},
            "severity": {"enum": list(SEVERITIES)},
            "title": {"type": "string"}, "message": {"type": "string"},
            "steps": {"type": "array", "items": {"type": "integer"}, "maxItems": 2,
                      "description": "[first, last] step of the firing window; empty for a run-level finding"},
            "evidence": {"type": "object", "additionalProperties": evidence_value},
            "causes": {"type": "array", "items": cause},
            "baseline": {"type": "boolean", "description": "present (true) when the --baseline file knows it"},
        },
    }
    diagnosis = {"type": "object", "required": ["cause", "score", "title", "fixes", "findings"],
                 "properties": {"cause": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 1},
                                "title": {"type": "string"}, "fixes": {"type": "array", "items": {"type": "string"}},
                                "findings": {"type": "array", "items": {"type": "string"}},
                                "kind": {"enum": ["problem", "explanation"]}}}
    tool = {"type": "object", "required": ["name", "version"],
            "properties": {"name": {"const": "kto-doctor"}, "version": {"type": "string"}}}
    report = {
        "type": "object",
        "required": ["schema_version", "tool", "run", "status", "findings", "diagnosis", "skipped"],
        "properties": {
            "schema_version": {"const": 1}, "tool": {"$ref": "#/$defs/tool"}, "run": {"$ref": "#/$defs/run"},
            "status": {"enum": ["failing", "warning", "healthy", "inconclusive"]},
            "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
            "diagnosis": {"type": "array", "items": {"$ref": "#/$defs/diagnosis"}},
            "skipped": {"type": "array", "items": {"type": "object", "required": ["rule", "reason"],
                                                   "properties": {"rule": {"type": "string"},
                                                                  "reason": {"type": "string"}}}},
        },
    }
    error_entry = {
        "type": "object", "required": ["schema_version", "tool", "run", "status", "error"],
        "properties": {"schema_version": {"const": 1}, "tool": {"$ref": "#/$defs/tool"},
                       "run": {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
                       "status": {"const": "error"}, "error": {"type": "string"},
                       "findings": {"type": "array", "maxItems": 0}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "kto-doctor JSON report (schema_version 1)",
        "description": "analyze --format json: one report. scan --format json: an array of reports, where a run "
                       "that could not be analysed is an error entry.",
        "oneOf": [{"$ref": "#/$defs/report"},
                  {"type": "array", "items": {"oneOf": [{"$ref": "#/$defs/report"}, {"$ref": "#/$defs/error"}]}}],
        "$defs": {"report": report, "error": error_entry, "run": run, "finding": finding, "diagnosis": diagnosis,
                  "tool": tool},
    }
