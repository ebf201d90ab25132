"""`--format sarif`: SARIF 2.1.0 for GitHub code scanning (github/codeql-action/upload-sarif).

One SARIF run holds every analysed training run's results (a scan too): GitHub rejects uploads with
several runs of the same tool and category, and one run keeps one `rules` table. Each rule in play is
a reportingDescriptor (doc as fullDescription, causes and fixes as help); each finding a result that
points at the log line where its evidence was read, else at the hyperparameter's line in the config
file, else at the main log (see reports/locations.py). `partialFingerprints` come from
kto_doctor.baseline, so an alert keeps its identity when the same training is run again. A finding
already in the `--baseline` file carries `baselineState: "unchanged"`.
"""
from __future__ import annotations

import json
import re

from .locations import locate
from .safe import json_text, uri_reference

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/kto-doctor/kto-doctor"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
PROBLEM = {"error": "error", "warning": "warning", "info": "recommendation"}
_FIELD = re.compile(r"\{[^{}]*\}")


def render(report, options) -> str:
    return render_many([report], options)


def render_many(reports, options) -> str:
    return json_text(json.dumps(build(reports), indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def build(reports) -> dict:
    from .. import __version__
    from ..baseline import FINGERPRINT_KEY, fingerprint

    rules, index = _rules(reports)
    results = []
    cache: dict = {}
    for report in reports:
        for f in report.findings:
            uri, line = locate(report, f, cache)
            res = {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": LEVEL.get(f.severity, "warning"),
                "message": {"text": _message(report, f)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri if uri.startswith("file:///") else uri_reference(uri)},
                    "region": {"startLine": int(line or 1)},
                }}],
                "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f, report.run)},
                "properties": {
                    "run": str(report.run.path),
                    "symptom": f.symptom,
                    "steps": list(f.steps),
                    "metric": f.metrics[0] if f.metrics else None,
                    "causes": [c.id for c in f.causes],
                },
            }
            if f.baseline:
                res["baselineState"] = "unchanged"
            results.append(res)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kto-doctor",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFO_URI,
                "rules": rules,
            }},
            "automationDetails": {"id": "kto-doctor/"},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _message(report, f) -> str:
    text = f"{f.title}. {f.message}".strip() if f.message and f.message != f.title else f.title
    if f.causes:
        top = f.causes[0]
        text += f"\nProbable cause: {top.text or top.id}"
        if top.fixes:
            text += f"\nFix: {top.fixes[0]}"
    return text


def _rules(reports) -> tuple[list[dict], dict[str, int]]:
    """One descriptor per rule in play in any report (plus any finding whose rule object is absent)."""
    descriptors: list[dict] = []
    index: dict[str, int] = {}
    fired: dict[str, object] = {}
    for r in reports:
        for f in r.findings:
            fired.setdefault(f.rule, f)
    for r in reports:
        for rule in r.rules:
            if rule.id not in index:
                index[rule.id] = len(descriptors)
                # with one run, the help shows that run's rendered causes and fixes (real numbers)
                descriptors.append(_descriptor(rule, fired.get(rule.id) if len(reports) == 1 else None))
    for code, f in fired.items():
        if code not in index:
            index[code] = len(descriptors)
            descriptors.append(_descriptor_from_finding(f))
    return descriptors, index


def _plain(template: str) -> str:
    """A rule template without its `{expr}` fields, for text that describes the rule, not a run."""
    return re.sub(r"\s+", " ", _FIELD.sub("…", template or "")).strip()


def _descriptor(rule, finding=None) -> dict:
    raw = rule.raw or {}
    short = _plain(raw.get("title", "")) or rule.name
    doc = (raw.get("doc") or "").strip() or short
    causes = raw.get("causes") or []
    lines_md = ["**Probable causes and fixes**", ""]
    lines_txt = ["Probable causes and fixes:"]
    if finding is not None and finding.causes:  # rendered for a run that fired: real numbers
        for c in finding.causes:
            lines_md.append(f"- **{c.id}**: {c.text}")
            lines_txt.append(f"- {c.id}: {c.text}")
            for fx in c.fixes:
                lines_md.append(f"  - {fx}")
                lines_txt.append(f"    * {fx}")
    else:
        for c in causes:
            if not isinstance(c, dict):
                continue
            cid, text = c.get("id", ""), _plain(str(c.get("text", "")))
            lines_md.append(f"- **{cid}**" + (f": {text}" if text else ""))
            lines_txt.append(f"- {cid}" + (f": {text}" if text else ""))
            for fx in c.get("fixes") or []:
                lines_md.append(f"  - {_plain(str(fx))}")
                lines_txt.append(f"    * {_plain(str(fx))}")
    if len(lines_txt) == 1:
        lines_md = [f"Run `kto-doctor explain {rule.id}` for details."]
        lines_txt = [f"Run `kto-doctor explain {rule.id}` for details."]
    refs = [str(x) for x in raw.get("references") or []]
    if refs:
        lines_md += ["", "**References**", ""] + [f"- {x}" for x in refs]
        lines_txt += ["References:"] + [f"- {x}" for x in refs]
    tags = [t for t in ([rule.group] if rule.group else []) + [rule.symptom] + list(rule.tags) if t]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": doc},
        "help": {"text": "\n".join(lines_txt), "markdown": doc + "\n\n" + "\n".join(lines_md)},
        "defaultConfiguration": {"level": LEVEL.get(rule.severity, "warning")},
        "properties": {"tags": tags, "precision": "high", "problem.severity": PROBLEM.get(rule.severity, "warning")},
    }


def _descriptor_from_finding(f) -> dict:
    fixes = [fx for c in f.causes for fx in c.fixes]
    text = "Fixes:\n" + "\n".join(f"- {fx}" for fx in fixes) if fixes else f"Run `kto-doctor explain {f.rule}`."
    return {
        "id": f.rule,
        "name": f.name or f.rule,
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": f.title},
        "help": {"text": text, "markdown": text},
        "defaultConfiguration": {"level": LEVEL.get(f.severity, "warning")},
        "properties": {"tags": [f.symptom], "precision": "high"},
    }
