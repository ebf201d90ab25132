"""Plain help for arguments: `PATH` in the usage line and the argument list, as click has always shown them.

typer 0.2x decorates arguments with their Python type (`path <str>`) and braces (`{path}`), which read as
artefacts to a user. The usage line goes through click's `get_usage_pieces` (present in every version);
`display_type_rich` exists only in the typer versions that add the type (pyproject pins the tested range).
tests/test_help.py checks every command's help.
"""
from __future__ import annotations


def plain_arguments() -> None:
    try:
        from typer.core import TyperArgument
    except ImportError:  # pragma: no cover - typer without typer.core
        return

    def get_usage_pieces(self, ctx) -> list:  # click's own hook for the usage line, in every version
        name = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return [name if self.required else f"[{name}]"]

    TyperArgument.get_usage_pieces = get_usage_pieces
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None
