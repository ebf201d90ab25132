"""`--format github`: GitHub Actions workflow commands, and the Markdown report in the job summary.

Prints `::error file=F,line=L,title=T::MESSAGE` (`::warning`, `::notice` for info) for the most
important findings only: GitHub shows at most 10 annotations of each level per step, so the first 10
errors, 10 warnings and 10 notices in ranked order (across every run of a scan) are emitted and one
plain line says how many more there are. Findings the `--baseline` already knows are not annotated.
When `$GITHUB_STEP_SUMMARY` names a file, the full Markdown report is appended to it (a side effect
of rendering, by design: the summary is where the rest of the findings go).

Escaping follows actions/toolkit: in the message `%`→%25, CR→%0D, LF→%0A; in properties also
`:`→%3A and `,`→%2C.
"""
from __future__ import annotations

import os

from .locations import locate
from .safe import controls

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
MAX_PER_LEVEL = 10


def escape_data(text) -> str:
    """Workflow-command data: `%`, CR and LF escaped as actions/toolkit does; other control characters
    (ESC, NUL...) shown as `\\xNN` escapes, so that nothing from a log can end the command line."""
    return controls(str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **props) -> str:
    """One workflow command line: `::level k=v,k=v::message` (properties with a None value are left out)."""
    ps = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v is not None and v != "")
    return f"::{level}{' ' + ps if ps else ''}::{escape_data(message)}"


def render(report, options) -> str:
    return render_many([report], options)


def render_many(reports, options) -> str:
    from ..model import SEVERITY_RANK

    items = []
    for ri, r in enumerate(reports):
        for fi, f in enumerate(r.findings):
            if not f.baseline:
                items.append((-SEVERITY_RANK[f.severity], ri, fi, r, f))
    items.sort(key=lambda t: t[:3])
    lines = []
    emitted = {k: 0 for k in COMMAND.values()}
    left = 0
    cache: dict = {}
    for _, _, _, r, f in items:
        level = COMMAND.get(f.severity, "warning")
        if emitted[level] >= MAX_PER_LEVEL:
            left += 1
            continue
        emitted[level] += 1
        uri, line = locate(r, f, cache)
        run = f" ({r.run.path})" if len(reports) > 1 else ""
        message = f"{f.title}\n{f.message}" if f.message else f.title
        if f.causes and f.causes[0].fixes:
            message += f"\nFix: {f.causes[0].fixes[0]}"
        if uri.startswith("file:"):
            uri = None  # GitHub annotates repository files only
        lines.append(command(level, message, file=uri, line=line if uri else None,
                             title=f"kto-doctor {f.rule} {f.name}{run}"))
    known = sum(1 for r in reports for f in r.findings if f.baseline)
    total = sum(len(r.findings) for r in reports)
    tail = f"kto-doctor: {total} finding(s) in {len(reports)} run(s)"
    if left:
        tail += f"; {left} not annotated (GitHub shows {MAX_PER_LEVEL} per level)"
    if known:
        tail += f"; {known} already in the baseline"
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        append_summary(summary, reports, options)
        tail += "; full report in the job summary"
    lines.append(tail)
    return "\n".join(lines) + "\n"


def append_summary(path: str, reports, options) -> None:
    from . import markdown

    text = markdown.render(reports[0], options) if len(reports) == 1 else markdown.render_many(reports, options)
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError:
        pass  # a summary that cannot be written must not fail the gate
