"""`--format text`: the terminal report (rich), calm and in the order a practitioner reads it.

Header (run, method, framework, sources, steps) → ranked diagnosis with fixes → findings with their
evidence numbers and steps → what was skipped. Colour only on a terminal and never with NO_COLOR.
"""
from __future__ import annotations

import io

from ..engine.template import format_value
from .safe import guard_lines, terminal as t

SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SEV_MARK = {"error": "✖", "warning": "▲", "info": "●"}
STATUS_STYLE = {"failing": "bold red", "warning": "bold yellow", "healthy": "bold green", "inconclusive": "bold magenta"}


def _console(options):
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=options.width, color_system="standard" if options.color else None,
                      force_terminal=options.color, no_color=not options.color, highlight=False,
                      emoji=False, soft_wrap=False)
    return console, buf


def render(report, options) -> str:
    console, buf = _console(options)
    _render(console, report, options)
    return guard_lines(buf.getvalue())


def render_many(reports, options) -> str:
    console, buf = _console(options)
    for i, r in enumerate(reports):
        if i:
            console.rule(style="dim")
        _render(console, r, options)
    return guard_lines(buf.getvalue())


def _render(console, report, options):
    from rich.text import Text

    run = report.run
    steps = run.steps
    header = Text()
    header.append("kto-doctor", style="bold")
    header.append(f"  {t(run.path)}\n")
    span = f"steps {steps['first']}–{steps['last']} ({steps['logged']} logged)" if steps["logged"] else "no steps"
    header.append(f"  method {t(_what(run, 'method'))} · framework {t(_what(run, 'framework'))} · {span}\n", style="dim")
    used = [s for s in run.sources if s.used]
    srcs = ", ".join(f"{t(s.path)} ({s.format}, {s.records})" for s in used[:6])
    if len(used) > 6:
        srcs += f", … {len(used) - 6} more"
    header.append(f"  read: {srcs}\n", style="dim")
    console.print(header, end="")
    for w in list(run.warnings) + [w for s in run.sources for w in s.warnings]:
        console.print(Text("  ! " + t(w), style="yellow"))

    counts = {k: sum(1 for f in report.findings if f.severity == k) for k in ("error", "warning", "info")}
    status = Text()
    status.append("\n" + report.status.upper(), style=STATUS_STYLE[report.status])
    status.append(f" — {len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}"
                  f" ({counts['error']} error, {counts['warning']} warning, {counts['info']} info)")
    gate = _gate_line(report, options)
    if gate:
        status.append(gate[0], style=gate[1])
    console.print(status)
    if report.status == "inconclusive":
        more = len(run.metric_names) - 12
        seen = (", ".join(t(n) for n in run.metric_names[:12]) or "none") + (f" and {more} more" if more > 0 else "")
        console.print(Text(f"  Read, but not understood: none of the {t(run.method)} run's core series was "
                           f"recognised (series seen: {seen}). Map a name with --map LOGGED=CANONICAL "
                           "(kto-doctor metrics lists them).", style="magenta"))

    problems = [d for d in report.diagnosis if d.kind == "problem"]
    explanations = [d for d in report.diagnosis if d.kind != "problem"]
    if problems:
        console.print(Text("\nProbable causes, most likely first", style="bold"))
        for i, d in enumerate(problems, 1):
            line = Text(f"{i}. ")
            line.append(f"{d.score:.2f} ", style="dim")
            line.append(t(d.title), style="bold" if i == 1 else "")
            line.append(f"  [{t(', '.join(d.findings))}]", style="dim")
            _say(console, line, 1)
            for fx in d.fixes[: (2 if options.quiet else 4)]:
                _say(console, Text("→ " + t(fx)), 6)
    if explanations:
        console.print(Text("\nNot a problem", style="bold"))
        for d in explanations:
            line = Text("· ")
            line.append(t(d.title))
            line.append(f"  [{t(', '.join(d.findings))}]", style="dim")
            _say(console, line, 2)
            if d.detail:
                _say(console, Text(t(d.detail), style="dim"), 4)

    if report.findings and not options.quiet:
        console.print(Text("\nFindings", style="bold"))
        for f in report.findings:
            _finding(console, f, report, options)
    elif not report.findings and not report.passed:
        console.print(Text(f"\nNo rule could be evaluated on these logs ({len(report.skipped)} skipped; -v lists "
                           "why): nothing was checked.", style="yellow"))
    elif not report.findings:
        console.print(Text("\nNo rule fired: nothing looks wrong in what was logged.", style="green"))

    if not options.quiet:
        foot = Text(f"\n{len(report.passed)} rules passed · {len(report.skipped)} skipped", style="dim")
        if report.skipped and not options.verbose:
            foot.append(" (-v lists them)", style="dim")
        console.print(foot)
        if options.verbose:
            for s in report.skipped:
                console.print(Text(f"  skipped {t(s.rule)}: {t(s.reason)}", style="dim"))


def _gate_line(report, options):
    """With --baseline: how many findings the baseline knows and what the gate decided, or None."""
    from ..model import SEVERITY_RANK

    known = sum(1 for f in report.findings if f.baseline)
    if not known:
        return None
    fail_on = (options.extra or {}).get("fail_on", "error")
    threshold = SEVERITY_RANK.get(fail_on, SEVERITY_RANK["error"])
    new = [f for f in report.findings if not f.baseline and SEVERITY_RANK[f.severity] >= threshold]
    n = len(report.findings)
    which = (f"all {n} in the baseline" if known == n else f"{known} of {n} in the baseline") if n > 1 \
        else "in the baseline"
    if new:
        return (f"\n  {which}; {len(new)} new at or above --fail-on {fail_on}: the gate fails", "bold red")
    return (f"\n  {which}: the gate passes (--fail-on {fail_on})", "bold green")


def _what(run, kind: str) -> str:
    """`kto`, or `kto (guessed from metric names)` when no config, log or --method stated it."""
    value = getattr(run, kind)
    if value == "unknown" or getattr(run, f"{kind}_source", "stated") != "guessed":
        return value
    named = kind == "method" and any(w.startswith("method: ") and "guessed from the name of" in w for w in run.warnings)
    return f"{value} (guessed{' from metric names' if kind == 'method' and not named else ' from the file name' if named else ''})"


def _finding(console, f, report, options):
    from rich.text import Text

    head = Text("\n ")
    head.append(f"{SEV_MARK[f.severity]} {f.severity:<7}", style=SEV_STYLE[f.severity])
    head.append(f" {t(f.rule)} ", style="bold")
    head.append(t(f.name), style="dim")
    if f.baseline:
        head.append(" [in baseline]", style="dim")
    if f.steps:
        head.append(f"  steps {f.steps[0]}–{f.steps[-1]}" if len(f.steps) > 1 and f.steps[0] != f.steps[-1]
                    else f"  step {f.steps[0]}", style="dim")
    console.print(head)
    _say(console, Text(t(f.title), style="bold"))
    spark = _sparkline(report, f, options)
    if spark is not None:
        console.print(spark)
    _say(console, Text(t(f.message)))
    if f.evidence:
        ev = " · ".join(f"{t(k)} {t(format_value(v))}" for k, v in f.evidence.items() if v is not None)
        _say(console, Text("evidence: " + ev, style="dim"))
    if f.causes and options.verbose:
        for c in f.causes:
            _say(console, Text(f"cause {c.score:.2f} {t(c.id)}: {t(c.text)}", style="dim"))


def _say(console, text, left: int = 3) -> None:
    """Print text wrapped to the console, indented on every line, with no trailing spaces."""
    from rich.text import Text

    width = max(20, console.width - left)
    for line in text.wrap(console, width):
        line.rstrip()
        console.print(Text(" " * left) + line)


def _sparkline(report, finding, options):
    """A one-line chart of the finding's main metric; provided by kto_doctor.reports.plots when present."""
    try:
        from . import plots
    except ImportError:
        return None
    return plots.finding_sparkline(report.run, finding, options)
