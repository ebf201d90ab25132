"""`kto-doctor schema report|rules`: the JSON Schemas of what kto-doctor writes and reads."""

import json

import typer

from . import app

schema_app = typer.Typer(name="schema", help="Print the JSON Schema of the JSON report or of rule files.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(schema_app, name="schema")


@schema_app.command("report")
def report():
    """The JSON Schema of `analyze --format json` (one report) and `scan --format json` (a list)."""
    from ..report_schema import build

    typer.echo(json.dumps(build(), indent=2))


@schema_app.command("rules")
def rules():
    """The JSON Schema of rule files (the same as `kto-doctor rules schema`)."""
    from ..engine.schema import build_schema

    typer.echo(json.dumps(build_schema(), indent=2))
