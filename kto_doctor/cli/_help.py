"""Plain help for arguments: `PATH` in the usage line and the argument list, as click has always shown them.

typer 0.2x decorates arguments with their Python type (`path <str>`) and braces (`{path}`), which read as
artefacts to a user. These two methods exist only in those typer versions (pyproject pins the tested
range); where they are absent nothing is changed. tests/test_help.py checks every command's help.
"""
from __future__ import annotations


def plain_arguments() -> None:
    try:
        from typer.core import TyperArgument
    except ImportError:  # pragma: no cover - typer without typer.core
        return
    if hasattr(TyperArgument, "_usage_display_name"):
        def _usage_display_name(self) -> str:
            name = self.metavar or self.name.upper()
            if self.nargs != 1 and not name.endswith("..."):
                name += "..."
            return name if self.required else f"[{name}]"

        TyperArgument._usage_display_name = _usage_display_name
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None
