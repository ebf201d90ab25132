"""Where a finding points in the repository: the file and line that CI annotations and SARIF show.

In order: the log line where the first step of the finding's primary metric was read
(`run.location`); else the line of the first implicated hyperparameter (`finding.config_keys`) in the
YAML/JSON/TOML file that set it (`run.config_provenance`), found by a plain scan for the key; else the
main log file at line 1. Paths are relative to the working directory (the repository root in CI) with
forward slashes; a file outside it becomes a `file://` URI.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".cfg", ".ini")
MAX_SCAN = 4 << 20


def artifact_uri(run, rel: str | None) -> str:
    """A source path as the run reported it (relative to the run path) → repository-relative URI."""
    p = Path(str(run.path)) if rel is None else _file_path(run, rel)
    try:
        rp = p.resolve().relative_to(Path.cwd().resolve())
        return rp.as_posix() or "."
    except (ValueError, OSError):
        if p.is_absolute():
            return p.resolve().as_uri()
        return Path(os.path.normpath(str(p))).as_posix()


def _file_path(run, rel: str) -> Path:
    base = Path(str(run.path))
    r = Path(rel)
    if r.is_absolute():
        return r
    if base.is_file():
        return base.parent / r if base.name != r.name else base
    return base / r


def key_line(path: Path, key: str, cache: dict | None = None) -> int | None:
    """1-based line of `key` in a YAML/JSON/TOML file (first `key:`/`"key":`/`key =`), or None."""
    cache = {} if cache is None else cache
    if path not in cache:
        try:
            with open(path, "rb") as f:
                cache[path] = f.read(MAX_SCAN).decode("utf-8", errors="replace")
        except OSError:
            cache[path] = None
    text = cache[path]
    if not text:
        return None
    k = re.escape(key)
    pat = re.compile(rf'(?m)^[ \t-]*["\']?{k}["\']?[ \t]*[:=]|"{k}"[ \t]*:')
    m = pat.search(text)
    if m is None:
        return None
    return text.count("\n", 0, m.start()) + 1


def locate(report, finding, cache: dict | None = None) -> tuple[str, int | None]:
    """(uri, line) for a finding; line None only when nothing better than the run itself is known."""
    run = report.run
    first = finding.steps[0] if finding.steps else None
    metric_file = None
    if finding.metrics:
        try:
            loc = run.location(finding.metrics[0], first)
        except Exception:  # a location is a nicety; never let it break a report
            loc = None
        if loc:
            metric_file = loc[0]
            if loc[1]:
                return artifact_uri(run, loc[0]), int(loc[1])
    prov = getattr(run, "config_provenance", {}) or {}
    for k in finding.config_keys:
        src = prov.get(k)
        if not src or src in ("derived", "--set") or not src.lower().endswith(CONFIG_SUFFIXES):
            continue
        line = key_line(_file_path(run, src), k.rsplit(".", 1)[-1], cache)
        if line:
            return artifact_uri(run, src), line
    if metric_file:
        return artifact_uri(run, metric_file), 1
    main = next((s.path for s in run.sources if s.used and s.format != "config"), None)
    if main:
        return artifact_uri(run, main), 1
    return artifact_uri(run, None), 1
