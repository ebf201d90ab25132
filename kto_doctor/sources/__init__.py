"""Sources: one plugin per log format (see `registry` for the plugin interface, `docs/sources.md` for a guide).

`detect(path)` names the format a file would be read as; `read(path)` reads it with the first source that
can. Both go through the registry, which loads the built-in sources and third-party ones alike from the
`kto_doctor.sources` entry-point group on first use, so `kto-doctor --help` never imports numpy or pandas.
"""
from __future__ import annotations

from pathlib import Path

from .base import SourceData, SourceError  # noqa: F401  (re-exported)


def detect(path: Path) -> str | None:
    """The format `path` would be read as (its most likely source), or None when no source claims it."""
    from .base import read_head
    from .registry import candidates

    path = Path(path)
    found = candidates(path, lambda: read_head(path))
    return found[0].name if found else None


def read(path: Path, fmt: str | None = None) -> SourceData:
    """Read one file: with the source named `fmt`, or with the first of its candidate sources that can."""
    from .base import read_head
    from .registry import candidates, registry

    path = Path(path)
    if fmt is not None:
        src = registry().get(fmt)
        if src is None:
            raise SourceError(f"{path}: no source named '{fmt}' (see kto-doctor formats)")
        found = [src]
    else:
        found = candidates(path, lambda: read_head(path), named=True)
    if not found:
        raise SourceError(f"{path}: not a log format kto-doctor reads")
    error = None
    for src in found:
        try:
            got = src.read(path)
        except SourceError as exc:
            error = error or exc
            continue
        return got[0] if isinstance(got, list) else got
    raise error
