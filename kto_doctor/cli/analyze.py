"""`kto-doctor analyze PATH`: read a run, evaluate the rules, print the ranked diagnosis."""

from typing import List, Optional

import typer

from . import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, app, fail
from .config_cmd import CONFIG_HELP, ISOLATED_HELP, describe, project_settings

FAIL_ON = ("error", "warning", "info", "never")


def parse_sets(items: list[str], method: str | None = None) -> dict:
    """`--set key=value` pairs (and `--method`) as text; run.py types the values (YAML scalars: 1e-6, true).

    Keys and value types are checked later against the known configuration keys (`check_sets`).
    """
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set expects key=value, got '{item}'")
        out[key.strip()] = raw.strip()
    if method is not None:
        from ..model import METHODS

        if method.lower() not in METHODS:
            fail(f"--method must be one of {', '.join(METHODS)}")
        out["method"] = method.lower()
    return out


def check_sets(sets: dict, ruleset) -> None:
    """Exit 2 on a --set key nobody reads (did-you-mean) or a value of the wrong type (`vocab_size=abc`).

    Known keys: the configuration vocabulary of kto_doctor.config plus every `config.NAME` the loaded rules
    read, so a team rule's own key can be set too.
    """
    from ..config import check_setting

    if not sets:
        return
    keys = rule_config_keys(ruleset)
    for key, raw in sets.items():
        problem = check_setting(key, raw, keys)
        if problem:
            fail(problem)


def rule_config_keys(ruleset) -> set[str]:
    """The `config.NAME` keys the rules read anywhere (conditions, lets, causes, messages)."""
    import re

    pattern = re.compile(r"\bconfig\.([A-Za-z_][A-Za-z0-9_]*)")
    keys: set[str] = set()
    for r in ruleset.rules:
        keys.update(r.requires_config)
        keys.update(pattern.findall(repr(r.raw)))
    return keys


def parse_maps(items: list[str]) -> dict:
    """`--map old=new` pairs: a logged name and the canonical metric it means."""
    out = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            fail(f"--map expects logged_name=canonical_name, got '{item}'")
        out[old.strip()] = new.strip()
    return out


def gate_exit(reports, fail_on: str, exit_zero: bool) -> int:
    """0 clean, 1 when a finding not in the baseline is at or above --fail-on (contract)."""
    from ..model import SEVERITY_RANK

    if exit_zero or fail_on == "never":
        return EXIT_OK
    threshold = SEVERITY_RANK[fail_on]
    for r in reports:
        for f in r.findings:
            if SEVERITY_RANK[f.severity] >= threshold and not f.baseline:
                return EXIT_FINDINGS
    return EXIT_OK


@app.command()
def analyze(
    path: str = typer.Argument(..., metavar="PATH", help="A run directory (searched recursively) or a single log file."),
    formats: List[str] = typer.Option([], "--format", "-f", metavar="FORMAT",
                                      help="text (default), json, sarif, junit, github, markdown, html. Repeatable."),
    outputs: List[str] = typer.Option([], "--output", "-o", metavar="FILE", help="Write a format to FILE (pairs with --format)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="LEVEL", help="Exit 1 when a finding is at or above: error (default), warning, info, never; else the project's fail-on."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings reach --fail-on."),
    rules: List[str] = typer.Option([], "--rules", metavar="PATH", help="Extra rule file or folder. Repeatable."),
    select: List[str] = typer.Option([], "--select", metavar="KEY", help="Only these rules: code, code prefix, name, symptom or group."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="KEY", help="Skip these rules (same keys as --select)."),
    sets: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                   help="Fill in configuration no file states (vocab_size=152064). Repeatable."),
    method: Optional[str] = typer.Option(None, "--method", metavar="METHOD",
                                         help="The training method when no file states it: kto, dpo, orpo, simpo, sft, grpo, ppo, rm, pt."),
    color: str = typer.Option("auto", "--color", metavar="WHEN", help="auto, always or never (NO_COLOR is honoured)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list skipped rules and every cause."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the status and the diagnosis."),
    plot: bool = typer.Option(False, "--plot", help="Text format: a larger chart per finding instead of a sparkline."),
    baseline: Optional[str] = typer.Option(None, "--baseline", metavar="FILE", help="Findings already in this baseline file are reported but do not fail."),
    write_baseline: Optional[str] = typer.Option(None, "--write-baseline", metavar="FILE", help="Write every finding to this baseline file (then they do not fail)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE", help=CONFIG_HELP),
    isolated: bool = typer.Option(False, "--isolated", help=ISOLATED_HELP),
    against: Optional[str] = typer.Option(None, "--against", metavar="REF",
                                          help="Also check the run against a known-good reference run (REF101: leaves its tolerance band; REF102: lacks one of its metrics)."),
    against_metrics: List[str] = typer.Option([], "--against-metrics", metavar="METRIC",
                                              help="Metrics to compare with --against (names or globs such as 'rewards/*', comma-separated or repeated); default: the method's core series."),
    align: str = typer.Option("auto", "--align", metavar="HOW", help="--against alignment: auto (by step when both runs have the same length, else by fraction of training), step or fraction."),
    maps: List[str] = typer.Option([], "--map", metavar="LOGGED=CANONICAL", help="Read a logged metric as a canonical one (kto-doctor metrics lists them). Repeatable."),
    run_key: Optional[str] = typer.Option(None, "--run", metavar="KEY", help="Which run, when PATH holds several (a tracker store)."),
):
    """Diagnose one run: read every log under PATH, run the rules, rank the probable causes."""
    from .. import InputError
    from ..reports import RenderOptions, render
    from .outputs import DEFAULT_WIDTH, terminal_width, use_color, write

    plan = check_usage(fail_on or "error", color, formats, outputs)
    overrides = parse_sets(sets, method)
    settings = project_settings(path, config, isolated)
    if verbose:
        typer.echo(f"kto-doctor: {describe(settings)}", err=True)
    against_metrics = check_against(against, against_metrics, align)
    metric_map = parse_maps(maps)
    try:
        from ..analysis import analyze as run_analysis, load_rules

        fail_on = fail_on or settings.fail_on or "error"
        ruleset = load_rules(list(settings.rule_paths) + list(rules), settings.overrides)
        check_sets(overrides, ruleset)
        report = run_analysis(
            path,
            rules=ruleset,
            select=list(select) or settings.select,
            ignore=list(ignore) + settings.ignore,
            overrides=overrides,
            against=against,
            against_metrics=against_metrics,
            align=align,
            metric_map={**settings.metric_map, **metric_map},
            run_key=run_key,
        )
    except InputError as e:
        fail(str(e))
    apply_baselines([report], baseline, write_baseline)
    for fmt, dest in plan:
        opts = RenderOptions(color=dest is None and use_color(color), verbose=verbose, quiet=quiet, plot=plot,
                             width=terminal_width() if dest in (None, "-") else DEFAULT_WIDTH,
                             extra={"fail_on": fail_on})
        try:
            text = render(fmt, report, opts)
        except ModuleNotFoundError as e:
            fail(f"format '{fmt}' is not available in this installation ({e.name})")
        write(dest, text)
    raise typer.Exit(gate_exit([report], fail_on, exit_zero))


def check_usage(fail_on: str, color: str, formats, outputs) -> list:
    """Validate the options analyze and scan share (exit 2 on misuse); returns the output plan."""
    from ..reports import FORMATS
    from .outputs import UsageError, plan_outputs

    if fail_on not in FAIL_ON:
        fail(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    if color not in ("auto", "always", "never"):
        fail("--color must be auto, always or never")
    try:
        return plan_outputs(list(formats), list(outputs), FORMATS)
    except UsageError as e:
        fail(str(e))


def check_against(against: str | None, metrics: list[str], align: str) -> list[str] | None:
    """Validate the --against options analyze and scan share; returns the metric patterns (None: default)."""
    patterns = [m.strip() for item in metrics or [] for m in item.split(",") if m.strip()]
    if align not in ("auto", "step", "fraction"):
        fail("--align must be auto, step or fraction")
    if against is None:
        if patterns:
            fail("--against-metrics needs --against REF")
        if align != "auto":
            fail("--align needs --against REF")
        return None
    return patterns or None


def apply_baselines(reports, baseline: str | None, write_baseline: str | None) -> None:
    """--write-baseline FILE records every finding; --baseline FILE marks the known ones (exit 2 if unreadable).

    Writing comes first, so `--write-baseline` alone accepts today's findings and exits 0.
    """
    if not baseline and not write_baseline:
        return
    from .. import baseline as bl

    if write_baseline:
        try:
            bl.write(write_baseline, reports)
        except OSError as e:
            fail(f"{write_baseline}: cannot write baseline: {e}")
        typer.echo(f"kto-doctor: wrote {sum(len(r.findings) for r in reports)} finding(s) to {write_baseline}",
                   err=True)
    try:
        entries = bl.load(baseline or write_baseline)
    except bl.BaselineError as e:
        fail(str(e))
    bl.apply(reports, entries)


__all__ = ["analyze", "parse_sets", "check_sets", "gate_exit", "apply_baselines", "check_usage", "check_against",
           "EXIT_ERROR"]
