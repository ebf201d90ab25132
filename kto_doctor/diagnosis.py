"""From findings to a ranked diagnosis: several findings that point at one cause raise it.

Each finding proposes causes with a score (its rule's belief that this cause explains that symptom).
A cause's combined score is a noisy-OR over the findings that name it, each weighted by the finding's
severity: 1 - prod(1 - score_i * w(severity_i)). Two independent symptoms that agree on a cause
therefore rank it above either alone.

Two guarantees keep the report consistent:

* A finding is either a problem or "not a problem", never both. It votes in the diagnosis only with the
  causes of the kind its reading comes to: an info finding with its explanations (benign readings of an
  alarming number), any other finding with the kind of its strongest cause. Its other readings stay on the
  finding, ranked, but do not reach the diagnosis.
* No two causes that contradict each other survive. The cause catalog declares them (`excludes:`, data,
  read in both directions): the learning rate cannot be too high and too low. Of such a pair the cause
  with the stronger combined evidence over the whole report is kept (a problem before an explanation at
  equal strength, so a real problem is never explained away by a tie); the other leaves the findings'
  cause lists before the diagnosis is built, and the kept entry records what it overruled.
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


def _kind(cid: str, catalog: dict) -> str:
    cat = catalog.get(cid)
    return cat.kind if cat is not None else "problem"


def voting_kind(f: Finding, catalog: dict) -> str | None:
    """The kind of causes a finding contributes to the diagnosis: 'problem', 'explanation' or None."""
    if not f.causes:
        return None
    if f.severity == "info":
        return "explanation"
    top = max(f.causes, key=lambda c: c.score)
    return _kind(top.id, catalog)


def exclusions(catalog: dict) -> dict[str, set[str]]:
    """cause id -> the causes it contradicts, declared on either side."""
    out: dict[str, set[str]] = {}
    for cid, cat in catalog.items():
        for other in getattr(cat, "excludes", ()) or ():
            out.setdefault(cid, set()).add(other)
            out.setdefault(other, set()).add(cid)
    return out


def _noisy_or(findings: list[Finding]) -> dict[str, float]:
    """Every cause's support over all the findings that name it, whether it reaches the diagnosis or not."""
    miss: dict[str, float] = {}
    for f in findings:
        w = SEVERITY_WEIGHT.get(f.severity, 0.5)
        for c in f.causes:
            miss[c.id] = miss.get(c.id, 1.0) * (1.0 - max(0.0, min(1.0, c.score * w)))
    return {cid: 1.0 - m for cid, m in miss.items()}


def _resolve_contradictions(findings: list[Finding], catalog: dict) -> dict[str, list[dict]]:
    """Keep the better-supported cause of every contradicting pair and drop the other from every finding.

    Returns {kept cause: [what it overruled]}. Support counts every finding that names the cause (an info
    finding's problem causes too: the report holds them), so the contest is over the whole report.
    """
    excl = exclusions(catalog)
    if not excl:
        return {}
    support = _noisy_or(findings)
    order = sorted(support, key=lambda c: (-round(support[c], 6), _kind(c, catalog) != "problem", c))
    kept: list[str] = []
    overruled: dict[str, list[dict]] = {}
    dropped: set[str] = set()
    for cid in order:
        rival = next((k for k in kept if k in excl.get(cid, ())), None)
        if rival is None:
            kept.append(cid)
            continue
        dropped.add(cid)
        overruled.setdefault(rival, []).append({
            "cause": cid, "score": round(float(support[cid]), 3),
            "findings": [f.rule for f in findings if any(c.id == cid for c in f.causes)]})
    if dropped:
        gone = []
        for f in findings:
            had = bool(f.causes)
            f.causes = [c for c in f.causes if c.id not in dropped]
            # An info finding whose every reading was overruled says nothing left ("expected" when it is not).
            if had and not f.causes and f.severity == "info":
                gone.append(f)
        findings[:] = [f for f in findings if f not in gone]
    return overruled


def _settle_severity(findings: list[Finding], catalog: dict) -> None:
    """A warning or error whose strongest reading is an explanation ("not a problem") becomes info.

    The report lists such a finding under "Not a problem"; if it kept its severity it would also set the
    status to WARNING or FAILING, and the same finding would be a problem and not one at once. Its rule's
    other readings stay on it, ranked, as before."""
    for f in findings:
        if f.severity != "info" and voting_kind(f, catalog) == "explanation":
            top = max(f.causes, key=lambda c: c.score)
            f.evidence = {**f.evidence, "severity_as_fired": f.severity}
            f.severity = "info"
            f.message = (f"{f.message} Reported as information: its strongest reading ({top.id}) is not a "
                         f"problem.").strip()


def diagnose(findings: list[Finding], catalog: dict) -> list[DiagnosisEntry]:
    """The ranked diagnosis. Settles contradictions first, in place: overruled causes leave the findings, and
    an info finding left with no cause at all (a benign reading the evidence overruled) leaves the list. A
    finding whose strongest remaining reading is "not a problem" is lowered to info, so it cannot set the
    status (re-order the findings afterwards: `order_findings`)."""
    overruled = _resolve_contradictions(findings, catalog)
    _settle_severity(findings, catalog)
    acc: dict[str, dict] = {}
    for f in findings:
        w = SEVERITY_WEIGHT.get(f.severity, 0.5)
        kind = voting_kind(f, catalog)
        for c in f.causes:
            if _kind(c.id, catalog) != kind:
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
        best_text = max(e["texts"], key=lambda t: t[0])[1]
        title = cat.title if cat else best_text
        out.append(DiagnosisEntry(
            cause=cid, score=1.0 - e["miss"], title=title, fixes=fixes[:MAX_FIXES], findings=e["findings"],
            kind=cat.kind if cat else "problem",
            # The numbers behind it: the strongest finding's own wording, when it says more than the title.
            detail=best_text if best_text != title else "",
            overrules=overruled.get(cid, []),
        ))
    # Problems before explanations at equal score; otherwise by score.
    out.sort(key=lambda d: (-round(d.score, 6), d.kind != "problem", d.cause))
    return out
