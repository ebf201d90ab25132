"""`--format markdown`: a report for a PR comment, an issue or `$GITHUB_STEP_SUMMARY`.

Status line → ranked diagnosis with fixes → findings table (severity, rule, steps, title, evidence) →
skipped rules in a `<details>`. A sweep (`scan`) starts with one table of every run. Everything that
comes from a log or a rule is escaped so that a `|` or a `<` cannot break the table.
"""
from __future__ import annotations

import re

from .safe import controls

from .locations import locate

STATUS_ICON = {"failing": "🔴", "warning": "🟡", "healthy": "🟢", "inconclusive": "🟣", "error": "⚪"}
SEV_ICON = {"error": "🔴 error", "warning": "🟡 warning", "info": "🔵 info"}


def esc(text) -> str:
    """Escape Markdown/HTML-significant characters inside a table cell or a line (control characters
    shown as escapes, line breaks as spaces)."""
    s = controls(str(text).replace("\r", " ").replace("\n", " "))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_|\[\]])", r"\\\1", s)


def code(text) -> str:
    """A code span inside a table cell: backslash escapes do not work there, so the fence is longer than
    any run of backticks inside, and only `|` (which splits cells before code spans are read) is escaped."""
    s = controls(str(text).replace("\r", " ").replace("\n", " ")).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def render(report, options) -> str:
    return "\n".join(_report(report, level=2)) + "\n"


def render_many(reports, options) -> str:
    errors = (options.extra or {}).get("errors") or []
    out = ["## kto-doctor scan", ""]
    counts = {}
    for r in reports:
        counts[r.status] = counts.get(r.status, 0) + 1
    if errors:
        counts["error"] = len(errors)
    out.append(f"{len(reports) + len(errors)} runs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    out += ["", "| run | method | status | top cause | findings |", "|---|---|---|---|---|"]
    for r in reports:
        top = next((d.title for d in r.diagnosis if d.kind == "problem"), "")
        n_new = sum(1 for f in r.findings if not f.baseline)
        n = f"{len(r.findings)}" + (f" ({n_new} new)" if n_new != len(r.findings) else "")
        out.append(f"| {code(r.run.path)} | {esc(r.run.method)} | {STATUS_ICON[r.status]} {r.status} | {esc(top)} | {n} |")
    for path, msg in errors:
        out.append(f"| {code(path)} | | {STATUS_ICON['error']} error | {esc(msg)} | |")
    for r in reports:
        out += [""] + _report(r, level=3)
    return "\n".join(out) + "\n"


def _report(report, level: int) -> list[str]:
    from ..engine.template import format_value

    h = "#" * level
    run = report.run
    steps = run.steps
    counts = {k: sum(1 for f in report.findings if f.severity == k) for k in ("error", "warning", "info")}
    out = [f"{h} kto-doctor: {code(run.path)} — {STATUS_ICON[report.status]} {report.status}", ""]
    span = f"steps {steps['first']}–{steps['last']} ({steps['logged']} logged)" if steps["logged"] else "no steps"
    out.append(f"**{esc(run.method)}** · {esc(run.framework)} · {span} · {len(report.findings)} findings "
               f"({counts['error']} error, {counts['warning']} warning, {counts['info']} info)")
    known = sum(1 for f in report.findings if f.baseline)
    if known:
        out.append(f"{known} of them already in the baseline (they do not fail the gate).")
    warnings = list(run.warnings) + [w for s in run.sources for w in s.warnings]
    if warnings:
        out.append("")
        out += [f"> ⚠️ {esc(w)}" for w in warnings[:10]]
    problems = [d for d in report.diagnosis if d.kind == "problem"]
    explanations = [d for d in report.diagnosis if d.kind != "problem"]
    if problems:
        out += ["", f"{h}# Probable causes, most likely first", ""]
        for i, d in enumerate(problems, 1):
            out.append(f"{i}. **{esc(d.title)}** — score {d.score:.2f} ({esc(', '.join(d.findings))})")
            out += [f"   - {esc(fx)}" for fx in d.fixes]
    if explanations:
        out += ["", f"{h}# Not a problem", ""]
        out += [f"- {esc(d.title)} ({esc(', '.join(d.findings))})" + (f": {esc(d.detail)}" if d.detail else "")
                for d in explanations]
    if report.findings:
        out += ["", f"{h}# Findings", "", "| severity | rule | steps | finding | evidence | where |",
                "|---|---|---|---|---|---|"]
        cache: dict = {}
        for f in report.findings:
            st = "" if not f.steps else (f"{f.steps[0]}–{f.steps[-1]}" if f.steps[0] != f.steps[-1] else f"{f.steps[0]}")
            ev = ", ".join(f"{esc(k)} {esc(format_value(v))}" for k, v in f.evidence.items() if v is not None)
            uri, line = locate(report, f, cache)
            sev = SEV_ICON.get(f.severity, f.severity) + (" (baseline)" if f.baseline else "")
            out.append(f"| {sev} | {code(f.rule)} {esc(f.name)} | {st} | **{esc(f.title)}**<br>{esc(f.message)} "
                       f"| {ev} | {code(f'{uri}:{line}')} |")
    else:
        out += ["", "No rule fired: nothing looks wrong in what was logged."]
    if report.skipped:
        out += ["", f"<details><summary>{len(report.skipped)} rules skipped, {len(report.passed)} passed</summary>",
                "", "| rule | reason |", "|---|---|"]
        out += [f"| {code(s.rule)} | {esc(s.reason)} |" for s in report.skipped]
        out += ["", "</details>"]
    else:
        out += ["", f"{len(report.passed)} rules passed."]
    return out
