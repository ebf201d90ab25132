"""`kto-doctor formats` (what is read, and how a file is recognised) and `kto-doctor metrics` (the ontology)."""

import json

import typer

from . import app


@app.command()
def formats(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also where real files of each format come from."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per format."),
):
    """List the log formats kto-doctor reads, how each is recognised and how much it is trusted."""
    from ..sources.registry import registry

    reg = registry()
    rows = []
    for s in reg.sources:
        how = []
        if s.names:
            how.append("name " + " ".join(s.names))
        if s.sniff is not None:
            suff = ", ".join(x or "(no suffix)" for x in s.suffixes) if s.suffixes else "any"
            how.append(f"content ({suff})")
        if s.folder is not None:
            how.append("folder layout")
        if s.fallback:
            how.append("fallback for console suffixes")
        rows.append({"name": s.name, "title": s.title, "kind": s.kind, "priority": s.priority,
                     "recognised_by": how, "dialect": s.dialect, "anchor": s.anchor,
                     "module": getattr(s.read, "__module__", "?"), "examples": list(s.examples)})
    if as_json:
        typer.echo(json.dumps({"formats": rows, "problems": reg.problems}, indent=2))
        return
    w = max([16] + [len(r["name"]) for r in rows])  # the name column, as wide as the longest name
    for r in rows:
        typer.echo(f"{r['name']:<{w}} {r['title']}")
        typer.echo(f"{'':<{w}} {r['kind']}, priority {r['priority']}; recognised by " + "; ".join(r["recognised_by"]))
        if verbose:
            typer.echo(f"{'':<{w}} reader {r['module']}" + (f", dialect {r['dialect']}" if r["dialect"] else ""))
            for ex in r["examples"]:
                typer.echo(f"{'':<{w}} e.g. {ex}")
    for p in reg.problems:
        typer.echo(f"kto-doctor: warning: {p}", err=True)
    typer.echo("\nLower priority numbers are trusted first where two formats log the same metric at the same step.")


@app.command()
def metrics(
    name: str = typer.Argument(None, metavar="NAME", help="Show how one logged name is read (e.g. 'actor/entropy', 'lm loss')."),
    dialect: str = typer.Option(None, "--dialect", metavar="FRAMEWORK", help="The framework whose spellings apply (lightning, llamafactory...)."),
):
    """The metric ontology: every canonical name rules read, and the spellings that mean it."""
    from ..ontology import METRICS, canonical, is_bookkeeping, is_known

    if name:
        if is_bookkeeping(name, dialect):
            typer.echo(f"{name!r}: bookkeeping (not a metric)")
            return
        out = canonical(name, dialect=dialect)
        known = "known" if is_known(out) else "not in the ontology: kept under its own name (map it with --map)"
        typer.echo(f"{name!r} -> {out!r} ({known})")
        return
    for m in METRICS:
        spell = list(m.spellings) + [f"{s} ({d})" for d, ss in m.dialects for s in ss]
        typer.echo(f"{m.name:<28} {m.meaning}" + (" [core]" if m.core else ""))
        if spell:
            typer.echo(f"{'':<28} also: {', '.join(spell)}")
