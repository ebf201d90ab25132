"""`kto-doctor explain CODE|NAME`: what a rule checks, why, its parameters, causes and an example."""

from typing import List, Optional

import typer

from . import app, fail
from .config_cmd import CONFIG_HELP, ISOLATED_HELP


@app.command()
def explain(
    rule: str = typer.Argument(..., metavar="RULE", help="A rule code (KTO101) or name (kto-logits-sum-artifact)."),
    rules: List[str] = typer.Option([], "--rules", metavar="PATH", help="Extra rule file or folder. Repeatable."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE", help=CONFIG_HELP),
    isolated: bool = typer.Option(False, "--isolated", help=ISOLATED_HELP),
):
    """Explain a rule (built-in, the project configuration's, or --rules): what it checks, its thresholds, causes, fixes."""
    from .rules_cmd import load_with_project

    rs = load_with_project(rules, config, isolated)
    r = rs.find(rule)
    if r is None:
        import difflib

        keys = [x.id for x in rs.rules] + [x.name for x in rs.rules]
        close = difflib.get_close_matches(rule, keys, n=3)
        fail(f"no rule '{rule}'" + (f"; did you mean {', '.join(close)}?" if close else " (kto-doctor rules list)"))
    typer.echo(explain_text(r, rs))


def explain_text(r, rs) -> str:
    import yaml

    raw = r.raw
    also = [k for k in (raw.get("symptom_if") or {})]
    symptom = r.symptom + (f"; {' / '.join(also)} when its evidence says so" if also else "")
    lines = [f"{r.id} {r.name}  ({r.severity}, symptom: {symptom}{', group: ' + r.group if r.group else ''})",
             "", str(raw.get("title", "")).strip(), ""]
    lines.append("Applies to: " + (", ".join(r.methods) if r.methods else "every method"))
    req = [*r.requires_metrics] + ([f"one of {', '.join(r.requires_any)}"] if r.requires_any else [])
    if req:
        lines.append("Needs metrics: " + ", ".join(req))
    if r.requires_config:
        lines.append("Needs config: " + ", ".join(r.requires_config))
    lines.append("")
    lines.append((r.doc or "").strip())
    if r.params:
        lines += ["", "Parameters (override with `overrides:` or [tool.kto-doctor.rules]):"]
        for k, v in r.params.items():
            lines.append(f"  {k} = {v}")
    lines += ["", "Condition:", f"  when: {r.when.source.strip()}"]
    if r.for_steps or r.for_rows > 1:
        lines.append(f"  for: {r.for_steps} steps, {r.for_rows} rows (tolerance {r.tolerance})")
    if r.causes:
        lines += ["", "Probable causes (score; shown when their condition holds):"]
        for c in r.causes:
            cat = rs.catalog.get(c.id)
            title = c.text.source if c.text else (cat.title if cat else c.id)
            lines.append(f"  {c.score:.2f} {c.id}: {title}")
            fixes = [fx.source for fx in c.fixes] or (cat.fixes if cat else [])
            for fx in fixes:
                lines.append(f"       fix: {fx}")
    if r.references:
        lines += ["", "Sources:"] + [f"  - {x}" for x in r.references]
    if r.tests:
        t = r.tests[0]
        example = {k: t[k] for k in ("config", "series", "expect") if k in t}
        lines += ["", f"Example ({t.get('name', 'test case')}):"]
        lines += ["  " + ln for ln in yaml.safe_dump(example, sort_keys=False, width=100).splitlines()]
    lines += ["", f"Defined in {r.source}"]
    return "\n".join(lines)
