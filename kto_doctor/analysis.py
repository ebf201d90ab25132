"""One analysis: rules + run → Report. The CLI and the Python API both come through here."""
from __future__ import annotations

from pathlib import Path

from . import InputError
from .diagnosis import diagnose, order_findings
from .engine.evaluate import RunContext, evaluate_rule
from .engine.rules import RuleError, RuleSet, apply_overrides, load_builtin, load_paths, select as select_rules
from .model import Report, Skipped


def load_rules(extra_paths=(), overrides=()) -> RuleSet:
    """Built-in rules, then the user's files (which may add rules and override built-ins)."""
    try:
        rs = load_builtin()
        if extra_paths:
            load_paths([Path(p) for p in extra_paths], ruleset=rs)
        apply_overrides(rs, list(rs.overrides) + list(overrides))
    except RuleError as e:
        raise InputError(e.render(_source_text(e))) from None
    return rs


def _source_text(e: RuleError):
    if e.pos is None:
        return None
    try:
        return Path(e.pos.file).read_text(encoding="utf-8")
    except OSError:
        return None


def evaluate(run, ruleset: RuleSet, select=None, ignore=None, *, against=None, against_metrics=None,
             align: str = "auto") -> Report:
    """Evaluate the rules on `run`; with `against` (a reference Run) also the reference rules (compare.py)."""
    from .compare import REFERENCE_GROUP

    check_selection(ruleset, select, ignore)
    chosen = select_rules(ruleset.rules, select, ignore)
    # Reference rules compare two runs: they are in play only with a reference.
    reference_rules = [r for r in chosen if r.group == REFERENCE_GROUP]
    chosen = [r for r in chosen if r.group != REFERENCE_GROUP]
    rules = [r for r in chosen if r.enabled]
    ctx = RunContext(run, ruleset.catalog)
    findings, skipped, passed = [], [], []
    for r in chosen:
        if not r.enabled and r.disabled_reason:
            skipped.append(Skipped(r.id, f"disabled by project configuration: {r.disabled_reason}", r.name))
    for rule in rules:
        out = evaluate_rule(rule, ctx)
        if out.finding is not None:
            findings.append(out.finding)
        elif out.skipped is not None:
            skipped.append(out.skipped)
        else:
            passed.append(rule.id)
    comparison = None
    if against is not None:
        from . import compare

        in_play = [r for r in reference_rules if r.enabled]
        found, skip, ok, comparison = compare.evaluate(run, against, in_play, ruleset.catalog,
                                                       metrics=against_metrics, align=align)
        findings += found
        skipped += skip
        passed += ok
        rules += in_play
    findings = order_findings(findings)
    diagnosis = diagnose(findings, ruleset.catalog)  # may lower a "not a problem" finding to info
    return Report(run=run, findings=order_findings(findings), diagnosis=diagnosis, skipped=skipped,
                  passed=passed, rules=rules, comparison=comparison)


def check_selection(ruleset: RuleSet, select=None, ignore=None) -> None:
    """A --select/--ignore key that names no rule is a typo, not an empty selection (exit 2)."""
    from .engine.rules import matches

    for flag, keys in (("--select", select), ("--ignore", ignore)):
        for key in keys or ():
            if not any(matches(r, key) for r in ruleset.rules):
                raise InputError(f"{flag} {key}: no rule matches (a code, code prefix, name, symptom or group; "
                                 "see kto-doctor rules list)")


def analyze(path, *, rules=None, select=None, ignore=None, overrides=None, rule_overrides=(), against=None,
            against_metrics=None, align: str = "auto", metric_map=None, run_key=None, method=None) -> Report:
    """Read the run at `path`, evaluate built-in (and `rules`) rules, return the Report.

    `overrides`: configuration values (`--set`); `rule_overrides`: changes to rules (project config);
    `against`: a reference run's path, checked with the reference rules (`--against`);
    `metric_map`: {logged name: canonical name} the ontology does not know (`--map`); `run_key`: which run of
    a store holding several; `method`: the training method when the logs do not say it.
    """
    from . import remote
    from .run import load_run

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules or (), rule_overrides)
    # hf://, s3://, https://…: the claimed files are fetched into a local mirror, then read like a folder
    load = remote.load_run if remote.is_remote(path) else load_run
    run = load(path, overrides=overrides, metric_map=metric_map, run_key=run_key, method=method)
    ref = None
    if against is not None:
        from .compare import load_reference

        ref = load_reference(against)
    return evaluate(run, ruleset, select=select, ignore=ignore, against=ref, against_metrics=against_metrics,
                    align=align)
