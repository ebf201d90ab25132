"""`kto-doctor watch RUN_DIR`: follow a run that is still writing and print each new finding once.

Each poll reads only what was appended (see `kto_doctor.live.follow`), evaluates the rules on the growing run
(`kto_doctor.live.monitor`) and prints the findings not printed before: a text line each, or with
`--format jsonl` one JSON object per line (the contract's finding fields plus `run` and `event`).
The watch ends on Ctrl-C, after `--until-idle SECONDS` without any file changing, or with `--exit-on
SEVERITY` at the first finding that severe; it then evaluates the whole run once more (new findings are
printed) and exits 1 when a finding reached `--fail-on`, else 0 (2: usage or unreadable input).

`--on-finding CMD` runs CMD for each new finding, without a shell: CMD is split like a shell would
(shlex) but never interpreted, and the finding reaches it only as JSON on stdin and in environment
variables (KTO_DOCTOR_RULE, _NAME, _SEVERITY, _SYMPTOM, _TITLE, _STEP, _RUN), so no text from a log can
become part of a command.
"""

import os
import sys
import time
from typing import List, Optional

import typer

from . import EXIT_FINDINGS, EXIT_OK, app, fail

SEVERITIES = ("info", "warning", "error")


@app.command()
def watch(
    run_dir: str = typer.Argument(..., help="The run's output directory (or one log file) while it is written."),
    fmt: str = typer.Option("text", "--format", "-f", metavar="FORMAT", help="text (one line per finding) or jsonl (one JSON object per line)."),
    interval: float = typer.Option(2.0, "--interval", metavar="SECONDS", help="Seconds between polls."),
    until_idle: Optional[float] = typer.Option(None, "--until-idle", metavar="SECONDS",
                                               help="End the watch when no file has changed for this long."),
    fail_on: str = typer.Option("error", "--fail-on", metavar="SEVERITY", help="Exit 1 at the end when a finding is at or above: error, warning, info, never."),
    exit_on: Optional[str] = typer.Option(None, "--exit-on", metavar="SEVERITY", help="End the watch at the first finding at or above this severity."),
    on_finding: Optional[str] = typer.Option(None, "--on-finding", metavar="CMD",
                                             help="Run CMD for each new finding (no shell): the finding as JSON on stdin and in KTO_DOCTOR_* variables."),
    rules: List[str] = typer.Option([], "--rules", metavar="PATH", help="Extra rule file or folder. Repeatable."),
    select: List[str] = typer.Option([], "--select", metavar="KEY", help="Only these rules: code, code prefix, name, symptom or group."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="KEY", help="Skip these rules (same keys as --select)."),
):
    """Follow a running job's logs and report each new finding as it appears."""
    import shlex

    from .. import InputError
    from ..model import SEVERITY_RANK

    if fmt not in ("text", "jsonl"):
        fail("--format must be text or jsonl")
    if fail_on not in SEVERITIES + ("never",):
        fail("--fail-on must be one of error, warning, info, never")
    if exit_on is not None and exit_on not in SEVERITIES:
        fail("--exit-on must be one of error, warning, info")
    if not interval > 0:
        fail("--interval must be a positive number of seconds")
    if not os.path.exists(run_dir):
        fail(f"{run_dir}: no such file or directory")
    argv = None
    if on_finding is not None:
        try:
            argv = shlex.split(on_finding)
        except ValueError as e:
            fail(f"--on-finding: {e}")
        if not argv:
            fail("--on-finding: empty command")
    try:
        from ..analysis import load_rules
        from ..live.follow import Follower
        from ..live.monitor import Monitor

        monitor = Monitor(run_dir, load_rules(rules), select=list(select) or None, ignore=list(ignore) or None)
    except InputError as e:
        fail(str(e))
    follower = Follower(run_dir)
    out = Printer(fmt, run_dir, argv)
    worst = None
    last_change = time.monotonic()
    try:
        while True:
            if follower.poll():
                last_change = time.monotonic()
                monitor.sources = follower.sources()
                for f in monitor.poll().new:
                    out.emit(f)
                    worst = _worse(worst, f.severity)
            if exit_on and worst and SEVERITY_RANK[worst] >= SEVERITY_RANK[exit_on]:
                break
            if until_idle is not None and time.monotonic() - last_change >= until_idle:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    # the end: everything not yet read, and one full evaluation
    follower.poll(final=True)
    monitor.sources = follower.sources()
    final = monitor.poll(final=True)
    for f in final.new:
        out.emit(f)
    out.end(final.report)
    report = final.report
    if report is None:
        typer.echo(f"kto-doctor: {run_dir}: no training log appeared", err=True)
        raise typer.Exit(EXIT_OK)
    printed = list(monitor.reported.values())
    if fail_on != "never" and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in printed):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


def _worse(a, b):
    from ..model import SEVERITY_RANK

    return b if a is None or SEVERITY_RANK[b] > SEVERITY_RANK[a] else a


class Printer:
    """One line per new finding on stdout (text or JSON), and the --on-finding command."""

    def __init__(self, fmt: str, run: str, argv):
        self.fmt, self.run, self.argv = fmt, run, argv

    def emit(self, f) -> None:
        import json

        doc = {"event": "finding", "run": self.run, **f.to_dict()}
        if self.fmt == "jsonl":
            line = json.dumps(doc, ensure_ascii=False, allow_nan=False)
        else:
            where = f"step {f.steps[0]}" if f.steps else "run"
            line = f"{where:>12}  {f.severity:<7} {f.rule} {f.name}: {_one_line(f.title)}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if self.argv:
            self._notify(doc)

    def _notify(self, doc) -> None:
        import json
        import subprocess

        env = dict(os.environ)
        env.update({
            "KTO_DOCTOR_RULE": doc["rule"], "KTO_DOCTOR_NAME": doc["name"], "KTO_DOCTOR_SEVERITY": doc["severity"],
            "KTO_DOCTOR_SYMPTOM": doc["symptom"], "KTO_DOCTOR_TITLE": _one_line(doc["title"]),
            "KTO_DOCTOR_STEP": str(doc["steps"][0]) if doc["steps"] else "", "KTO_DOCTOR_RUN": self.run,
        })
        try:
            subprocess.run(self.argv, input=json.dumps(doc, ensure_ascii=False).encode(), env=env, shell=False,
                           timeout=60, check=False, stdout=sys.stderr)
        except (OSError, subprocess.SubprocessError) as e:
            typer.echo(f"kto-doctor: --on-finding {self.argv[0]}: {e}", err=True)

    def end(self, report) -> None:
        import json

        if report is None:
            return
        if self.fmt == "jsonl":
            sys.stdout.write(json.dumps({"event": "end", "run": self.run, "status": report.status,
                                         "steps": report.run.steps, "findings": len(report.findings)}) + "\n")
        else:
            typer.echo(f"kto-doctor: watch ended: {report.status}, {len(report.findings)} finding(s) at steps "
                       f"{report.run.steps['first']}–{report.run.steps['last']}", err=True)
        sys.stdout.flush()


def _one_line(text: str) -> str:
    """A title on one line, without control characters (log text reaches the terminal)."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text).replace("\n", " "))
