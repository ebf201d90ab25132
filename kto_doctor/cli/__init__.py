"""The `kto-doctor` command line. Each subcommand lives in its own module and registers on `app`.

Nothing heavy is imported here or at registration time: pandas, numpy and tensorboard load inside the
commands, so `kto-doctor --help` and `--version` stay fast. The command modules do without
`from __future__ import annotations`: typer reads the annotations of every command at each start, and a string
annotation is compiled each time it is read (about 330 compiles per start, 1% of a small run).
"""

import sys

from .. import startup

if startup.console_start():
    startup.pause()  # before typer and click load (startup.py)

import typer  # noqa: E402

from .. import __version__
from ._help import plain_arguments

plain_arguments()

app = typer.Typer(
    name="kto-doctor",
    help="Diagnose failed LLM fine-tuning runs (KTO, DPO, ORPO, SimPO, SFT, GRPO) from the logs they left behind.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _version(value: bool):
    if value:
        typer.echo(f"kto-doctor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Diagnose failed LLM fine-tuning runs from the logs they left behind."""


def fail(message: str, code: int = EXIT_ERROR):
    """One clear line on stderr and exit 2: the contract for bad input and usage errors."""
    from ..reports.safe import terminal_lines

    typer.echo(f"kto-doctor: error: {terminal_lines(message)}", err=True)  # paths and names come from data
    raise typer.Exit(code)


# Subcommands register themselves on import.
from . import analyze as _analyze  # noqa: E402,F401
from . import config_cmd as _config_cmd  # noqa: E402,F401
from . import explain as _explain  # noqa: E402,F401
from . import formats as _formats  # noqa: E402,F401
from . import plot as _plot  # noqa: E402,F401
from . import rules_cmd as _rules_cmd  # noqa: E402,F401
from . import scan as _scan  # noqa: E402,F401
from . import watch as _watch  # noqa: E402,F401
from . import schema_cmd as _schema_cmd  # noqa: E402,F401


def console() -> None:
    """The `kto-doctor` script (and `python -m kto_doctor`): `main`, then a quick exit (`_leave`). `main`
    itself ends with SystemExit as before, for callers that run commands in their own process."""
    from .. import startup

    startup.pause()  # until the code is loaded (startup.py)
    try:
        main()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code) -> None:
    """Exit with `code` without tearing the interpreter down: once the output is flushed and the exit
    handlers have run, unloading every module of numpy and pandas and a last collection of their objects only
    costs time (7% of a small run's whole process). Where a thread or a child process may still be running
    (scan's pool), the usual exit runs instead."""
    import threading

    if threading.active_count() > 1 or "multiprocessing" in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, exit status 1, as Python does
        sys.stderr.write(f"{code}\n")
        code = 1
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code & 0xFF)  # what the C exit() passes on


def main() -> None:
    import os

    try:
        with _only(sys.argv[1:2]):
            app(prog_name="kto-doctor")
    except KeyboardInterrupt:
        sys.stderr.write("kto-doctor: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug anywhere: one line and exit 2, never a traceback (KTO_DOCTOR_DEBUG shows it)
        if os.environ.get("KTO_DOCTOR_DEBUG"):
            raise
        from ..reports.safe import terminal

        sys.stderr.write(f"kto-doctor: internal error: {type(exc).__name__}: {terminal(exc)} "
                         "(set KTO_DOCTOR_DEBUG=1 for the traceback, and please report it)\n")
        sys.exit(EXIT_ERROR)


class _only:
    """While the command line runs: `app` holds only the command or group that `kto-doctor NAME ...` names.

    typer builds the click object of every registered command (reading each function's parameters) before it
    parses the command line, which costs more than the parsing itself: the one named is all that runs. The
    group's own options (--version, --help, completion) stay; with no name, an unknown one, a leading option or
    shell completion at work, every command is registered as usual. tests/test_cli_only.py compares the output
    of each command either way.
    """

    def __init__(self, first: list):
        import os

        self.name = first[0] if first and not any(k.endswith("_COMPLETE") for k in os.environ) else None
        self.saved = None

    def __enter__(self):
        if not self.name:
            return self
        cmds = [c for c in app.registered_commands if (c.name or _command_name(c.callback.__name__)) == self.name]
        groups = [g for g in app.registered_groups if g.name == self.name]
        if len(cmds) + len(groups) == 1:
            self.saved = app.registered_commands, app.registered_groups
            app.registered_commands, app.registered_groups = cmds, groups
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            app.registered_commands, app.registered_groups = self.saved
        return False


def _command_name(name: str) -> str:
    return name.lower().replace("_", "-")  # what typer names a command after its function
