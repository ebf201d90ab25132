"""Which project configuration applies (`--config FILE`, `--isolated`, found upward like ruff), and
`kto-doctor config show|keys` to see it."""

from pathlib import Path
from typing import Optional

import typer

from . import app, fail

CONFIG_HELP = "Use this project configuration (.kto-doctor.yaml or pyproject.toml) instead of searching for one."
ISOLATED_HELP = "Ignore every project configuration file."

config_app = typer.Typer(name="config", help="Show the project configuration that applies, and the --set keys.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")


def project_settings(path, config: str | None = None, isolated: bool = False):
    """The Settings that apply to `path`: --isolated (none), --config FILE, else the nearest file found
    upward from the working directory that is not inside `path` (the data must not configure its own
    gate; a skipped file is named on stderr). Exit 2 on a missing or broken file."""
    from .. import InputError
    from ..project import Settings, load_settings, settings_for

    if isolated and config:
        fail("--config and --isolated exclude each other")
    if isolated:
        return Settings()
    try:
        if config:
            p = Path(config)
            if not p.is_file():
                fail(f"{config}: no such configuration file")
            return load_settings(p)
        settings = settings_for(path)
    except InputError as e:
        fail(str(e))
    from ..reports.safe import terminal

    for skipped in settings.ignored:
        typer.echo(f"kto-doctor: ignored {terminal(skipped)}: a project configuration inside the analysed data does not "
                   "configure the gate (name it with --config to use it)", err=True)
    return settings


def describe(settings) -> str:
    """One line saying which project configuration applied."""
    return f"project configuration: {settings.source}" if settings.source else "project configuration: none"


@config_app.command("show")
def show(
    path: Optional[str] = typer.Argument(None, metavar="PATH", help="The run (or folder) whose configuration to show "
                                                    "(a configuration inside it does not apply)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE", help=CONFIG_HELP),
    isolated: bool = typer.Option(False, "--isolated", help=ISOLATED_HELP),
):
    """Print the project configuration that applies to PATH and what it sets."""
    s = project_settings(path, config, isolated)
    typer.echo(describe(s) + (" (--isolated)" if isolated else ""))
    if not s.source:
        return
    rows = [("extend-rules", s.rule_paths), ("select", s.select), ("ignore", s.ignore),
            ("fail-on", s.fail_on)]
    for key, value in rows:
        if value:
            typer.echo(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
    for ov in s.overrides:
        shown = {k: v for k, v in ov.items() if not k.startswith("_") and k != "rule"}
        typer.echo(f"  rules.{ov['rule']}: {shown}")


@config_app.command("keys")
def keys():
    """The configuration keys `--set KEY=VALUE` accepts (besides keys your own rules read)."""
    from ..config import ALIASES, KNOWN_KEYS, key_kind

    for key in sorted(KNOWN_KEYS):
        alias = f"  (same as {ALIASES[key]})" if key in ALIASES else ""
        typer.echo(f"{key:<32} {key_kind(key)}{alias}")
