"""`kto-doctor plot RUN METRIC…`: terminal charts of any logged metrics (braille, or ASCII on TERM=dumb)."""

from typing import List, Optional

import typer

from . import app, fail


@app.command()
def plot(
    path: str = typer.Argument(..., metavar="PATH", help="A run directory (searched recursively) or a single log file."),
    metrics: List[str] = typer.Argument(None, metavar="METRIC...", help="Metric names or patterns (loss, 'rewards/*'). "
                                                   "None: list what was logged."),
    width: int = typer.Option(70, "--width", "-w", metavar="COLUMNS", min=20, max=400, help="Columns of the plot area."),
    height: int = typer.Option(12, "--height", metavar="ROWS", min=4, max=100, help="Rows of the plot area."),
    steps: Optional[str] = typer.Option(None, "--steps", metavar="FIRST:LAST", help="Only this step range: FIRST:LAST (either may be empty)."),
    color: str = typer.Option("auto", "--color", metavar="WHEN", help="auto, always or never (NO_COLOR is honoured)."),
    ascii: bool = typer.Option(False, "--ascii", help="Plain ASCII characters (automatic on TERM=dumb)."),
):
    """Draw terminal charts of logged metrics over steps, one chart per metric."""
    import fnmatch
    import io

    from rich.console import Console
    from rich.text import Text

    from .. import InputError
    from ..reports import chartdata as cd
    from ..reports import plots
    from ..reports.safe import guard_lines, terminal as t
    from ..run import load_run
    from .outputs import use_color, write

    if color not in ("auto", "always", "never"):
        fail("--color must be auto, always or never")
    lo_step, hi_step = _step_range(steps)
    try:
        run = load_run(path)
    except InputError as e:
        fail(str(e))
    names = [m for m in run.metric_names if run.series(m) is not None and len(run.series(m))]
    if not metrics:
        write(None, guard_lines("logged metrics: " + (", ".join(t(n) for n in names) or "none") + "\n"))
        raise typer.Exit(0)
    chosen = []
    for pat in metrics:
        hits = [m for m in names if fnmatch.fnmatchcase(m, pat)] if any(c in pat for c in "*?[") else \
            ([pat] if pat in names else [])
        if not hits:
            fail(f"metric '{pat}' was not logged in {path} (logged: {', '.join(names) or 'none'})")
        chosen.extend(h for h in hits if h not in chosen)
    use = use_color(color)
    buf = io.StringIO()
    console = Console(file=buf, width=width + 20, color_system="standard" if use else None, force_terminal=use,
                      no_color=not use, highlight=False, emoji=False, soft_wrap=True)
    ascii = ascii or plots.ascii_only()
    for m in chosen:
        x, y = cd.xy(run, m)
        keep = (x >= (lo_step if lo_step is not None else -float("inf"))) & \
            (x <= (hi_step if hi_step is not None else float("inf")))
        x, y = x[keep], y[keep]
        if len(x) == 0:
            console.print(Text(f"{t(m)}: no value in the chosen steps"))
            continue
        console.print(plots.chart(x, y, title=m, width=width, height=height, ascii=ascii, color=use))
    write(None, guard_lines(buf.getvalue()))


def _step_range(text: str | None):
    if not text:
        return None, None
    first, sep, last = text.partition(":")
    try:
        lo = int(first) if first.strip() else None
        hi = int(last) if sep and last.strip() else (lo if not sep else None)
    except ValueError:
        fail(f"--steps expects FIRST:LAST, got '{text}'")
    return lo, hi
