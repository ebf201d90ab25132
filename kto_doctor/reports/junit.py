"""`--format junit`: JUnit XML for CI test reports (GitLab, Jenkins, Azure, dorny/test-reporter...).

`<testsuites>` → one `<testsuite name=RUN>` per run → one `<testcase>` per rule in play: passed;
`<failure message=… type=SEVERITY>` when the rule fired with a severity at or above the gate
threshold (`options.extra["fail_on"]`, default `info`: every finding fails); `<skipped message=…>` for
a skipped rule and for a finding the `--baseline` already knows. A finding below the threshold is a
passed testcase whose `<system-out>` tells it. Built with xml.etree, so every text is escaped.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..model import SEVERITY_RANK

# Characters XML 1.0 cannot carry even escaped (console logs bring ANSI escapes and NULs).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")  # and C1, DEL: terminals act on them


def _x(text) -> str:
    return _INVALID.sub("\ufffd", str(text))


def render(report, options) -> str:
    return render_many([report], options)


def render_many(reports, options) -> str:
    root = ET.Element("testsuites", name="kto-doctor")
    # No `skipped` on <testsuites>: the common Jenkins JUnit XSD allows it only on <testsuite>.
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for report in reports:
        suite = _suite(report, options)
        root.append(suite)
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(report, options) -> ET.Element:
    threshold = SEVERITY_RANK.get((options.extra or {}).get("fail_on", "info"), 0)
    run = report.run
    suite = ET.Element("testsuite", name=_x(run.path))
    props = ET.SubElement(suite, "properties")
    for k, v in (("method", run.method), ("framework", run.framework), ("status", report.status)):
        ET.SubElement(props, "property", name=k, value=_x(v))
    findings = {}  # rule -> its findings (REF101 fires once per metric it compares)
    for f in report.findings:
        findings.setdefault(f.rule, []).append(f)
    skipped = {s.rule: s for s in report.skipped}
    names = {r.id: r.name for r in report.rules}
    order = [r.id for r in report.rules]
    for code in list(findings) + list(report.passed) + list(skipped):  # rules a hand-made report lacks
        if code not in names:
            order.append(code)
            names[code] = getattr((findings.get(code) or [None])[0], "name", "") or getattr(skipped.get(code), "name", "")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seen = set()
    for code in order:
        if code in seen:
            continue
        seen.add(code)
        counts["tests"] += 1
        tc = ET.SubElement(suite, "testcase", classname=_x(f"kto-doctor.{run.path}"),
                           name=_x(f"{code} {names.get(code, '')}".strip()))
        fs = findings.get(code)
        if fs:
            f = max(fs, key=lambda x: (not x.baseline, SEVERITY_RANK[x.severity]))  # the one that decides
            body = "\n\n".join(_body(x) for x in fs)
            if f.baseline:
                counts["skipped"] += 1
                ET.SubElement(tc, "skipped", message=_x(f"in baseline: {f.title}")).text = body
            elif SEVERITY_RANK[f.severity] >= threshold:
                counts["failures"] += 1
                el = ET.SubElement(tc, "failure", message=_x(f.message or f.title), type=f.severity)
                el.text = body
            else:
                ET.SubElement(tc, "system-out").text = f"{f.severity} below --fail-on: {body}"
        elif code in skipped:
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message=_x(skipped[code].reason))
    for k, v in counts.items():
        suite.set(k, str(v))
    return suite


def _body(f) -> str:
    from ..engine.template import format_value

    lines = [f"{f.rule} {f.name} [{f.severity}, {f.symptom}]", f.title, f.message]
    if f.steps:
        lines.append(f"steps: {f.steps[0]}-{f.steps[-1]}")
    if f.evidence:
        lines.append("evidence: " + ", ".join(f"{k}={format_value(v)}" for k, v in f.evidence.items()))
    for c in f.causes:
        lines.append(f"cause {c.score:.2f} {c.id}: {c.text}")
        lines.extend(f"  fix: {fx}" for fx in c.fixes)
    return _x("\n".join(x for x in lines if x))
