"""From findings to a ranked diagnosis: several findings that point at one cause raise it.

Each finding proposes causes with a score (its rule's belief that this cause explains that symptom).
A cause's combined score is a noisy-OR over the findings that name it, each weighted by the finding's
severity: 1 - prod(1 - score_i * w(severity_i)). Two independent symptoms that agree on a cause
therefore rank it above either alone, and an info-level explanation never outranks a real problem
it merely accompanies. Info findings contribute only their explanations (benign readings of an
alarming number); their problem causes stay on the finding itself.
"""
from __future__ import annotations

from .model import DiagnosisEntry, Finding, SEVERITY_RANK

SEVERITY_WEIGHT = {"error": 1.0, "warning": 0.85, "info": 0.5}
MAX_FIXES = 6


def order_findings(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity, then the strongest cause, then rule code (stable)."""
    def key(f: Finding):
        top = max((c.score for c in f.causes), default=0.0)
        return (-SEVERITY_RANK[f.severity], -top, f.rule)

    return sorted(findings, key=key)


def diagnose(findings: list[Finding], catalog: dict) -> list[DiagnosisEntry]:
    acc: dict[str, dict] = {}
    for f in findings:
        w = SEVERITY_WEIGHT.get(f.severity, 0.5)
        for c in f.causes:
            cat = catalog.get(c.id)
            # An info finding is a note, not a problem: only its explanations reach the diagnosis.
            if f.severity == "info" and (cat is None or cat.kind != "explanation"):
                continue
            e = acc.setdefault(c.id, {"miss": 1.0, "findings": [], "fixes": [], "texts": []})
            e["miss"] *= 1.0 - max(0.0, min(1.0, c.score * w))
            if f.rule not in e["findings"]:
                e["findings"].append(f.rule)
            e["texts"].append((c.score * w, c.text))
            for fx in c.fixes:
                if fx not in e["fixes"]:
                    e["fixes"].append(fx)
    out = []
    for cid, e in acc.items():
        cat = catalog.get(cid)
        fixes = list(e["fixes"])
        for fx in (cat.fixes if cat else []):
            if fx not in fixes:
                fixes.append(fx)
        title = cat.title if cat else max(e["texts"])[1]
        out.append(DiagnosisEntry(
            cause=cid, score=1.0 - e["miss"], title=title, fixes=fixes[:MAX_FIXES], findings=e["findings"],
            kind=cat.kind if cat else "problem",
        ))
    # Problems before explanations at equal score; otherwise by score.
    out.sort(key=lambda d: (-round(d.score, 6), d.kind != "problem", d.cause))
    return out
