"""Where each requested format goes: `--format X -o FILE` pairs, stdout, and colour decisions."""
from __future__ import annotations

import os
import sys
from pathlib import Path


class UsageError(Exception):
    pass


def plan_outputs(formats: list[str], outputs: list[str], known: dict) -> list[tuple[str, str | None]]:
    """Pair formats with output files: [(format, path or None for stdout)].

    With as many -o as --format they pair in order. Otherwise each -o takes the format its extension
    names (.sarif, .json, .xml, .md, .html, .txt) and what is left goes to stdout — so
    `--format text --format sarif -o results.sarif` prints text and writes SARIF.
    """
    from ..reports import EXTENSIONS

    for f in formats:
        if f not in known:
            raise UsageError(f"unknown format '{f}' (choose from {', '.join(known)})")
    if not formats:
        formats = []
    if outputs and len(outputs) == len(formats):
        return list(zip(formats, outputs))
    pending = list(formats)
    plan: list[tuple[str, str | None]] = []
    for out in outputs:
        ext = Path(out).suffix.lower()
        fmt = EXTENSIONS.get(ext)
        if fmt is None:
            if len(pending) == 1 and len(outputs) == 1:
                fmt = pending[0]
            else:
                raise UsageError(f"cannot tell which format to write to {out}: pair each -o with a --format")
        if fmt in pending:
            pending.remove(fmt)
        plan.append((fmt, out))
    if not plan and not pending:
        pending = ["text"]
    if len(pending) > 1:
        raise UsageError(f"only one format can go to the terminal; give -o FILE for: {', '.join(pending[1:])}")
    plan.extend((f, None) for f in pending)
    return plan


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
