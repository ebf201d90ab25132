"""Where each requested format goes: `--format X -o FILE` pairs, stdout, and colour decisions."""
from __future__ import annotations

import os
import sys
from pathlib import Path


class UsageError(Exception):
    pass


# Extensions that name a format only when no --format says otherwise (`-f json -o out.txt` is fine).
WEAK_EXTENSIONS = (".txt",)


def plan_outputs(formats: list[str], outputs: list[str], known: dict) -> list[tuple[str, str | None]]:
    """Pair formats with output files: [(format, path or None for stdout)].

    An -o whose extension names one of the requested formats (.sarif, .json, .xml, .md, .html) takes that
    format, whatever the order of the options: `--format sarif --format json -o r.json -o r.sarif` writes
    JSON to r.json. An -o whose extension names a format that was not requested is a contradiction and
    refused (`--format sarif -o r.json`). The other -o (unknown extensions such as .gh, or .txt) take the
    remaining formats in order, one each. Without --format each -o takes the format its extension names. What is
    left goes to stdout (one format at most), so `--format text --format sarif -o r.sarif` prints text.
    """
    from ..reports import EXTENSIONS

    for f in formats:
        if f not in known:
            raise UsageError(f"unknown format '{f}' (choose from {', '.join(known)})")
    pending = list(formats)
    plan: list[tuple[str, str | None]] = []
    unnamed: list[str] = []
    for out in outputs:
        ext = Path(out).suffix.lower()
        fmt = EXTENSIONS.get(ext)
        if fmt is None or (formats and ext in WEAK_EXTENSIONS and fmt not in pending):
            unnamed.append(out)
        elif not formats:
            plan.append((fmt, out))
        elif fmt in pending:
            pending.remove(fmt)
            plan.append((fmt, out))
        else:
            asked = ", ".join(formats)
            raise UsageError(f"-o {out} names the {fmt} format by its extension, but --format asks for {asked}"
                             f" (add --format {fmt}, or rename the file)")
    if unnamed:
        if len(unnamed) != len(pending):
            raise UsageError(f"cannot tell which format to write to {unnamed[0]}: pair each -o with a --format, "
                             "or give the file its format's extension (.json, .sarif, .xml, .md, .html)")
        plan.extend(zip(pending, unnamed))
        pending = []
    if not plan and not pending:
        pending = ["text"]
    if len(pending) > 1:
        raise UsageError(f"only one format can go to the terminal; give -o FILE for: {', '.join(pending[1:])}")
    plan.extend((f, None) for f in pending)
    return plan


MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 60, 140, 100


def terminal_width(stream=None) -> int:
    """Columns to wrap text to: `COLUMNS` when set, else the terminal's width when writing to one, else 100;
    kept between 60 (narrower garbles the layout) and 140 (wider lines are hard to read)."""
    stream = stream or sys.stdout
    cols = None
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        cols = int(env)
    elif getattr(stream, "isatty", lambda: False)():
        try:
            cols = os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            cols = None
    return max(MIN_WIDTH, min(MAX_WIDTH, cols or DEFAULT_WIDTH))


def use_color(choice: str, stream=None) -> bool:
    stream = stream or sys.stdout
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def write(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        from . import fail

        fail(f"cannot write {path}: {exc.strerror or exc}")
