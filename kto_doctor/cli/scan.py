"""`kto-doctor scan DIR`: every run under DIR, analysed in parallel, one table and one gate.

What is a run:
- a folder that holds a run's own logs — `trainer_state.json`, `trainer_log.jsonl`, an
  `events.out.tfevents.*` file, or a `checkpoint-*/` subfolder — is one run together with everything
  below it (its `checkpoint-*/`, `runs/`, configs and console logs); the scan does not go further down;
- a folder without those markers whose log files (console logs `*.log`/`*.txt`/`*.out`, renamed
  trainer_state copies `*.json`) are loose: one such file (with or without configs next to it) makes the
  folder a run; several make each file a run (`corpus/stdout/*.log`);
- DIR itself may be a run. Several DIRs (or files) may be given: a committed `trainer_state.json`,
  `trainer_log.jsonl` or events file stands for the run folder that holds it (out of `checkpoint-N/`
  and `runs/<name>/`), so pre-commit can pass the changed files; any other file is a run by itself.

Runs are analysed in worker processes (`-j N`; by default the cores the load average says are free, at
most one per run; `-j 1` in-process), each holding one run at a time (cli/pool.py). A run that cannot be
read, or a folder that cannot be listed, is a row with status `error` and its reason, never the end of the
scan. Ctrl-C stops the workers at once and prints the table of the runs finished so far (exit 130).

Exit code: 2 when nothing could be analysed (no run found, or every run failed), or when the analysis of a
run crashed (its worker was killed, e.g. out of memory, or an internal error): the sweep is incomplete.
Otherwise the gate of `analyze` over the analysed runs (1 when a finding not in the baseline reaches
`--fail-on`, else 0). Runs that could not be read are listed on stderr but do not by themselves change
that code — with `--strict-errors` they make it 2.

Output: the summary table (run, method, status, top cause, findings) is the `text` format; the other
formats render all runs at once (`json`: a list with one report per run, in scan order; a run in error
is an object with `status: "error"` and `error`, plus empty `findings`).
"""

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import EXIT_ERROR, app, fail
from .config_cmd import CONFIG_HELP, ISOLATED_HELP, describe, project_settings
from .pool import CRASHED, Interrupted
from ..remote import is_remote

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
INTERNAL = "internal error"

# ---------------------------------------------------------------- discovery


def run_of_file(path: Path) -> Path:
    """The run a committed log file stands for: an anchor file (trainer_state.json, trainer_log.jsonl, an
    events file...) its run folder (out of checkpoint-N/ and runs/<name>/); any other file is a run by itself."""
    from ..sources.base import read_head
    from ..sources.registry import candidates

    found = candidates(path, lambda: read_head(path))
    if found and found[0].anchor and found[0].claims_name(path.name.lower()) and path.name.lower() in (
            "trainer_state.json", "trainer_log.jsonl") or found and "tfevents" in path.name.lower():
        return found[0].root_of(path)
    return path


def find_runs_in(paths, unreadable: list | None = None) -> list[str]:
    """Runs of several arguments (folders or files, as pre-commit passes them), each once, in order.

    Folders that cannot be listed are appended to `unreadable` as (path, reason)."""
    out: list[str] = []
    seen: set = set()
    for p in paths:
        p = Path(p)
        r = run_of_file(p) if not p.is_dir() else None
        found = find_runs(p, unreadable) if r is None or r == p else [str(r)]  # a store file: each run in it
        for r in found:
            key = Path(r.split("#", 1)[0]).resolve(), r
            if key not in seen:
                seen.add(key)
                out.append(r)
    return out


def find_runs(root, unreadable: list | None = None) -> list[str]:
    """Run paths under `root` (folders or single files; `store#key` for a run inside a multi-run store), in a
    stable, sorted order — the runs `kto_doctor.discover` finds.

    A folder that cannot be listed (no permission) is not silently left out: it goes to `unreadable` as
    (path, reason), which scan shows as an error row."""
    from ..discover import discover

    root = Path(root)
    found = discover(root)
    if root.is_file() and not found.runs:
        return [str(root)]
    if unreadable is not None:
        unreadable.extend((str(d), f"cannot list the folder: {reason}") for d, reason in found.unlistable)
    return [str(r.root) + (f"#{r.key}" if r.key is not None else "") for r in found.runs]


# ---------------------------------------------------------------- workers

_WORKER: dict = {}


def _init_worker(rule_paths, overrides, against=None):
    _WORKER.clear()
    _WORKER["rule_args"] = (list(rule_paths), list(overrides))
    _WORKER["against"] = against  # (reference path, metric patterns, alignment) or None


def _reference():
    """The --against reference run, read once per worker."""
    if "reference" not in _WORKER:
        from ..compare import load_reference

        _WORKER["reference"] = load_reference(_WORKER["against"][0])
    return _WORKER["reference"]


def _ruleset():
    if "ruleset" not in _WORKER:
        from ..analysis import load_rules

        rule_paths, overrides = _WORKER.get("rule_args", ([], []))
        _WORKER["ruleset"] = load_rules(rule_paths, overrides)
    return _WORKER["ruleset"]


def analyse_one(path: str, select, ignore, sets):
    """(path, report without its Rule objects, None) or (path, None, error message). Never raises."""
    from .. import InputError
    from ..analysis import evaluate
    from ..run import load_run

    try:
        where, _, key = path.partition("#") if "#" in path and not Path(path).exists() else (path, "", "")
        run = load_run(where, overrides=sets, run_key=key or None)
        against = _WORKER.get("against")
        if against:
            report = evaluate(run, _ruleset(), select=select, ignore=ignore, against=_reference(),
                              against_metrics=against[1], align=against[2])
        else:
            report = evaluate(run, _ruleset(), select=select, ignore=ignore)
    except InputError as e:
        return path, None, str(e).splitlines()[0] if str(e) else "cannot analyse"
    except Exception as e:  # a reader or rule bug in one run must not end the sweep (but fails it)
        return path, None, f"{INTERNAL}: {type(e).__name__}: {e}"
    report.rules = []  # rules are re-attached in the parent: no need to pickle compiled expressions back
    return path, report, None


def _run_all(paths, jobs, select, ignore, sets, rule_paths, overrides, progress, against=None):
    """{path: (path, report or None, error or None)}. Raises pool.Interrupted (with what finished) on Ctrl-C."""
    from .pool import run_pool

    if jobs <= 1 or len(paths) <= 1:
        results: dict[str, tuple] = {}
        _init_worker(rule_paths, overrides, against)
        try:
            for p in paths:
                results[p] = analyse_one(p, select, ignore, sets)
                progress(p)
        except KeyboardInterrupt:
            raise Interrupted(results) from None
        return results
    return run_pool(paths, jobs, _init_worker, (rule_paths, overrides, against), analyse_one,
                    (select, ignore, sets), progress)


def default_jobs(n_runs: int) -> int:
    """Workers when -j is not given: the cores not already busy (1-minute load average), at most one per run.

    Measured on a 2-core machine with one core taken by another process, `-j 2` was 1.2x slower than `-j 1`
    (two workers and the other process share two cores, and each worker pays its own start-up).
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this platform
        busy = 0.0
    free = max(1, int(cores - busy + 0.5))
    return max(1, min(cores, free, n_runs))


# ---------------------------------------------------------------- output


def summary(rows, color: bool, quiet: bool = False, verbose: bool = False, width: int | None = None) -> str:
    """rows: [(path, report or None, error or None)] → the table as text, the count line and a hint.

    Quiet: only the rows that are not healthy. Verbose: each run's findings under its row. Every cell is
    plain text (a run named `a[/x]` or `[link=…]` is shown as it is, never read as markup). Run paths never
    wrap (they are copied into commands); the table is as wide as they need.
    """
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..reports.safe import guard_lines, terminal
    from .outputs import terminal_width

    longest = max((len(terminal(p)) for p, _, _ in rows), default=10)
    width = width or max(terminal_width(), longest + 70)
    style = {"failing": "bold red", "warning": "yellow", "healthy": "green", "inconclusive": "magenta",
             "error": "magenta"}
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
                      no_color=not color, highlight=False, emoji=False, markup=False)
    table = Table(title=None, show_lines=False, expand=False)
    for col in ("run", "method", "status", "top cause", "findings"):
        table.add_column(col, overflow="fold", no_wrap=col != "top cause")
    counts: dict[str, int] = {}
    shown = 0
    for path, report, error in rows:
        st = "error" if report is None else report.status
        counts[st] = counts.get(st, 0) + 1
        if quiet and st == "healthy":
            continue
        shown += 1
        if report is None:
            table.add_row(Text(terminal(path)), "", Text("error", style=style["error"]), Text(terminal(error or "")),
                          "")
            continue
        top = next((d.title for d in report.diagnosis if d.kind == "problem"), "")
        if not top and report.findings:
            top = report.findings[0].title
        n = len(report.findings)
        known = sum(1 for f in report.findings if f.baseline)
        table.add_row(Text(terminal(path)), Text(report.run.method), Text(st, style=style.get(st, "")),
                      Text(terminal(top)),
                      f"{n}" + (f" ({known} baseline)" if known else ""))
        if verbose:
            for f in report.findings:
                table.add_row("", "", Text(f.severity, style="dim"), Text(terminal(f"{f.rule} {f.title}"), style="dim"),
                              "")
    if shown:
        console.print(table)
    console.print(Text(f"{len(rows)} run(s): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))))
    worst = next((p for p, r, _ in rows if r is not None and r.status == "failing"), None) or \
        next((p for p, r, _ in rows if r is not None and r.status == "warning"), None)
    if worst is not None and not quiet:
        console.print(Text(f"details of a run: kto-doctor analyze {terminal(_quote(str(worst)))}", style="dim"))
    return guard_lines(buf.getvalue())


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def error_entry(path: str, error: str) -> dict:
    from .. import __version__

    return {"schema_version": 1, "tool": {"name": "kto-doctor", "version": __version__},
            "run": {"path": path}, "status": "error", "error": error,
            "findings": [], "diagnosis": [], "skipped": []}


def _mirror(ctx, directories) -> list:
    """Fetch the claimed files under each remote DIR (kept until the command ends); paths map back to URLs."""
    from .. import InputError
    from ..remote import fetch

    mirrors = []
    for d in directories:
        if is_remote(d):
            try:
                mirrors.append(ctx.with_resource(fetch(d)))
            except InputError as e:
                fail(str(e))

    def to_remote(path: str) -> str:
        for m in mirrors:
            shown = m.to_remote(path)
            if shown != str(path):
                return shown
        return str(path)

    def unlocalise(text: str) -> str:
        for m in mirrors:
            text = m.unlocalise(text)
        return text

    ctx.meta["to_remote"] = to_remote
    ctx.meta["unlocalise"] = unlocalise
    return list(mirrors)


@app.command()
def scan(
    ctx: typer.Context,
    directories: List[str] = typer.Argument(..., help="Folders of runs (searched recursively), runs, or log files.", metavar="DIR..."),
    formats: List[str] = typer.Option([], "--format", "-f", metavar="FORMAT",
                                      help="text (the summary table, default), json, sarif, junit, github, markdown, html. Repeatable."),
    outputs: List[str] = typer.Option([], "--output", "-o", metavar="FILE", help="Write a format to FILE (pairs with --format)."),
    jobs: int = typer.Option(0, "--jobs", "-j", metavar="N", help="Worker processes (default: the cores not already busy, by the load average)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="LEVEL", help="Exit 1 when a finding is at or above: error (default), warning, info, never; else the project's fail-on."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings reach --fail-on."),
    strict_errors: bool = typer.Option(False, "--strict-errors", help="Exit 2 when any run could not be analysed."),
    rules: List[str] = typer.Option([], "--rules", metavar="PATH", help="Extra rule file or folder. Repeatable."),
    select: List[str] = typer.Option([], "--select", metavar="KEY", help="Only these rules: code, code prefix, name, symptom or group."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="KEY", help="Skip these rules (same keys as --select)."),
    sets: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Configuration for every run. Repeatable."),
    method: Optional[str] = typer.Option(None, "--method", metavar="METHOD",
                                         help="The training method of runs whose files do not state it."),
    baseline: Optional[str] = typer.Option(None, "--baseline", metavar="FILE", help="Findings already in this baseline file do not fail."),
    write_baseline: Optional[str] = typer.Option(None, "--write-baseline", metavar="FILE", help="Write every finding of the sweep to this baseline file."),
    color: str = typer.Option("auto", "--color", metavar="WHEN", help="auto, always or never (NO_COLOR is honoured)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE", help=CONFIG_HELP),
    isolated: bool = typer.Option(False, "--isolated", help=ISOLATED_HELP),
    against: Optional[str] = typer.Option(None, "--against", metavar="REF",
                                          help="Also check every run against this known-good reference run (see analyze --against)."),
    against_metrics: List[str] = typer.Option([], "--against-metrics", metavar="METRIC",
                                              help="Metrics to compare with --against (names or globs, comma-separated or repeated)."),
    align: str = typer.Option("auto", "--align", metavar="HOW", help="--against alignment: auto, step or fraction."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the runs that are not healthy, and the count line."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also each run's findings, the configuration and worker count."),
):
    """Analyse every run under DIR in parallel: one summary table, one gate for the sweep."""
    from .. import InputError
    from ..reports import RenderOptions, render_many
    from .analyze import apply_baselines, check_against, check_sets, check_usage, gate_exit, parse_sets
    from .outputs import use_color, write

    plan = check_usage(fail_on or "error", color, formats, outputs)
    patterns = check_against(against, against_metrics, align)
    if jobs < 0:
        fail("--jobs must be 0 (all cores) or more")
    overrides = parse_sets(sets, method)
    for directory in directories:
        if not is_remote(directory) and not Path(directory).exists():
            fail(f"{directory}: no such file or directory")
    where = directories[0] if len(directories) == 1 else ", ".join(directories)
    settings = project_settings(directories[0], config, isolated)
    try:
        from ..analysis import load_rules

        fail_on = fail_on or settings.fail_on or "error"
        rule_paths = list(settings.rule_paths) + list(rules)
        ruleset = load_rules(rule_paths, settings.overrides)  # invalid rules: exit 2 before any work
        check_sets(overrides, ruleset)
        if against is not None:  # an unreadable reference or a metric it lacks: exit 2 before any work
            from ..compare import chosen_metrics, load_reference

            ref = load_reference(against)
            chosen_metrics(ref, ref, patterns)
    except InputError as e:
        fail(str(e))
    sel = list(select) or settings.select
    ign = list(ignore) + list(settings.ignore)
    mirrors = [] if not any(is_remote(d) for d in directories) else _mirror(ctx, directories)
    local_dirs = [str(mirrors.pop(0).local) if is_remote(d) else d for d in directories]
    unreadable: list[tuple[str, str]] = []
    paths = find_runs_in(local_dirs, unreadable)
    if not paths and not unreadable:
        fail(f"{where}: no training run found (looked for trainer_state.json, trainer_log.jsonl, "
             "events.out.tfevents.*, checkpoint-*/, console logs)")
    paths = paths + [p for p, _ in unreadable]
    jobs = jobs or default_jobs(len(paths))
    jobs = max(1, min(jobs, len(paths)))
    if verbose:
        typer.echo(f"kto-doctor: {describe(settings)}; {len(paths)} run(s), {jobs} worker(s)", err=True)

    spec = (against, patterns, align) if against is not None else None
    todo = [p for p in paths if p not in dict(unreadable)]
    interrupted = False
    try:
        results = _with_progress(todo, lambda tick: _run_all(todo, jobs, sel, ign, overrides, rule_paths,
                                                             settings.overrides, tick, spec))
    except Interrupted as stop:
        results, interrupted = stop.results, True
    results.update({p: (p, None, e) for p, e in unreadable})
    rows = []
    for p in sorted(results, key=paths.index):
        _, report, error = results[p]
        if report is not None:
            in_play = set(report.passed) | {f.rule for f in report.findings} | {s.rule for s in report.skipped}
            report.rules = [r for r in ruleset.rules if r.id in in_play and r.enabled]
        shown = ctx.meta.get("to_remote", str)(p)
        if report is not None:
            report.run.path = shown
        elif error:
            error = ctx.meta.get("unlocalise", str)(error)
        rows.append((shown, report, error))
    reports = [r for _, r, _ in rows if r is not None]
    errors = [(p, e) for p, r, e in rows if r is None]
    if reports and not interrupted:
        apply_baselines(reports, baseline, write_baseline)
    elif reports and baseline:
        apply_baselines(reports, baseline, None)

    machine_on_stdout = any(dest is None and fmt != "text" for fmt, dest in plan)
    for fmt, dest in plan:
        opts = RenderOptions(color=dest is None and use_color(color), verbose=verbose,
                             extra={"fail_on": fail_on, "errors": errors})
        if fmt == "text":
            write(dest, summary(rows, opts.color, quiet, verbose))
            continue
        if fmt == "json":
            text = _json(rows)
        else:
            try:
                text = render_many(fmt, reports, opts)
            except ModuleNotFoundError as e:
                fail(f"format '{fmt}' is not available in this installation ({e.name})")
        write(dest, text)
    if not any(fmt == "text" for fmt, _ in plan):
        # the table is for people: on stderr when stdout carries a machine format, else on stdout
        stream = sys.stderr if machine_on_stdout else sys.stdout
        stream.write(summary(rows, use_color(color, stream), quiet, verbose))
    for p, e in errors:
        typer.echo(f"kto-doctor: {p}: could not analyse: {e}", err=True)
    if interrupted:
        typer.echo(f"kto-doctor: interrupted: {len(results) - len(unreadable)} of {len(todo)} run(s) analysed, "
                   "the table shows those", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    if not reports:
        typer.echo("kto-doctor: error: no run could be analysed", err=True)
        raise typer.Exit(EXIT_ERROR)
    crashed = [p for p, e in errors if e.startswith(CRASHED) or e.startswith(INTERNAL)]
    if crashed or (errors and strict_errors):
        if crashed:
            typer.echo(f"kto-doctor: error: the analysis of {len(crashed)} run(s) crashed; the sweep is incomplete",
                       err=True)
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(gate_exit(reports, fail_on, exit_zero))


def _json(rows) -> str:
    import json

    out = [report.to_dict() if report is not None else error_entry(p, e) for p, report, e in rows]
    return json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _with_progress(paths, work):
    """Run `work(tick)`; a rich progress bar on stderr only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return work(lambda p: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[last]}", style="dim"), console=console, transient=True) as prog:
        task = prog.add_task("scan", total=len(paths), last="")

        def tick(p):
            prog.update(task, advance=1, last=Path(p).name)

        return work(tick)
