"""Report formats: one module per format, one interface for all (pip-audit style).

Each module exposes `render(report, options) -> str` for one run, and may expose
`render_many(reports, options) -> str` for a sweep (`kto-doctor scan`); the default joins single renders.
Reports only render: they compute nothing about the run.
"""
from __future__ import annotations

import importlib
from dataclasses import field

from ..fastclass import dataclass

# format name -> module in this package
FORMATS = {
    "text": "text",
    "json": "json_format",
    "sarif": "sarif",
    "junit": "junit",
    "github": "github",
    "markdown": "markdown",
    "html": "html",
}
# file extension -> format, for `-o FILE` without a paired --format
EXTENSIONS = {".sarif": "sarif", ".json": "json", ".xml": "junit", ".md": "markdown", ".html": "html",
              ".htm": "html", ".txt": "text"}


@dataclass
class RenderOptions:
    color: bool = False          # ANSI colour (text format on a terminal)
    width: int = 100
    verbose: bool = False        # text: also list passed and skipped rules
    quiet: bool = False          # text: only the diagnosis
    plot: bool = False           # text: larger terminal charts
    extra: dict = field(default_factory=dict)


def available() -> list[str]:
    """Formats whose module is installed in this build."""
    out = []
    for name, mod in FORMATS.items():
        if importlib.util.find_spec(f"{__name__}.{mod}") is not None:
            out.append(name)
    return out


def module(fmt: str):
    return importlib.import_module(f".{FORMATS[fmt]}", __name__)


def render(fmt: str, report, options: RenderOptions | None = None) -> str:
    return module(fmt).render(report, options or RenderOptions())


def render_many(fmt: str, reports, options: RenderOptions | None = None) -> str:
    mod = module(fmt)
    options = options or RenderOptions()
    if hasattr(mod, "render_many"):
        return mod.render_many(reports, options)
    return "\n".join(mod.render(r, options) for r in reports)
